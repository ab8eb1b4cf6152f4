/**
 * The inspector page: a document, a script and a style sheet served by the inspector itself (no
 * CDN, no build step), so it works air-gapped. The script draws the state chart from /api/machine,
 * follows /api/stream, and fetches one page of workloads and the selected workload's timeline.
 *
 * Nothing is inline: with this policy the browser runs only /inspector.js, so text that slipped
 * past the page's escaping into markup (an `onerror=`, a `<script>`) is refused by the browser.
 */
export const INSPECTOR_PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const INSPECTOR_PAGE = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Leasehold inspector</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/inspector.css">
<script src="/inspector.js" defer></script>
</head>
<body>
<header><h1>Leasehold inspector</h1><span class="muted">workload lifecycle, live</span><span id="conn">connecting…</span><button id="signout" type="button" hidden>forget token</button></header>
<main>
  <section id="signin" hidden><h2>Sign in</h2>
    <form id="signin-form">
      <input id="token" type="password" autocomplete="off" placeholder="bearer token" aria-label="bearer token">
      <button type="submit">Sign in</button>
    </form>
    <p id="signin-why" class="note"></p>
    <p class="muted">A read token shows states and timelines; logs need an operator token. Started without
      <code>--http-tokens</code>, the control plane writes one operator token to <code>http-token</code> in its state directory,
      and <code>leasehold inspect</code> prints a link that carries one. The token stays in this tab only.</p>
  </section>
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
    <div class="pager"><button id="prev" type="button">‹</button><span id="range"></span><button id="next" type="button">›</button></div>
  </section>
  <section id="pools" hidden><h2>Warm pools</h2>
    <table><thead><tr><th>pool</th><th>ready</th><th>starting</th><th>in use</th><th>target</th><th>hit rate</th></tr></thead><tbody id="pool-rows"></tbody></table>
  </section>
  <section id="detail"><h2>Workload</h2><div id="selected" class="muted">Select a workload to see its timeline.</div></section>
</main>
</body>
</html>
`;
