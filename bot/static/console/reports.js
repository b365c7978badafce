// The team lead's reports page: reads /api/reports and fills the tables, the weekly
// sparklines (inline SVG) and the comments. Text only (never HTML) from the server. A figure
// resting on a small sample is marked, and the page says what the mark means.
(function () {
  'use strict';

  var REASONS = {
    asked: 'Asked for a person',
    not_understood: 'Not understood twice',
    negative_sentiment: 'Very upset',
    churn_threat: 'Threatened to leave',
    bot_unavailable: 'The bot could not answer',
    reply_in_chat: 'Wants the reply in the chat',
  };
  var SUBJECTS = { bot: 'The assistant (bot)', agent: 'People of the team', whole: 'Whole conversations' };
  var TIMES = [['chat_joined', 'A person joins a handed-over chat'],
    ['ticket_first_response', 'A first reply on a ticket'],
    ['ticket_resolved', 'A ticket is resolved']];
  var BUCKETS = [['under_15m', 'Under 15 min'], ['15m_1h', '15 min to 1 h'], ['1h_4h', '1 to 4 h'],
    ['4h_24h', '4 to 24 h'], ['1d_3d', '1 to 3 days'], ['over_3d', 'Over 3 days']];
  var RATED = { bot: 'Rating of the bot', agent: 'Rating of people', whole: 'Rating of whole chats' };
  var SMALL = 'small sample';
  var LOW_PERCENT = 80; // below this a percentage is shown as needing attention
  var SVG = 'http://www.w3.org/2000/svg';

  var period = document.getElementById('period');
  var status = document.getElementById('report-status');
  var body = document.getElementById('report-body');
  var retry = document.getElementById('report-retry');
  var warning = document.getElementById('sample-warning');
  var flagged = 0;

  function label(code) {
    var text = String(code || '').replace(/_/g, ' ');
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function percent(value) {
    return value === null || value === undefined ? '–' : value.toFixed(1) + ' %';
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return '–';
    if (seconds < 3600) return Math.round(seconds / 60) + ' min';
    if (seconds < 48 * 3600) return (seconds / 3600).toFixed(1) + ' h';
    return (seconds / 86400).toFixed(1) + ' days';
  }

  // A cell's content: its text, and the small-sample mark when the figure asks for it.
  function cellOf(value) {
    if (value && typeof value === 'object') return value;
    return { text: value };
  }

  function small(text, figure, compact) {
    return { text: text, small: !!(figure && figure.small_sample), compact: !!compact };
  }

  function row(testid, cells, lowCell) {
    var tr = document.createElement('tr');
    tr.setAttribute('data-testid', testid);
    cells.forEach(function (value, index) {
      var content = cellOf(value);
      var cell = document.createElement(index === 0 ? 'th' : 'td');
      if (index === 0) cell.setAttribute('scope', 'row');
      if (content.node) cell.appendChild(content.node);
      else cell.textContent = content.text;
      if (content.small) {
        flagged += 1;
        var mark = document.createElement('span');
        mark.className = 'small-sample';
        mark.setAttribute('data-testid', 'small-sample');
        mark.textContent = content.compact ? '⚠' : '⚠ ' + SMALL;
        if (content.compact) {
          mark.className += ' small-sample-compact';
          mark.title = SMALL;
          mark.setAttribute('aria-label', SMALL);
        }
        cell.setAttribute('data-small', 'true');
        cell.appendChild(mark);
      }
      if (index === lowCell) cell.setAttribute('data-low', 'true');
      tr.appendChild(cell);
    });
    return tr;
  }

  function fill(id, rows, emptyText, columns) {
    var tbody = document.getElementById(id);
    tbody.textContent = '';
    rows.forEach(function (tr) { tbody.appendChild(tr); });
    if (!rows.length) {
      var tr = document.createElement('tr');
      var cell = document.createElement('td');
      cell.colSpan = columns;
      cell.className = 'report-empty';
      cell.textContent = emptyText;
      tr.appendChild(cell);
      tbody.appendChild(tr);
    }
  }

  // A sparkline of up to 8 numbers (nulls leave a gap), scaled to its own maximum.
  function sparkline(values, name) {
    var width = 96, height = 24, pad = 2;
    var svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
    svg.setAttribute('width', String(width));
    svg.setAttribute('height', String(height));
    svg.setAttribute('class', 'sparkline');
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', name + ': ' + values.map(function (v) { return v === null ? '–' : v; }).join(', '));
    var known = values.filter(function (v) { return v !== null; });
    var top = Math.max.apply(null, known.concat([1]));
    var step = (width - 2 * pad) / Math.max(1, values.length - 1);
    var points = [];
    values.forEach(function (value, index) {
      if (value === null) return;
      var x = pad + index * step, y = height - pad - (value / top) * (height - 2 * pad);
      points.push(x.toFixed(1) + ',' + y.toFixed(1));
    });
    var line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('points', points.join(' '));
    svg.appendChild(line);
    return svg;
  }

  // The row's name, its trend, then one cell per week (the trend stays in sight on a phone).
  function weeklyRow(name, values, figures) {
    var cells = [name, { node: sparkline(values, name) }];
    values.forEach(function (value, index) {
      var text = value === null ? '–' : String(value);
      cells.push(figures && figures[index].sample ? small(text, figures[index], true) : text);
    });
    return row('weekly-row', cells);
  }

  function showWeekly(w) {
    var head = document.getElementById('weekly-head');
    while (head.children.length > 1) head.removeChild(head.lastChild);
    [{ week: 'Trend' }].concat(w.weeks).forEach(function (week) {
      var th = document.createElement('th');
      th.setAttribute('scope', 'col');
      th.textContent = week.week.replace(/^\d{4}-/, '');
      if (week.starts) th.title = 'Week from ' + week.starts;
      head.appendChild(th);
    });
    var rows = [weeklyRow('Conversations', w.conversations), weeklyRow('Handed to a person', w.handoffs)];
    Object.keys(w.handoff_reasons).forEach(function (reason) {
      rows.push(weeklyRow('· ' + (REASONS[reason] || label(reason)), w.handoff_reasons[reason]));
    });
    rows.push(weeklyRow('Complaints', w.complaints));
    Object.keys(w.ratings).forEach(function (subject) {
      var figures = w.ratings[subject];
      rows.push(weeklyRow(RATED[subject] || label(subject),
        figures.map(function (f) { return f.average; }), figures));
    });
    fill('weekly-rows', rows, '', w.weeks.length + 2);
  }

  function showTimes(times) {
    fill('times-rows', TIMES.map(function (pair) {
      var t = times[pair[0]];
      return row('times-row', [pair[1], small(String(t.sample), t), duration(t.median_seconds),
        duration(t.p90_seconds), String(t.waiting)]);
    }), '', 5);
    fill('buckets-rows', BUCKETS.map(function (pair) {
      return row('buckets-row', [pair[1]].concat(TIMES.map(function (t) {
        return String(times[t[0]].buckets[pair[0]]);
      })));
    }), '', 4);
  }

  function showWorkload(agents) {
    fill('workload-rows', agents.map(function (a) {
      return row('workload-row', [a.name + ' (' + a.username + ')', String(a.claimed), String(a.replies),
        String(a.resolved), small(duration(a.first_reply.median_seconds), a.first_reply)]);
    }), 'Nobody worked on chats in this period.', 5);
  }

  function showComments(comments) {
    var list = document.getElementById('comments-list');
    list.textContent = '';
    comments.forEach(function (c) {
      var item = document.createElement('li');
      item.setAttribute('data-testid', 'comment');
      var meta = document.createElement('p');
      meta.className = 'comment-meta';
      var who = c.subject === 'agent' ? (c.agent_name || c.agent_username || '')
        : (SUBJECTS[c.subject] || label(c.subject));
      meta.textContent = c.rating + '/5 · ' + who + ' · ' + new Date(c.at).toLocaleString();
      var text = document.createElement('p');
      text.className = 'comment-text';
      text.textContent = c.comment;
      item.appendChild(meta);
      item.appendChild(text);
      list.appendChild(item);
    });
    if (!comments.length) {
      var none = document.createElement('li');
      none.className = 'report-empty';
      none.textContent = 'No comments in this period.';
      list.appendChild(none);
    }
  }

  function satisfactionRow(name, kind, part) {
    var tr = row('satisfaction-row', [name, small(String(part.ratings), part), part.average.toFixed(2),
      percent(part.csat_percent)], part.csat_percent < LOW_PERCENT ? 3 : null);
    tr.setAttribute('data-kind', kind);
    return tr;
  }

  function show(report) {
    flagged = 0;
    var s = report.satisfaction;
    var rated = [];
    if (s.bot) rated.push(satisfactionRow('The assistant (bot)', 'bot', s.bot));
    s.agents.forEach(function (agent) {
      rated.push(satisfactionRow(agent.name + ' (' + agent.username + ')', 'agent', agent));
    });
    if (s.whole) rated.push(satisfactionRow('Whole conversations (rated before the split)', 'whole', s.whole));
    fill('satisfaction-rows', rated, 'No ratings in this period yet.', 4);

    var e = report.escalation;
    document.getElementById('escalation-summary').textContent = e.conversations
      ? e.handed_to_a_person + ' of ' + e.conversations + ' conversations (' + percent(e.rate_percent) +
        ') were handed to a person.' + (e.small_sample ? ' ⚠ ' + SMALL : '')
      : 'No customer wrote in this period.';
    if (e.conversations && e.small_sample) flagged += 1;
    fill('escalation-rows', Object.keys(e.reasons).map(function (reason) {
      return row('escalation-row', [REASONS[reason] || label(reason), String(e.reasons[reason])]);
    }), 'No hand-offs in this period.', 2);

    var p = report.promises;
    fill('promises-rows', [['A person joins a handed-over chat', p.handoffs], ['A first reply on a ticket', p.tickets]]
      .map(function (pair) {
        var c = pair[1];
        var low = c.kept_percent !== null && c.kept_percent < LOW_PERCENT ? 5 : null;
        return row('promises-row', [pair[0], String(c.kept), String(c.late), String(c.missed), String(c.open),
          small(percent(c.kept_percent), c.sample ? c : null)], low);
      }), '', 6);

    fill('complaints-rows', report.complaints.categories.map(function (c) {
      return row('complaints-row', [label(c.category), String(c.tickets), small(percent(c.share_percent),
        report.complaints)]);
    }), 'No complaints in this period.', 3);

    showWeekly(report.weekly);
    showTimes(report.times);
    showWorkload(report.workload);
    showComments(report.comments);
    document.getElementById('sample-threshold').textContent = String(report.small_sample_under);
    warning.hidden = flagged === 0;
    Array.prototype.forEach.call(document.querySelectorAll('a.report-csv'), function (link) {
      link.href = '/api/reports/' + link.getAttribute('data-table') + '.csv?days=' + encodeURIComponent(report.days);
    });

    status.textContent = '';
    body.hidden = false;
    var weeks = document.getElementById('weekly-rows').closest('.report-scroll');
    weeks.scrollLeft = weeks.scrollWidth; // on a narrow screen, the latest weeks first
  }

  function load() {
    status.textContent = 'Loading…';
    retry.hidden = true;
    fetch('/api/reports?days=' + encodeURIComponent(period.value), { credentials: 'same-origin' })
      .then(function (response) {
        if (response.status === 401) {
          window.location.assign('/console/login');
          return null;
        }
        if (!response.ok) throw new Error('HTTP ' + response.status);
        return response.json();
      })
      .then(function (report) { if (report) show(report); })
      .catch(function () {
        body.hidden = true;
        status.textContent = "Sorry, the reports couldn't be loaded. Please try again.";
        retry.hidden = false;
      });
  }

  period.addEventListener('change', load);
  retry.addEventListener('click', load);
  load();
})();
