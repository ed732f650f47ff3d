/* global document, window, location, sessionStorage, fetch, Node, URLSearchParams, setInterval, clearInterval -- a browser script */
// The dashboard: reads the HTTP API (/api/vms, /api/vms/{key}/timeline, /api/stopped, /api/usage) with the
// function key of the page's URL (?code=) and draws plain DOM; no framework, no build step.
'use strict';

(function () {
  const hour = 3_600_000;
  const $ = (id) => document.getElementById(id);
  const state = {
    key: '',
    vms: [],
    timelines: new Map(),
    stopped: null,
    usage: null,
    loading: false,
    timer: 0,
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

  async function api(path) {
    const response = await fetch(`/api/${path}`, { headers: { 'x-functions-key': state.key } });
    if (response.status === 401) {
      showKeyForm();
      throw new Error('the function key was refused');
    }
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(`${path.split('?')[0]}: ${response.status} ${body.error || ''}`.trim());
    }
    return response.json();
  }

  function showKeyForm() {
    $('key-form').hidden = false;
  }

  // ---- filters -------------------------------------------------------------------------------------
  function fillSelect(select, values, allLabel) {
    const previous = select.value;
    select.replaceChildren(
      el('option', { value: '' }, allLabel),
      ...values.map((v) => el('option', { value: v }, v)),
    );
    select.value = values.includes(previous) ? previous : '';
  }

  function updateFilters() {
    const unique = (list) => [...new Set(list)].sort();
    fillSelect($('filter-subscription'), unique(state.vms.map((vm) => vm.subscriptionId)), 'all');
    fillSelect(
      $('filter-group'),
      unique(state.vms.map((vm) => vm.resourceGroup || '')).filter(Boolean),
      'all',
    );
    const tags = unique(
      state.vms.flatMap((vm) => Object.entries(vm.tags || {}).map(([k, v]) => `${k}=${v}`)),
    );
    fillSelect($('filter-tag'), tags, 'any');
    const groupBy = $('group-by');
    const tagNames = unique(state.vms.flatMap((vm) => Object.keys(vm.tags || {})));
    for (const name of tagNames) {
      if (![...groupBy.options].some((o) => o.value === `tag:${name}`))
        groupBy.append(el('option', { value: `tag:${name}` }, `tag ${name}`));
    }
  }

  function visibleVms() {
    const subscription = $('filter-subscription').value;
    const group = $('filter-group').value.toLowerCase();
    const tag = $('filter-tag').value;
    return state.vms.filter((vm) => {
      if (subscription && vm.subscriptionId !== subscription) return false;
      if (group && (vm.resourceGroup || '').toLowerCase() !== group) return false;
      if (tag) {
        const [k, ...rest] = tag.split('=');
        if ((vm.tags || {})[k] !== rest.join('=')) return false;
      }
      return true;
    });
  }

  // ---- timelines -----------------------------------------------------------------------------------
  const tooltip = () => $('tooltip');

  function showTooltip(event, segment, vm) {
    const tip = tooltip();
    const line = (k, v) => (v ? el('div', {}, el('span', { class: 'k' }, `${k}: `), v) : null);
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
      segment.startWindowFrom
        ? line('changed between', `${utc(segment.startWindowFrom)} and ${utc(segment.start)} UTC`)
        : null,
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

  function bar(vm, timeline, from, to) {
    const span = to - from;
    const pct = (t) => `${(Math.max(0, Math.min(span, t - from)) / span) * 100}%`;
    const children = [];
    for (const s of timeline ? timeline.segments : []) {
      const start = Date.parse(s.start);
      const end = s.end ? Date.parse(s.end) : to;
      if (end <= from || start >= to) continue;
      const width = `calc(${pct(end)} - ${pct(start)})`;
      const hover = { onmousemove: (e) => showTooltip(e, s, vm), onmouseleave: hideTooltip };
      children.push(
        el('div', {
          class: `seg ${s.billing}`,
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

  function renderTimelines(from, to) {
    const container = $('timelines');
    const vms = visibleVms();
    const rows = [el('div', { class: 'axis-label' }, 'UTC'), axis(from, to)];
    for (const vm of vms) {
      const deleted = vm.state === 'deleted';
      rows.push(
        el(
          'div',
          { class: `vm-name${deleted ? ' deleted' : ''}`, title: vm.resourceId },
          vm.name,
          el('span', { class: `badge ${vm.state || ''}` }, vm.state || 'unknown'),
          el('span', { class: 'rg' }, [vm.resourceGroup, vm.vmSize].filter(Boolean).join(' · ')),
        ),
        bar(vm, state.timelines.get(vm.key), from, to),
      );
    }
    if (vms.length === 0)
      rows.push(
        el('div', {}),
        el('div', { class: 'axis-label' }, 'No VM recorded yet (or none matches the filters).'),
      );
    container.replaceChildren(...rows);
  }

  // ---- stopped -------------------------------------------------------------------------------------
  function renderStopped() {
    const body = $('stopped').tBodies[0];
    const visible = new Set(visibleVms().map((vm) => vm.resourceId.toLowerCase()));
    const byId = new Map(state.vms.map((vm) => [vm.resourceId.toLowerCase(), vm]));
    const rows = (state.stopped ? state.stopped.vms : [])
      .filter((s) => visible.has(s.resourceId.toLowerCase()) || !byId.has(s.resourceId.toLowerCase()))
      .map((s) => {
        const vm = byId.get(s.resourceId.toLowerCase());
        return el(
          'tr',
          { dataset: { vm: vm ? vm.name : s.resourceId } },
          el(
            'td',
            { title: s.resourceId },
            vm ? vm.name : s.resourceId.split('/').pop(),
            vm ? el('span', { class: 'range' }, ` ${vm.resourceGroup}`) : null,
          ),
          el('td', {}, utc(s.since)),
          el('td', { class: 'num' }, duration(s.seconds)),
          el(
            'td',
            {},
            el(
              'span',
              { class: `alert ${s.alertState}` },
              s.alertState === 'withinGrace' ? 'within grace' : s.alertState,
            ),
          ),
        );
      });
    body.replaceChildren(
      ...(rows.length
        ? rows
        : [el('tr', {}, el('td', { class: 'empty', colspan: 4 }, 'No VM is in Stopped (allocated).'))]),
    );
  }

  // ---- usage ---------------------------------------------------------------------------------------
  function groupKey(vm, row, groupBy) {
    if (groupBy === 'vm') return vm ? vm.name : row.resourceId.split('/').pop();
    if (!vm) return '(unknown)';
    if (groupBy === 'subscription') return vm.subscriptionId;
    if (groupBy === 'resourceGroup') return vm.resourceGroup || '(none)';
    if (groupBy === 'vmSize') return vm.vmSize || '(unknown)';
    if (groupBy === 'location') return vm.location || '(unknown)';
    if (groupBy.startsWith('tag:')) {
      const name = groupBy.slice(4).toLowerCase();
      const entry = Object.entries(vm.tags || {}).find(([k]) => k.toLowerCase() === name);
      return entry ? entry[1] : '(untagged)';
    }
    return '(all)';
  }

  function renderUsage() {
    const groupBy = $('group-by').value;
    $('usage-group-title').textContent = $('group-by').selectedOptions[0].textContent;
    const byId = new Map(state.vms.map((vm) => [vm.resourceId.toLowerCase(), vm]));
    const visible = new Set(visibleVms().map((vm) => vm.resourceId.toLowerCase()));
    const groups = new Map();
    const fields = [
      'billedSeconds',
      'notBilledSeconds',
      'unknownSeconds',
      'billedSecondsMin',
      'billedSecondsMax',
    ];
    let priced = false;
    for (const row of state.usage ? state.usage.rows : []) {
      if (!row.resourceId || !visible.has(row.resourceId.toLowerCase())) continue;
      const key = groupKey(byId.get(row.resourceId.toLowerCase()), row, groupBy);
      const g = groups.get(key) || {
        key,
        vms: 0,
        cost: null,
        ...Object.fromEntries(fields.map((f) => [f, 0])),
      };
      g.vms += 1;
      for (const f of fields) g[f] += row[f] || 0;
      if (typeof row.cost === 'number') {
        priced = true;
        g.cost = (g.cost || 0) + row.cost;
      }
      groups.set(key, g);
    }
    const list = [...groups.values()].sort(
      (a, b) => b.billedSeconds - a.billedSeconds || String(a.key).localeCompare(String(b.key)),
    );
    const max = Math.max(1, ...list.map((g) => g.billedSecondsMax || g.billedSeconds));
    const currency = (state.usage && state.usage.currency) || '';
    const money = (v) =>
      v === null || v === undefined ? '—' : `${v.toFixed(2)}${currency ? ` ${currency}` : ''}`;
    const row = (g, total) =>
      el(
        'tr',
        {},
        el('td', {}, total ? 'total' : g.key),
        el('td', { class: 'num' }, g.vms),
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
        el('td', { class: 'num' }, money(g.cost)),
      );
    const tbody = $('usage').tBodies[0];
    tbody.replaceChildren(
      ...(list.length
        ? list.map((g) => row(g, false))
        : [el('tr', {}, el('td', { class: 'empty', colspan: 7 }, 'No usage in the range.'))]),
    );
    const total = { vms: 0, cost: priced ? 0 : null, ...Object.fromEntries(fields.map((f) => [f, 0])) };
    for (const g of list) {
      total.vms += g.vms;
      for (const f of fields) total[f] += g[f];
      if (priced && g.cost !== null) total.cost += g.cost;
    }
    $('usage').tFoot.replaceChildren(row(total, true));
  }

  // ---- loading -------------------------------------------------------------------------------------
  function range() {
    const to = Date.now();
    return { from: to - Number($('range').value) * hour, to };
  }

  function renderAll() {
    const { from, to } = range();
    renderTimelines(from, to);
    renderStopped();
    renderUsage();
  }

  async function load() {
    if (state.loading || !state.key) return;
    state.loading = true;
    try {
      const { from, to } = range();
      const query = `from=${encodeURIComponent(new Date(from).toISOString())}&to=${encodeURIComponent(new Date(to).toISOString())}`;
      const [list, stopped, usage] = await Promise.all([
        api('vms'),
        api('stopped'),
        api(`usage?${query}&groupBy=vm`),
      ]);
      state.vms = list.vms;
      state.stopped = stopped;
      state.usage = usage;
      updateFilters();
      const timelines = await Promise.all(
        state.vms.map((vm) => api(`vms/${encodeURIComponent(vm.key)}/timeline?${query}`).catch(() => null)),
      );
      state.timelines = new Map(state.vms.map((vm, i) => [vm.key, timelines[i]]));
      renderAll();
      document.body.dataset.loaded = 'true';
      setStatus(`${state.vms.length} VMs · updated ${new Date().toISOString().slice(11, 19)} UTC`);
    } catch (error) {
      setStatus(error.message, true);
    } finally {
      state.loading = false;
    }
  }

  function schedule() {
    clearInterval(state.timer);
    if ($('auto-refresh').checked) state.timer = setInterval(load, 15_000);
  }

  function start() {
    const params = new URLSearchParams(location.search);
    state.key = params.get('code') || sessionStorage.getItem('functionKey') || '';
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
      void load();
    });
    for (const id of ['filter-subscription', 'filter-group', 'filter-tag'])
      $(id).addEventListener('change', renderAll);
    $('group-by').addEventListener('change', renderUsage);
    $('range').addEventListener('change', load);
    $('refresh').addEventListener('click', load);
    $('auto-refresh').addEventListener('change', schedule);
    schedule();
    void load();
  }

  start();
})();
