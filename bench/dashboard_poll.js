// dashboard_poll.js -- the requests of open dashboard pages, without a browser.
//
// Usage: node dashboard_poll.js BASE_URL PATH...     (runs until stdin closes)
// For each PATH (/ or /run/NAME) does what web/dashboard.js does in a visible
// tab: once per refresh interval (PW_BENCH_REFRESH seconds, default 5 as
// the pages) GET /api/version (?run=NAME), and when the counter differs
// from the data's version, GET the page's data (/api/runs?after=V, or
// /api/run/NAME and its two plots), each conditionally with the ETag of the
// last answer, as a browser revalidates its copy.  So the daemon's cost of
// five open dashboards can be told apart from five browsers' own CPU on the
// same machine.  Prints the requests made and how many were 304 at the end.
'use strict';
const [base, ...paths] = process.argv.slice(2);
const POLL_MS = 1000 * Number(process.env.PW_BENCH_REFRESH || 5); // the pages' default: 5 s
let stop = false;
let requests = 0;
let notModified = 0;

// One page's cache: url -> {etag, body}.
async function get(cache, url, json) {
  const was = cache.get(url);
  const r = await fetch(base + url, { headers: was ? { 'If-None-Match': was.etag } : {} });
  requests++;
  if (r.status === 304) {
    notModified++;
    return was.body;
  }
  if (!r.ok) throw new Error(url + ': ' + r.status);
  const body = json ? await r.json() : await r.arrayBuffer();
  if (r.headers.get('ETag')) cache.set(url, { etag: r.headers.get('ETag'), body });
  return body;
}

async function page(p, offset) {
  await new Promise((r) => setTimeout(r, offset));
  const run = p.startsWith('/run/') ? p.slice(5) : null;
  const cache = new Map();
  let seen = -1;
  let after = null;
  while (!stop) {
    try {
      const v = await get(cache, run ? '/api/version?run=' + run : '/api/version', true);
      const cur = run ? v.run_version : v.version;
      if (cur !== seen) {
        if (run) {
          const d = await get(cache, '/api/run/' + run, true);
          if (d.has_previous) {
            await Promise.all([
              get(cache, '/api/run/' + run + '/plot.svg?ref=previous&kind=heatmap'),
              get(cache, '/api/run/' + run + '/plot.svg?ref=previous&kind=lines')]);
          }
          seen = d.version;
        } else {
          const d = await get(cache, after === null ? '/api/runs' : '/api/runs?after=' + after, true);
          seen = after = d.version;
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
process.stdin.on('end', () => {
  stop = true;
  console.log('requests ' + requests + ', 304: ' + notModified);
  process.exit(0);
});
