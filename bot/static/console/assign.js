/* CareDesk agent console: the Assign control and the queue's team filter.
 *
 * Leads and admins give the open chat to an agent (with their open-chat count) or a team, or
 * back to the queue; an agent can pass a chat of their own to a team or back to the queue.
 * The gateway checks all of it again (POST /api/conversations/<id>/assign). Text from the
 * server goes on the page with textContent only. Needs console.js (window.CareDeskConsole).
 */
'use strict';

(() => {
  const LIVE = ['queued', 'agent'];
  const MAX_NOTE = 1000;
  const dom = {};
  let choices = { agents: [], teams: [], me: null };
  let loaded = null; // the promise of the latest /api/assign/choices
  let shownFor = null; // the conversation the panel was opened for

  function consoleApi() {
    return window.CareDeskConsole || null;
  }

  function option(value, text) {
    const node = document.createElement('option');
    node.value = value;
    node.textContent = text;
    return node;
  }

  function group(label, options) {
    const node = document.createElement('optgroup');
    node.label = label;
    node.append(...options);
    return node;
  }

  async function call(method, url, body) {
    const response = await fetch(url, {
      method, credentials: 'same-origin',
      headers: body ? { 'Content-Type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || `The gateway answered ${response.status}.`);
    return data;
  }

  function loadChoices() {
    loaded = call('GET', '/api/assign/choices').then((found) => {
      choices = found;
      renderTeamFilter();
      return found;
    }).catch(() => choices);
    return loaded;
  }

  // ------------------------------------------------------------ the queue's team filter

  function renderTeamFilter() {
    const teams = Array.isArray(choices.teams) ? choices.teams : [];
    const chosen = dom.queueTeam.value;
    dom.queueTeam.replaceChildren(option('', 'All teams'),
      ...teams.map((team) => option(String(team.id), team.name)));
    dom.queueTeam.value = teams.some((team) => String(team.id) === chosen) ? chosen : '';
    dom.queueTeamLabel.hidden = teams.length === 0;
    applyTeamFilter();
  }

  function applyTeamFilter() {
    const api = consoleApi();
    const mine = choices.me ? choices.me.team_id : null;
    if (api) api.setQueueTeam(mine, dom.queueTeam.value);
  }

  // ------------------------------------------------------------ the Assign control

  /** Who may use it on this chat: leads and admins on any live chat, an agent on their own. */
  function mayAssign(conv) {
    const api = consoleApi();
    if (!api || !conv || LIVE.indexOf(conv.mode) === -1) return false;
    if (api.can('assign')) return true;
    const me = api.agent();
    return api.can('work') && conv.mode === 'agent' && Boolean(me) && conv.agent_username === me.username;
  }

  function openChatsText(count) {
    return count === 1 ? '1 open chat' : `${count} open chats`;
  }

  function renderTargets(conv) {
    const api = consoleApi();
    const targets = [];
    if (api.can('assign')) {
      const agents = (choices.agents || []).filter((agent) => agent.username !== conv.agent_username);
      targets.push(group('Agents', agents.map((agent) => option(`agent:${agent.username}`,
        `${agent.name} · ${openChatsText(agent.open_chats)}${agent.online ? ' · online' : ''}`
        + `${agent.team ? ` · ${agent.team}` : ''}`))));
    }
    targets.push(group('Teams', (choices.teams || []).map((team) => option(`team:${team.id}`, team.name))));
    targets.push(option('queue', 'Back to the queue (any team)'));
    dom.assignTo.replaceChildren(option('', 'Choose…'), ...targets);
  }

  function showButton() {
    const api = consoleApi();
    const conv = api ? api.conversation() : null;
    const allowed = mayAssign(conv);
    dom.assignButton.hidden = !allowed;
    if (!allowed || !conv || String(conv.conversation_id) !== shownFor) closePanel();
  }

  async function openPanel() {
    const api = consoleApi();
    const conv = api.conversation();
    if (!mayAssign(conv)) return;
    await loadChoices();
    renderTargets(conv);
    dom.assignNote.value = '';
    dom.assignNote.required = conv.mode === 'agent';
    shownFor = String(conv.conversation_id);
    dom.assignPanel.hidden = false;
    dom.assignButton.setAttribute('aria-expanded', 'true');
    dom.assignTo.focus();
  }

  function closePanel() {
    shownFor = null;
    dom.assignPanel.hidden = true;
    dom.assignButton.setAttribute('aria-expanded', 'false');
  }

  async function submit(event) {
    event.preventDefault();
    const api = consoleApi();
    const id = api.conversationId();
    const chosen = dom.assignTo.value;
    const note = dom.assignNote.value.trim();
    if (!id || !chosen) return;
    if (note.length > MAX_NOTE) {
      api.notice(`A note can be at most ${MAX_NOTE} characters.`);
      return;
    }
    const body = { note: note || null, agent: null, team_id: null };
    if (chosen.startsWith('agent:')) body.agent = chosen.slice(6);
    else if (chosen.startsWith('team:')) body.team_id = Number(chosen.slice(5));
    try {
      await call('POST', `/api/conversations/${encodeURIComponent(id)}/assign`, body);
    } catch (error) {
      api.notice(error.message);
      return;
    }
    closePanel();
    const label = dom.assignTo.selectedOptions[0] ? dom.assignTo.selectedOptions[0].textContent : '';
    api.notice(`Assigned: ${label.split(' · ')[0]}.`, 'info');
    loadChoices();
  }

  // ------------------------------------------------------------ frames

  function onFrame(event) {
    const frame = event.detail || {};
    const api = consoleApi();
    if (frame.type === 'conversation' || frame.type === 'hello') showButton();
    if (frame.type === 'hello') loadChoices();
    if (frame.type === 'assigned' && api) {
      const me = api.agent();
      if (me && frame.agent_username === me.username) {
        // Open it unless the agent is in the middle of a live chat: then it waits in their queue.
        const current = api.conversation();
        const busy = current && LIVE.indexOf(current.mode) !== -1
          && String(current.conversation_id) !== String(frame.conversation_id);
        const by = frame.by ? `${frame.by} assigned a conversation to you` : 'A conversation was assigned to you';
        api.notice(busy ? `${by}: it is in your queue, claimed by you.` : `${by}: it is open now.`, 'info');
        if (!busy) api.open(String(frame.conversation_id));
      }
      if (!dom.assignPanel.hidden) return;
      loadChoices();
    }
  }

  function start() {
    const ids = {
      assignButton: 'assign-button', assignPanel: 'assign-panel', assignTo: 'assign-to',
      assignNote: 'assign-note', assignCancel: 'assign-cancel', queueTeam: 'queue-team',
      queueTeamLabel: 'queue-team-label',
    };
    for (const [name, id] of Object.entries(ids)) dom[name] = document.getElementById(id);
    if (!dom.assignButton || !dom.assignPanel) return;
    dom.assignButton.addEventListener('click', () => {
      if (dom.assignPanel.hidden) openPanel();
      else closePanel();
    });
    dom.assignCancel.addEventListener('click', () => {
      closePanel();
      dom.assignButton.focus();
    });
    dom.assignPanel.addEventListener('submit', submit);
    dom.assignPanel.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') dom.assignCancel.click();
    });
    dom.queueTeam.addEventListener('change', applyTeamFilter);
    document.addEventListener('caredesk:frame', onFrame);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
