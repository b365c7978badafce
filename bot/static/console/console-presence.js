/* CareDesk console: presence.
 *
 * The header's selector says whether this console's agent is online (taking chats) or away
 * (the queue keeps coming, but customers are not promised them: with everyone away, a waiting
 * customer gets a ticket and a promised time). The gateway only ever sets this console's own
 * status; the choice is kept for this tab (sessionStorage), so a reload or a reconnect keeps
 * it and the next sign-in starts online. Leads and admins see the team: who is online or away
 * (the `agents` frame). Everything from the server goes on the page with textContent.
 */
'use strict';

(() => {
  const STATUSES = { online: 'Online', away: 'Away' };
  const KEY = 'caredesk.console.status';
  const dom = {};

  function remembered() {
    try {
      return window.sessionStorage.getItem(KEY);
    } catch (err) {
      return null;
    }
  }

  function remember(status) {
    try {
      window.sessionStorage.setItem(KEY, status);
    } catch (err) {
      // Storage may be unavailable: the status lasts until the next reconnect.
    }
  }

  function show(status) {
    if (!STATUSES[status]) return;
    dom.select.value = status;
    dom.select.dataset.state = status;
  }

  function onHello(hooks, frame) {
    show(frame.status || 'online');
    const wanted = remembered();
    if (wanted && STATUSES[wanted] && wanted !== frame.status) hooks.send({ type: 'status', status: wanted });
    dom.team.hidden = !hooks.can('presence');
  }

  function renderTeam(hooks, agents) {
    if (!hooks.can('presence')) return;
    const valid = agents.filter((a) => a && typeof a.username === 'string' && STATUSES[a.status]);
    dom.list.replaceChildren(...valid.map((agent) => {
      const li = document.createElement('li');
      li.className = 'team-member';
      li.setAttribute('data-testid', 'team-member');
      li.dataset.username = agent.username;
      li.dataset.status = agent.status;
      const name = document.createElement('span');
      name.textContent = agent.name || agent.username;
      const status = document.createElement('span');
      status.className = 'visually-hidden';
      status.textContent = `, ${STATUSES[agent.status].toLowerCase()}`;
      li.title = STATUSES[agent.status];
      li.append(name, status);
      return li;
    }));
    const online = valid.filter((a) => a.status === 'online').length;
    dom.count.textContent = `${online} online · ${valid.length - online} away`;
    dom.team.hidden = false;
  }

  function start() {
    const hooks = window.CareDeskConsole;
    dom.select = document.getElementById('presence-select');
    dom.team = document.getElementById('team');
    dom.list = document.getElementById('team-list');
    dom.count = document.getElementById('team-count');
    if (!hooks || !dom.select || !dom.team) return;
    dom.select.addEventListener('change', () => {
      const status = dom.select.value;
      if (!STATUSES[status]) return;
      remember(status);
      dom.select.dataset.state = status;
      hooks.send({ type: 'status', status });
    });
    hooks.onFrame((frame) => {
      if (frame.type === 'hello') onHello(hooks, frame);
      else if (frame.type === 'status') show(frame.status);
      else if (frame.type === 'agents' && Array.isArray(frame.agents)) renderTeam(hooks, frame.agents);
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
