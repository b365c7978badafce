// The Inbox page: views of every conversation (/api/inbox), the Tickets view
// (/api/inbox/tickets), a ticket's detail with its history, and the customer panel.
// A conversation opens in the main console (/console#c=<id>). Everything from the server
// is put in the page as text (textContent), never as HTML.
(function () {
  'use strict';

  var form = document.getElementById('inbox-filter');
  var head = document.getElementById('inbox-head');
  var rows = document.getElementById('inbox-rows');
  var status = document.getElementById('inbox-status');
  var more = document.getElementById('inbox-more');
  var panel = document.getElementById('inbox-panel');
  var statusFilter = form.querySelector('.inbox-status-filter');
  var state = { view: 'open', next: null, loading: 0 };
  var STATUSES = ['open', 'in_progress', 'resolved', 'closed'];

  function el(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (key) {
      var value = props[key];
      if (value === undefined || value === null || value === false) return;
      if (key === 'text') node.textContent = String(value);
      else if (key === 'className') node.className = value;
      else if (key === 'onclick') node.addEventListener('click', value);
      else node.setAttribute(key, value === true ? '' : String(value));
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.append(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return node;
  }

  function words(value) { return value ? String(value).replace(/_/g, ' ') : ''; }

  function when(iso) {
    if (!iso) return '';
    var moment = new Date(iso);
    return isNaN(moment) ? String(iso) : moment.toLocaleString();
  }

  function say(node, text, kind) {
    node.textContent = text;
    node.setAttribute('data-kind', kind || 'info');
  }

  function request(url, options) {
    return fetch(url, Object.assign({ credentials: 'same-origin' }, options || {})).then(function (response) {
      if (response.status === 401) {
        window.location.assign('/console/login');
        throw new Error('signed out');
      }
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) throw new Error(body && body.error ? body.error : 'HTTP ' + response.status);
        return body;
      });
    });
  }

  function post(url, body) {
    return request(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  }

  function openLink(conversationId) {
    return el('a', { href: '/console#c=' + encodeURIComponent(conversationId), className: 'btn btn-small',
      'data-testid': 'open-conversation', 'data-conversation': conversationId }, ['Open']);
  }

  function tierBadge(tier) {
    return tier ? el('span', { className: 'badge ' + (tier === 'vip' ? 'badge-vip' : 'badge-tier'), text: words(tier) }) : null;
  }

  function slaBadge(sla) {
    if (!sla || sla === 'none') return null;
    var urgent = sla === 'overdue' || sla === 'late';
    return el('span', { className: 'badge ' + (urgent ? 'badge-sla' : 'badge-tier'), 'data-sla': sla, text: words(sla) });
  }

  function customerButton(customer) {
    if (!customer) return el('span', { className: 'muted', text: '—' });
    return el('span', {}, [
      el('button', { type: 'button', className: 'inbox-link', 'data-testid': 'customer-button',
        onclick: function () { showCustomer('/api/inbox/customers/' + encodeURIComponent(customer.id)); } },
      [customer.name || '']), ' ', tierBadge(customer.tier)]);
  }

  function ticketButton(number) {
    return el('button', { type: 'button', className: 'inbox-link', 'data-testid': 'ticket-button',
      onclick: function () { showTicket(number); } }, [number]);
  }

  function header(names) {
    head.replaceChildren(el('tr', {}, names.map(function (name) { return el('th', { scope: 'col', text: name }); })));
  }

  function conversationRow(item) {
    var ticket = item.ticket;
    return el('tr', { 'data-testid': 'inbox-row', 'data-conversation': item.conversation_id }, [
      el('td', { text: when(item.last_activity) }),
      el('td', {}, [customerButton(item.customer)]),
      el('td', {}, [el('div', { className: 'conv-id', text: item.conversation_id }),
        el('div', { className: 'muted', text: words(item.channel) + ' · ' + words(item.state) }), openLink(item.conversation_id)]),
      el('td', {}, ticket ? [ticketButton(ticket.number), el('div', { className: 'muted', text: words(ticket.status) }),
        el('span', { className: 'badge prio-' + ticket.priority, text: ticket.priority }), ' ', words(ticket.category)] : []),
      el('td', {}, [slaBadge(item.sla)]),
      el('td', { text: item.handled_by || '' }),
      el('td', { className: 'inbox-snippet', 'data-testid': 'inbox-snippet', text: item.snippet }),
    ]);
  }

  function ticketRow(ticket) {
    return el('tr', { 'data-testid': 'ticket-row', 'data-number': ticket.number }, [
      el('td', {}, [ticketButton(ticket.number)]),
      el('td', { text: words(ticket.status) }),
      el('td', {}, [el('span', { className: 'badge prio-' + ticket.priority, text: ticket.priority }), ' ', words(ticket.category)]),
      el('td', {}, [customerButton(ticket.customer)]),
      el('td', { text: ticket.handled_by || '' }),
      el('td', { text: when(ticket.promised_response_at) }),
      el('td', { text: when(ticket.first_response_at) }),
      el('td', { text: when(ticket.resolved_at || ticket.closed_at) }),
      el('td', {}, [slaBadge(ticket.sla)]),
    ]);
  }

  function query(append) {
    var data = new FormData(form);
    var params = new URLSearchParams();
    ['q', 'channel', 'priority', 'category', 'sla', 'agent'].forEach(function (key) {
      var value = String(data.get(key) || '').trim();
      if (value) params.set(key, value);
    });
    if (state.view === 'tickets') {
      params.delete('q');
      if (data.get('status')) params.set('status', String(data.get('status')));
    } else {
      params.set('view', state.view);
    }
    if (append && state.next !== null) params.set('before', String(state.next));
    return params.toString();
  }

  function load(append) {
    var tickets = state.view === 'tickets';
    var token = ++state.loading;
    say(status, 'Loading…');
    request((tickets ? '/api/inbox/tickets?' : '/api/inbox?') + query(append))
      .then(function (page) {
        if (token !== state.loading) return;
        if (!append) {
          rows.replaceChildren();
          header(tickets ? ['Ticket', 'Status', 'Priority', 'Customer', 'Agent', 'Promised reply', 'First reply', 'Resolved', 'SLA']
            : ['Last activity', 'Customer', 'Conversation', 'Ticket', 'SLA', 'Agent', 'Last line']);
        }
        (tickets ? page.tickets : page.items).forEach(function (item) {
          rows.appendChild(tickets ? ticketRow(item) : conversationRow(item));
        });
        state.next = page.next;
        more.hidden = page.next === null || page.next === undefined;
        say(status, rows.children.length ? '' : 'Nothing found.');
      })
      .catch(function (error) { if (token === state.loading) say(status, error.message, 'error'); });
  }

  function choose(view) {
    state.view = view;
    state.next = null;
    document.querySelectorAll('[role="tab"]').forEach(function (tab) {
      tab.setAttribute('aria-selected', tab.getAttribute('data-view') === view ? 'true' : 'false');
    });
    statusFilter.hidden = view !== 'tickets';
    form.elements.q.disabled = view === 'tickets';
    load(false);
  }

  function section(title, children) {
    return el('section', { className: 'inbox-section' }, [el('h3', { text: title })].concat(children));
  }

  function showPanel(children) {
    panel.hidden = false;
    panel.replaceChildren.apply(panel, [el('button', { type: 'button', className: 'btn btn-small inbox-close',
      onclick: function () { panel.hidden = true; } }, ['Close'])].concat(children)
      .filter(function (child) { return child !== null && child !== undefined; }));
  }

  function showCustomer(url) {
    request(url).then(function (customer) {
      showPanel([
        el('h2', { 'data-testid': 'customer-name' }, [customer.name, ' ', tierBadge(customer.tier)]),
        el('p', { className: 'muted', text: [customer.email, customer.phone].filter(Boolean).join(' · ') }),
        section('Conversations', [el('ul', { className: 'inbox-list', 'data-testid': 'customer-conversations' },
          customer.conversations.map(function (item) {
            return el('li', { 'data-testid': 'customer-conversation', 'data-conversation': item.conversation_id }, [
              el('strong', { text: when(item.last_activity) }), ' ', words(item.channel), ' · ', words(item.state), ' ',
              openLink(item.conversation_id), el('div', { className: 'inbox-snippet', text: item.snippet })]);
          }))]),
        section('Tickets', [el('ul', { className: 'inbox-list', 'data-testid': 'customer-tickets' },
          customer.tickets.map(function (ticket) {
            return el('li', {}, [ticketButton(ticket.number), ' ', words(ticket.status), ' · ', words(ticket.category)]);
          }))]),
        section('Orders', [el('ul', { className: 'inbox-list' }, customer.orders.map(function (order) {
          return el('li', { text: order.number + ' · ' + words(order.status) });
        }))]),
      ]);
    }).catch(function (error) { showPanel([el('p', { className: 'admin-status', 'data-kind': 'error', text: error.message })]); });
  }

  function showTicket(number) {
    request('/api/inbox/tickets/' + encodeURIComponent(number)).then(renderTicket)
      .catch(function (error) { showPanel([el('p', { className: 'admin-status', 'data-kind': 'error', text: error.message })]); });
  }

  // ------------------------------------------------------------ assignment of a ticket

  var choices = null; // /api/assign/choices, read once a page

  function loadChoices() {
    if (!choices) choices = request('/api/assign/choices').catch(function () { choices = null; return null; });
    return choices;
  }

  function teamName(found, id) {
    var team = found && (found.teams || []).filter(function (t) { return t.id === id; })[0];
    return team ? team.name : '';
  }

  function assignedText(ticket) {
    return ticket.assignee || '—';
  }

  /** Give a ticket (one whose chat is not live) to an agent (leads) or a team, with a note. */
  function assignSection(ticket, path, act) {
    var select = el('select', { 'data-testid': 'ticket-assign-to', 'aria-label': 'Assign to' },
      [el('option', { value: '', text: 'Nobody' })]);
    var note = el('textarea', { rows: '2', maxlength: '1000', 'data-testid': 'ticket-assign-note',
      'aria-label': 'Note for whoever takes it over' });
    var fact = el('p', { className: 'muted' });
    loadChoices().then(function (found) {
      if (!found) return;
      if (found.me && found.me.assign) {
        (found.agents || []).forEach(function (agent) {
          select.appendChild(el('option', { value: 'agent:' + agent.username,
            text: agent.name + ' · ' + agent.open_chats + ' open' + (agent.team ? ' · ' + agent.team : '') }));
        });
      }
      (found.teams || []).forEach(function (team) {
        select.appendChild(el('option', { value: 'team:' + team.id, text: team.name + ' (team)' }));
      });
      if (ticket.assignee) select.value = 'agent:' + ticket.assignee;
      else if (ticket.team_id) select.value = 'team:' + ticket.team_id;
      fact.textContent = ticket.team_id ? 'Team: ' + teamName(found, ticket.team_id) : '';
    });
    function assign() {
      var value = select.value;
      var body = { agent: null, team_id: null, note: note.value.trim() || null };
      if (value.indexOf('agent:') === 0) body.agent = value.slice(6);
      if (value.indexOf('team:') === 0) body.team_id = Number(value.slice(5));
      if (body.agent && ticket.team_id) body.team_id = ticket.team_id;
      act(post(path + '/assign', body));
    }
    return section('Assign', [fact, el('div', { className: 'admin-actions' }, [select,
      el('button', { type: 'button', className: 'btn btn-small', 'data-testid': 'ticket-assign',
        onclick: assign }, ['Assign'])]), note]);
  }

  function renderTicket(ticket) {
    var feedback = el('p', { className: 'admin-status', role: 'status', 'data-testid': 'ticket-feedback' });
    var select = el('select', { 'data-testid': 'ticket-status-select', 'aria-label': 'New status' },
      STATUSES.map(function (value) { return el('option', { value: value, text: words(value) }); }));
    select.value = ticket.status;
    var note = el('textarea', { rows: '3', maxlength: '2000', 'data-testid': 'ticket-note', 'aria-label': 'Internal note' });
    function act(promise) {
      promise.then(function (fresh) { renderTicket(fresh); load(false); })
        .catch(function (error) { say(feedback, error.message, 'error'); });
    }
    var path = '/api/inbox/tickets/' + encodeURIComponent(ticket.number);
    showPanel([
      el('h2', { 'data-testid': 'ticket-title' }, [ticket.number, ' ', el('span', { className: 'badge prio-' + ticket.priority, text: ticket.priority })]),
      el('p', { text: words(ticket.status) + ' · ' + words(ticket.category) + ' · ' + words(ticket.channel) }),
      el('p', { className: 'muted', text: ticket.description }),
      ticket.customer ? el('p', {}, [customerButton(ticket.customer)]) : null,
      el('dl', { className: 'inbox-facts' }, [
        el('dt', { text: 'Promised reply' }), el('dd', { text: when(ticket.promised_response_at) }),
        el('dt', { text: 'First reply' }), el('dd', { text: when(ticket.first_response_at) || '—' }),
        el('dt', { text: 'Resolved' }), el('dd', { text: when(ticket.resolved_at) || '—' }),
        el('dt', { text: 'Agent' }), el('dd', { text: ticket.handled_by || '—' }),
        el('dt', { text: 'Assigned to' }), el('dd', { 'data-testid': 'ticket-assignee', text: assignedText(ticket) }),
      ]),
      assignSection(ticket, path, act),
      section('Work on it', [
        el('div', { className: 'admin-actions' }, [select, el('button', { type: 'button', className: 'btn btn-primary btn-small',
          'data-testid': 'ticket-status-change', onclick: function () { act(post(path + '/status', { status: select.value })); } },
        ['Change status'])]),
        note,
        el('button', { type: 'button', className: 'btn btn-note btn-small', 'data-testid': 'ticket-note-add',
          onclick: function () { act(post(path + '/notes', { text: note.value })); } }, ['Add note']),
        feedback]),
      section('History', [el('ol', { className: 'inbox-list', 'data-testid': 'ticket-history' }, ticket.history.map(function (event) {
        var change = event.to_status ? ' ' + words(event.from_status || '') + ' → ' + words(event.to_status) : '';
        return el('li', {}, [el('strong', { text: when(event.at) }), ' ', event.actor + ': ' + words(event.kind) + change,
          event.note ? el('div', { className: 'event-note', text: event.note }) : null]);
      }))]),
      section('Conversations', [el('ul', { className: 'inbox-list' }, ticket.conversations.map(function (item) {
        return el('li', {}, [item.conversation_id + ' · ' + words(item.channel) + ' · ' + words(item.state) + ' ',
          openLink(item.conversation_id)]);
      }))]),
    ]);
  }

  document.querySelectorAll('[role="tab"]').forEach(function (tab) {
    tab.addEventListener('click', function () { choose(tab.getAttribute('data-view')); });
  });
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    load(false);
  });
  more.addEventListener('click', function () { load(true); });
  choose(state.view);
})();
