// The admins' audit log page: reads /api/audit newest first, filters by who and action,
// and pages back with "Older entries". Text only (never HTML) from the server.
(function () {
  'use strict';

  var form = document.getElementById('filter');
  var rows = document.getElementById('audit-rows');
  var status = document.getElementById('audit-status');
  var more = document.getElementById('audit-more');
  var next = null;

  function say(text, kind) {
    status.textContent = text;
    status.setAttribute('data-kind', kind || 'info');
  }

  function entryRow(entry) {
    var tr = document.createElement('tr');
    tr.setAttribute('data-testid', 'audit-row');
    tr.setAttribute('data-action', entry.action);
    var when = new Date(entry.at);
    [isNaN(when) ? entry.at : when.toLocaleString(), entry.actor, entry.action.replace(/_/g, ' '),
      entry.target || '', entry.detail ? JSON.stringify(entry.detail) : '', entry.address || '']
      .forEach(function (text, index) {
        var td = document.createElement(index === 0 ? 'th' : 'td');
        if (index === 0) td.scope = 'row';
        if (index === 4) td.className = 'audit-detail';
        td.textContent = text;
        tr.appendChild(td);
      });
    return tr;
  }

  function load(append) {
    var data = new FormData(form);
    var query = new URLSearchParams();
    if (data.get('actor')) query.set('actor', String(data.get('actor')).trim());
    if (data.get('action')) query.set('action', String(data.get('action')));
    if (append && next !== null) query.set('before', String(next));
    say('Loading…');
    fetch('/api/audit?' + query.toString(), { credentials: 'same-origin' })
      .then(function (response) {
        if (response.status === 401) {
          window.location.assign('/console/login');
          return null;
        }
        if (!response.ok) throw new Error('HTTP ' + response.status);
        return response.json();
      })
      .then(function (page) {
        if (!page) return;
        if (!append) rows.replaceChildren();
        page.entries.forEach(function (entry) { rows.appendChild(entryRow(entry)); });
        next = page.next_before;
        more.hidden = next === null;
        say(rows.children.length ? '' : 'No entries.');
      })
      .catch(function () { say("Sorry, the audit log couldn't be loaded. Please try again.", 'error'); });
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    load(false);
  });
  more.addEventListener('click', function () { load(true); });
  load(false);
})();
