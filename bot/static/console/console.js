/* CareDesk agent console.
 *
 * Plain JavaScript, no build step. Talks to the gateway over the console WebSocket
 * (/ws/console, see docs/gateway-protocol.md). Every string that comes from the server is
 * put on the page with textContent: nothing here ever uses innerHTML.
 */
'use strict';

(() => {
  // ---------------------------------------------------------------- constants

  const REASONS = {
    asked: 'Asked for a person',
    not_understood: 'Not understood twice',
    negative_sentiment: 'Very upset',
    churn_threat: 'Threatens to leave',
    reply_in_chat: 'Wants the reply in the chat',
    bot_unavailable: 'The bot could not answer',
  };
  const PRIORITIES = { urgent: 'Urgent', high: 'High', normal: 'Normal', low: 'Low' };
  const TICKET_STATUSES = {
    open: 'Open', in_progress: 'In progress', resolved: 'Resolved', closed: 'Closed',
  };
  const MODES = {
    bot: 'With the bot', queued: 'Waiting for an agent', agent: 'With an agent', closed: 'Resolved',
  };
  const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

  const TICK_MS = 15000; // how often "waiting 12 min" and SLA flags are refreshed
  const TYPING_THROTTLE_MS = 3000; // at most one typing:on frame per this interval
  const TYPING_IDLE_MS = 4000; // typing:off after this long without a keystroke
  const REMOTE_TYPING_TIMEOUT_MS = 8000; // hide "Customer is typing…" if no off frame comes
  const MAX_BACKOFF_MS = 30000;
  const PROBE_AFTER_FAILURES = 2; // failed upgrades before asking whether the session is gone
  const LOGIN_AFTER_FAILURES = 5; // failed upgrades (server reachable) before going to login
  const MAX_TEXT = 2000;
  const MAX_NOTICES = 4;
  const LOGIN_URL = '/console/login';

  // ---------------------------------------------------------------- state

  const state = {
    agent: null, // {username, name, role} from hello
    permissions: [], // what the role allows (from hello); the server checks every action anyway
    queue: [],
    conv: null, // the <conversation detail> on screen
    currentId: null,
    requestedId: null, // id of the last open/claim we sent, until its answer arrives
    pendingFocus: null, // 'title' | 'reply' after a user-initiated open/claim
    shownKeys: new Set(), // keys of transcript messages on screen
    lastDayKey: null,
    drafts: new Map(), // conversation id -> unsent reply text
    statusDirty: false,
    stickToBottom: true, // the transcript follows new lines while the agent is at its end
    remoteTypingTimer: null,
    typing: { on: false, at: 0, conv: null, timer: null },
    ws: null,
    attempt: 0,
    failedUpgrades: 0,
    reconnectTimer: null,
    countdownTimer: null,
    reconnectAt: 0,
    leaving: false,
    uid: 0,
    queueTeam: { mine: null, only: '' }, // assignment: my team first; '' every team, else one team's id
  };

  const dom = {};

  // ---------------------------------------------------------------- small helpers

  function el(tag, props, children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [key, value] of Object.entries(props)) {
        if (value === undefined || value === null || value === false) continue;
        if (key === 'text') node.textContent = String(value);
        else if (key === 'className') node.className = value;
        else if (key === 'hidden') node.hidden = true;
        else if (key === 'dataset') Object.assign(node.dataset, value);
        else if (key === 'onclick') node.addEventListener('click', value);
        else node.setAttribute(key, value === true ? '' : String(value));
      }
    }
    for (const child of children || []) {
      if (child === null || child === undefined || child === false) continue;
      node.append(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return node;
  }

  function nextId(prefix) {
    state.uid += 1;
    return `${prefix}-${state.uid}`;
  }

  function parseTime(value) {
    if (!value) return null;
    let text = String(value);
    // The protocol's times are UTC; a date-time without a zone would otherwise read as local.
    if (/T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text)) text += 'Z';
    const ms = Date.parse(text);
    return Number.isNaN(ms) ? null : new Date(ms);
  }

  const pad2 = (n) => String(n).padStart(2, '0');
  const hhmm = (d) => `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  const dayKey = (d) => `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;

  /** "Tue 24 Nov, 11:00" (with the year when it is not this year). */
  function longWhen(d) {
    const year = d.getFullYear() === new Date().getFullYear() ? '' : ` ${d.getFullYear()}`;
    return `${DAYS[d.getDay()]} ${d.getDate()} ${MONTHS[d.getMonth()]}${year}, ${hhmm(d)}`;
  }

  function dayLabel(d) {
    const today = new Date();
    const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
    if (dayKey(d) === dayKey(today)) return 'Today';
    if (dayKey(d) === dayKey(yesterday)) return 'Yesterday';
    return longWhen(d).split(',')[0];
  }

  /** 45 s -> "less than a minute", 12 min, 1 h 5 min, 2 d 3 h. */
  function duration(ms) {
    const minutes = Math.floor(Math.max(0, ms) / 60000);
    if (minutes < 1) return 'less than a minute';
    if (minutes < 60) return `${minutes} min`;
    const hours = Math.floor(minutes / 60);
    if (hours < 24) {
      const rest = minutes % 60;
      return rest ? `${hours} h ${rest} min` : `${hours} h`;
    }
    const days = Math.floor(hours / 24);
    const rest = hours % 24;
    return rest ? `${days} d ${rest} h` : `${days} d`;
  }

  function waitingText(since) {
    const d = parseTime(since);
    return d ? `waiting ${duration(Date.now() - d.getTime())}` : '';
  }

  function dueText(due) {
    const d = parseTime(due);
    if (!d) return '';
    const left = d.getTime() - Date.now();
    return left >= 0 ? `due in ${duration(left)}` : `past SLA by ${duration(-left)}`;
  }

  /** order_number -> "Order number". */
  function prettify(key) {
    const words = String(key).replace(/[_-]+/g, ' ').replace(/\s+/g, ' ').trim();
    return words ? words.charAt(0).toUpperCase() + words.slice(1) : '';
  }

  const reasonText = (reason) => (reason ? REASONS[reason] || prettify(reason) : '');
  const priorityText = (priority) => PRIORITIES[priority] || prettify(priority || 'normal');
  const statusText = (status) => TICKET_STATUSES[status] || prettify(status || '');

  /** "agent:Dana" -> "Dana", "bot" -> "Bot". */
  function actorText(actor) {
    if (!actor) return '';
    const match = /^agent:(.*)$/.exec(actor);
    if (match) return match[1];
    return prettify(actor);
  }

  function isOverdue(item) {
    if (item.overdue === true) return true;
    const due = parseTime(item.promised_response_at);
    return Boolean(due && due.getTime() <= Date.now());
  }

  function agentName() {
    return state.agent ? state.agent.name || state.agent.username || '' : '';
  }

  /** With the assistant: never resolved (bot) or resolved by a person (closed). */
  function withBot(conv) {
    return Boolean(conv) && (conv.mode === 'bot' || conv.mode === 'closed');
  }

  function isMine(conv) {
    const c = conv || state.conv;
    if (!c || !state.agent || !c.agent_name) return false;
    if (withBot(c)) return false;
    if (c.agent_username) return c.agent_username === state.agent.username;
    return c.agent_name === state.agent.name;
  }

  function can(permission) {
    return state.permissions.indexOf(permission) !== -1;
  }

  /** Nobody is chatting in it (the bot has it again, or it was closed) and it has a ticket:
   *  a reply goes through delivery (the widget, Telegram, or the ticket's email address). */
  function afterChat(conv) {
    const c = conv || state.conv;
    return Boolean(c && withBot(c) && c.ticket && can('work'));
  }

  /** Claimed by another agent, and this role may not step in (only leads and admins may). */
  function lockedForMe(conv) {
    const c = conv || state.conv;
    return Boolean(c && c.mode === 'agent' && c.agent_name && !isMine(c) && !can('work_any'));
  }

  // ---------------------------------------------------------------- notices

  function showNotice(text, kind) {
    const id = nextId('notice');
    const box = el('div', { className: `notice notice-${kind || 'error'}`, role: 'alert', id }, [
      el('p', { text: text || 'Something went wrong.' }),
    ]);
    const dismiss = el('button', {
      type: 'button', className: 'notice-dismiss', 'aria-label': 'Dismiss this notice', text: '×',
    });
    dismiss.addEventListener('click', () => {
      const wasFocused = box.contains(document.activeElement);
      box.remove();
      if (wasFocused) focusFallback();
    });
    box.append(dismiss);
    box.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') dismiss.click();
    });
    dom.notices.append(box);
    while (dom.notices.children.length > MAX_NOTICES) dom.notices.firstElementChild.remove();
  }

  function focusFallback() {
    if (state.conv && !dom.conv.hidden) dom.convTitle.focus();
    else dom.queueTitle.focus();
  }

  // ---------------------------------------------------------------- socket

  function socketUrl() {
    const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${window.location.host}/ws/console`;
  }

  function goToLogin() {
    if (state.leaving) return;
    state.leaving = true;
    window.location.assign(LOGIN_URL);
  }

  function setConnection(kind, text) {
    dom.connection.dataset.state = kind;
    dom.connection.textContent = text;
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    clearInterval(state.countdownTimer);
    if (state.leaving) return;
    if (state.ws && state.ws.readyState <= WebSocket.OPEN) return;
    let ws;
    try {
      ws = new WebSocket(socketUrl());
    } catch (err) {
      state.failedUpgrades += 1;
      scheduleReconnect();
      return;
    }
    state.ws = ws;
    let opened = false;
    ws.addEventListener('open', () => {
      opened = true;
      state.failedUpgrades = 0;
      setConnection('online', 'Connected');
    });
    ws.addEventListener('message', (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      if (frame && typeof frame === 'object') handleFrame(frame);
    });
    ws.addEventListener('close', (event) => {
      if (state.ws !== ws) return;
      state.ws = null;
      resetOwnTyping();
      if (event.code === 4401) {
        goToLogin();
        return;
      }
      if (event.code === 4000) { // the role changed: the server serves the page that fits it
        state.leaving = true;
        window.location.reload();
        return;
      }
      if (!opened) state.failedUpgrades += 1;
      scheduleReconnect();
      if (!opened && state.failedUpgrades >= PROBE_AFTER_FAILURES) probeSession();
    });
  }

  /** After failed upgrades, tell "session gone" (go to login) from "server down" (keep trying). */
  async function probeSession() {
    try {
      const res = await fetch('/console', {
        credentials: 'same-origin', redirect: 'manual', cache: 'no-store',
      });
      const toLogin = res.type === 'opaqueredirect' || res.status === 401 || res.status === 403
        || (res.redirected && res.url.indexOf(LOGIN_URL) !== -1);
      if (toLogin || state.failedUpgrades >= LOGIN_AFTER_FAILURES) goToLogin();
    } catch (err) {
      // The gateway is unreachable: keep the console and keep retrying.
    }
  }

  function scheduleReconnect() {
    if (state.leaving) return;
    const base = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** state.attempt);
    const delay = Math.min(MAX_BACKOFF_MS, Math.round(base * (1 + Math.random() * 0.2)));
    state.attempt += 1;
    state.reconnectAt = Date.now() + delay;
    setConnection('offline', 'Offline');
    dom.reconnecting.hidden = false;
    updateCountdown();
    clearInterval(state.countdownTimer);
    state.countdownTimer = setInterval(updateCountdown, 1000);
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = setTimeout(() => {
      clearInterval(state.countdownTimer);
      dom.reconnectingText.textContent = 'Reconnecting…';
      setConnection('connecting', 'Connecting…');
      connect();
    }, delay);
  }

  function updateCountdown() {
    const seconds = Math.max(0, Math.ceil((state.reconnectAt - Date.now()) / 1000));
    dom.reconnectingText.textContent = seconds > 0
      ? `Reconnecting… (next try in ${seconds} s)`
      : 'Reconnecting…';
  }

  function reconnectNow() {
    if (state.ws) return;
    clearTimeout(state.reconnectTimer);
    clearInterval(state.countdownTimer);
    dom.reconnectingText.textContent = 'Reconnecting…';
    setConnection('connecting', 'Connecting…');
    connect();
  }

  function sendFrame(frame) {
    const ws = state.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  function sendOrWarn(frame) {
    if (sendFrame(frame)) return true;
    showNotice('Not connected to the gateway. Please try again once the connection is back.');
    return false;
  }

  // ---------------------------------------------------------------- frames

  function handleFrame(frame) {
    shareFrame(frame);
    switch (frame.type) {
      case 'hello': onHello(frame); break;
      case 'queue': renderQueue(Array.isArray(frame.items) ? frame.items : []); break;
      case 'conversation': onConversation(frame.conversation); break;
      case 'message': onMessage(frame); break;
      case 'typing': onRemoteTyping(frame); break;
      case 'alert': onAlert(frame); break;
      case 'error':
        // A refused open/claim gets no conversation frame: stop waiting for one.
        state.requestedId = null;
        state.pendingFocus = null;
        showNotice(frame.text || 'The gateway reported an error.');
        break;
      default: break;
    }
    tellAddOns(frame);
  }

  /** A claimed chat went back to the queue unanswered: the leads are told, and so is its agent. */
  function onAlert(frame) {
    if (frame.kind !== 'claim_unanswered') return;
    const who = frame.agent_name ? String(frame.agent_name) : 'An agent';
    const mine = Boolean(frame.agent_name) && frame.agent_name === agentName();
    if (!mine && !can('work_any')) return;
    const minutes = Number(frame.minutes) || 0;
    showNotice(`${mine ? 'You' : who} did not reply within ${minutes} minutes after claiming a conversation: `
      + 'it is back in the queue for someone to pick up.', 'warning');
  }

  function onHello(frame) {
    state.agent = frame.agent || null;
    state.permissions = Array.isArray(frame.permissions) ? frame.permissions : [];
    dom.reportsLink.hidden = !can('reports');
    dom.agentsLink.hidden = !can('agents');
    dom.auditLink.hidden = !can('audit');
    dom.cannedLink.hidden = !can('canned_manage');
    state.attempt = 0;
    dom.agentName.textContent = agentName();
    dom.reconnecting.hidden = true;
    setConnection('online', 'Connected');
    if (state.conv) renderComposer();
    const reopen = state.currentId || state.requestedId;
    if (reopen) {
      state.requestedId = reopen;
      sendFrame({ type: 'open', conversation_id: reopen });
    }
  }

  // ---------------------------------------------------------------- queue

  function renderQueue(items) {
    const previous = new Map(state.queue.map((item) => [item.conversation_id, item]));
    state.queue = items;
    dom.queueLoading.hidden = true;

    const focus = rememberFocus(dom.queueList);
    const existing = new Map();
    for (const li of dom.queueList.children) existing.set(li.dataset.conversationId, li);

    const ordered = [];
    for (const item of queueView(items)) {
      if (!item || !item.conversation_id) continue;
      const id = String(item.conversation_id);
      const signature = JSON.stringify(item);
      let li = existing.get(id);
      if (!li || li.caredeskSignature !== signature) {
        const fresh = buildQueueItem(item);
        fresh.caredeskSignature = signature;
        if (li) li.replaceWith(fresh);
        li = fresh;
      }
      existing.delete(id);
      ordered.push(li);
    }
    for (const stale of existing.values()) stale.remove();
    ordered.forEach((li, index) => {
      if (dom.queueList.children[index] !== li) {
        dom.queueList.insertBefore(li, dom.queueList.children[index] || null);
      }
    });

    dom.queueEmpty.hidden = ordered.length > 0;
    const waiting = items.filter((item) => item && item.status !== 'claimed' && !item.claimed_by).length;
    dom.queueCount.textContent = items.length
      ? `${items.length} in queue · ${waiting} unclaimed`
      : '';
    document.title = waiting ? `(${waiting}) CareDesk agent console` : 'CareDesk agent console';
    markCurrentInQueue();
    restoreFocus(focus);
    refreshOpenConversationIfChanged(previous);
  }

  function buildQueueItem(item) {
    const id = String(item.conversation_id);
    const overdue = isOverdue(item);
    const claimed = Boolean(item.claimed_by) || item.status === 'claimed';
    const priority = PRIORITIES[item.priority] ? item.priority : 'normal';
    const reasonId = nextId('qreason');
    const issueId = nextId('qissue');

    const sla = el('span', { className: 'badge badge-sla', text: 'Past SLA', hidden: !overdue });
    const head = el('div', { className: 'qitem-head' }, [
      el('span', { className: `badge prio prio-${priority}`, text: priorityText(item.priority) }),
      sla,
      el('span', { className: 'qitem-reason', id: reasonId, text: reasonText(item.reason) }),
    ]);

    const meta = el('div', { className: 'qitem-meta' }, [
      el('span', { className: 'qitem-channel', text: item.channel || 'unknown channel' }),
      item.ticket_number ? el('span', { className: 'qitem-ticket', text: item.ticket_number }) : null,
      item.team ? el('span', { className: 'qitem-team', 'data-testid': 'queue-team-name', text: item.team }) : null,
      el('span', {
        className: 'qitem-waiting', 'aria-live': 'off',
        dataset: { since: item.waiting_since || '' }, text: waitingText(item.waiting_since),
      }),
    ]);

    const claimedLine = claimed
      ? el('p', { className: 'qitem-claimed', text: `claimed by ${item.claimed_by || 'another agent'}` })
      : null;

    const openButton = el('button', {
      type: 'button', className: 'btn btn-small', 'data-testid': 'queue-open',
      'aria-describedby': `${reasonId} ${issueId}`, text: 'Open',
    });
    openButton.addEventListener('click', (event) => {
      event.stopPropagation();
      requestOpen(id);
    });
    const claimButton = el('button', {
      type: 'button', className: 'btn btn-small btn-primary', 'data-testid': 'queue-claim',
      'aria-describedby': `${reasonId} ${issueId}`, text: 'Claim', hidden: claimed,
    });
    claimButton.addEventListener('click', (event) => {
      event.stopPropagation();
      requestClaim(id);
    });

    const li = el('li', {
      className: `qitem qitem-${priority}${overdue ? ' is-overdue' : ''}${claimed ? ' is-claimed' : ''}`,
      'data-testid': 'queue-item',
      'data-conversation-id': id,
      'data-overdue': overdue ? 'true' : 'false',
    }, [
      head,
      queueCustomer(item),
      el('p', { className: 'qitem-issue', id: issueId, 'data-testid': 'queue-issue', text: item.issue || '' }),
      meta,
      claimedLine,
      el('div', { className: 'qitem-actions' }, [openButton, claimButton]),
    ]);
    li.caredeskItem = item;
    // A click anywhere on the card opens it too (the buttons are the keyboard path).
    li.addEventListener('click', (event) => {
      if (event.target.closest('button, a, input, textarea, select')) return;
      if (window.getSelection && String(window.getSelection())) return;
      requestOpen(id);
    });
    return li;
  }

  /** Who is waiting: their name and tier (words from the server), not their last message. */
  function queueCustomer(item) {
    const vip = String(item.customer_tier || '').toLowerCase() === 'vip';
    return el('p', { className: 'qitem-customer', 'data-testid': 'queue-customer' }, [
      el('span', { className: 'qitem-name', text: item.customer_name || 'Unknown customer' }),
      item.tier_text ? ' ' : null,
      item.tier_text ? el('span', { className: `badge ${vip ? 'badge-vip' : 'badge-tier'}`, text: item.tier_text }) : null,
    ]);
  }

  function markCurrentInQueue() {
    for (const li of dom.queueList.children) {
      const current = li.dataset.conversationId === state.currentId;
      li.classList.toggle('is-current', current);
      if (current) li.setAttribute('aria-current', 'true');
      else li.removeAttribute('aria-current');
    }
  }

  function rememberFocus(container) {
    const active = document.activeElement;
    if (!active || !container.contains(active)) return null;
    const li = active.closest('li[data-conversation-id]');
    if (!li) return null;
    return { id: li.dataset.conversationId, testid: active.getAttribute('data-testid') };
  }

  function restoreFocus(saved) {
    if (!saved) return;
    if (dom.queueList.contains(document.activeElement)) return;
    const li = Array.from(dom.queueList.children).find((n) => n.dataset.conversationId === saved.id);
    if (!li) {
      dom.queueTitle.focus();
      return;
    }
    let target = saved.testid ? li.querySelector(`[data-testid="${saved.testid}"]`) : null;
    if (!target || target.hidden) target = li.querySelector('[data-testid="queue-open"]');
    if (target) target.focus();
  }

  /** When the open conversation leaves the queue or changes hands, ask for a fresh copy. */
  function refreshOpenConversationIfChanged(previous) {
    const id = state.currentId;
    if (!id || !state.conv || state.requestedId) return;
    const before = previous.get(id);
    const now = state.queue.find((item) => item && String(item.conversation_id) === id);
    const changed = before
      ? !now || (before.claimed_by || null) !== (now.claimed_by || null) || before.status !== now.status
      : Boolean(now) && withBot(state.conv);
    if (changed) {
      state.requestedId = id;
      sendFrame({ type: 'open', conversation_id: id });
    }
  }

  function requestOpen(id) {
    state.pendingFocus = 'title';
    state.requestedId = id;
    if (!sendOrWarn({ type: 'open', conversation_id: id })) state.requestedId = null;
  }

  function requestClaim(id) {
    state.pendingFocus = 'reply';
    state.requestedId = id;
    if (!sendOrWarn({ type: 'claim', conversation_id: id })) state.requestedId = null;
  }

  // ---------------------------------------------------------------- assignment (assign.js)

  /** Every frame, for the console's other scripts (assign.js), after this one handled it. */
  function shareFrame(frame) {
    window.setTimeout(() => document.dispatchEvent(new CustomEvent('caredesk:frame', { detail: frame })), 0);
  }

  /** The queue as shown: with a team chosen, only that team's chats; otherwise my team's first. */
  function queueView(items) {
    const { mine, only } = state.queueTeam;
    if (only) return items.filter((item) => item && String(item.team_id || '') === only);
    if (!mine) return items;
    const ours = (item) => (item && item.team_id === mine ? 0 : 1);
    return items.map((item, index) => [item, index])
      .sort((a, b) => ours(a[0]) - ours(b[0]) || a[1] - b[1]).map((pair) => pair[0]);
  }

  function setQueueTeam(mine, only) {
    state.queueTeam = { mine: Number(mine) || null, only: only ? String(only) : '' };
    renderQueue(state.queue);
  }

  // ---------------------------------------------------------------- conversation

  function onConversation(conv) {
    if (!conv || !conv.conversation_id) return;
    const id = String(conv.conversation_id);
    // Ignore a late answer about a conversation the agent has since left.
    if (state.currentId && id !== state.currentId && id !== state.requestedId) return;
    const switching = id !== state.currentId;
    if (switching) {
      saveDraft();
      resetOwnTyping();
      hideRemoteTyping();
      state.statusDirty = false;
    }
    if (id === state.requestedId) state.requestedId = null;
    state.conv = conv;
    state.currentId = id;

    dom.convEmpty.hidden = true;
    dom.conv.hidden = false;
    renderHeader(conv);
    renderSummary(conv);
    renderTranscript(Array.isArray(conv.messages) ? conv.messages : [], switching);
    renderComposer();
    if (switching) restoreDraft();
    markCurrentInQueue();

    const focus = state.pendingFocus;
    state.pendingFocus = null;
    if (focus) {
      document.body.classList.add('show-conv');
      if (focus === 'reply' && isMine(conv)) dom.replyInput.focus();
      else dom.convTitle.focus({ preventScroll: true });
      if (window.matchMedia('(max-width: 760px)').matches) window.scrollTo(0, 0);
    }
  }

  function customerName(conv) {
    return conv.customer && conv.customer.name ? conv.customer.name : 'Customer';
  }

  function customerTier(conv) {
    return (conv.customer && conv.customer.tier) || '';
  }

  function renderHeader(conv) {
    dom.convCustomer.textContent = customerName(conv);
    dom.convVip.hidden = String(customerTier(conv)).toLowerCase() !== 'vip';

    dom.convSub.replaceChildren();
    const parts = [];
    parts.push(el('span', { text: conv.channel || 'unknown channel' }));
    let modeText = MODES[conv.mode] || prettify(conv.mode || '');
    if (conv.mode === 'agent' && conv.agent_name) {
      modeText = isMine(conv) ? 'With you' : `With ${conv.agent_name}`;
    }
    if (modeText) parts.push(el('span', { className: `mode mode-${conv.mode || 'unknown'}`, text: modeText }));
    const handoff = conv.handoff;
    if (handoff && handoff.waiting_since && !withBot(conv)) {
      parts.push(el('span', {
        className: 'live-waiting', 'aria-live': 'off',
        dataset: { since: handoff.waiting_since }, text: waitingText(handoff.waiting_since),
      }));
    }
    const ticketNumber = conv.ticket ? conv.ticket.number : summaryFact(conv, 'ticket');
    if (ticketNumber) parts.push(el('span', { text: ticketNumber }));
    parts.push(el('span', { className: 'conv-id', title: 'Conversation id', text: conv.conversation_id }));
    parts.forEach((part, index) => {
      if (index) dom.convSub.append(el('span', { className: 'sep', 'aria-hidden': 'true', text: '·' }));
      dom.convSub.append(part);
    });

    const active = !withBot(conv);
    dom.resolveButton.disabled = !active;
    dom.handBackButton.disabled = !active;
    dom.resolveButton.title = active ? '' : 'This conversation is already with the bot.';
  }

  function setFacts(dl, rows) {
    dl.replaceChildren();
    for (const [label, value, key] of rows) {
      if (value === null || value === undefined || value === '') continue;
      const dd = el('dd', key ? { 'data-testid': `summary-fact-${key}` } : null);
      if (value instanceof Node) dd.append(value);
      else dd.textContent = String(value);
      dl.append(el('dt', { text: label }), dd);
    }
  }

  function timeWithDue(iso) {
    const d = parseTime(iso);
    if (!d) return null;
    const due = el('span', { className: 'due', 'aria-live': 'off', dataset: { due: iso }, text: dueText(iso) });
    due.classList.toggle('is-late', d.getTime() <= Date.now());
    return el('span', null, [el('time', { datetime: iso, text: longWhen(d) }), ' ', due]);
  }

  /** The hand-off summary as the server words it (bot/console/summary.py): one line of what
   * the customer wants, then labelled facts; the console adds the priority and the customer. */
  function humanSummary(conv) {
    const summary = conv.handoff && conv.handoff.summary;
    return {
      wants: summary && typeof summary.wants === 'string' ? summary.wants : '',
      facts: summary && Array.isArray(summary.facts) ? summary.facts.filter((f) => f && f.label) : [],
    };
  }

  function summaryFact(conv, key) {
    const fact = humanSummary(conv).facts.find((f) => f.key === key);
    return fact && typeof fact.text === 'string' ? fact.text : '';
  }

  function customerNode(conv) {
    const customer = conv.customer;
    if (!customer || (!customer.name && !customer.tier_text && !customer.email)) return null;
    const node = el('span', null, [el('span', { text: customer.name || 'Unknown customer' })]);
    if (customer.tier_text) {
      const vip = String(customer.tier).toLowerCase() === 'vip';
      node.append(' ', el('span', { className: `badge ${vip ? 'badge-vip' : 'badge-tier'}`, text: customer.tier_text }));
    }
    if (customer.email) node.append(el('span', { className: 'sub-line', text: customer.email }));
    return node;
  }

  function renderSummary(conv) {
    const handoff = conv.handoff || null;
    const { wants, facts } = humanSummary(conv);
    dom.summaryWants.textContent = wants || (handoff ? '' : 'Not handed off (no active hand-off)');

    const rows = [];
    if (handoff && handoff.priority) {
      const priority = PRIORITIES[handoff.priority] ? handoff.priority : 'normal';
      rows.push(['Priority', el('span', { className: `badge prio prio-${priority}`, text: priorityText(handoff.priority) })]);
    }
    rows.push(['Customer', customerNode(conv)]);
    for (const fact of facts) {
      if (fact.at) {
        // The promised time: a live "due in" while a person is still needed.
        const at = parseTime(fact.at);
        const node = !withBot(conv) ? timeWithDue(fact.at)
          : at ? el('time', { datetime: fact.at, text: longWhen(at) }) : null;
        rows.push([fact.label, node, fact.key]);
      } else {
        rows.push([fact.label, fact.text, fact.key]);
      }
    }
    setFacts(dom.summaryFacts, rows);
    renderTicket(conv);
  }

  function renderTicket(conv) {
    const ticket = conv.ticket || null;
    const summaryNumber = summaryFact(conv, 'ticket');
    dom.ticketHeading.textContent = ticket && ticket.number ? `Ticket ${ticket.number}`
      : summaryNumber ? `Ticket ${summaryNumber}` : 'Ticket';
    dom.ticketNone.hidden = Boolean(ticket);
    dom.ticketNone.textContent = summaryNumber
      ? `Ticket ${summaryNumber}: details are not available.`
      : 'No ticket for this conversation.';

    if (ticket) {
      const status = el('span', { className: `badge status status-${ticket.status || 'unknown'}`, text: statusText(ticket.status) });
      const priority = ticket.priority
        ? el('span', { className: `badge prio prio-${PRIORITIES[ticket.priority] ? ticket.priority : 'normal'}`, text: priorityText(ticket.priority) })
        : null;
      const promised = ticket.status === 'resolved' || ticket.status === 'closed'
        ? (parseTime(ticket.promised_response_at) ? longWhen(parseTime(ticket.promised_response_at)) : null)
        : timeWithDue(ticket.promised_response_at);
      setFacts(dom.ticketFacts, [
        ['Number', ticket.number],
        ['Status', status],
        ['Priority', priority],
        ['Category', ticket.category ? prettify(ticket.category) : null],
        ['Desired outcome', ticket.desired_outcome ? prettify(ticket.desired_outcome) : null],
        ['Order', ticket.order_number],
        ['Promised response', promised],
        ['Contact', ticket.contact],
        ['Description', ticket.description],
      ]);
    } else {
      dom.ticketFacts.replaceChildren();
    }

    const hasTicket = Boolean(ticket);
    dom.statusSelect.disabled = !hasTicket;
    dom.statusUpdate.disabled = !hasTicket;
    if (!hasTicket) {
      dom.statusSelect.value = 'open';
      state.statusDirty = false;
    }
    if (hasTicket) {
      if (!state.statusDirty || dom.statusSelect.value === ticket.status) {
        if (TICKET_STATUSES[ticket.status]) dom.statusSelect.value = ticket.status;
        state.statusDirty = false;
      }
    }

    dom.ticketHistory.replaceChildren();
    const events = ticket && Array.isArray(ticket.events) ? ticket.events : (Array.isArray(conv.notes) ? conv.notes : []);
    if (!events.length) {
      dom.ticketHistory.append(el('li', { className: 'history-empty muted', text: hasTicket ? 'No events yet.' : 'No history.' }));
    }
    for (const event of events) dom.ticketHistory.append(buildEvent(event));
  }

  function buildEvent(event) {
    const at = parseTime(event.at);
    const when = at ? el('time', { datetime: event.at, text: `${longWhen(at)}` }) : null;
    const actor = actorText(event.actor);
    const isNote = event.kind === 'note';
    let title;
    if (isNote) title = 'Note';
    else if (event.kind === 'created') title = event.to_status ? `Created (${statusText(event.to_status)})` : 'Created';
    else if (event.kind === 'status_changed') {
      title = event.from_status
        ? `Status: ${statusText(event.from_status)} → ${statusText(event.to_status)}`
        : `Status: ${statusText(event.to_status)}`;
    } else if (event.kind === 'escalated') title = 'Escalated';
    else title = prettify(event.kind || 'event');

    const head = el('div', { className: 'event-head' }, [
      el('span', { className: `event-kind${isNote ? ' badge badge-note' : ''}`, text: title }),
      actor ? el('span', { className: 'event-actor', text: `by ${actor}` }) : null,
      when,
    ]);
    const li = el('li', { className: `event event-${event.kind || 'other'}${isNote ? ' event-note' : ''}`, 'data-kind': event.kind || '' }, [head]);
    if (isNote) li.append(el('p', { className: 'note-internal', text: "Internal, the customer doesn't see this" }));
    if (event.note) li.append(el('p', { className: 'event-text', text: event.note }));
    return li;
  }

  // ---------------------------------------------------------------- transcript

  function messageKey(message) {
    if (message.id !== null && message.id !== undefined) return `id:${message.id}`;
    return `x:${message.from}|${message.at}|${message.text}`;
  }

  function nearBottom(node) {
    return node.scrollHeight - node.scrollTop - node.clientHeight < 80;
  }

  function scrollTranscriptToEnd() {
    const wrap = dom.transcriptWrap;
    wrap.scrollTop = wrap.scrollHeight;
    state.stickToBottom = true;
  }

  function renderTranscript(messages, rebuild) {
    let fresh = rebuild;
    if (!fresh) {
      // Append what is new; start over if something new sits before what is shown.
      let lastKnown = -1;
      messages.forEach((message, index) => {
        if (state.shownKeys.has(messageKey(message))) lastKnown = index;
      });
      const unknown = messages
        .map((message, index) => ({ message, index }))
        .filter(({ message }) => !state.shownKeys.has(messageKey(message)));
      if (unknown.some(({ index }) => index < lastKnown)) fresh = true;
      else {
        const stick = state.stickToBottom || nearBottom(dom.transcriptWrap);
        unknown.forEach(({ message }) => appendMessage(message));
        if (stick && unknown.length) scrollTranscriptToEnd();
        return;
      }
    }
    // A full redraw should not make screen readers read the whole transcript out.
    dom.transcript.setAttribute('aria-live', 'off');
    dom.transcript.replaceChildren();
    state.shownKeys = new Set();
    state.lastDayKey = null;
    if (!messages.length) {
      dom.transcript.append(el('li', { className: 'transcript-empty muted', text: 'No messages yet.' }));
    }
    messages.forEach(appendMessage);
    scrollTranscriptToEnd();
    requestAnimationFrame(() => setTimeout(() => dom.transcript.setAttribute('aria-live', 'polite'), 50));
  }

  function appendMessage(message) {
    if (!message) return;
    const key = messageKey(message);
    if (state.shownKeys.has(key)) return;
    state.shownKeys.add(key);
    const empty = dom.transcript.querySelector('.transcript-empty');
    if (empty) empty.remove();

    const at = parseTime(message.at);
    if (at && dayKey(at) !== state.lastDayKey) {
      state.lastDayKey = dayKey(at);
      dom.transcript.append(el('li', { className: 'day-separator', 'aria-hidden': 'true' }, [
        el('span', { text: dayLabel(at) }),
      ]));
    }

    const from = ['customer', 'bot', 'agent', 'system'].includes(message.from) ? message.from : 'system';
    let who;
    if (from === 'customer') who = state.conv ? customerName(state.conv) : 'Customer';
    else if (from === 'bot') who = 'Bot';
    else if (from === 'agent') {
      who = message.agent_name || 'Agent';
      if (state.agent && message.agent_name === state.agent.name) who += ' (you)';
    } else who = 'System';

    const time = at ? el('time', { datetime: message.at, title: longWhen(at), text: hhmm(at) }) : null;
    const meta = el('div', { className: 'msg-meta' }, [
      el('span', { className: 'msg-who', text: who }),
      time ? ' ' : null,
      time,
    ]);
    const body = el('div', { className: 'msg-text', text: message.text || '' });
    const li = el('li', {
      className: `msg msg-${from}`,
      'data-testid': 'transcript-message',
      'data-from': message.from || 'system',
    }, from === 'system' ? [body, meta] : [meta, body]);
    if (message.id !== null && message.id !== undefined) li.dataset.messageId = String(message.id);

    if (Array.isArray(message.buttons) && message.buttons.length) {
      li.append(el('div', { className: 'msg-buttons' }, [
        el('span', { className: 'msg-buttons-label', text: 'Offered:' }),
        ...message.buttons.map((button) => el('span', {
          className: 'chip', title: button.payload || '', text: button.title || button.payload || '',
        })),
      ]));
    }
    dom.transcript.append(li);
  }

  function onMessage(frame) {
    if (!frame.message || String(frame.conversation_id) !== state.currentId || !state.conv) return;
    if (!Array.isArray(state.conv.messages)) state.conv.messages = [];
    const key = messageKey(frame.message);
    if (!state.conv.messages.some((m) => messageKey(m) === key)) state.conv.messages.push(frame.message);
    const stick = state.stickToBottom || nearBottom(dom.transcriptWrap)
      || (frame.message.from === 'agent' && state.agent && frame.message.agent_name === state.agent.name);
    appendMessage(frame.message);
    if (stick) scrollTranscriptToEnd();
    if (frame.message.from === 'customer') hideRemoteTyping();
  }

  function onRemoteTyping(frame) {
    if (String(frame.conversation_id) !== state.currentId) return;
    if (!frame.on) {
      hideRemoteTyping();
      return;
    }
    let text = 'Customer is typing…';
    if (frame.from === 'bot') text = 'The bot is typing…';
    else if (frame.from === 'agent') text = `${frame.agent_name || 'An agent'} is typing…`;
    dom.typingText.textContent = text;
    const stick = state.stickToBottom;
    dom.typing.hidden = false;
    if (stick) scrollTranscriptToEnd();
    clearTimeout(state.remoteTypingTimer);
    state.remoteTypingTimer = setTimeout(hideRemoteTyping, REMOTE_TYPING_TIMEOUT_MS);
  }

  function hideRemoteTyping() {
    clearTimeout(state.remoteTypingTimer);
    dom.typing.hidden = true;
  }

  // ---------------------------------------------------------------- composer

  function renderComposer() {
    const conv = state.conv;
    if (!conv) return;
    const mine = isMine(conv);
    const later = afterChat(conv);
    dom.replyInput.disabled = !mine && !later;
    dom.replySend.disabled = !mine && !later;
    dom.replyInput.placeholder = mine || later
      ? `Reply to ${customerName(conv) === 'Customer' ? 'the customer' : customerName(conv)}…`
      : 'Claim this conversation to reply.';
    dom.claimButton.hidden = mine;
    const locked = lockedForMe(conv);
    dom.claimButton.disabled = withBot(conv) || locked;
    dom.noteInput.disabled = locked;
    dom.noteAdd.disabled = locked;
    dom.statusSelect.disabled = locked;
    dom.statusUpdate.disabled = locked;
    dom.cannedOpen.disabled = !mine && !later;

    if (mine) dom.composerHint.textContent = `You are chatting with the customer as ${agentName()}.`;
    else if (later) dom.composerHint.textContent = 'The chat has ended. Your reply is kept in the transcript and sent to the customer by chat, Telegram or email; the ticket history shows how it went.';
    else if (withBot(conv)) dom.composerHint.textContent = 'The bot is handling this conversation; there is nothing to claim.';
    else if (locked) dom.composerHint.textContent = `Claimed by ${conv.agent_name}. Only they or a team lead can work on it.`;
    else if (conv.agent_name) dom.composerHint.textContent = `Claimed by ${conv.agent_name}. Claim it to take over and reply.`;
    else dom.composerHint.textContent = 'Nobody has claimed this conversation yet.';
    updateCount();
  }

  /** The first gap a canned reply left (⟦first_name⟧), selected so the agent types over it. */
  function selectGap() {
    const found = /\u27e6[a-z_]+\u27e7|\{(first_name|ticket_number|agent_name|order_number|promised_time)\}/
      .exec(dom.replyInput.value);
    if (!found) return false;
    dom.replyInput.focus();
    dom.replyInput.setSelectionRange(found.index, found.index + found[0].length);
    return true;
  }

  function updateCount() {
    const length = dom.replyInput.value.length;
    dom.replyCount.textContent = length > MAX_TEXT - 200 ? `${length} / ${MAX_TEXT}` : '';
  }

  function sendReply() {
    const conv = state.conv;
    if (!conv || !(isMine(conv) || afterChat(conv))) return;
    const text = dom.replyInput.value.trim();
    if (!text) {
      dom.replyInput.focus();
      return;
    }
    if (text.length > MAX_TEXT) {
      showNotice(`A reply can be at most ${MAX_TEXT} characters.`);
      return;
    }
    if (selectGap()) {
      showNotice('Fill in the gaps marked \u27e6 \u27e7 before sending.');
      return;
    }
    if (!sendOrWarn({ type: 'send', conversation_id: state.currentId, text })) return;
    dom.replyInput.value = '';
    state.drafts.delete(state.currentId);
    stopOwnTyping();
    updateCount();
    dom.replyInput.focus();
  }

  function onReplyInput() {
    updateCount();
    if (!isMine()) return;
    if (!dom.replyInput.value.trim()) {
      stopOwnTyping();
      return;
    }
    const now = Date.now();
    const typing = state.typing;
    if (!typing.on || typing.conv !== state.currentId || now - typing.at >= TYPING_THROTTLE_MS) {
      if (sendFrame({ type: 'typing', conversation_id: state.currentId, on: true })) {
        typing.on = true;
        typing.at = now;
        typing.conv = state.currentId;
      }
    }
    clearTimeout(typing.timer);
    typing.timer = setTimeout(stopOwnTyping, TYPING_IDLE_MS);
  }

  function stopOwnTyping() {
    const typing = state.typing;
    clearTimeout(typing.timer);
    if (typing.on && typing.conv) sendFrame({ type: 'typing', conversation_id: typing.conv, on: false });
    typing.on = false;
  }

  function resetOwnTyping() {
    stopOwnTyping();
    state.typing.conv = null;
  }

  function saveDraft() {
    if (!state.currentId) return;
    const text = dom.replyInput.value;
    if (text) state.drafts.set(state.currentId, text);
    else state.drafts.delete(state.currentId);
  }

  function restoreDraft() {
    dom.replyInput.value = state.drafts.get(state.currentId) || '';
    dom.noteInput.value = '';
    updateCount();
  }

  // ---------------------------------------------------------------- actions

  function claimCurrent() {
    if (state.currentId) requestClaim(state.currentId);
  }

  function addNote() {
    if (!state.currentId) return;
    const text = dom.noteInput.value.trim();
    if (!text) {
      dom.noteInput.focus();
      return;
    }
    if (text.length > MAX_TEXT) {
      showNotice(`A note can be at most ${MAX_TEXT} characters.`);
      return;
    }
    if (sendOrWarn({ type: 'note', conversation_id: state.currentId, text })) dom.noteInput.value = '';
  }

  function updateStatus() {
    if (!state.currentId) return;
    const status = dom.statusSelect.value;
    if (sendOrWarn({ type: 'ticket_status', conversation_id: state.currentId, status })) {
      state.statusDirty = false;
    }
  }

  function resolveCurrent() {
    if (!state.currentId) return;
    const ok = window.confirm('Resolve this conversation and hand it back to the bot?\n\n'
      + 'The bot takes over again and asks the customer for a rating.');
    if (!ok) return;
    stopOwnTyping();
    sendOrWarn({ type: 'resolve', conversation_id: state.currentId });
  }

  /** Unresolved: the assistant answers again (the conversation stays open in the reports). */
  function handBackCurrent() {
    if (!state.currentId) return;
    const ok = window.confirm('Give this conversation back to the assistant without resolving it?');
    if (!ok) return;
    stopOwnTyping();
    sendOrWarn({ type: 'hand_back', conversation_id: state.currentId });
  }

  // ---------------------------------------------------------------- live times

  function tick() {
    for (const node of document.querySelectorAll('[data-since]')) {
      if (node.dataset.since) node.textContent = waitingText(node.dataset.since);
    }
    for (const node of document.querySelectorAll('[data-due]')) {
      node.textContent = dueText(node.dataset.due);
      const d = parseTime(node.dataset.due);
      node.classList.toggle('is-late', Boolean(d && d.getTime() <= Date.now()));
    }
    for (const li of dom.queueList.children) {
      const item = li.caredeskItem;
      if (!item) continue;
      const overdue = isOverdue(item);
      li.dataset.overdue = overdue ? 'true' : 'false';
      li.classList.toggle('is-overdue', overdue);
      const badge = li.querySelector('.badge-sla');
      if (badge) badge.hidden = !overdue;
    }
  }

  // ---------------------------------------------------------------- add-ons

  // The add-ons (console-presence.js, console-alerts.js, console-unread.js, console-keys.js)
  // see every frame after the console has handled it; they act through these few hooks and
  // read the page's elements, never the console's private state.
  const addOnListeners = [];

  function tellAddOns(frame) {
    for (const listener of addOnListeners) {
      try {
        listener(frame);
      } catch (err) {
        // One add-on's fault must not stop the console or the others.
      }
    }
  }

  function addOnHooks() {
    return Object.freeze({
      conversationId: () => state.currentId,
      onFrame: (listener) => { addOnListeners.push(listener); },
      send: (frame) => sendOrWarn(frame),
      agent: () => (state.agent ? { ...state.agent } : null),
      can: (permission) => can(permission),
      queue: () => state.queue.slice(),
      open: (id) => requestOpen(String(id)),
      claim: () => claimCurrent(),
      resolve: () => resolveCurrent(),
      // For assign.js:
      conversation: () => state.conv,
      notice: showNotice,
      setQueueTeam,
    });
  }

  // ---------------------------------------------------------------- start

  function collectDom() {
    const ids = {
      agentName: 'agent-name', connection: 'connection', reconnecting: 'reconnecting',
      reconnectingText: 'reconnecting-text', reconnectNow: 'reconnect-now', notices: 'notices',
      queueTitle: 'queue-title', queueCount: 'queue-count', queueList: 'queue-list',
      queueEmpty: 'queue-empty', queueLoading: 'queue-loading', convEmpty: 'conv-empty', conv: 'conv',
      convTitle: 'conv-title', convCustomer: 'conv-customer', convVip: 'conv-vip', convSub: 'conv-sub',
      backButton: 'back-to-queue', resolveButton: 'resolve-button', handBackButton: 'hand-back-button', summaryToggle: 'summary-toggle',
      summaryBody: 'summary-body', summaryWants: 'summary-wants', summaryFacts: 'summary-facts',
      ticketHeading: 'ticket-heading', ticketNone: 'ticket-none', ticketFacts: 'ticket-facts',
      statusSelect: 'ticket-status-select', statusUpdate: 'ticket-status-update',
      ticketHistory: 'ticket-history', noteInput: 'note-input', noteAdd: 'note-add',
      transcriptWrap: 'transcript-wrap', transcript: 'transcript', typing: 'typing',
      typingText: 'typing-text', cannedOpen: 'canned-open',
      composerHint: 'composer-hint', replyInput: 'reply-input', replySend: 'reply-send',
      claimButton: 'claim-button', replyCount: 'reply-count',
      reportsLink: 'reports-link', agentsLink: 'agents-link', auditLink: 'audit-link', cannedLink: 'canned-link',
    };
    for (const [name, id] of Object.entries(ids)) dom[name] = document.getElementById(id);
    dom.queueTitle.tabIndex = -1;
  }

  function setSummaryOpen(open) {
    dom.summaryBody.hidden = !open;
    dom.summaryToggle.setAttribute('aria-expanded', open ? 'true' : 'false');
    dom.summaryToggle.textContent = open ? 'Hide' : 'Show';
    document.body.classList.toggle('summary-collapsed', !open);
    try {
      window.localStorage.setItem('caredesk.console.summary', open ? 'open' : 'closed');
    } catch (err) {
      // Storage may be unavailable; the toggle still works for this page.
    }
  }

  function bind() {
    dom.reconnectNow.addEventListener('click', reconnectNow);
    dom.claimButton.addEventListener('click', claimCurrent);
    dom.resolveButton.addEventListener('click', resolveCurrent);
    dom.handBackButton.addEventListener('click', handBackCurrent);
    dom.replySend.addEventListener('click', sendReply);
    dom.noteAdd.addEventListener('click', addNote);
    dom.statusUpdate.addEventListener('click', updateStatus);
    dom.statusSelect.addEventListener('change', () => {
      state.statusDirty = Boolean(state.conv && state.conv.ticket
        && dom.statusSelect.value !== state.conv.ticket.status);
    });
    dom.replyInput.addEventListener('input', onReplyInput);
    dom.replyInput.addEventListener('blur', () => {
      if (!dom.replyInput.value.trim()) stopOwnTyping();
    });
    dom.replyInput.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter' || event.isComposing || event.keyCode === 229) return;
      if (event.shiftKey || event.altKey || event.ctrlKey || event.metaKey) return;
      event.preventDefault();
      sendReply();
    });
    dom.noteInput.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        addNote();
      }
    });
    dom.summaryToggle.addEventListener('click', () => setSummaryOpen(dom.summaryBody.hidden));
    dom.transcriptWrap.addEventListener('scroll', () => {
      state.stickToBottom = nearBottom(dom.transcriptWrap);
    }, { passive: true });
    if ('ResizeObserver' in window) {
      // Keep the latest line in view when the typing line, summary or window changes size.
      new ResizeObserver(() => {
        if (state.stickToBottom) dom.transcriptWrap.scrollTop = dom.transcriptWrap.scrollHeight;
      }).observe(dom.transcriptWrap);
    }
    dom.backButton.addEventListener('click', () => {
      document.body.classList.remove('show-conv');
      const li = Array.from(dom.queueList.children).find((n) => n.dataset.conversationId === state.currentId);
      const target = li && li.querySelector('[data-testid="queue-open"]');
      if (target) target.focus();
      else dom.queueTitle.focus();
    });
    window.addEventListener('online', reconnectNow);
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) tick();
    });
    window.addEventListener('beforeunload', () => {
      state.leaving = true;
      resetOwnTyping();
    });
  }

  /** The Inbox links a conversation as /console#c=<id>: the id, or null. */
  function conversationFromHash() {
    const match = /^#c=([^&]{1,200})$/.exec(window.location.hash);
    if (!match) return null;
    try {
      return decodeURIComponent(match[1]).slice(0, 64);
    } catch (err) {
      return null;
    }
  }

  function start() {
    state.requestedId = conversationFromHash(); // opened once the socket says hello
    window.addEventListener('hashchange', () => {
      const linked = conversationFromHash();
      if (linked) requestOpen(linked);
    });
    collectDom();
    bind();
    let summaryPref = null;
    try {
      summaryPref = window.localStorage.getItem('caredesk.console.summary');
    } catch (err) {
      summaryPref = null;
    }
    setSummaryOpen(summaryPref !== 'closed');
    // For canned-picker.js (the conversation whose placeholders the gateway fills) and the add-ons.
    window.CareDeskConsole = addOnHooks();
    setInterval(tick, TICK_MS);
    setConnection('connecting', 'Connecting…');
    connect();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
