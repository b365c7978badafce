// The admins' teams, on the Agents page: add and remove teams (/api/teams) and choose each
// agent's team (PUT /api/agents/<username>/team). Text only (never HTML) from the server.
(function () {
  'use strict';

  var list = document.getElementById('team-rows');
  var form = document.getElementById('team-form');
  var status = document.getElementById('agents-status');
  var teams = [];

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
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) throw new Error(data.error || 'The gateway answered ' + response.status + '.');
        return data;
      });
    });
  }

  function option(value, text, selected) {
    var node = document.createElement('option');
    node.value = value;
    node.textContent = text;
    node.selected = Boolean(selected);
    return node;
  }

  /** Each agent row's Team cell (agents.js leaves it empty) gets a choice of team. */
  function fillCells() {
    document.querySelectorAll('[data-team-cell]').forEach(function (cell) {
      var username = cell.getAttribute('data-team-cell');
      var current = cell.getAttribute('data-team-id');
      var select = document.createElement('select');
      select.setAttribute('aria-label', 'Team of ' + username);
      select.setAttribute('data-testid', 'agent-team');
      select.appendChild(option('', 'No team', current === ''));
      teams.forEach(function (team) { select.appendChild(option(String(team.id), team.name, String(team.id) === current)); });
      select.addEventListener('change', function () {
        var teamId = select.value ? Number(select.value) : null;
        call('PUT', '/api/agents/' + encodeURIComponent(username) + '/team', { team_id: teamId })
          .then(function () {
            cell.setAttribute('data-team-id', select.value);
            say(username + (teamId ? ' is in ' + select.selectedOptions[0].textContent + '.' : ' is in no team.'));
            load();
          })
          .catch(function (error) { say(error.message, 'error'); });
      });
      cell.replaceChildren(select);
    });
  }

  function teamRow(team) {
    var li = document.createElement('li');
    li.setAttribute('data-testid', 'team-row');
    var name = document.createElement('strong');
    name.textContent = team.name;
    var members = document.createElement('span');
    members.className = 'muted';
    members.textContent = ' · ' + (team.members === 1 ? '1 agent' : team.members + ' agents') + ' ';
    var remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'btn btn-small';
    remove.textContent = 'Remove';
    remove.setAttribute('data-testid', 'team-remove');
    remove.addEventListener('click', function () {
      call('DELETE', '/api/teams/' + encodeURIComponent(team.id))
        .then(function () { say(team.name + ' is removed; its agents and chats are in no team now.'); load(); })
        .catch(function (error) { say(error.message, 'error'); });
    });
    li.append(name, members, remove);
    return li;
  }

  function load() {
    return call('GET', '/api/teams').then(function (found) {
      teams = found;
      list.replaceChildren.apply(list, teams.map(teamRow));
      fillCells();
    }).catch(function (error) { say(error.message, 'error'); });
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var name = String(new FormData(form).get('name'));
    call('POST', '/api/teams', { name: name }).then(function (team) {
      form.reset();
      say('The team ' + team.name + ' is added.');
      load();
    }).catch(function (error) { say(error.message, 'error'); });
  });

  document.addEventListener('caredesk:agents', fillCells);
  load();
})();
