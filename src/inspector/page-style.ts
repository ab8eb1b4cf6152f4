/** The inspector's style sheet, served as /inspector.css so that the page's CSP needs no inline style. */
export const INSPECTOR_STYLE = /* css */ `
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
  .logs-title { margin-top:10px; }
  #signin { grid-column: 1 / -1; }
  #signin form { display:flex; gap:8px; align-items:center; }
  #signin input { flex:1; max-width:420px; }
  #signout { font-size:12px; padding:2px 8px; }
  .note { color:var(--bad); }
`;
