/* CareDesk console: unread counts in the queue.
 *
 * Each queue item says how many lines its customer wrote since the hand-off (customer_lines).
 * This console remembers, per agent, how many there were when its agent last had the
 * conversation open (localStorage: a reload keeps them, another computer starts from the
 * hand-off), and the card's badge shows the difference. The open conversation counts as read,
 * lines that arrive while it is open too; a conversation that leaves the queue is forgotten.
 */
'use strict';

(() => {
  const SEEN_KEY = 'caredesk.console.seen.'; // + username
  const st = {
    hooks: null,
    known: new Map(), // conversation id -> its queue item
    seen: {}, // id|waiting_since -> customer lines when last opened
  };

  const seenKey = (item) => `${item.conversation_id}|${item.waiting_since || ''}`;
  const lines = (item) => (Number.isFinite(item.customer_lines) ? Math.max(0, item.customer_lines) : 0);

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

  function loadSeen() {
    st.seen = {};
    const store = storage();
    const mine = me();
    if (!store || !mine) return;
    try {
      const saved = JSON.parse(store.getItem(SEEN_KEY + mine) || '{}');
      if (saved && typeof saved === 'object') st.seen = saved;
    } catch (err) {
      st.seen = {};
    }
  }

  function saveSeen() {
    const store = storage();
    const mine = me();
    if (!store || !mine) return;
    try {
      store.setItem(SEEN_KEY + mine, JSON.stringify(st.seen));
    } catch (err) {
      // Full or unavailable: the counts still work until the page is reloaded.
    }
  }

  /** The open conversation is read; conversations that left the queue are forgotten. */
  function markOpenSeen() {
    const open = st.hooks.conversationId();
    const kept = {};
    for (const item of st.known.values()) {
      const key = seenKey(item);
      if (String(item.conversation_id) === open) kept[key] = lines(item);
      else if (Number.isFinite(st.seen[key])) kept[key] = st.seen[key];
    }
    st.seen = kept;
    saveSeen();
  }

  function unreadOf(item) {
    const seen = st.seen[seenKey(item)];
    return Math.max(0, lines(item) - (Number.isFinite(seen) ? seen : 0));
  }

  function renderUnread() {
    for (const li of document.querySelectorAll('#queue-list > li[data-conversation-id]')) {
      const item = st.known.get(li.dataset.conversationId);
      const count = item ? unreadOf(item) : 0;
      li.dataset.unread = String(count);
      let badge = li.querySelector('.badge-unread');
      if (!badge) {
        badge = document.createElement('span');
        badge.className = 'badge badge-unread';
        badge.setAttribute('data-testid', 'queue-unread');
        li.append(badge); // in the card's corner (console-alerts.css), outside the card's own lines
      }
      badge.hidden = count === 0;
      const number = document.createElement('span');
      number.textContent = String(count);
      const words = document.createElement('span');
      words.className = 'visually-hidden';
      words.textContent = count === 1 ? ' unread message' : ' unread messages';
      badge.replaceChildren(number, words);
    }
  }

  function onFrame(frame) {
    if (frame.type === 'hello') {
      loadSeen();
    } else if (frame.type === 'queue') {
      const items = st.hooks.queue().filter((item) => item && item.conversation_id);
      st.known = new Map(items.map((item) => [String(item.conversation_id), item]));
      markOpenSeen();
      renderUnread();
    } else if (frame.type === 'conversation') {
      markOpenSeen();
      renderUnread();
    }
  }

  function start() {
    st.hooks = window.CareDeskConsole;
    if (st.hooks) st.hooks.onFrame(onFrame);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
