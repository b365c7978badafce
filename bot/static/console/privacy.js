// The admin's privacy page: finds one customer (/api/privacy/customer), links the export and
// erases after the value is typed again. Text only (never HTML) from the server.
(function () {
  'use strict';

  var COUNTS = {
    conversations: 'Conversations', messages: 'Transcript lines', tracker_events: "The bot's events",
    tickets: 'Tickets', handoffs: 'Hand-offs to a person', feedback: 'Ratings', notes: 'Internal notes',
  };
  var KIND_NAMES = {
    email: 'email address', phone: 'phone number', ticket: 'ticket number', conversation: 'conversation id',
    telegram: 'Telegram chat id',
  };

  var findForm = document.getElementById('privacy-find');
  var kind = document.getElementById('privacy-kind');
  var value = document.getElementById('privacy-value');
  var status = document.getElementById('privacy-status');
  var result = document.getElementById('privacy-result');
  var exportLink = document.getElementById('privacy-export');
  var eraseForm = document.getElementById('privacy-erase');
  var confirmInput = document.getElementById('privacy-confirm');
  var confirmLabel = document.getElementById('privacy-confirm-label');
  var asked = null; // {kind, value} of the customer shown

  function say(text, isError) {
    status.textContent = text;
    status.setAttribute('data-error', isError ? 'true' : 'false');
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString() : '–';
  }

  function fill(id, rows, emptyText, columns) {
    var tbody = document.getElementById(id);
    tbody.textContent = '';
    rows.forEach(function (cells) {
      var tr = document.createElement('tr');
      cells.forEach(function (text, index) {
        var cell = document.createElement(index === 0 ? 'th' : 'td');
        if (index === 0) cell.setAttribute('scope', 'row');
        cell.textContent = text;
        tr.appendChild(cell);
      });
      tbody.appendChild(tr);
    });
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

  function query(params) {
    return Object.keys(params).map(function (key) {
      return encodeURIComponent(key) + '=' + encodeURIComponent(params[key]);
    }).join('&');
  }

  function errorOf(response) {
    if (response.status === 401) {
      window.location.assign('/console/login');
      return Promise.reject(new Error('signed out'));
    }
    return response.json().catch(function () { return {}; }).then(function (body) {
      var text = body.error || 'Something went wrong (HTTP ' + response.status + ').';
      if (body.conversations) text += ' (' + body.conversations.join(', ') + ')';
      throw new Error(text);
    });
  }

  function show(found) {
    var c = found.customer;
    document.getElementById('privacy-customer').textContent = c
      ? 'Shop customer: ' + c.name + ' <' + c.email + '>' + (c.phone ? ', ' + c.phone : '') +
        '. The shop record and orders stay; they are the shop\'s own.'
      : 'Not a shop customer (no customer record).';
    fill('privacy-counts', Object.keys(COUNTS).map(function (key) {
      return [COUNTS[key], String(found.counts[key] || 0)];
    }), '', 2);
    fill('privacy-conversations', found.conversations.map(function (row) {
      return [row.id + (row.with_a_person ? ' (with a person now)' : ''), row.channel || '–', when(row.started_at),
        String(row.messages), String(row.tracker_events)];
    }), 'No conversations.', 5);
    fill('privacy-tickets', found.tickets.map(function (t) {
      return [t.number || '–', t.status, t.category, when(t.created_at)];
    }), 'No tickets.', 4);
    var params = {};
    params[found.asked.kind] = found.asked.value;
    exportLink.href = '/api/privacy/customer/export?' + query(params);
    confirmLabel.textContent = 'Type the ' + KIND_NAMES[found.asked.kind] + ' again to confirm';
    confirmInput.value = '';
    result.hidden = false;
  }

  function find(event) {
    if (event) event.preventDefault();
    var params = {};
    params[kind.value] = value.value.trim();
    say('Looking…', false);
    result.hidden = true;
    fetch('/api/privacy/customer?' + query(params), { credentials: 'same-origin' })
      .then(function (response) { return response.ok ? response.json() : errorOf(response); })
      .then(function (found) {
        asked = found.asked;
        if (!found.found) {
          say('Nothing is kept about that ' + KIND_NAMES[found.asked.kind] + '.', false);
          return;
        }
        say('', false);
        show(found);
      })
      .catch(function (error) { say(error.message, true); });
  }

  function erase(event) {
    event.preventDefault();
    if (!asked) return;
    var body = { confirm: confirmInput.value.trim() };
    body[asked.kind] = asked.value;
    say('Erasing…', false);
    fetch('/api/privacy/customer/erase', {
      method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    })
      .then(function (response) { return response.ok ? response.json() : errorOf(response); })
      .then(function (done) {
        result.hidden = true;
        var parts = Object.keys(COUNTS).map(function (key) { return COUNTS[key] + ': ' + (done.counts[key] || 0); });
        say('Erased. Reference for your records: ' + done.reference + '. ' + parts.join(', ') + '.', false);
      })
      .catch(function (error) { say(error.message, true); });
  }

  findForm.addEventListener('submit', find);
  eraseForm.addEventListener('submit', erase);
})();
