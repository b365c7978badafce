/*
 * CareDesk customer chat widget.
 *
 * Embed on any page with one tag:
 *   <script src="https://GATEWAY/static/widget.js" defer></script>
 *
 * Plain JavaScript, no build step, no dependencies. Every message is inserted as text
 * (textContent / createTextNode), never as HTML. Protocol: docs/gateway-protocol.md.
 *
 * Optional global: window.CareDeskWidget = { open(), close() }.
 * URL hash helpers (handy for demos and tests): #cd-open opens the panel, #cd-reset
 * forgets the stored conversation and starts a new one.
 */
(function () {
  'use strict';

  // ---------------------------------------------------------------------------------------
  // Where we were loaded from. document.currentScript is only set while this file runs
  // for the first time, so it is captured right here.
  // ---------------------------------------------------------------------------------------
  var thisScript = document.currentScript;
  if (!thisScript) {
    var candidates = document.querySelectorAll('script[src]');
    for (var c = candidates.length - 1; c >= 0; c--) {
      if (/\/static\/widget\.js(\?|#|$)/.test(candidates[c].src)) {
        thisScript = candidates[c];
        break;
      }
    }
  }
  var scriptUrl;
  try {
    scriptUrl = new URL(thisScript ? thisScript.src : '/static/widget.js', document.baseURI);
  } catch (err) {
    scriptUrl = new URL('/static/widget.js', window.location.href);
  }
  var GATEWAY_ORIGIN = scriptUrl.origin;
  var CSS_URL = GATEWAY_ORIGIN + '/static/widget.css';
  var WS_BASE = (scriptUrl.protocol === 'https:' ? 'wss://' : 'ws://') + scriptUrl.host + '/ws/chat';

  var TITLE = 'Northwind Goods support';
  var BOT_NAME = 'Assistant';
  var KEY_RESUME = 'caredesk.resume';  // the secret that resumes this browser's conversation
  var KEY_OPEN = 'caredesk.open';
  var MAX_CHARS = 2000;
  var TYPING_IDLE_MS = 3000;      // send typing:false after this much quiet
  var TYPING_REFRESH_MS = 2500;   // resend typing:true at most this often
  var TYPING_SHOW_MAX_MS = 20000; // hide an incoming indicator that was never switched off
  var BACKOFF_MIN_MS = 1000;
  var BACKOFF_MAX_MS = 30000;

  // Loaded twice on the same page? Keep the first one.
  if (document.querySelector('[data-caredesk-widget]')) {
    return;
  }

  // ---------------------------------------------------------------------------------------
  // Small helpers
  // ---------------------------------------------------------------------------------------
  var memoryStore = {};
  var store = {
    get: function (key) {
      try {
        return window.localStorage.getItem(key);
      } catch (err) {
        return Object.prototype.hasOwnProperty.call(memoryStore, key) ? memoryStore[key] : null;
      }
    },
    set: function (key, value) {
      try {
        window.localStorage.setItem(key, value);
      } catch (err) {
        memoryStore[key] = value;
      }
    },
    remove: function (key) {
      try {
        window.localStorage.removeItem(key);
      } catch (err) {
        /* storage unavailable */
      }
      delete memoryStore[key];
    }
  };

  function uuid() {
    var cryptoObj = window.crypto || window.msCrypto;
    if (cryptoObj && typeof cryptoObj.randomUUID === 'function') {
      try {
        return cryptoObj.randomUUID();
      } catch (err) {
        /* not a secure context: fall through */
      }
    }
    var bytes = new Uint8Array(16);
    if (cryptoObj && cryptoObj.getRandomValues) {
      cryptoObj.getRandomValues(bytes);
    } else {
      for (var i = 0; i < 16; i++) {
        bytes[i] = Math.floor(Math.random() * 256);
      }
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = [];
    for (var j = 0; j < 16; j++) {
      hex.push((bytes[j] + 0x100).toString(16).slice(1));
    }
    return hex.slice(0, 4).join('') + '-' + hex.slice(4, 6).join('') + '-' +
      hex.slice(6, 8).join('') + '-' + hex.slice(8, 10).join('') + '-' + hex.slice(10).join('');
  }

  function el(tag, className, attrs) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (attrs) {
      for (var name in attrs) {
        if (Object.prototype.hasOwnProperty.call(attrs, name) && attrs[name] !== null) {
          node.setAttribute(name, attrs[name]);
        }
      }
    }
    return node;
  }

  function textEl(tag, className, text, attrs) {
    var node = el(tag, className, attrs);
    node.appendChild(document.createTextNode(text == null ? '' : String(text)));
    return node;
  }

  function setText(node, text) {
    node.textContent = text == null ? '' : String(text);
  }

  var SVG_NS = 'http://www.w3.org/2000/svg';
  function icon(className, pathData) {
    var svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('class', className);
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('width', '24');
    svg.setAttribute('height', '24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    var path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', pathData);
    svg.appendChild(path);
    return svg;
  }
  var ICON_CHAT = 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z';
  var ICON_CLOSE = 'M6 6l12 12M18 6L6 18';

  function pad2(n) {
    return (n < 10 ? '0' : '') + n;
  }

  function parseTime(iso) {
    if (!iso) {
      return null;
    }
    var d = new Date(iso);
    return isNaN(d.getTime()) ? null : d;
  }

  function hhmm(d) {
    return d ? pad2(d.getHours()) + ':' + pad2(d.getMinutes()) : '';
  }

  function charCount(text) {
    // Count code points, as the gateway (Python len) does.
    var n = 0;
    for (var i = 0; i < text.length; i++) {
      var code = text.charCodeAt(i);
      if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
        i++;
      }
      n++;
    }
    return n;
  }

  function agentSubtitle(name) {
    return name ? name + ' from our team' : BOT_NAME;
  }

  /** A text the gateway sent in its hello (domain.yml, utter_gateway_widget_*), filled in. */
  function said(name, values) {
    var text = state.texts && typeof state.texts[name] === 'string' ? state.texts[name] : '';
    return text.replace(/\{(\w+)\}/g, function (whole, key) {
      return values && values[key] != null ? String(values[key]) : whole;
    });
  }

  /** The header's line says who the customer is talking to; while they wait, when a person
   *  will answer and a way back to the assistant. */
  function renderState() {
    var waiting = state.mode === 'queued';
    var line = '';
    if (state.mode === 'agent' && state.agentName) {
      line = said('state_agent', { agent_name: state.agentName });
    } else if (waiting) {
      line = state.promisedTime ? said('state_waiting_until', { promised_time: state.promisedTime })
        : said('state_waiting');
    } else {
      line = said('state_assistant');
    }
    setText(ui.subtitle, line || agentSubtitle(state.agentName));
    ui.backToAssistant.hidden = !waiting || !said('back_to_assistant');
    ui.backToAssistant.disabled = false;
    var offerEmail = waiting && state.emailReplies && !state.emailLeft && !!said('leave_email');
    if (!offerEmail) {
      ui.emailForm.hidden = true;
    }
    ui.emailLink.hidden = !offerEmail || !ui.emailForm.hidden;
    ui.panel.classList.toggle('cd-panel--waiting', waiting);
  }

  // ---------------------------------------------------------------------------------------
  // State
  // ---------------------------------------------------------------------------------------
  var state = {
    open: false,
    resumeToken: store.get(KEY_RESUME),
    agentName: null,
    mode: 'bot',
    promisedTime: null,    // while waiting for a person: when they will answer, in the company's words
    emailReplies: false,   // the gateway can answer by email: the waiting customer may leave an address
    emailLeft: false,      // ... and did, in this page
    texts: null,           // the gateway's words for the header (hello.texts)
    ws: null,
    ready: false,          // a hello arrived on the current socket
    attempt: 0,            // reconnect attempt, for the back-off
    reconnectTimer: null,
    started: false,        // we have connected at least once (or tried to)
    unloading: false,
    unread: 0,
    typingOn: false,
    typingLastSent: 0,
    typingIdleTimer: null,
    incomingTypingTimer: null,
    errorTimer: null
  };

  // Transcript bookkeeping.
  var records = [];        // {msg, node, local, quick} in display order
  var byId = {};           // message id -> record
  var byClientId = {};     // client_id -> record (the customer's own messages)
  var outbox = [];         // records of customer messages not yet confirmed, in order

  // ---------------------------------------------------------------------------------------
  // DOM
  // ---------------------------------------------------------------------------------------
  var ui = {};

  function buildUi() {
    var root = el('div', 'cd-root', { 'data-caredesk-widget': '' });
    root.hidden = true; // shown once widget.css has loaded (or failed to)

    // Launcher
    var launcher = el('button', 'cd-launcher', {
      type: 'button',
      'aria-label': 'Open chat',
      'aria-expanded': 'false',
      'aria-controls': 'cd-panel',
      'data-testid': 'cd-launcher'
    });
    launcher.appendChild(icon('cd-icon cd-icon--chat', ICON_CHAT));
    launcher.appendChild(icon('cd-icon cd-icon--close', ICON_CLOSE));
    var badge = el('span', 'cd-badge', { 'aria-hidden': 'true' });
    badge.hidden = true;
    launcher.appendChild(badge);

    // Panel
    var panel = el('div', 'cd-panel', {
      id: 'cd-panel',
      role: 'dialog',
      'aria-modal': 'false',
      'aria-labelledby': 'cd-title',
      'data-testid': 'cd-panel'
    });
    panel.hidden = true;

    var header = el('div', 'cd-header');
    var avatar = el('span', 'cd-avatar', { 'aria-hidden': 'true' });
    avatar.appendChild(icon('cd-icon', ICON_CHAT));
    var heading = el('div', 'cd-heading');
    var title = textEl('h2', 'cd-title', TITLE, { id: 'cd-title' });
    var subtitle = textEl('p', 'cd-subtitle', BOT_NAME, { 'data-testid': 'cd-agent' });
    heading.appendChild(title);
    heading.appendChild(subtitle);
    var closeBtn = el('button', 'cd-close', {
      type: 'button',
      'aria-label': 'Close chat',
      'data-testid': 'cd-close'
    });
    closeBtn.appendChild(icon('cd-icon', ICON_CLOSE));
    header.appendChild(avatar);
    header.appendChild(heading);
    header.appendChild(closeBtn);

    var reconnecting = el('div', 'cd-reconnecting', {
      role: 'status',
      'data-testid': 'cd-reconnecting'
    });
    reconnecting.appendChild(el('span', 'cd-spinner', { 'aria-hidden': 'true' }));
    reconnecting.appendChild(textEl('span', null, 'Reconnecting\u2026'));
    reconnecting.hidden = true;

    var body = el('div', 'cd-body');
    var intro = textEl('p', 'cd-intro',
      'Ask us about orders, delivery, returns or payments \u2013 or ask for a person at any time.');
    var log = el('div', 'cd-messages', {
      role: 'log',
      'aria-live': 'polite',
      'aria-relevant': 'additions',
      'aria-label': 'Conversation',
      'data-testid': 'cd-messages'
    });
    var typing = el('div', 'cd-typing', { 'data-testid': 'cd-typing', 'aria-live': 'polite' });
    var dots = el('span', 'cd-typing__dots', { 'aria-hidden': 'true' });
    dots.appendChild(el('span'));
    dots.appendChild(el('span'));
    dots.appendChild(el('span'));
    var typingLabel = textEl('span', 'cd-typing__label', BOT_NAME + ' is typing\u2026');
    typing.appendChild(dots);
    typing.appendChild(typingLabel);
    typing.hidden = true;
    body.appendChild(intro);
    body.appendChild(log);
    body.appendChild(typing);

    var notice = el('div', 'cd-notice', { role: 'status', 'data-testid': 'cd-error' });
    var noticeText = el('span', 'cd-notice__text');
    var noticeClose = el('button', 'cd-notice__close', {
      type: 'button',
      'aria-label': 'Dismiss notice'
    });
    noticeClose.appendChild(icon('cd-icon', ICON_CLOSE));
    notice.appendChild(noticeText);
    notice.appendChild(noticeClose);
    notice.hidden = true;

    var form = el('form', 'cd-composer', { novalidate: '' });
    var inputLabel = textEl('label', 'cd-visually-hidden', 'Your message', { 'for': 'cd-input' });
    var input = el('textarea', 'cd-input', {
      id: 'cd-input',
      rows: '1',
      placeholder: 'Type your message\u2026',
      autocomplete: 'off',
      'aria-describedby': 'cd-input-hint',
      'data-testid': 'cd-input'
    });
    var hint = textEl('span', 'cd-visually-hidden',
      'Press Enter to send, Shift and Enter for a new line.', { id: 'cd-input-hint' });
    var send = textEl('button', 'cd-send', 'Send', { type: 'submit', 'data-testid': 'cd-send' });
    form.appendChild(inputLabel);
    form.appendChild(input);
    form.appendChild(hint);
    form.appendChild(send);

    var backToAssistant = el('button', 'cd-back', { type: 'button', 'data-testid': 'cd-back-to-assistant' });
    backToAssistant.hidden = true;
    backToAssistant.addEventListener('click', function () {
      if (sendFrame({ type: 'back_to_assistant' })) {
        backToAssistant.disabled = true;
      }
    });

    // ... or leave an address for the reply (offered only when the gateway sends email).
    var emailLink = el('button', 'cd-back cd-email-link', { type: 'button', 'data-testid': 'cd-leave-email' });
    emailLink.hidden = true;
    var emailForm = el('form', 'cd-email', { novalidate: '', 'data-testid': 'cd-email-form' });
    emailForm.hidden = true;
    var emailLabel = el('label', 'cd-visually-hidden', { 'for': 'cd-email-input' });
    var emailInput = el('input', 'cd-email__input', {
      id: 'cd-email-input', type: 'email', autocomplete: 'email', maxlength: '254', 'data-testid': 'cd-email-input'
    });
    var emailSend = el('button', 'cd-email__send', { type: 'submit', 'data-testid': 'cd-email-send' });
    emailForm.appendChild(emailLabel);
    emailForm.appendChild(emailInput);
    emailForm.appendChild(emailSend);
    emailLink.addEventListener('click', function () {
      emailForm.hidden = false;
      emailLink.hidden = true;
      emailInput.focus();
    });
    emailForm.addEventListener('submit', function (event) {
      event.preventDefault();
      var address = emailInput.value.trim();
      if (address && sendFrame({ type: 'leave_email', email: address })) {
        state.emailLeft = true;
        emailForm.hidden = true;
      }
    });

    panel.appendChild(header);
    panel.appendChild(backToAssistant);
    panel.appendChild(emailLink);
    panel.appendChild(emailForm);
    panel.appendChild(reconnecting);
    panel.appendChild(body);
    panel.appendChild(notice);
    panel.appendChild(form);

    // The launcher comes first, so Tab goes from it straight into the open panel.
    root.appendChild(launcher);
    root.appendChild(panel);

    ui = {
      root: root,
      launcher: launcher,
      badge: badge,
      panel: panel,
      subtitle: subtitle,
      backToAssistant: backToAssistant,
      emailLink: emailLink,
      emailForm: emailForm,
      emailLabel: emailLabel,
      emailInput: emailInput,
      emailSend: emailSend,
      closeBtn: closeBtn,
      reconnecting: reconnecting,
      body: body,
      log: log,
      typing: typing,
      typingLabel: typingLabel,
      notice: notice,
      noticeText: noticeText,
      noticeClose: noticeClose,
      form: form,
      input: input,
      send: send
    };
  }

  function loadCss(done) {
    var existing = document.querySelector('link[data-caredesk-css]');
    if (existing) {
      done();
      return;
    }
    var link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = CSS_URL;
    link.setAttribute('data-caredesk-css', '');
    var finished = false;
    function finish() {
      if (!finished) {
        finished = true;
        done();
      }
    }
    link.addEventListener('load', finish);
    link.addEventListener('error', finish);
    setTimeout(finish, 4000);
    (document.head || document.documentElement).appendChild(link);
  }

  // ---------------------------------------------------------------------------------------
  // Rendering the transcript
  // ---------------------------------------------------------------------------------------
  function isNearBottom() {
    var b = ui.body;
    return b.scrollHeight - b.scrollTop - b.clientHeight < 80;
  }

  // When the list changes size (notice shown, textarea grows, phone keyboard opens) and the
  // reader was at the bottom, keep them there.
  var pinnedToBottom = true;
  function watchScroll() {
    ui.body.addEventListener('scroll', function () {
      pinnedToBottom = isNearBottom();
    }, { passive: true });
    if (typeof window.ResizeObserver === 'function') {
      new window.ResizeObserver(function () {
        if (pinnedToBottom) {
          scrollToBottom();
        }
      }).observe(ui.body);
    }
  }

  function scrollToBottom() {
    ui.body.scrollTop = ui.body.scrollHeight;
    pinnedToBottom = true;
  }

  function senderName(msg) {
    if (msg.from === 'agent') {
      return msg.agent_name || state.agentName || 'Our team';
    }
    return BOT_NAME;
  }

  function timeNode(msg) {
    var d = parseTime(msg.at);
    var t = textEl('time', 'cd-time', hhmm(d));
    if (d) {
      t.setAttribute('datetime', msg.at);
      t.setAttribute('title', d.toLocaleString());
    }
    return t;
  }

  function statusText(status) {
    if (status === 'sending') {
      return 'Sending\u2026';
    }
    if (status === 'failed') {
      return 'Not sent';
    }
    return 'Delivered';
  }

  function buildMessageNode(msg, status) {
    var from = msg.from;
    var node;
    if (from === 'system') {
      node = el('div', 'cd-msg cd-msg--system', {
        'data-testid': 'cd-message',
        'data-from': 'system'
      });
      node.appendChild(textEl('span', 'cd-msg__text', msg.text));
      var sysMeta = el('span', 'cd-msg__meta');
      sysMeta.appendChild(timeNode(msg));
      node.appendChild(sysMeta);
      return node;
    }
    if (from !== 'customer' && from !== 'agent') {
      from = 'bot';
    }
    node = el('div', 'cd-msg cd-msg--' + from, {
      'data-testid': 'cd-message',
      'data-from': from
    });
    if (from !== 'customer') {
      node.appendChild(textEl('span', 'cd-msg__name', senderName(msg)));
    } else {
      node.appendChild(textEl('span', 'cd-visually-hidden', 'You said:'));
    }
    node.appendChild(textEl('div', 'cd-msg__bubble', msg.text));
    var meta = el('div', 'cd-msg__meta');
    meta.appendChild(timeNode(msg));
    if (from === 'customer') {
      var st = textEl('span', 'cd-msg__status', statusText(status));
      meta.appendChild(st);
      node.setAttribute('data-status', status);
    }
    node.appendChild(meta);
    if (msg.id != null) {
      node.setAttribute('data-id', String(msg.id));
    }
    return node;
  }

  function setRecordStatus(rec, status) {
    rec.status = status;
    rec.node.setAttribute('data-status', status);
    var st = rec.node.querySelector('.cd-msg__status');
    if (st) {
      setText(st, statusText(status));
    }
  }

  function refreshTime(rec) {
    var old = rec.node.querySelector('.cd-time');
    if (old) {
      old.parentNode.replaceChild(timeNode(rec.msg), old);
    }
  }

  // Quick replies live inside the node of the latest bot/agent message.
  function removeQuickReplies() {
    for (var i = 0; i < records.length; i++) {
      if (records[i].quick) {
        records[i].quick.parentNode.removeChild(records[i].quick);
        records[i].quick = null;
      }
    }
  }

  // Disable the shown set. `chosen` is the pressed button, or `chosenText` the customer's
  // reply (to mark which one was used when the history is drawn again).
  function disableQuickReplies(chosen, chosenText) {
    for (var i = 0; i < records.length; i++) {
      var q = records[i].quick;
      if (!q || q.classList.contains('cd-quick--used')) {
        continue;
      }
      var buttons = q.querySelectorAll('button');
      for (var b = 0; b < buttons.length; b++) {
        buttons[b].disabled = true;
        if (buttons[b] === chosen || (!chosen && chosenText != null &&
            buttons[b].textContent === String(chosenText))) {
          buttons[b].classList.add('cd-qr--chosen');
          buttons[b].setAttribute('aria-pressed', 'true');
        }
      }
      q.classList.add('cd-quick--used');
    }
  }

  function renderQuickReplies(rec) {
    var buttons = rec.msg.buttons;
    if (!buttons || !buttons.length) {
      return;
    }
    var group = el('div', 'cd-quick', { role: 'group', 'aria-label': 'Quick replies' });
    buttons.forEach(function (btn) {
      if (!btn || btn.title == null) {
        return;
      }
      var b = textEl('button', 'cd-qr', btn.title, {
        type: 'button',
        'data-testid': 'cd-quick-reply'
      });
      b.addEventListener('click', function () {
        if (b.disabled) {
          return;
        }
        disableQuickReplies(b);
        sendCustomerMessage(String(btn.title), btn.payload == null ? null : String(btn.payload));
      });
      group.appendChild(b);
    });
    rec.node.appendChild(group);
    rec.quick = group;
  }

  // Append one message (from history, a live frame, or typed locally). Returns the record.
  function addRecord(msg, opts) {
    opts = opts || {};
    var status = opts.status || 'delivered';
    var node = buildMessageNode(msg, status);
    var rec = { msg: msg, node: node, local: !!opts.local, status: status, quick: null };
    ui.log.appendChild(node);
    records.push(rec);
    if (msg.id != null) {
      byId[String(msg.id)] = rec;
    }
    if (msg.client_id) {
      byClientId[msg.client_id] = rec;
    }
    if (msg.from === 'customer') {
      markLastOwn();
      disableQuickReplies(null, msg.text);
    } else {
      removeQuickReplies();
      if (msg.from === 'bot' || msg.from === 'agent') {
        renderQuickReplies(rec);
      }
    }
    return rec;
  }

  // Only the latest of the customer's own messages says "Delivered" (see widget.css).
  function markLastOwn() {
    var found = false;
    for (var i = records.length - 1; i >= 0; i--) {
      if (records[i].msg.from === 'customer') {
        records[i].node.classList.toggle('cd-msg--last-own', !found);
        found = true;
      }
    }
  }

  function removeRecord(rec) {
    var i = records.indexOf(rec);
    if (i >= 0) {
      records.splice(i, 1);
    }
    if (rec.node.parentNode) {
      rec.node.parentNode.removeChild(rec.node);
    }
  }

  function confirmOwnMessage(rec, msg) {
    rec.msg = msg;
    rec.local = false;
    if (msg.id != null) {
      byId[String(msg.id)] = rec;
      rec.node.setAttribute('data-id', String(msg.id));
    }
    setRecordStatus(rec, 'delivered');
    refreshTime(rec);
    var i = outbox.indexOf(rec);
    if (i >= 0) {
      outbox.splice(i, 1);
    }
  }

  // A live `message` frame.
  function receiveMessage(msg) {
    if (!msg || typeof msg !== 'object') {
      return;
    }
    if (msg.id != null && byId[String(msg.id)]) {
      return; // already shown
    }
    if (msg.client_id && byClientId[msg.client_id]) {
      var own = byClientId[msg.client_id];
      if (own.status !== 'delivered' || own.local) {
        confirmOwnMessage(own, msg);
      }
      return;
    }
    var stick = isNearBottom();
    if (msg.from === 'system') {
      // A system line we showed ourselves for an agent_joined/agent_left frame (same wording as
      // utter_gateway_agent_joined/left in domain.yml) is replaced by the real transcript line.
      for (var i = records.length - 1; i >= 0; i--) {
        if (records[i].provisional) {
          removeRecord(records[i]);
          break;
        }
      }
    }
    if (msg.from !== 'customer') {
      hideIncomingTyping();
    }
    if (msg.from === 'bot' || msg.from === 'agent') {
      if (msg.from === 'agent' && msg.agent_name && !state.agentName) {
        setAgent(msg.agent_name);
      }
    }
    addRecord(msg);
    if (!state.open && msg.from !== 'customer') {
      state.unread++;
      updateBadge();
    }
    if (stick || msg.from === 'customer') {
      scrollToBottom();
    }
  }

  // A `hello` frame: replace everything shown with the history.
  function renderHistory(history) {
    ui.log.setAttribute('aria-busy', 'true');
    while (ui.log.firstChild) {
      ui.log.removeChild(ui.log.firstChild);
    }
    records = [];
    byId = {};
    var pendingByClientId = {};
    outbox.forEach(function (rec) {
      pendingByClientId[rec.msg.client_id] = rec;
    });
    byClientId = {};

    (history || []).forEach(function (msg) {
      if (!msg || typeof msg !== 'object') {
        return;
      }
      if (msg.id != null && byId[String(msg.id)]) {
        return;
      }
      if (msg.client_id && byClientId[msg.client_id]) {
        return;
      }
      addRecord(msg);
      if (msg.client_id && pendingByClientId[msg.client_id]) {
        delete pendingByClientId[msg.client_id]; // it did arrive before the drop
      }
    });

    // Our own messages the gateway has not stored yet stay visible, still "sending".
    outbox = outbox.filter(function (rec) {
      return !!pendingByClientId[rec.msg.client_id];
    });
    outbox.forEach(function (rec) {
      var fresh = addRecord(rec.msg, { local: true, status: 'sending' });
      var i = outbox.indexOf(rec);
      outbox[i] = fresh;
    });

    ui.log.setAttribute('aria-busy', 'false');
    scrollToBottom();
  }

  function lastSystemText() {
    for (var i = records.length - 1; i >= 0; i--) {
      if (records[i].msg.from === 'system') {
        return String(records[i].msg.text || '');
      }
    }
    return '';
  }

  function addProvisionalSystemLine(text) {
    var stick = isNearBottom();
    var rec = addRecord({
      id: null,
      from: 'system',
      text: text,
      at: new Date().toISOString(),
      buttons: [],
      client_id: null
    });
    rec.provisional = true;
    if (stick) {
      scrollToBottom();
    }
  }

  // ---------------------------------------------------------------------------------------
  // Header, typing, notices
  // ---------------------------------------------------------------------------------------
  function setAgent(name) {
    state.agentName = name || null;
    ui.panel.classList.toggle('cd-panel--agent', !!state.agentName);
    renderState();
  }

  function showIncomingTyping(from) {
    var who = from === 'agent' ? (state.agentName || 'Our team') : BOT_NAME;
    setText(ui.typingLabel, who + ' is typing\u2026');
    var stick = isNearBottom();
    ui.typing.hidden = false;
    if (stick) {
      scrollToBottom();
    }
    clearTimeout(state.incomingTypingTimer);
    state.incomingTypingTimer = setTimeout(hideIncomingTyping, TYPING_SHOW_MAX_MS);
  }

  function hideIncomingTyping() {
    clearTimeout(state.incomingTypingTimer);
    ui.typing.hidden = true;
  }

  function showNotice(text) {
    var stick = isNearBottom();
    setText(ui.noticeText, text || 'Sorry, something went wrong. Please try again.');
    ui.notice.hidden = false;
    if (stick) {
      scrollToBottom();
    }
    clearTimeout(state.errorTimer);
    state.errorTimer = setTimeout(hideNotice, 10000);
  }

  function hideNotice() {
    clearTimeout(state.errorTimer);
    ui.notice.hidden = true;
  }

  function showReconnecting(on) {
    ui.reconnecting.hidden = !on;
  }

  function updateBadge() {
    if (state.unread > 0 && !state.open) {
      setText(ui.badge, state.unread > 9 ? '9+' : String(state.unread));
      ui.badge.hidden = false;
    } else {
      ui.badge.hidden = true;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Connection
  // ---------------------------------------------------------------------------------------
  function socketUrl() {
    return state.resumeToken
      ? WS_BASE + '?resume=' + encodeURIComponent(state.resumeToken)
      : WS_BASE;
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    if (state.ws || state.unloading) {
      return;
    }
    state.started = true;
    var ws;
    try {
      ws = new WebSocket(socketUrl());
    } catch (err) {
      scheduleReconnect();
      return;
    }
    state.ws = ws;
    state.ready = false;
    ws.onmessage = function (event) {
      if (state.ws !== ws) {
        return;
      }
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      if (frame && typeof frame === 'object') {
        handleFrame(frame);
      }
    };
    ws.onclose = function () {
      if (state.ws !== ws) {
        return;
      }
      state.ws = null;
      state.ready = false;
      state.typingOn = false;
      hideIncomingTyping();
      scheduleReconnect();
    };
    ws.onerror = function () {
      /* a close event follows */
    };
  }

  function scheduleReconnect() {
    if (state.unloading || state.reconnectTimer) {
      return;
    }
    showReconnecting(true);
    var base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, state.attempt));
    // +/-20 % jitter, never above the cap.
    var delay = Math.min(BACKOFF_MAX_MS, Math.round(base * (0.8 + Math.random() * 0.4)));
    state.attempt = Math.min(state.attempt + 1, 10);
    state.reconnectTimer = setTimeout(function () {
      state.reconnectTimer = null;
      connect();
    }, delay);
  }

  function reconnectNow() {
    if (!state.started || state.ws || state.unloading) {
      return;
    }
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    connect();
  }

  function sendFrame(frame) {
    if (!state.ws || !state.ready || state.ws.readyState !== 1) {
      return false;
    }
    try {
      state.ws.send(JSON.stringify(frame));
      return true;
    } catch (err) {
      return false;
    }
  }

  function messageFrame(msg) {
    var frame = { type: 'message', text: msg.text, client_id: msg.client_id };
    if (msg.payload != null) {
      frame.payload = msg.payload;
    }
    return frame;
  }

  function flushOutbox() {
    outbox.forEach(function (rec) {
      if (rec.status === 'sending' && !rec.sentOnSocket) {
        if (sendFrame(messageFrame(rec.msg))) {
          rec.sentOnSocket = state.ws;
        }
      }
    });
  }

  function handleFrame(frame) {
    switch (frame.type) {
      case 'hello':
        if (frame.resume) {
          state.resumeToken = String(frame.resume);
          store.set(KEY_RESUME, state.resumeToken);
        }
        state.ready = true;
        state.attempt = 0;
        showReconnecting(false);
        state.mode = frame.mode || 'bot';
        state.promisedTime = frame.promised_time ? String(frame.promised_time) : null;
        state.emailReplies = frame.email_replies === true;
        if (frame.texts && typeof frame.texts === 'object') {
          state.texts = frame.texts;
          setText(ui.backToAssistant, said('back_to_assistant'));
          setText(ui.emailLink, said('leave_email'));
          setText(ui.emailLabel, said('email_label'));
          setText(ui.emailSend, said('email_send'));
        }
        setAgent(frame.agent_name || null);
        hideIncomingTyping();
        // Everything still in the outbox must go out again on this socket.
        outbox.forEach(function (rec) {
          rec.sentOnSocket = null;
        });
        renderHistory(frame.history);
        flushOutbox();
        break;
      case 'message':
        receiveMessage(frame.message);
        break;
      case 'typing':
        if (frame.on) {
          if (frame.from === 'agent' && frame.agent_name && !state.agentName) {
            setAgent(String(frame.agent_name));
          }
          showIncomingTyping(frame.from);
        } else {
          hideIncomingTyping();
        }
        break;
      case 'agent_joined':
        state.mode = 'agent';
        setAgent(frame.agent_name || 'Our team');
        hideIncomingTyping();
        if (lastSystemText().toLowerCase().indexOf(state.agentName.toLowerCase()) === -1) {
          addProvisionalSystemLine("You're now chatting with " + state.agentName + ' from our team.');
        }
        break;
      case 'state':
        state.mode = String(frame.state || 'bot');
        if (frame.promised_time) {
          state.promisedTime = String(frame.promised_time);
        } else if (state.mode !== 'queued') {
          state.promisedTime = null;
        }
        if (state.mode === 'agent' && frame.agent_name) {
          setAgent(String(frame.agent_name));
        } else if (state.mode !== 'agent') {
          setAgent(null);
        } else {
          renderState();
        }
        break;
      case 'agent_left':
        state.mode = 'bot';
        setAgent(null);
        hideIncomingTyping();
        if (lastSystemText().toLowerCase().indexOf('assistant') === -1) {
          addProvisionalSystemLine("You're back with the assistant.");
        }
        break;
      case 'error':
        markInFlightFailed(frame.client_id ? String(frame.client_id) : null);
        showNotice(frame.text ? String(frame.text) : null);
        break;
      default:
        break;
    }
  }

  // An error frame answers the message it names (client_id, e.g. one refused for coming too
  // fast), else the oldest customer message the gateway has not confirmed yet (frames are
  // handled in order). If an echo turns up after all, it is confirmed.
  function markInFlightFailed(clientId) {
    for (var i = 0; i < outbox.length; i++) {
      var named = clientId !== null && outbox[i].msg.client_id === clientId;
      if (outbox[i].sentOnSocket && outbox[i].status === 'sending' && (clientId === null || named)) {
        setRecordStatus(outbox[i], 'failed');
        outbox.splice(i, 1);
        return;
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // Sending
  // ---------------------------------------------------------------------------------------
  function sendCustomerMessage(text, payload) {
    var msg = {
      id: null,
      from: 'customer',
      agent_name: null,
      text: text,
      buttons: [],
      at: new Date().toISOString(),
      client_id: uuid(),
      payload: payload
    };
    var rec = addRecord(msg, { local: true, status: 'sending' });
    outbox.push(rec);
    scrollToBottom();
    if (state.typingOn) {
      stopTyping();
    }
    if (sendFrame(messageFrame(msg))) {
      rec.sentOnSocket = state.ws;
    } else if (!state.ws) {
      reconnectNow();
      if (!state.started) {
        connect();
      }
    }
  }

  function submitInput() {
    var raw = ui.input.value;
    var text = raw.replace(/^\s+|\s+$/g, '');
    if (!text) {
      ui.input.focus();
      return;
    }
    if (charCount(text) > MAX_CHARS) {
      showNotice('That message is a little long. Please keep it under 2,000 characters, ' +
        'or send it in a few parts.');
      return;
    }
    hideNotice();
    ui.input.value = '';
    autosize();
    sendCustomerMessage(text, null);
    ui.input.focus();
  }

  function noteTyping() {
    if (!ui.input.value) {
      if (state.typingOn) {
        stopTyping();
      }
      return;
    }
    var now = Date.now();
    if (!state.typingOn || now - state.typingLastSent >= TYPING_REFRESH_MS) {
      if (sendFrame({ type: 'typing', on: true })) {
        state.typingOn = true;
        state.typingLastSent = now;
      }
    }
    clearTimeout(state.typingIdleTimer);
    state.typingIdleTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    clearTimeout(state.typingIdleTimer);
    if (state.typingOn) {
      sendFrame({ type: 'typing', on: false });
    }
    state.typingOn = false;
  }

  function autosize() {
    var input = ui.input;
    input.style.height = 'auto';
    var max = 140;
    var h = Math.min(input.scrollHeight + 2, max);
    input.style.height = h + 'px';
    input.style.overflowY = input.scrollHeight + 2 > max ? 'auto' : 'hidden';
  }

  // ---------------------------------------------------------------------------------------
  // Open / close
  // ---------------------------------------------------------------------------------------
  function openPanel(opts) {
    opts = opts || {};
    if (!state.open) {
      state.open = true;
      ui.panel.hidden = false;
      ui.root.classList.add('cd-root--open');
      document.documentElement.classList.add('cd-chat-open');
      ui.launcher.setAttribute('aria-expanded', 'true');
      store.set(KEY_OPEN, '1');
      state.unread = 0;
      updateBadge();
      scrollToBottom();
    }
    if (!state.started) {
      connect();
    } else {
      reconnectNow();
    }
    if (opts.focus !== false) {
      ui.input.focus();
    }
  }

  function closePanel(opts) {
    opts = opts || {};
    if (state.open) {
      state.open = false;
      ui.panel.hidden = true;
      ui.root.classList.remove('cd-root--open');
      document.documentElement.classList.remove('cd-chat-open');
      ui.launcher.setAttribute('aria-expanded', 'false');
      store.set(KEY_OPEN, '0');
      if (state.typingOn) {
        stopTyping();
      }
    }
    if (opts.focus !== false) {
      ui.launcher.focus();
    }
  }

  // ---------------------------------------------------------------------------------------
  // Events
  // ---------------------------------------------------------------------------------------
  function bindEvents() {
    ui.launcher.addEventListener('click', function () {
      if (state.open) {
        closePanel();
      } else {
        openPanel();
      }
    });
    ui.closeBtn.addEventListener('click', function () {
      closePanel();
    });
    ui.noticeClose.addEventListener('click', function () {
      hideNotice();
      ui.input.focus();
    });
    ui.form.addEventListener('submit', function (event) {
      event.preventDefault();
      submitInput();
    });
    ui.input.addEventListener('keydown', function (event) {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        submitInput();
      }
    });
    ui.input.addEventListener('input', function () {
      autosize();
      noteTyping();
    });
    ui.input.addEventListener('blur', function () {
      if (state.typingOn) {
        stopTyping();
      }
    });
    ui.root.addEventListener('keydown', function (event) {
      if ((event.key === 'Escape' || event.key === 'Esc') && state.open) {
        event.preventDefault();
        event.stopPropagation();
        closePanel();
      }
    });

    window.addEventListener('online', reconnectNow);
    document.addEventListener('visibilitychange', function () {
      if (document.visibilityState === 'visible') {
        reconnectNow();
      }
    });
    window.addEventListener('pagehide', function (event) {
      if (!event.persisted) {
        state.unloading = true;
      }
    });
    window.addEventListener('pageshow', function (event) {
      if (event.persisted) {
        state.unloading = false;
        reconnectNow();
      }
    });
    window.addEventListener('storage', function (event) {
      // Another tab started a conversation: follow it on the next connect.
      if (event.key === KEY_RESUME && event.newValue && !state.resumeToken) {
        state.resumeToken = event.newValue;
      }
    });
  }

  // ---------------------------------------------------------------------------------------
  // Start
  // ---------------------------------------------------------------------------------------
  function applyHash() {
    var hash = window.location.hash || '';
    if (/(^#|[&,;])cd-reset\b/.test(hash)) {
      store.remove(KEY_RESUME);
      state.resumeToken = null;
    }
    if (/(^#|[&,;])cd-open\b/.test(hash)) {
      store.set(KEY_OPEN, '1');
    }
  }

  function start() {
    buildUi();
    applyHash();
    bindEvents();
    watchScroll();
    document.body.appendChild(ui.root);
    loadCss(function () {
      ui.root.hidden = false;
      if (state.open) {
        scrollToBottom();
      }
    });

    window.CareDeskWidget = {
      open: function () {
        openPanel();
      },
      close: function () {
        closePanel();
      }
    };

    if (store.get(KEY_OPEN) === '1') {
      openPanel({ focus: false });
    } else if (state.resumeToken) {
      // A conversation is going on: stay connected so new replies show up on the badge.
      connect();
    }
  }

  if (document.body) {
    start();
  } else {
    document.addEventListener('DOMContentLoaded', start);
  }
})();
