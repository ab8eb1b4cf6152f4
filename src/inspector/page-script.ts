/**
 * The inspector's script, served as /inspector.js (the page's CSP allows no inline script).
 *
 * It builds every node with createElement and text nodes, never with innerHTML: whatever a
 * transition, a status reply or a workload's logs hold is shown as text. The token lives in
 * sessionStorage (this tab only; `#token=…` in the address fills it and is removed at once) and
 * goes out as an Authorization header. The event stream is read with fetch rather than
 * EventSource, which cannot send headers: the other way would put the token in the URL, where
 * proxies and histories keep it.
 *
 * Written as plain browser JavaScript inside String.raw, so it holds no backquote and no `${`.
 */
export const INSPECTOR_SCRIPT = String.raw`'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const TOKEN_KEY = 'leasehold.token';
  const LIMIT = 50;
  let chart = null, selected = null, offset = 0, total = 0, lastStates = null;
  /** Bumped on every sign-in and sign-out, so a stream of an old session stops on its own. */
  let session = 0;
  let streamAbort = null;

  function build(node, attrs, children) {
    for (const name of Object.keys(attrs || {})) {
      const value = attrs[name];
      if (value !== undefined && value !== null && value !== false) node.setAttribute(name, String(value));
    }
    for (const child of children.flat(2)) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }
  const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);
  const s = (tag, attrs, ...children) => build(document.createElementNS(SVG_NS, tag), attrs, children);
  const str = (v) => (v === undefined || v === null ? '' : String(v));
  const clock = (iso) => str(iso).slice(11, 23);
  const count = (states, state) => Number(states && states[state] && states[state].total) || 0;
  const ignore = () => undefined;

  class SignedOut extends Error {}
  const token = () => sessionStorage.getItem(TOKEN_KEY) || '';
  const authHeaders = () => ({ authorization: 'Bearer ' + token() });

  async function getJson(url) {
    const r = await fetch(url, { headers: authHeaders(), cache: 'no-store' });
    if (r.status === 401) {
      signIn('That token was not accepted.');
      throw new SignedOut();
    }
    if (!r.ok) {
      const error = new Error('HTTP ' + r.status);
      error.status = r.status;
      throw error;
    }
    return r.json();
  }

  function down(text) {
    const conn = $('conn');
    conn.textContent = text;
    conn.classList.add('down');
  }

  function signIn(why) {
    session++;
    if (streamAbort) streamAbort.abort();
    $('signin').hidden = false;
    $('signout').hidden = true;
    $('signin-why').textContent = why;
    down('signed out');
    $('token').focus();
  }

  async function start() {
    const mine = ++session;
    $('signin').hidden = true;
    $('signout').hidden = false;
    try {
      chart = await getJson('/api/machine');
      $('state').replaceChildren(h('option', { value: '' }, 'every state'), ...chart.states.map((state) => h('option', {}, state)));
      onTick(await getJson('/api/summary'));
      void follow(mine);
    } catch (error) {
      if (error instanceof SignedOut || mine !== session) return;
      down('cannot reach the inspector: ' + str(error.message));
      setTimeout(() => { if (mine === session) void start(); }, 2000);
    }
  }

  /** Server-sent events over fetch: frames end with a blank line; we read "event:" and "data:". */
  async function follow(mine) {
    while (mine === session) {
      streamAbort = new AbortController();
      try {
        const r = await fetch('/api/stream', { headers: authHeaders(), cache: 'no-store', signal: streamAbort.signal });
        if (r.status === 401) return signIn('That token is no longer accepted.');
        if (!r.ok || !r.body) throw new Error('HTTP ' + r.status);
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let event = 'message', data = '';
            for (const line of frame.split('\n')) {
              if (line.startsWith('event:')) event = line.slice(6).trim();
              else if (line.startsWith('data:')) data += line.slice(5).trim();
            }
            if (event === 'tick' && mine === session) onTick(JSON.parse(data));
          }
        }
      } catch (error) {
        if (error && error.name === 'AbortError') return;
      }
      if (mine !== session) return;
      down('disconnected: reconnecting…');
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }

  function drawChart(states) {
    const W = 160, GAP = 120, H = 64, Y = 150;
    const x = (i) => 10 + i * (W + GAP);
    const index = new Map(chart.states.map((state, i) => [state, i]));
    const nodes = [
      s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
        s('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#9aa3b5' }))),
    ];
    for (const e of chart.edges) {
      const i = index.get(e.from), j = index.get(e.to);
      const straight = j === i + 1;
      const shown = straight ? 1 : 2;
      const label = e.events.slice(0, shown).join(', ') + (e.events.length > shown ? ' +' + (e.events.length - shown) : '');
      let d, lx, ly;
      if (straight) {
        d = 'M' + (x(i) + W) + ',' + (Y + H / 2) + ' L' + (x(j) - 2) + ',' + (Y + H / 2);
        lx = x(i) + W + GAP / 2;
        ly = Y + H / 2 - 8;
      } else {
        const up = (j - i) % 2 === 0;
        const x1 = x(i) + W / 2, x2 = x(j) + W / 2, yEdge = up ? Y : Y + H, bend = up ? Y - 30 * (j - i) : Y + H + 30 * (j - i);
        // A cubic Bézier with both control points at the bend peaks at three quarters of the way there.
        const peak = yEdge + 0.75 * (bend - yEdge);
        d = 'M' + x1 + ',' + yEdge + ' C' + x1 + ',' + bend + ' ' + x2 + ',' + bend + ' ' + x2 + ',' + (yEdge + (up ? -2 : 2));
        lx = (x1 + x2) / 2;
        ly = up ? peak - 6 : peak + 14;
      }
      nodes.push(s('g', { class: 'edge', 'data-from': e.from, 'data-to': e.to },
        s('title', {}, e.events.join('\n')), s('path', { d }), s('text', { x: lx, y: ly, 'text-anchor': 'middle' }, label)));
    }
    chart.states.forEach((state, i) => {
      const cls = 'state' + (chart.finals.includes(state) ? ' final' : '') + (selected && selected.state === state ? ' current' : '');
      nodes.push(s('g', { class: cls, 'data-state': state },
        s('rect', { x: x(i), y: Y, width: W, height: H }),
        s('text', { x: x(i) + 12, y: Y + 22 }, state),
        s('text', { class: 'count', 'data-count': state, x: x(i) + 12, y: Y + 50 }, count(states, state))));
    });
    const svg = $('chart');
    svg.setAttribute('viewBox', '0 0 ' + (x(chart.states.length - 1) + W + 10) + ' 300');
    svg.replaceChildren(...nodes);
  }

  function onTick(tick) {
    lastStates = tick.states;
    const conn = $('conn');
    conn.textContent = tick.connected ? 'live' : 'disconnected: updates paused';
    conn.classList.toggle('down', !tick.connected);
    $('empty').hidden = chart.states.some((state) => count(tick.states, state) > 0);
    drawChart(tick.states);
    drawPools(tick.pools || []);
    loadRows().catch(ignore);
    if (selected) loadSelected(selected.id).catch(ignore);
  }

  function drawPools(pools) {
    $('pools').hidden = pools.length === 0;
    $('pool-rows').replaceChildren(...pools.map((p) => {
      const claims = Number(p.hits) + Number(p.misses);
      return h('tr', { 'data-pool': str(p.name) },
        h('td', {}, str(p.name)),
        h('td', {}, str(p.ready)),
        h('td', {}, str(p.starting)),
        h('td', {}, str(p.inUse)),
        h('td', {}, str(p.target)),
        h('td', {}, claims === 0 ? '–' : Math.round((100 * Number(p.hits)) / claims) + '% of ' + claims));
    }));
  }

  async function loadRows() {
    const p = new URLSearchParams({ q: $('q').value.trim(), state: $('state').value, type: $('type').value, offset: String(offset), limit: String(LIMIT) });
    const page = await getJson('/api/workloads?' + p);
    total = Number(page.total) || 0;
    $('rows').replaceChildren(...page.items.map((w) => h('tr', { 'data-id': str(w.id), class: selected && selected.id === w.id ? 'selected' : null },
      h('td', {}, str(w.id)),
      h('td', {}, str(w.type)),
      h('td', {}, str(w.state)),
      h('td', {}, str(w.reason) + (w.exitCode !== undefined && w.exitCode !== null ? ' (' + str(w.exitCode) + ')' : '')),
      h('td', {}, clock(w.updatedAt)))));
    $('range').textContent = total === 0 ? 'none' : (offset + 1) + '–' + Math.min(total, offset + LIMIT) + ' of ' + total;
  }

  async function loadSelected(id) {
    let w;
    try {
      w = await getJson('/api/workloads/' + encodeURIComponent(id));
    } catch (error) {
      if (error instanceof SignedOut) throw error;
      $('selected').textContent = 'No workload ' + id;
      return;
    }
    selected = { id, state: str(w.state) };
    const logs = await getJson('/api/workloads/' + encodeURIComponent(id) + '/logs').then(
      (l) => ({ text: str(l.logs) }),
      (error) => (error instanceof SignedOut ? Promise.reject(error) : { status: error.status }),
    );
    const rows = (w.timeline || []).map((t) => h('tr', {},
      h('td', {}, clock(t.at)),
      h('td', {}, (t.from === null || t.from === undefined ? '∅' : str(t.from)) + ' → ' + str(t.to)),
      h('td', {}, str(t.event)),
      h('td', {}, str(t.reason) + (t.error ? ' ' + str(t.error) : '')),
      h('td', {}, str(t.exitCode)),
      h('td', {}, t.spentMs === null || t.spentMs === undefined ? '' : str(t.spentMs) + ' ms')));
    const status = w.status || {};
    const parts = [
      h('div', {},
        h('strong', {}, id), ' ', h('span', { class: 'muted' }, '(' + str(w.type) + ')'), ' is ', h('strong', { id: 'selected-state' }, str(w.state)),
        status.error ? [' ', h('span', { class: 'muted', id: 'selected-error' }, str(status.error))] : null,
        status.waiting ? [' ', h('span', { class: 'muted', id: 'selected-waiting' }, str(status.waiting))] : null),
      h('table', {},
        h('thead', {}, h('tr', {}, ['at', 'transition', 'event', 'reason', 'exit', 'time in state'].map((c) => h('th', {}, c)))),
        h('tbody', { id: 'timeline' }, rows)),
    ];
    if (logs.text !== undefined) parts.push(h('h2', { class: 'logs-title' }, 'Logs (tail)'), h('pre', { id: 'logs' }, logs.text || '(no output)'));
    else if (logs.status === 403) parts.push(h('p', { class: 'muted', id: 'logs-denied' }, 'Logs need an operator token.'));
    $('selected').replaceChildren(...parts);
    drawChart(lastStates);
  }

  $('rows').addEventListener('click', (e) => {
    const tr = e.target.closest('tr');
    if (tr) loadSelected(tr.dataset.id).then(loadRows).catch(ignore);
  });
  for (const id of ['q', 'state', 'type']) $(id).addEventListener('input', () => { offset = 0; loadRows().catch(ignore); });
  $('prev').addEventListener('click', () => { offset = Math.max(0, offset - LIMIT); loadRows().catch(ignore); });
  $('next').addEventListener('click', () => { if (offset + LIMIT < total) { offset += LIMIT; loadRows().catch(ignore); } });
  $('signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
    $('token').value = '';
    void start();
  });
  $('signout').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    signIn('Signed out.');
  });

  const fragment = /^#token=([^&]+)/.exec(location.hash);
  if (fragment) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(fragment[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  if (token()) void start();
  else signIn('');
})();
`;
