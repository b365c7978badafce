// The team lead's reports page: reads /api/reports and fills four tables. Text only (never
// HTML) from the server.
(function () {
  'use strict';

  var REASONS = {
    asked: 'Asked for a person',
    not_understood: 'Not understood twice',
    negative_sentiment: 'Very upset',
    churn_threat: 'Threatened to leave',
    bot_unavailable: 'The bot could not answer',
    reply_in_chat: 'Wants the reply in the chat',
  };
  var LOW_PERCENT = 80; // below this a percentage is shown as needing attention

  var period = document.getElementById('period');
  var status = document.getElementById('report-status');
  var body = document.getElementById('report-body');
  var retry = document.getElementById('report-retry');

  function label(code) {
    var text = String(code || '').replace(/_/g, ' ');
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function percent(value) {
    return value === null || value === undefined ? '–' : value.toFixed(1) + ' %';
  }

  function row(testid, cells, lowCell) {
    var tr = document.createElement('tr');
    tr.setAttribute('data-testid', testid);
    cells.forEach(function (text, index) {
      var cell = document.createElement(index === 0 ? 'th' : 'td');
      if (index === 0) cell.setAttribute('scope', 'row');
      cell.textContent = text;
      if (index === lowCell) cell.setAttribute('data-low', 'true');
      tr.appendChild(cell);
    });
    return tr;
  }

  function fill(id, rows, emptyText, columns) {
    var tbody = document.getElementById(id);
    tbody.textContent = '';
    rows.forEach(function (tr) { tbody.appendChild(tr); });
    if (!rows.length) {
      var tr = document.createElement('tr');
      var cell = document.createElement('td');
      cell.colSpan = columns;
      cell.className = 'report-empty';
      cell.textContent = emptyText;
      tr.appendChild(cell);
      tbody.appendChild(tr);
    }
  }

  function satisfactionRow(name, kind, part) {
    var tr = row('satisfaction-row', [name, String(part.ratings), part.average.toFixed(2), percent(part.csat_percent)],
      part.csat_percent < LOW_PERCENT ? 3 : null);
    tr.setAttribute('data-kind', kind);
    return tr;
  }

  function show(report) {
    var s = report.satisfaction;
    var rated = [];
    if (s.bot) rated.push(satisfactionRow('The assistant (bot)', 'bot', s.bot));
    s.agents.forEach(function (agent) {
      rated.push(satisfactionRow(agent.name + ' (' + agent.username + ')', 'agent', agent));
    });
    if (s.whole) rated.push(satisfactionRow('Whole conversations (rated before the split)', 'whole', s.whole));
    fill('satisfaction-rows', rated, 'No ratings in this period yet.', 4);

    var e = report.escalation;
    document.getElementById('escalation-summary').textContent = e.conversations
      ? e.handed_to_a_person + ' of ' + e.conversations + ' conversations (' + percent(e.rate_percent) +
        ') were handed to a person.'
      : 'No customer wrote in this period.';
    fill('escalation-rows', Object.keys(e.reasons).map(function (reason) {
      return row('escalation-row', [REASONS[reason] || label(reason), String(e.reasons[reason])]);
    }), 'No hand-offs in this period.', 2);

    var p = report.promises;
    fill('promises-rows', [['A person joins a handed-over chat', p.handoffs], ['A first reply on a ticket', p.tickets]]
      .map(function (pair) {
        var c = pair[1];
        var low = c.kept_percent !== null && c.kept_percent < LOW_PERCENT ? 5 : null;
        return row('promises-row', [pair[0], String(c.kept), String(c.late), String(c.missed), String(c.open),
          percent(c.kept_percent)], low);
      }), '', 6);

    fill('complaints-rows', report.complaints.categories.map(function (c) {
      return row('complaints-row', [label(c.category), String(c.tickets), percent(c.share_percent)]);
    }), 'No tickets in this period.', 3);

    status.textContent = '';
    body.hidden = false;
  }

  function load() {
    status.textContent = 'Loading…';
    retry.hidden = true;
    fetch('/api/reports?days=' + encodeURIComponent(period.value), { credentials: 'same-origin' })
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
        body.hidden = true;
        status.textContent = "Sorry, the reports couldn't be loaded. Please try again.";
        retry.hidden = false;
      });
  }

  period.addEventListener('change', load);
  retry.addEventListener('click', load);
  load();
})();
