/* CareDesk console: the canned-reply picker.
 *
 * Typing "/" at the start of the reply box opens a list of canned replies that narrows as the
 * agent types ("/ref"); arrows move, Enter or Tab inserts, Esc closes. The gateway searches
 * (/api/canned?q=) and fills the placeholders for the open conversation; a placeholder it has
 * no value for arrives as a gap such as ⟦first_name⟧, which is selected after inserting so
 * the agent types over it (the console and the gateway refuse to send a reply with a gap).
 * Everything from the server goes on the page with textContent.
 */
'use strict';

(() => {
  const TRIGGER = /^\/([^\s/]{0,32})$/;
  const GAP = /\u27e6[a-z_]+\u27e7/;
  const LIMIT = 8;
  const DEBOUNCE_MS = 120;

  const picker = {
    input: null, list: null, items: [], active: -1, open: false,
    dismissed: null, // the box's text when Esc closed the list: it stays closed until that changes
    timer: null, asked: 0,
    pickOnArrival: false, // Enter came before the list: insert the first match when it arrives
  };

  function conversationId() {
    const hooks = window.CareDeskConsole;
    return hooks && typeof hooks.conversationId === 'function' ? hooks.conversationId() : null;
  }

  function close() {
    picker.open = false;
    picker.items = [];
    picker.active = -1;
    picker.list.hidden = true;
    picker.list.replaceChildren();
    picker.input.setAttribute('aria-expanded', 'false');
    picker.input.removeAttribute('aria-activedescendant');
  }

  function highlight(index) {
    picker.active = index;
    const options = picker.list.querySelectorAll('[role="option"]');
    options.forEach((option, i) => {
      option.setAttribute('aria-selected', i === index ? 'true' : 'false');
      if (i === index) {
        picker.input.setAttribute('aria-activedescendant', option.id);
        option.scrollIntoView({ block: 'nearest' });
      }
    });
  }

  function option(reply, index) {
    const li = document.createElement('li');
    li.id = `canned-option-${index}`;
    li.className = 'canned-option';
    li.setAttribute('role', 'option');
    li.setAttribute('data-testid', 'canned-option');
    li.setAttribute('data-shortcut', reply.shortcut);
    const head = document.createElement('span');
    head.className = 'canned-option-head';
    head.textContent = `/${reply.shortcut} · ${reply.title}`;
    const preview = document.createElement('span');
    preview.className = 'canned-option-text';
    preview.textContent = reply.filled || reply.text;
    li.append(head, preview);
    li.addEventListener('mousedown', (event) => event.preventDefault()); // keep the reply box focused
    li.addEventListener('click', () => pick(index));
    return li;
  }

  function show(replies) {
    picker.items = replies;
    picker.list.replaceChildren();
    if (replies.length === 0) {
      const empty = document.createElement('li');
      empty.className = 'canned-empty';
      empty.textContent = 'No canned reply matches.';
      picker.list.append(empty);
    }
    replies.forEach((reply, i) => picker.list.append(option(reply, i)));
    picker.open = true;
    picker.list.hidden = false;
    picker.input.setAttribute('aria-expanded', 'true');
    highlight(replies.length ? 0 : -1);
  }

  async function search(query) {
    picker.asked += 1;
    const asked = picker.asked;
    const params = new URLSearchParams({ q: query, limit: String(LIMIT) });
    const id = conversationId();
    if (id) params.set('conversation_id', id);
    let replies = [];
    try {
      const response = await fetch(`/api/canned?${params}`, { credentials: 'same-origin' });
      if (!response.ok) return;
      const data = await response.json();
      replies = Array.isArray(data.replies) ? data.replies.filter((r) => r && typeof r.text === 'string') : [];
    } catch (err) {
      return; // offline: the console's own banner says so
    }
    if (asked !== picker.asked || !TRIGGER.test(picker.input.value)) return; // typed on meanwhile
    show(replies);
    if (picker.pickOnArrival && replies.length) pick(0);
    picker.pickOnArrival = false;
  }

  function onInput() {
    const value = picker.input.value;
    const match = TRIGGER.exec(value);
    if (!match || picker.input.disabled || value === picker.dismissed) {
      if (picker.open) close();
      if (!match) picker.dismissed = null;
      return;
    }
    clearTimeout(picker.timer);
    picker.pickOnArrival = false;
    picker.timer = setTimeout(() => search(match[1]), DEBOUNCE_MS);
  }

  function selectFirstGap() {
    const input = picker.input;
    const found = GAP.exec(input.value);
    if (found) input.setSelectionRange(found.index, found.index + found[0].length);
  }

  function pick(index) {
    const reply = picker.items[index];
    if (!reply) return;
    const input = picker.input;
    close();
    input.value = reply.filled || reply.text;
    input.setSelectionRange(input.value.length, input.value.length);
    input.dispatchEvent(new Event('input', { bubbles: true }));
    input.focus();
    selectFirstGap();
  }

  function onKeydown(event) {
    if (event.isComposing) return;
    const typed = picker.input.value;
    if (!picker.open) {
      // "/ref" then Enter before the list is back: wait for it instead of sending "/ref".
      if (event.key === 'Enter' && !event.shiftKey && TRIGGER.test(typed) && typed !== picker.dismissed
          && !picker.input.disabled) {
        onInput(); // (again, if the list was closed by leaving the box)
        picker.pickOnArrival = true;
        event.preventDefault();
        event.stopImmediatePropagation();
      }
      return;
    }
    const count = picker.items.length;
    let handled = true;
    if (event.key === 'ArrowDown' && count) highlight((picker.active + 1) % count);
    else if (event.key === 'ArrowUp' && count) highlight((picker.active - 1 + count) % count);
    else if ((event.key === 'Enter' || event.key === 'Tab') && picker.active >= 0) pick(picker.active);
    else if (event.key === 'Enter' && !event.shiftKey) handled = true; // no match: nothing to insert, nothing sent
    else if (event.key === 'Escape') {
      picker.dismissed = picker.input.value;
      close();
    } else handled = false;
    if (handled) {
      event.preventDefault();
      event.stopImmediatePropagation(); // Enter inserts here; it must not also send
    }
  }

  /** Opens the list from the button beside the reply box, as if "/" had been typed. */
  function openFromButton() {
    const input = picker.input;
    if (input.disabled) return;
    if (!TRIGGER.test(input.value)) {
      input.value = '/';
      input.dispatchEvent(new Event('input', { bubbles: true }));
    }
    input.focus();
    picker.dismissed = null;
    onInput();
  }

  function start() {
    picker.input = document.getElementById('reply-input');
    picker.list = document.getElementById('canned-picker');
    if (!picker.input || !picker.list) return;
    picker.input.setAttribute('aria-controls', 'canned-picker');
    picker.input.setAttribute('aria-autocomplete', 'list');
    picker.input.setAttribute('aria-expanded', 'false');
    picker.input.addEventListener('input', onInput);
    picker.input.addEventListener('keydown', onKeydown, { capture: true });
    picker.input.addEventListener('blur', () => { if (picker.open) close(); });
    const button = document.getElementById('canned-open');
    if (button) button.addEventListener('click', openFromButton);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
