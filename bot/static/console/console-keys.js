/* CareDesk console: keyboard shortcuts.
 *
 *   j or n  next conversation in the queue      k  previous one
 *   c       claim the open conversation         r  resolve it (the usual confirm first)
 *   /       the reply box, with the canned-reply picker open
 *   ?       the list of shortcuts               Esc  leave the box you are typing in
 *
 * They work only while the focus is not in a text field (so typing a "c" in a reply never
 * claims anything); Esc is the exception: it leaves the field, and the shortcuts work again.
 * The actions are the console's own (window.CareDeskConsole), so the server checks each one
 * as if its button had been clicked.
 */
'use strict';

(() => {
  const dom = {};
  let hooks = null;
  let returnFocus = null; // where the focus was when the list of shortcuts opened

  function typingIn(target) {
    if (!target || !(target instanceof Element)) return false;
    if (target.isContentEditable) return true;
    if (target.tagName === 'TEXTAREA' || target.tagName === 'SELECT') return true;
    if (target.tagName !== 'INPUT') return false;
    const type = (target.getAttribute('type') || 'text').toLowerCase();
    return !['button', 'checkbox', 'radio', 'submit', 'reset', 'range', 'color'].includes(type);
  }

  function usable(button) {
    return Boolean(button) && !button.hidden && !button.disabled && button.offsetParent !== null;
  }

  /** The queue's conversations in the order they are shown. */
  function queueIds() {
    return Array.from(document.querySelectorAll('#queue-list > li[data-conversation-id]'))
      .map((li) => li.dataset.conversationId);
  }

  function step(by) {
    const ids = queueIds();
    if (!ids.length) return;
    const at = ids.indexOf(hooks.conversationId());
    let next;
    if (at === -1) next = by > 0 ? 0 : ids.length - 1;
    else next = Math.min(ids.length - 1, Math.max(0, at + by));
    if (ids[next] !== hooks.conversationId()) hooks.open(ids[next]);
  }

  function claim() {
    if (usable(dom.claim)) hooks.claim();
  }

  function resolve() {
    if (usable(dom.resolve)) hooks.resolve();
  }

  function cannedReplies() {
    if (usable(dom.canned)) dom.canned.click(); // focuses the reply box and opens the picker
    else if (!dom.reply.disabled && dom.reply.offsetParent !== null) dom.reply.focus();
  }

  function openHelp() {
    if (dom.help.open) return;
    returnFocus = document.activeElement;
    if (typeof dom.help.showModal === 'function') dom.help.showModal();
    else dom.help.setAttribute('open', '');
    const close = dom.help.querySelector('[data-testid="keys-close"]');
    if (close) close.focus();
  }

  /** Esc in a box: leave it for the conversation's title (or the queue's), where shortcuts work. */
  function leaveField(target) {
    target.blur();
    const title = document.getElementById('conv-title');
    const fallback = document.getElementById('queue-title');
    if (title && title.offsetParent !== null) title.focus({ preventScroll: true });
    else if (fallback) fallback.focus({ preventScroll: true });
  }

  const KEYS = {
    j: () => step(1),
    n: () => step(1),
    k: () => step(-1),
    c: claim,
    r: resolve,
    '/': cannedReplies,
    '?': openHelp,
  };

  function onKeydown(event) {
    if (event.defaultPrevented || event.isComposing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (dom.help.open) return; // the dialog has its own keys (Esc closes it)
    if (typingIn(event.target)) {
      if (event.key === 'Escape') leaveField(event.target);
      return;
    }
    const action = KEYS[event.key];
    if (!action) return;
    event.preventDefault(); // "/" must not also type itself into the box it focuses
    action();
  }

  function start() {
    hooks = window.CareDeskConsole;
    dom.help = document.getElementById('keys-help');
    dom.opener = document.getElementById('keys-open');
    dom.claim = document.getElementById('claim-button');
    dom.resolve = document.getElementById('resolve-button');
    dom.canned = document.getElementById('canned-open');
    dom.reply = document.getElementById('reply-input');
    if (!hooks || !dom.help || !dom.reply) return;
    document.addEventListener('keydown', onKeydown);
    if (dom.opener) dom.opener.addEventListener('click', openHelp);
    dom.help.addEventListener('close', () => {
      const back = returnFocus && returnFocus !== document.body && document.contains(returnFocus) ? returnFocus : dom.opener;
      returnFocus = null;
      if (back) back.focus();
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
