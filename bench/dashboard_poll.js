// dashboard_poll.js -- the requests of open dashboard pages, without a browser.
//
// Usage: node dashboard_poll.js BASE_URL PATH...     (runs until stdin closes)
// For each PATH (/ or /run/NAME) does what web/dashboard.js does in a tab:
// every 2 s GET /api/version (?run=NAME), and when the counter differs from
// the data's version, GET the page's data (/api/runs, or /api/run/NAME and
// its two plots).  So the daemon's cost of five open dashboards can be told
// apart from five browsers' own CPU on the same machine.
'use strict';
const [base, ...paths] = process.argv.slice(2);
const POLL_MS = 2000;
let stop = false;
let requests = 0;

async function get(url, json) {
  const r = await fetch(base + url, { cache: 'no-store' });
  requests++;
  if (!r.ok) throw new Error(url + ': ' + r.status);
  return json ? r.json() : r.arrayBuffer();
}

async function page(p, offset) {
  await new Promise((r) => setTimeout(r, offset));
  const run = p.startsWith('/run/') ? p.slice(5) : null;
  let seen = -1;
  while (!stop) {
    try {
      const v = await get(run ? '/api/version?run=' + run : '/api/version', true);
      const cur = run ? v.run_version : v.version;
      if (cur !== seen) {
        if (run) {
          const d = await get('/api/run/' + run, true);
          if (d.has_previous) {
            await Promise.all([
              get('/api/run/' + run + '/plot.svg?ref=previous&kind=heatmap&v=' + d.version),
              get('/api/run/' + run + '/plot.svg?ref=previous&kind=lines&v=' + d.version)]);
          }
          seen = d.version;
        } else {
          seen = (await get('/api/runs', true)).version;
        }
      }
    } catch (e) {
      // A run that does not exist yet: try again at the next tick.
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

paths.forEach((p, i) => page(p, (i * POLL_MS) / paths.length));
console.log('ready');
process.stdin.resume();
process.stdin.on('end', () => { stop = true; console.log('requests ' + requests); process.exit(0); });
