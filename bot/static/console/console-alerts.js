/* CareDesk console: alerts and unread counts.
 *
 * A short beep (WebAudio, no sound file) and, once the agent has allowed them with the bell
 * button, a desktop notification (the browser's Notification API; permission is asked only
 * when the bell is clicked, never on load) for:
 *   - a new chat in the queue,
 *   - a new customer line in a chat this agent claimed,
 *   - a promise about to be broken: an unclaimed chat within 5 minutes of its promised time.
 * While the agent is away (console-presence.js) only their own chats alert. The mute button
 * silences both, remembered in this browser (localStorage). Desktop notifications show only
 * while the console is not in front (the agent sees the page otherwise) and never carry what
 * the customer wrote: "New message from Tom", because a notification shows on a screen that
 * others may see, above whatever else is open.
 *
 * The unread counts on the queue's cards are console-unread.js.
 */
'use strict';

(() => {
  const MUTE_KEY = 'caredesk.console.muted';
  const PROMISE_WARNING_MS = 5 * 60 * 1000;
  const CHECK_MS = 20000;

  const st = {
    hooks: null,
    baseline: true, // the first queue after a hello: what is there already is not news
    known: new Map(), // conversation id -> the queue item last seen
    warned: new Set(), // promises already warned about (id|promised time)
    status: 'online',
    muted: false,
    audio: null,
  };
  const dom = {};

  // ---------------------------------------------------------------- small helpers

  function parseTime(value) {
    if (!value) return null;
    let text = String(value);
    if (/T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text)) text += 'Z'; // the protocol's times are UTC
    const ms = Date.parse(text);
    return Number.isNaN(ms) ? null : ms;
  }

  const pad2 = (n) => String(n).padStart(2, '0');
  const lines = (item) => (Number.isFinite(item.customer_lines) ? Math.max(0, item.customer_lines) : 0);
  const nameOf = (item) => (item.customer_name ? String(item.customer_name).slice(0, 80) : '');
  const unclaimed = (item) => !item.claimed_by && item.status !== 'claimed';

  function inFront() {
    return document.visibilityState === 'visible' && document.hasFocus();
  }

  function me() {
    const agent = st.hooks.agent();
    return agent ? agent.username : null;
  }

  function storage() {
    try {
      return window.localStorage;
    } catch (err) {
      return null;
    }
  }

  // ---------------------------------------------------------------- sound

  function audioContext() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    if (!st.audio) {
      try {
        st.audio = new Context();
      } catch (err) {
        return null;
      }
    }
    return st.audio;
  }

  /** Browsers start sound only after a gesture: the first click or key on the page allows it. */
  function unlockAudio() {
    const context = audioContext();
    if (context && context.state === 'suspended') context.resume().catch(() => {});
  }

  function beep() {
    const context = audioContext();
    if (!context) return;
    if (context.state === 'suspended') context.resume().catch(() => {});
    const oscillator = context.createOscillator();
    const gain = context.createGain();
    const now = context.currentTime;
    oscillator.type = 'sine';
    oscillator.frequency.value = 880;
    gain.gain.setValueAtTime(0.0001, now);
    gain.gain.exponentialRampToValueAtTime(0.2, now + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.25);
    oscillator.connect(gain);
    gain.connect(context.destination);
    oscillator.start(now);
    oscillator.stop(now + 0.3);
  }

  // ---------------------------------------------------------------- alerts

  function alertAgent(kind, item, title, body) {
    if (st.muted) return;
    dom.live.textContent = body ? `${title}. ${body}` : title;
    beep();
    if (!('Notification' in window) || window.Notification.permission !== 'granted' || inFront()) return;
    try {
      const id = String(item.conversation_id);
      const note = new window.Notification(title, { body, tag: `${kind}:${id}` });
      note.onclick = () => {
        window.focus();
        st.hooks.open(id);
        if (typeof note.close === 'function') note.close();
      };
    } catch (err) {
      // Some browsers only notify from a service worker: the beep has said it.
    }
  }

  function newChat(item) {
    const name = nameOf(item);
    alertAgent('chat', item, 'New chat in the queue', name ? `${name} is waiting` : 'A customer is waiting');
  }

  function newMessage(item) {
    const name = nameOf(item);
    alertAgent('message', item, name ? `New message from ${name}` : 'New message from a customer',
      'In a chat you claimed');
  }

  function promiseAtRisk(item, due) {
    const name = nameOf(item) || 'A customer';
    const at = new Date(due);
    alertAgent('promise', item, 'A promise is about to be broken',
      `${name}: reply due at ${pad2(at.getHours())}:${pad2(at.getMinutes())}, nobody has claimed it`);
  }

  function checkPromises(quiet) {
    if (st.status !== 'online') return;
    const now = Date.now();
    for (const item of st.hooks.queue()) {
      if (!item || !unclaimed(item)) continue;
      const due = parseTime(item.promised_response_at);
      const key = `${item.conversation_id}|${item.promised_response_at}`;
      if (due === null || st.warned.has(key) || due - now > PROMISE_WARNING_MS) continue;
      st.warned.add(key);
      if (!(quiet && due <= now)) promiseAtRisk(item, due); // long past at load: the list shows it
    }
  }

  function onQueue() {
    const items = st.hooks.queue().filter((item) => item && item.conversation_id);
    const quiet = st.baseline;
    if (!quiet) {
      const mine = me();
      for (const item of items) {
        const before = st.known.get(String(item.conversation_id));
        if (!before && unclaimed(item) && st.status === 'online') newChat(item);
        const open = String(item.conversation_id) === st.hooks.conversationId() && inFront();
        if (before && mine && item.claimed_username === mine && lines(item) > lines(before) && !open) newMessage(item);
      }
    }
    st.baseline = false;
    st.known = new Map(items.map((item) => [String(item.conversation_id), item]));
    checkPromises(quiet);
  }

  // ---------------------------------------------------------------- bell and mute

  const BELL = {
    on: 'Desktop notifications: on',
    off: 'Desktop notifications: off, click to allow',
    blocked: 'Desktop notifications: blocked (allow them in the browser\u2019s site settings)',
    unsupported: 'Desktop notifications: not available in this browser',
  };

  function bellState() {
    if (!('Notification' in window)) return 'unsupported';
    const permission = window.Notification.permission;
    if (permission === 'granted') return 'on';
    return permission === 'denied' ? 'blocked' : 'off';
  }

  function renderBell() {
    const state = bellState();
    dom.bell.dataset.state = state;
    dom.bell.title = BELL[state];
    dom.bellLabel.textContent = BELL[state];
  }

  async function onBell() {
    unlockAudio();
    if (bellState() === 'off') {
      try {
        await window.Notification.requestPermission();
      } catch (err) {
        // An old browser with the callback form only: leave it off.
      }
    }
    renderBell();
    dom.live.textContent = BELL[bellState()];
  }

  function setMuted(muted) {
    st.muted = muted;
    dom.mute.setAttribute('aria-pressed', muted ? 'true' : 'false');
    dom.mute.title = muted ? 'Alerts muted: click to hear them again' : 'Mute alerts';
    const store = storage();
    try {
      if (store) store.setItem(MUTE_KEY, muted ? '1' : '0');
    } catch (err) {
      // Unavailable: muted for this page only.
    }
  }

  // ---------------------------------------------------------------- start

  function onFrame(frame) {
    if (frame.type === 'hello') {
      st.baseline = true;
      st.status = frame.status === 'away' ? 'away' : 'online';
    } else if (frame.type === 'status') {
      st.status = frame.status === 'away' ? 'away' : 'online';
    } else if (frame.type === 'queue') {
      onQueue();
    }
  }

  function start() {
    st.hooks = window.CareDeskConsole;
    dom.bell = document.getElementById('notify-bell');
    dom.bellLabel = document.getElementById('notify-bell-label');
    dom.mute = document.getElementById('notify-mute');
    dom.live = document.getElementById('alerts-live');
    if (!st.hooks || !dom.bell || !dom.mute || !dom.live) return;
    const store = storage();
    let muted = false;
    try {
      muted = Boolean(store) && store.getItem(MUTE_KEY) === '1';
    } catch (err) {
      muted = false;
    }
    setMuted(muted);
    renderBell();
    dom.bell.addEventListener('click', onBell);
    dom.mute.addEventListener('click', () => setMuted(!st.muted));
    document.addEventListener('pointerdown', unlockAudio, { once: true });
    document.addEventListener('keydown', unlockAudio, { once: true });
    st.hooks.onFrame(onFrame);
    setInterval(() => checkPromises(false), CHECK_MS);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
