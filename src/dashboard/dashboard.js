/* global document, window, location, history, sessionStorage, fetch, Node, URLSearchParams, performance, CustomEvent -- a browser script */
// The dashboard: reads the HTTP API with the function key it was opened with (?code=, then dropped from
// the address bar) and draws plain DOM; no framework, no build step. One request per panel and screen:
// GET /api/fleet answers a page of VMs with their segments (and the totals of the whole selection), the
// Stopped (allocated) panel and the usage table are pages of the same route; a VM's own timeline
// (GET /api/vms/{key}/timeline) is read when it is opened. Refresh never overlaps itself, waits longer
// when a load took longer than the interval, skips hidden tabs, and asks first whether anything changed
// (If-None-Match: one request when nothing did).
'use strict';

(function () {
  const hour = 3_600_000;
  const refreshInMs = 15_000;
  /** A refresh reloads everything at least this often, even when nothing was recorded (figures move with time). */
  const fullReloadInMs = 5 * 60_000;
  const pageSize = 50;
  const sidePageSize = 10;
  const $ = (id) => document.getElementById(id);
  const state = {
    key: '',
    range: { from: 0, to: 0 },
    main: null,
    version: '',
    lastFullAt: 0,
    facets: null,
    stopped: null,
    usage: null,
    /** The stored invoice checks of the range's days (GET /api/invoice-check). */
    invoice: null,
    /** Continuation tokens of the pages before the current one, per panel. */
    pages: { main: [], stopped: [], usage: [] },
    /** The token the current page was read with, per panel. */
    at: { main: undefined, stopped: undefined, usage: undefined },
    loading: null,
    queued: null,
    timer: 0,
    lastLoadMs: 0,
    detail: null,
    requests: 0,
  };

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'class') node.className = value;
      else if (name === 'style') Object.assign(node.style, value);
      else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
      else if (name === 'dataset') Object.assign(node.dataset, value);
      else node.setAttribute(name, String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const utc = (iso) => (iso ? iso.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, '') : '—');
  const hours = (seconds) => (seconds / 3600).toFixed(1);
  const count = (n) => n.toLocaleString('en');
  function duration(seconds) {
    const m = Math.floor(seconds / 60);
    if (m < 60) return `${m} min`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h} h ${m % 60} min`;
    return `${Math.floor(h / 24)} d ${h % 24} h`;
  }

  function setStatus(text, error) {
    const status = $('status');
    status.textContent = text;
    status.classList.toggle('error', Boolean(error));
  }

  /** GET /api/<path>; `etag` makes it conditional: resolves null on 304 (nothing changed). */
  async function api(path, etag) {
    state.requests += 1;
    const headers = { 'x-functions-key': state.key };
    if (etag) headers['if-none-match'] = etag;
    const response = await fetch(`/api/${path}`, { headers, cache: 'no-store' });
    if (response.status === 304) return null;
    if (response.status === 401) {
      showKeyForm();
      throw new Error('the function key was refused');
    }
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(`${path.split('?')[0]}: ${response.status} ${body.error || ''}`.trim());
    }
    const body = await response.json();
    return { body, etag: response.headers.get('etag') || '' };
  }

  function showKeyForm() {
    $('key-form').hidden = false;
  }

  // ---- queries -------------------------------------------------------------------------------------
  function filterParams() {
    const params = new URLSearchParams();
    params.set('from', new Date(state.range.from).toISOString());
    params.set('to', new Date(state.range.to).toISOString());
    const subscription = $('filter-subscription').value;
    if (subscription) params.set('subscription', subscription);
    const group = $('filter-group').value;
    if (group) params.set('resourceGroup', group);
    const tag = $('filter-tag').value;
    if (tag) {
      // [name, value]: tag names and values may hold '=' (or anything else).
      const [name, value] = JSON.parse(tag);
      params.set('tag', name);
      params.set('tagValue', value);
    }
    const search = $('search').value.trim();
    if (search) params.set('search', search);
    return params;
  }

  function mainQuery() {
    const params = filterParams();
    const states = $('filter-state').value;
    if (states) params.set('state', states);
    params.set('sort', $('sort').value);
    params.set('pageSize', String(pageSize));
    if (state.at.main) params.set('continuation', state.at.main);
    return `fleet?${params}`;
  }

  function stoppedQuery() {
    const params = filterParams();
    params.set('state', 'stopped');
    params.set('sort', $('stopped-sort').value);
    params.set('segments', 'false');
    params.set('pageSize', String(sidePageSize));
    if (state.at.stopped) params.set('continuation', state.at.stopped);
    return `fleet?${params}`;
  }

  function usageQuery() {
    const params = filterParams();
    const states = $('filter-state').value;
    if (states) params.set('state', states);
    const groupBy = $('group-by').value;
    if (groupBy !== 'vm') params.set('groupBy', groupBy);
    params.set('sort', $('usage-sort').value);
    params.set('segments', 'false');
    params.set('pageSize', String(sidePageSize * 2));
    if (state.at.usage) params.set('continuation', state.at.usage);
    return `fleet?${params}`;
  }

  function invoiceQuery() {
    // Whole UTC days: the checks are stored per day.
    const day = 86_400_000;
    const params = new URLSearchParams();
    params.set('from', new Date(Math.floor(state.range.from / day) * day).toISOString());
    params.set('to', new Date(Math.ceil(state.range.to / day) * day).toISOString());
    params.set('pageSize', String(sidePageSize));
    return `invoice-check?${params}`;
  }

  // ---- filters -------------------------------------------------------------------------------------
  function fillSelect(select, options, allLabel) {
    const previous = select.value;
    select.replaceChildren(
      el('option', { value: '' }, allLabel),
      ...options.map(([value, label]) => el('option', { value }, label)),
    );
    select.value = options.some(([value]) => value === previous) ? previous : '';
  }

  function updateFilters(facets) {
    if (!facets) return;
    state.facets = facets;
    fillSelect(
      $('filter-subscription'),
      facets.subscriptions.map((s) => [s, s]),
      'all',
    );
    fillSelect(
      $('filter-group'),
      facets.resourceGroups.map((g) => [g, g]),
      'all',
    );
    fillSelect(
      $('filter-tag'),
      facets.tags.flatMap((t) => t.values.map((v) => [JSON.stringify([t.name, v]), `${t.name}=${v}`])),
      'any',
    );
    const groupBy = $('group-by');
    for (const { name } of facets.tags) {
      if (![...groupBy.options].some((o) => o.value === `tag:${name}`))
        groupBy.append(el('option', { value: `tag:${name}` }, `tag ${name}`));
    }
  }

  // ---- timelines -----------------------------------------------------------------------------------
  const tooltip = () => $('tooltip');

  function showTooltip(event, segment, vm) {
    const tip = tooltip();
    const line = (k, v) => (v ? el('div', {}, el('span', { class: 'k' }, `${k}: `), v) : null);
    // Why the change happened, when Resource Health or the availability metric said so (README "Resource Health").
    const reasonLine = segment.reason && segment.why ? el('div', { class: 'why' }, segment.why) : null;
    const windowLine =
      segment.startWindowFrom &&
      (segment.source === 'reconcile' && !segment.reason
        ? // Only the reconciler saw this change: it happened after the VM was last seen in its old state.
          el(
            'div',
            { class: 'why' },
            `state changed between ${utc(segment.startWindowFrom)} and ${utc(segment.start)} UTC: no event explains it`,
          )
        : line('changed between', `${utc(segment.startWindowFrom)} and ${utc(segment.start)} UTC`));
    const lines = [
      el(
        'div',
        {},
        el('b', {}, segment.state),
        ` · ${segment.billing === 'notBilled' ? 'not billed' : segment.billing}`,
      ),
      line('VM', vm.name),
      line('from', `${utc(segment.start)} UTC`),
      line('to', segment.end ? `${utc(segment.end)} UTC` : 'now (open)'),
      reasonLine,
      windowLine,
      line('source', segment.source),
      line('operation', segment.operation),
      line('caller', segment.caller),
    ];
    tip.replaceChildren(...lines.filter(Boolean));
    tip.hidden = false;
    const x = Math.min(event.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
    const y =
      event.clientY + 16 + tip.offsetHeight > window.innerHeight
        ? event.clientY - tip.offsetHeight - 10
        : event.clientY + 16;
    tip.style.left = `${x}px`;
    tip.style.top = `${y}px`;
  }

  function hideTooltip() {
    tooltip().hidden = true;
  }

  function axis(from, to) {
    const span = to - from;
    const step =
      span <= 12 * hour
        ? hour
        : span <= 3 * 24 * hour
          ? 6 * hour
          : span <= 8 * 24 * hour
            ? 24 * hour
            : 5 * 24 * hour;
    const ticks = [];
    for (let t = Math.ceil(from / step) * step; t < to; t += step) {
      const d = new Date(t);
      const label =
        step >= 24 * hour || d.getUTCHours() === 0
          ? `${d.toISOString().slice(5, 10)}${step < 24 * hour ? ' 00:00' : ''}`
          : d.toISOString().slice(11, 16);
      ticks.push(el('span', { class: 'tick', style: { left: `${((t - from) / span) * 100}%` } }, label));
    }
    return el('div', { class: 'axis' }, ticks);
  }

  const transitionalStates = new Set(['starting', 'stopping', 'deallocating']);

  function bar(vm, segments, from, to) {
    const span = to - from;
    const pct = (t) => `${(Math.max(0, Math.min(span, t - from)) / span) * 100}%`;
    const children = [];
    for (const s of segments || []) {
      const start = Date.parse(s.start);
      const end = s.end ? Date.parse(s.end) : to;
      if (end <= from || start >= to) continue;
      const width = `calc(${pct(end)} - ${pct(start)})`;
      const hover = { onmousemove: (e) => showTooltip(e, s, vm), onmouseleave: hideTooltip };
      children.push(
        el('div', {
          class: `seg ${s.billing}${transitionalStates.has(s.state) ? ' transitional' : ''}${s.source === 'activityLog' ? ' backfilled' : ''}`,
          style: { left: pct(start), width },
          dataset: { state: s.state },
          ...hover,
        }),
      );
      if (s.startWindowFrom) {
        const wStart = Date.parse(s.startWindowFrom);
        children.push(
          el('div', {
            class: 'seg window',
            style: { left: pct(wStart), width: `calc(${pct(start)} - ${pct(wStart)})` },
            ...hover,
          }),
        );
      }
    }
    children.push(
      el('div', { class: 'now', style: { left: `calc(${pct(Date.now())} - 1px)` }, title: 'now' }),
    );
    return el(
      'div',
      { class: 'bar unknown', dataset: { vm: vm.name }, title: 'unknown: no observation yet' },
      children,
    );
  }

  function renderTotals() {
    const main = state.main;
    if (!main) return;
    const t = main.total;
    $('totals').replaceChildren(
      el('span', { dataset: { total: 'vms' } }, el('b', {}, count(t.vms)), ' VMs'),
      el(
        'span',
        { title: `billed between ${hours(t.billedSecondsMin)} and ${hours(t.billedSecondsMax)} h` },
        el('b', {}, hours(t.billedSeconds)),
        ' billed h',
      ),
      el('span', {}, el('b', {}, hours(t.notBilledSeconds)), ' not billed h'),
      el('span', {}, el('b', {}, hours(t.unknownSeconds)), ' unknown h'),
      el(
        'span',
        { class: t.stoppedVms ? 'warn' : '' },
        el('b', {}, count(t.stoppedVms)),
        ' in Stopped (allocated)',
      ),
      el(
        'span',
        { class: 'hint', title: 'whole days from the daily rollups, the rest from each VM’s current state' },
        'whole selection',
      ),
    );
  }

  function renderTimelines() {
    const { from, to } = state.range;
    const container = $('timelines');
    const vms = state.main ? state.main.vms : [];
    const rows = [el('div', { class: 'axis-label' }, 'UTC'), axis(from, to)];
    for (const vm of vms) {
      const deleted = vm.state === 'deleted';
      rows.push(
        el(
          'div',
          { class: `vm-name${deleted ? ' deleted' : ''}`, title: vm.resourceId, dataset: { vm: vm.name } },
          el('button', { class: 'link', type: 'button', onclick: () => openDetail(vm) }, vm.name),
          el('span', { class: `badge ${vm.state || ''}` }, vm.state || 'unknown'),
          el(
            'span',
            { class: 'rg' },
            [vm.resourceGroup, vm.vmSize, `${hours(vm.usage.billedSeconds)} h billed`]
              .filter(Boolean)
              .join(' · '),
          ),
        ),
        bar(vm, vm.segments, from, to),
      );
    }
    if (vms.length === 0)
      rows.push(
        el('div', {}),
        el('div', { class: 'axis-label' }, 'No VM recorded yet (or none matches the filters).'),
      );
    container.replaceChildren(...rows);
    renderPager('timelines-pager', 'main', state.main, state.main ? state.main.total.vms : 0, pageSize);
  }

  function renderPager(id, panel, answer, total, size) {
    const pages = state.pages[panel];
    const first = pages.length * size;
    const shown = answer ? (answer.vms || answer.groups || []).length : 0;
    const go = (direction) => () => {
      if (direction > 0) {
        pages.push(state.at[panel]);
        state.at[panel] = answer.continuation;
      } else {
        state.at[panel] = pages.pop();
      }
      void loadPanel(panel);
    };
    $(id).replaceChildren(
      el(
        'button',
        { type: 'button', class: 'prev', disabled: pages.length === 0, onclick: go(-1) },
        '‹ previous',
      ),
      el(
        'span',
        { class: 'page-info' },
        shown ? `${count(first + 1)}–${count(first + shown)} of ${count(total)}` : '',
      ),
      el(
        'button',
        { type: 'button', class: 'next', disabled: !answer || !answer.continuation, onclick: go(1) },
        'next ›',
      ),
    );
  }

  // ---- drill-down ----------------------------------------------------------------------------------
  async function openDetail(vm) {
    state.detail = vm;
    const { from, to } = state.range;
    const query = `from=${encodeURIComponent(new Date(from).toISOString())}&to=${encodeURIComponent(new Date(to).toISOString())}`;
    try {
      const answer = await api(`vms/${encodeURIComponent(vm.key)}/timeline?${query}`);
      const segments = answer.body.segments;
      $('detail-title').textContent = `${vm.name} · ${vm.resourceGroup || ''} · ${vm.state || 'unknown'}`;
      $('detail-bar').replaceChildren(
        el('div', { class: 'axis-label' }, 'UTC'),
        axis(from, to),
        el('div', { class: 'vm-name', title: vm.resourceId }, vm.name),
        bar(vm, segments, from, to),
      );
      $('detail-segments').tBodies[0].replaceChildren(
        ...segments
          .slice()
          .reverse()
          .map((s) =>
            el(
              'tr',
              {},
              el('td', {}, s.state),
              el('td', {}, s.billing === 'notBilled' ? 'not billed' : s.billing),
              el('td', {}, s.startWindowFrom ? `${utc(s.startWindowFrom)} – ${utc(s.start)}` : utc(s.start)),
              el('td', {}, s.end ? utc(s.end) : 'now'),
              el('td', {}, s.source),
              el('td', {}, s.operation || ''),
              el('td', {}, s.caller || ''),
            ),
          ),
      );
      $('detail').hidden = false;
      $('detail').scrollIntoView({ block: 'nearest' });
    } catch (error) {
      setStatus(error.message, true);
    }
  }

  // ---- stopped -------------------------------------------------------------------------------------
  function renderStopped() {
    const body = $('stopped').tBodies[0];
    const now = Date.now();
    const vms = state.stopped ? state.stopped.vms : [];
    const rows = vms.map((vm) =>
      el(
        'tr',
        { dataset: { vm: vm.name } },
        el(
          'td',
          { title: vm.resourceId },
          el('button', { class: 'link', type: 'button', onclick: () => openDetail(vm) }, vm.name),
          el('span', { class: 'range' }, ` ${vm.resourceGroup || ''}`),
        ),
        el('td', {}, utc(vm.since)),
        el('td', { class: 'num' }, duration(Math.max(0, (now - Date.parse(vm.since)) / 1000))),
        el(
          'td',
          {},
          el(
            'span',
            { class: `alert ${vm.alertState || ''}` },
            vm.alertState === 'withinGrace' ? 'within grace' : vm.alertState || '',
          ),
        ),
      ),
    );
    body.replaceChildren(
      ...(rows.length
        ? rows
        : [el('tr', {}, el('td', { class: 'empty', colspan: 4 }, 'No VM is in Stopped (allocated).'))]),
    );
    renderPager(
      'stopped-pager',
      'stopped',
      state.stopped,
      state.stopped ? state.stopped.total.vms : 0,
      sidePageSize,
    );
  }

  // ---- usage ---------------------------------------------------------------------------------------
  function renderUsage() {
    $('usage-group-title').textContent = $('group-by').selectedOptions[0].textContent;
    const answer = state.usage;
    const byVm = answer && answer.vms;
    const list = answer
      ? byVm
        ? answer.vms.map((vm) => ({ key: vm.name, vms: 1, ...vm.usage }))
        : answer.groups
      : [];
    const max = Math.max(1, ...list.map((g) => g.billedSecondsMax || g.billedSeconds));
    const row = (g, total) =>
      el(
        'tr',
        { dataset: { group: total ? 'total' : g.key === null ? '' : g.key } },
        el('td', {}, total ? 'total' : g.key === null ? '(none)' : g.key),
        el('td', { class: 'num' }, count(g.vms)),
        el(
          'td',
          { class: 'num' },
          hours(g.billedSeconds),
          Math.abs(g.billedSecondsMax - g.billedSecondsMin) >= 36
            ? el('div', { class: 'range' }, `${hours(g.billedSecondsMin)}–${hours(g.billedSecondsMax)}`)
            : null,
        ),
        el(
          'td',
          { class: 'bar-cell' },
          total
            ? null
            : el('div', { class: 'hbar billed', style: { width: `${(g.billedSeconds / max) * 100}%` } }),
        ),
        el('td', { class: 'num' }, hours(g.notBilledSeconds)),
        el('td', { class: 'num' }, hours(g.unknownSeconds)),
      );
    $('usage').tBodies[0].replaceChildren(
      ...(list.length
        ? list.map((g) => row(g, false))
        : [el('tr', {}, el('td', { class: 'empty', colspan: 6 }, 'No usage in the range.'))]),
    );
    $('usage').tFoot.replaceChildren(answer ? row(answer.total, true) : el('tr'));
    const total = answer ? (byVm ? answer.total.vms : null) : 0;
    renderPager('usage-pager', 'usage', answer, total === null ? Infinity : total, sidePageSize * 2);
    if (total === null) {
      const info = $('usage-pager').querySelector('.page-info');
      const first = state.pages.usage.length * sidePageSize * 2;
      if (info && list.length) info.textContent = `${count(first + 1)}–${count(first + list.length)}`;
    }
  }

  // ---- invoice check ------------------------------------------------------------------------------
  /** Shown only when a stored check covers a day of the range. */
  function renderInvoice() {
    const answer = state.invoice;
    const section = $('invoice');
    section.hidden = !answer || answer.totals.vmDays === 0;
    if (section.hidden) return;
    const t = answer.totals;
    const share = (part, whole) => (whole === 0 ? 'n/a' : `${((part / whole) * 100).toFixed(1)}%`);
    $('invoice-summary').textContent =
      `${count(t.agreeingVmDays)} of ${count(t.vmDays)} VM-days agree (${share(t.agreeingVmDays, t.vmDays)}), ` +
      `${t.agreeingExportHours.toFixed(1)} of ${t.exportHours.toFixed(1)} invoiced hours ` +
      `(${share(t.agreeingExportHours, t.exportHours)}) · ${count(answer.checkedDays)} days checked, last ${utc(answer.lastCheckedAt)} UTC`;
    const fixed = (h) => (h === null ? '—' : h.toFixed(2));
    $('invoice-rows').tBodies[0].replaceChildren(
      ...(answer.rows.length
        ? answer.rows.map((r) =>
            el(
              'tr',
              { dataset: { verdict: r.verdict } },
              el('td', { title: r.resourceId }, r.resourceId.split('/').pop()),
              el('td', {}, r.day),
              el('td', { class: 'num' }, fixed(r.timelineHours)),
              el('td', { class: 'num' }, fixed(r.exportHours)),
              el('td', {}, r.verdict),
              el('td', {}, r.reason || ''),
            ),
          )
        : [el('tr', {}, el('td', { class: 'empty', colspan: 6 }, 'Every checked VM-day agrees.'))]),
    );
  }

  // ---- loading -------------------------------------------------------------------------------------
  function currentRange() {
    // Whole minutes, so that a refresh asks for the same range as long as the minute lasts.
    const to = Math.ceil(Date.now() / 60_000) * 60_000;
    return { from: to - Number($('range').value) * hour, to };
  }

  const panels = {
    main: { query: mainQuery, render: renderAll },
    stopped: { query: stoppedQuery, render: renderStopped },
    usage: { query: usageQuery, render: renderUsage },
  };

  function renderAll() {
    renderTotals();
    renderTimelines();
  }

  function store(panel, answer) {
    if (panel === 'main') {
      state.main = answer.body;
      state.version = answer.etag;
      updateFilters(answer.body.facets);
    } else state[panel] = answer.body;
  }

  /** One panel's page (paging, its own sort). */
  async function loadPanel(panel) {
    try {
      const answer = await api(panels[panel].query());
      store(panel, answer);
      panels[panel].render();
    } catch (error) {
      setStatus(error.message, true);
    }
  }

  /** Every panel from its first page (filters, range or sort changed). */
  function resetPages() {
    for (const panel of Object.keys(state.pages)) {
      state.pages[panel] = [];
      state.at[panel] = undefined;
    }
  }

  /**
   * Loads the three panels, or, on a refresh with the same query, first asks whether anything was
   * recorded since the last answer (If-None-Match): nothing → only the bars move on to now.
   */
  async function load(options) {
    if (!state.key) return;
    const refresh = Boolean(options && options.refresh);
    if (state.loading) {
      // One load at a time; what was asked meanwhile runs after it (a full load wins over a refresh).
      state.queued = { refresh: refresh && (state.queued ? state.queued.refresh : true) };
      return state.loading;
    }
    const started = performance.now();
    // Panels that load on their own (coverage) refresh with the page, not on timers of their own.
    if (refresh) document.dispatchEvent(new CustomEvent('dashboard:refresh'));
    state.loading = (async () => {
      try {
        state.range = currentRange();
        if (refresh && state.version && Date.now() - state.lastFullAt < fullReloadInMs) {
          const answer = await api(mainQuery(), state.version);
          if (answer === null) {
            renderAll();
            renderStopped();
            setStatus(statusText('unchanged'));
            return;
          }
          store('main', answer);
          const [stopped, usage] = await Promise.all([api(stoppedQuery()), api(usageQuery())]);
          store('stopped', stopped);
          store('usage', usage);
        } else {
          // The timelines first (the first screen), then the side panels.
          store('main', await api(mainQuery()));
          renderAll();
          document.body.dataset.loaded = 'true';
          firstScreenDrawn();
          // The stored invoice checks load beside the others, without holding the load up.
          api(invoiceQuery())
            .then((invoice) => {
              store('invoice', invoice);
              renderInvoice();
            })
            .catch((error) => setStatus(error.message, true));
          const [stopped, usage] = await Promise.all([api(stoppedQuery()), api(usageQuery())]);
          store('stopped', stopped);
          store('usage', usage);
        }
        state.lastFullAt = Date.now();
        renderAll();
        renderStopped();
        renderUsage();
        document.body.dataset.loaded = 'true';
        setStatus(statusText('updated'));
      } catch (error) {
        setStatus(error.message, true);
      } finally {
        firstScreenDrawn();
        state.lastLoadMs = performance.now() - started;
        state.loading = null;
        if (state.queued) {
          const next = state.queued;
          state.queued = null;
          void load(next);
        }
      }
    })();
    return state.loading;
  }

  let drawn = false;
  /**
   * Announces, once, that the first screen is drawn (or its load failed): panels that load on their own
   * (coverage) wait for it, so their requests do not compete with the first screen's.
   */
  function firstScreenDrawn() {
    if (drawn) return;
    drawn = true;
    document.body.dataset.firstScreen = 'true';
    document.dispatchEvent(new CustomEvent('dashboard:first-screen'));
  }

  function statusText(what) {
    const total = state.main ? state.main.total.vms : 0;
    return `${count(total)} VMs · ${what} ${new Date().toISOString().slice(11, 19)} UTC`;
  }

  /** Next refresh: one at a time, later when loads are slow, none while the tab is hidden. */
  function schedule() {
    clearTimeout(state.timer);
    if (!$('auto-refresh').checked) return;
    const delay = Math.max(refreshInMs, 2 * state.lastLoadMs);
    state.timer = setTimeout(async () => {
      if (document.visibilityState === 'visible') await load({ refresh: true });
      schedule();
    }, delay);
  }

  function reload() {
    resetPages();
    return load().then(schedule);
  }

  let searchTimer = 0;
  function start() {
    const params = new URLSearchParams(location.search);
    state.key = params.get('code') || sessionStorage.getItem('functionKey') || '';
    if (params.has('code')) {
      // The key stays out of the address bar, the history and Referer headers.
      params.delete('code');
      const rest = params.toString();
      history.replaceState(
        history.state,
        '',
        `${location.pathname}${rest ? `?${rest}` : ''}${location.hash}`,
      );
    }
    if (state.key) sessionStorage.setItem('functionKey', state.key);
    else {
      showKeyForm();
      setStatus('a function key is needed');
    }
    $('key-form').addEventListener('submit', (event) => {
      event.preventDefault();
      state.key = $('key-input').value.trim();
      sessionStorage.setItem('functionKey', state.key);
      $('key-form').hidden = true;
      void reload();
    });
    for (const id of ['filter-subscription', 'filter-group', 'filter-tag', 'filter-state', 'sort', 'range'])
      $(id).addEventListener('change', () => void reload());
    $('search').addEventListener('input', () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => void reload(), 300);
    });
    for (const [id, panel] of [
      ['group-by', 'usage'],
      ['usage-sort', 'usage'],
      ['stopped-sort', 'stopped'],
    ])
      $(id).addEventListener('change', () => {
        state.pages[panel] = [];
        state.at[panel] = undefined;
        void loadPanel(panel);
      });
    $('refresh').addEventListener('click', () => void load({ refresh: true }).then(schedule));
    $('auto-refresh').addEventListener('change', schedule);
    $('detail-close').addEventListener('click', () => {
      $('detail').hidden = true;
      state.detail = null;
    });
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && $('auto-refresh').checked) schedule();
    });
    /** Resolves once no load is running or queued. */
    const idle = async () => {
      while (state.loading) await state.loading;
    };
    window.dashboard = {
      /** API requests this page made (the benchmark reads it). */
      requests: () => state.requests,
      idle,
      /** One refresh, after any load in flight (the benchmark measures it alone). */
      refresh: () => idle().then(() => load({ refresh: true })),
    };
    void reload();
  }

  start();
})();
