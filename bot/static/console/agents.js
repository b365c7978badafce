// The admins' agents page: lists /api/agents, adds agents, changes roles, (de)activates and
// resets passwords. Text only (never HTML) from the server. Passwords are typed by the
// admin and never come back from the server.
(function () {
  'use strict';

  var ROLES = ['agent', 'lead', 'admin', 'trainer'];
  var status = document.getElementById('agents-status');
  var rows = document.getElementById('agents-rows');
  var form = document.getElementById('add-form');

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

  function cell(tr, content) {
    var td = document.createElement('td');
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

  function change(agent, body, done) {
    call('PATCH', '/api/agents/' + encodeURIComponent(agent.username), body)
      .then(function () { say(done); load(); })
      .catch(function (error) { say(error.message, 'error'); load(); });
  }

  function resetPassword(agent, actions) {
    var input = document.createElement('input');
    input.type = 'password';
    input.minLength = 10;
    input.autocomplete = 'new-password';
    input.setAttribute('aria-label', 'New password for ' + agent.username);
    input.setAttribute('data-testid', 'agent-new-password');
    var save = button('Set password', 'agent-password-save', function () {
      call('POST', '/api/agents/' + encodeURIComponent(agent.username) + '/password', { password: input.value })
        .then(function () { say('New password set for ' + agent.username + '; their sessions have ended.'); load(); })
        .catch(function (error) { say(error.message, 'error'); });
    });
    actions.replaceChildren(input, save);
    input.focus();
  }

  function agentRow(agent) {
    var tr = document.createElement('tr');
    tr.setAttribute('data-testid', 'agent-row');
    tr.setAttribute('data-username', agent.username);
    tr.setAttribute('data-active', String(agent.active));
    var head = document.createElement('th');
    head.scope = 'row';
    head.textContent = agent.username;
    tr.appendChild(head);
    cell(tr, agent.name);
    var select = document.createElement('select');
    select.setAttribute('aria-label', 'Role of ' + agent.username);
    select.setAttribute('data-testid', 'agent-role');
    ROLES.forEach(function (role) {
      var option = document.createElement('option');
      option.value = role;
      option.textContent = role.charAt(0).toUpperCase() + role.slice(1);
      option.selected = role === agent.role;
      select.appendChild(option);
    });
    select.addEventListener('change', function () {
      change(agent, { role: select.value }, agent.username + ' is now ' + select.value + '.');
    });
    cell(tr, select);
    // Filled with the team choice by teams.js (after each load: the caredesk:agents event).
    var team = cell(tr, '');
    team.setAttribute('data-team-cell', agent.username);
    team.setAttribute('data-team-id', agent.team_id === null || agent.team_id === undefined ? '' : String(agent.team_id));
    cell(tr, agent.active ? 'Active' : 'Deactivated');
    var actions = document.createElement('div');
    actions.className = 'admin-actions';
    actions.appendChild(button(agent.active ? 'Deactivate' : 'Activate', 'agent-toggle', function () {
      change(agent, { active: !agent.active },
        agent.username + (agent.active ? ' is deactivated and signed out.' : ' can sign in again.'));
    }));
    actions.appendChild(button('Reset password', 'agent-reset', function () { resetPassword(agent, actions); }));
    cell(tr, actions);
    return tr;
  }

  function load() {
    return call('GET', '/api/agents').then(function (agents) {
      rows.replaceChildren.apply(rows, agents.map(agentRow));
      document.dispatchEvent(new CustomEvent('caredesk:agents'));
      if (status.getAttribute('data-kind') !== 'error' && status.textContent === 'Loading…') say('');
    }).catch(function (error) { say(error.message, 'error'); });
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var data = new FormData(form);
    var body = { username: String(data.get('username')).trim(), name: String(data.get('name')),
      role: String(data.get('role')), password: String(data.get('password')) };
    call('POST', '/api/agents', body).then(function (agent) {
      form.reset();
      say(agent.username + ' (' + agent.role + ') can now sign in.');
      load();
    }).catch(function (error) { say(error.message, 'error'); });
  });

  load();
})();
