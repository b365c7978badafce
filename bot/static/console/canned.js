// The canned replies page (admins and leads): lists and searches /api/canned, adds, edits and
// deletes. Everything from the server goes on the page as text (textContent), never as HTML.
(function () {
  'use strict';

  var status = document.getElementById('canned-status');
  var rows = document.getElementById('canned-rows');
  var form = document.getElementById('canned-form');
  var formTitle = document.getElementById('form-title');
  var save = form.querySelector('[data-testid="canned-save"]');
  var cancel = document.getElementById('canned-cancel');
  var search = document.getElementById('canned-search');
  var editing = null; // the reply being edited, or null when the form adds one
  var searchTimer = null;

  function say(text, kind) {
    status.textContent = text;
    status.setAttribute('data-kind', kind || 'info');
  }

  function call(method, url, body) {
    return fetch(url, {
      method: method,
      credentials: 'same-origin',
      headers: body ? { 'Content-Type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    }).then(function (response) {
      if (response.status === 401) {
        window.location.assign('/console/login');
        throw new Error('Please sign in again.');
      }
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) throw new Error(data.error || 'The gateway answered ' + response.status + '.');
        return data;
      });
    });
  }

  function cell(tr, content, className) {
    var td = document.createElement('td');
    if (className) td.className = className;
    if (typeof content === 'string') td.textContent = content;
    else td.appendChild(content);
    tr.appendChild(td);
    return td;
  }

  function button(text, testid, onClick) {
    var b = document.createElement('button');
    b.type = 'button';
    b.className = 'btn btn-small';
    b.textContent = text;
    b.setAttribute('data-testid', testid);
    b.addEventListener('click', onClick);
    return b;
  }

  function setEditing(reply) {
    editing = reply;
    form.elements.shortcut.value = reply ? reply.shortcut : '';
    form.elements.title.value = reply ? reply.title : '';
    form.elements.text.value = reply ? reply.text : '';
    formTitle.textContent = reply ? 'Edit /' + reply.shortcut : 'Add a canned reply';
    save.textContent = reply ? 'Save changes' : 'Add reply';
    cancel.hidden = !reply;
    if (reply) form.elements.text.focus();
  }

  function remove(reply) {
    if (!window.confirm('Delete the canned reply /' + reply.shortcut + '?')) return;
    call('DELETE', '/api/canned/' + encodeURIComponent(reply.id))
      .then(function () {
        if (editing && editing.id === reply.id) setEditing(null);
        say('/' + reply.shortcut + ' is deleted.');
        load();
      })
      .catch(function (error) { say(error.message, 'error'); load(); });
  }

  function replyRow(reply) {
    var tr = document.createElement('tr');
    tr.setAttribute('data-testid', 'canned-row');
    tr.setAttribute('data-shortcut', reply.shortcut);
    var head = document.createElement('th');
    head.scope = 'row';
    head.textContent = '/' + reply.shortcut;
    tr.appendChild(head);
    cell(tr, reply.title, 'canned-title');
    cell(tr, reply.text, 'canned-text');
    cell(tr, reply.updated_by + ', ' + new Date(reply.updated_at).toLocaleString());
    var actions = document.createElement('div');
    actions.className = 'admin-actions';
    actions.appendChild(button('Edit', 'canned-edit', function () { setEditing(reply); }));
    actions.appendChild(button('Delete', 'canned-delete', function () { remove(reply); }));
    cell(tr, actions);
    return tr;
  }

  function load() {
    var url = '/api/canned?limit=100&q=' + encodeURIComponent(search.value.trim());
    return call('GET', url).then(function (data) {
      rows.replaceChildren.apply(rows, data.replies.map(replyRow));
      if (status.textContent === 'Loading…') say(data.replies.length ? '' : 'No canned replies yet.');
    }).catch(function (error) { say(error.message, 'error'); });
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var body = { shortcut: form.elements.shortcut.value.trim(), title: form.elements.title.value,
      text: form.elements.text.value };
    var request = editing
      ? call('PATCH', '/api/canned/' + encodeURIComponent(editing.id), body)
      : call('POST', '/api/canned', body);
    var verb = editing ? ' is saved.' : ' is added.';
    request.then(function (reply) {
      setEditing(null);
      say('/' + reply.shortcut + verb);
      load();
    }).catch(function (error) { say(error.message, 'error'); });
  });

  cancel.addEventListener('click', function () { setEditing(null); say(''); });
  search.addEventListener('input', function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(load, 200);
  });

  load();
})();
