/**
 * The inspector page: one self-contained document (no CDN, no build step), so it works air-gapped.
 * It draws the state chart from /api/machine, follows /api/stream, and fetches one page of
 * workloads and the selected workload's timeline as they change.
 */
export const INSPECTOR_PAGE = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Leasehold inspector</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  :root { --fg:#1d2330; --muted:#6b7385; --line:#c9cfdb; --accent:#2f6fde; --bg:#f6f7fb; --ok:#2e8b57; --bad:#c0392b; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, sans-serif; color:var(--fg); background:var(--bg); }
  header { display:flex; align-items:center; gap:12px; padding:12px 20px; background:#fff; border-bottom:1px solid var(--line); }
  header h1 { font-size:17px; margin:0; }
  #conn { margin-left:auto; padding:3px 10px; border-radius:12px; font-size:12px; background:#e3f4ea; color:var(--ok); }
  #conn.down { background:#fbe3e0; color:var(--bad); font-weight:600; }
  main { padding:16px 20px; display:grid; grid-template-columns: minmax(420px, 1fr) minmax(380px, 0.9fr); gap:16px; }
  section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size:13px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); margin:0 0 8px; }
  svg text { font: 12px system-ui, sans-serif; fill: var(--fg); }
  .state rect { fill:#fff; stroke:#7d8597; stroke-width:1.5; rx:10; }
  .state.final rect { stroke-width:3; }
  .state.current rect { fill:#e6efff; stroke:var(--accent); stroke-width:3; }
  .state .count { font-size:22px; font-weight:600; }
  .edge path { fill:none; stroke:#9aa3b5; stroke-width:1.4; marker-end:url(#arrow); }
  .edge text { fill:var(--muted); font-size:11px; }
  #empty { color:var(--muted); padding:10px 0; }
  #empty code { background:#f0f2f7; padding:2px 5px; border-radius:4px; }
  .filters { display:flex; gap:8px; margin-bottom:8px; }
  .filters input { flex:1; }
  input, select, button { font:inherit; padding:5px 8px; border:1px solid var(--line); border-radius:6px; background:#fff; }
  table { width:100%; border-collapse:collapse; }
  th, td { text-align:left; padding:5px 6px; border-bottom:1px solid #eef0f5; white-space:nowrap; }
  tbody tr { cursor:pointer; }
  tbody tr:hover, tbody tr.selected { background:#eef3ff; }
  .pager { display:flex; gap:8px; align-items:center; margin-top:8px; color:var(--muted); }
  pre { background:#0f1420; color:#d7dbe5; padding:10px; border-radius:6px; max-height:220px; overflow:auto; margin:8px 0 0; }
  .muted { color:var(--muted); }
</style>
</head>
<body>
<header><h1>Leasehold inspector</h1><span class="muted">workload lifecycle, live</span><span id="conn">connecting…</span></header>
<main>
  <section class="wide"><h2>State chart</h2><svg id="chart" width="100%" height="300" role="img" aria-label="workload state chart"></svg>
    <div id="empty" hidden>No workloads yet. Submit one: <code>redis-cli LPUSH workload_queue '{"id":"test-1","type":"trusted","image":"alpine","cmd":["echo","hello"]}'</code></div>
  </section>
  <section><h2>Workloads</h2>
    <div class="filters">
      <input id="q" type="search" placeholder="search by id" aria-label="search by id">
      <select id="state" aria-label="state"><option value="">every state</option></select>
      <select id="type" aria-label="type"><option value="">every type</option><option>trusted</option><option>untrusted</option></select>
    </div>
    <table><thead><tr><th>id</th><th>type</th><th>state</th><th>reason</th><th>updated</th></tr></thead><tbody id="rows"></tbody></table>
    <div class="pager"><button id="prev">‹</button><span id="range"></span><button id="next">›</button></div>
  </section>
  <section id="detail"><h2>Workload</h2><div id="selected" class="muted">Select a workload to see its timeline.</div></section>
</main>
<script>
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => ({ '&':'&amp;', '<':'&lt;', '>':'&gt;', '"':'&quot;' }[c]));
let chart = null, selected = null, offset = 0, total = 0;
const LIMIT = 50;

async function getJson(url) { const r = await fetch(url); if (!r.ok) throw new Error(r.status); return r.json(); }

function drawChart(states) {
  const svg = $('chart'); const W = 160, GAP = 120, H = 64, Y = 150;
  const x = (i) => 10 + i * (W + GAP);
  const index = Object.fromEntries(chart.states.map((s, i) => [s, i]));
  let out = '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#9aa3b5"/></marker></defs>';
  for (const e of chart.edges) {
    const i = index[e.from], j = index[e.to];
    const straight = j === i + 1;
    const shown = straight ? 1 : 2;
    const label = e.events.slice(0, shown).join(', ') + (e.events.length > shown ? ' +' + (e.events.length - shown) : '');
    let d, lx, ly;
    if (straight) { d = 'M' + (x(i) + W) + ',' + (Y + H / 2) + ' L' + (x(j) - 2) + ',' + (Y + H / 2); lx = x(i) + W + GAP / 2; ly = Y + H / 2 - 8; }
    else { const up = (j - i) % 2 === 0; const x1 = x(i) + W / 2, x2 = x(j) + W / 2, yEdge = up ? Y : Y + H, bend = up ? Y - 30 * (j - i) : Y + H + 30 * (j - i);
      // A cubic Bézier with both control points at the bend peaks at three quarters of the way there.
      const peak = yEdge + 0.75 * (bend - yEdge);
      d = 'M' + x1 + ',' + yEdge + ' C' + x1 + ',' + bend + ' ' + x2 + ',' + bend + ' ' + x2 + ',' + (yEdge + (up ? -2 : 2)); lx = (x1 + x2) / 2; ly = up ? peak - 6 : peak + 14; }
    out += '<g class="edge" data-from="' + e.from + '" data-to="' + e.to + '"><title>' + esc(e.events.join('\\n')) + '</title><path d="' + d + '"/><text x="' + lx + '" y="' + ly + '" text-anchor="middle">' + esc(label) + '</text></g>';
  }
  chart.states.forEach((s, i) => {
    const n = states ? states[s].total : 0;
    const cls = 'state' + (chart.finals.includes(s) ? ' final' : '') + (selected && selected.state === s ? ' current' : '');
    out += '<g class="' + cls + '" data-state="' + s + '"><rect x="' + x(i) + '" y="' + Y + '" width="' + W + '" height="' + H + '"/>' +
      '<text x="' + (x(i) + 12) + '" y="' + (Y + 22) + '">' + s + '</text>' +
      '<text class="count" data-count="' + s + '" x="' + (x(i) + 12) + '" y="' + (Y + 50) + '">' + n + '</text></g>';
  });
  svg.setAttribute('viewBox', '0 0 ' + (x(chart.states.length - 1) + W + 10) + ' 300');
  svg.innerHTML = out;
}

let lastStates = null;
function onTick(tick) {
  lastStates = tick.states;
  const conn = $('conn');
  conn.textContent = tick.connected ? 'live' : 'disconnected: updates paused';
  conn.classList.toggle('down', !tick.connected);
  const any = chart.states.some((s) => tick.states[s].total > 0);
  $('empty').hidden = any;
  drawChart(tick.states);
  loadRows();
  if (selected) loadSelected(selected.id);
}

async function loadRows() {
  const p = new URLSearchParams({ q: $('q').value.trim(), state: $('state').value, type: $('type').value, offset, limit: LIMIT });
  const page = await getJson('/api/workloads?' + p);
  total = page.total;
  $('rows').innerHTML = page.items.map((w) => '<tr data-id="' + esc(w.id) + '"' + (selected && selected.id === w.id ? ' class="selected"' : '') + '><td>' + esc(w.id) + '</td><td>' + w.type + '</td><td>' + w.state + '</td><td>' + esc(w.reason ?? '') + (w.exitCode !== undefined ? ' (' + w.exitCode + ')' : '') + '</td><td>' + esc(w.updatedAt.slice(11, 23)) + '</td></tr>').join('');
  $('range').textContent = total === 0 ? 'none' : (offset + 1) + '–' + Math.min(total, offset + LIMIT) + ' of ' + total;
}

async function loadSelected(id) {
  const w = await getJson('/api/workloads/' + encodeURIComponent(id)).catch(() => null);
  if (!w) { $('selected').textContent = 'No workload ' + id; return; }
  selected = { id, state: w.state };
  const rows = w.timeline.map((t) => '<tr><td>' + esc(t.at.slice(11, 23)) + '</td><td>' + (t.from ?? '∅') + ' → ' + t.to + '</td><td>' + esc(t.event) + '</td><td>' + esc(t.reason ?? '') + '</td><td>' + (t.exitCode ?? '') + '</td><td>' + (t.spentMs === null ? '' : t.spentMs + ' ms') + '</td></tr>').join('');
  const logs = await getJson('/api/workloads/' + encodeURIComponent(id) + '/logs').then((l) => l.logs).catch(() => null);
  $('selected').innerHTML = '<div><strong>' + esc(id) + '</strong> <span class="muted">(' + esc(w.type) + ')</span> is <strong id="selected-state">' + w.state + '</strong>' +
    (w.status && w.status.error ? ' <span class="muted">' + esc(w.status.error) + '</span>' : '') + '</div>' +
    '<table><thead><tr><th>at</th><th>transition</th><th>event</th><th>reason</th><th>exit</th><th>time in state</th></tr></thead><tbody id="timeline">' + rows + '</tbody></table>' +
    (logs !== null ? '<h2 style="margin-top:10px">Logs (tail)</h2><pre id="logs">' + (logs ? esc(logs) : '(no output)') + '</pre>' : '');
  drawChart(lastStates);
}

$('rows').addEventListener('click', (e) => { const tr = e.target.closest('tr'); if (tr) { loadSelected(tr.dataset.id).then(loadRows); } });
for (const id of ['q', 'state', 'type']) $(id).addEventListener('input', () => { offset = 0; loadRows(); });
$('prev').onclick = () => { offset = Math.max(0, offset - LIMIT); loadRows(); };
$('next').onclick = () => { if (offset + LIMIT < total) { offset += LIMIT; loadRows(); } };

(async () => {
  chart = await getJson('/api/machine');
  for (const s of chart.states) $('state').insertAdjacentHTML('beforeend', '<option>' + s + '</option>');
  onTick(await getJson('/api/summary'));
  const events = new EventSource('/api/stream');
  events.addEventListener('tick', (e) => onTick(JSON.parse(e.data)));
  events.onerror = () => { const conn = $('conn'); conn.textContent = 'disconnected: reconnecting…'; conn.classList.add('down'); };
})();
</script>
</body>
</html>
`;
