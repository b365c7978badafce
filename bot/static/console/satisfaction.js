// The satisfaction page: reads /api/satisfaction and shows the assistant's part and each
// agent's part in one table. Text only (never HTML) from the server.
(function () {
  'use strict';

  var period = document.getElementById('period');
  var status = document.getElementById('report-status');
  var table = document.getElementById('report-table');
  var rows = document.getElementById('report-rows');
  var retry = document.getElementById('report-retry');

  function cell(tag, text, attrs) {
    var node = document.createElement(tag);
    node.textContent = text;
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    return node;
  }

  function row(label, part, kind) {
    var tr = document.createElement('tr');
    tr.setAttribute('data-testid', 'satisfaction-row');
    tr.setAttribute('data-kind', kind);
    tr.appendChild(cell('th', label, { scope: 'row' }));
    tr.appendChild(cell('td', String(part.ratings)));
    tr.appendChild(cell('td', part.average.toFixed(2)));
    tr.appendChild(cell('td', part.csat_percent.toFixed(1) + ' %', { 'data-low': String(part.csat_percent < 80) }));
    return tr;
  }

  function show(report) {
    rows.textContent = '';
    if (report.bot) rows.appendChild(row('The assistant (bot)', report.bot, 'bot'));
    report.agents.forEach(function (agent) {
      rows.appendChild(row(agent.name + ' (' + agent.username + ')', agent, 'agent'));
    });
    if (report.whole) rows.appendChild(row('Whole conversations (rated before the split)', report.whole, 'whole'));
    var empty = !rows.children.length;
    table.hidden = empty;
    status.textContent = empty ? 'No ratings in this period yet.' : '';
  }

  function load() {
    status.textContent = 'Loading…';
    retry.hidden = true;
    fetch('/api/satisfaction?days=' + encodeURIComponent(period.value), { credentials: 'same-origin' })
      .then(function (response) {
        if (response.status === 401) {
          window.location.assign('/console/login');
          return null;
        }
        if (!response.ok) throw new Error('HTTP ' + response.status);
        return response.json();
      })
      .then(function (report) { if (report) show(report); })
      .catch(function () {
        table.hidden = true;
        status.textContent = "Sorry, the figures couldn't be loaded. Please try again.";
        retry.hidden = false;
      });
  }

  period.addEventListener('change', load);
  retry.addEventListener('click', load);
  load();
})();
