// dashboard.test.js -- drive the daemon's dashboard in headless Chromium.
//
// Usage: node dashboard.test.js BASE_URL RUN RUN_DIR OUT_DIR LAYER...
// Prints one "ok ..." or "FAIL ...: why" line per check (read by
// tests/integration/test_dashboard_browser.sh) and exits non-zero on a failure.
// Checks: the runs page lists RUN; the run page shows every LAYER; a checkpoint
// that appears in RUN_DIR after the page loaded shows up on it without a
// reload; a hidden page makes no requests and catches up when shown again; no
// console errors and no failed requests on either page.  Writes
// runs.png and run.png into OUT_DIR for a person to look at.
'use strict';
const fs = require('fs');
const path = require('path');
const puppeteer = require('puppeteer-core');

const [base, run, runDir, outDir, ...layers] = process.argv.slice(2);
const chromium = process.env.PW_CHROMIUM || '/usr/bin/chromium';
let failed = 0;
function ok(what) { console.log('ok   ' + what); }
function fail(what, why) { failed++; console.log('FAIL ' + what + ': ' + why); }
function newestStep(dir) {
  let best = -1;
  for (const f of fs.readdirSync(dir)) {
    const m = /^step-(\d+)\.safetensors$/.exec(f);
    if (m) best = Math.max(best, Number(m[1]));
  }
  return best;
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    // As root Chromium needs --no-sandbox; /dev/shm may be small in containers.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run'],
  });
  const problems = [];
  async function open(url) {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    page.on('console', (m) => { if (m.type() === 'error') problems.push(url + ': console: ' + m.text()); });
    page.on('pageerror', (e) => problems.push(url + ': page error: ' + e.message));
    page.on('requestfailed', (r) => problems.push(url + ': request failed: ' + r.url()));
    page.on('response', (r) => { if (r.status() >= 400) problems.push(url + ': ' + r.status() + ' ' + r.url()); });
    await page.goto(url, { waitUntil: 'networkidle0', timeout: 20000 });
    return page;
  }
  try {
    // The runs page.
    const runs = await open(base + '/');
    await runs.waitForSelector('#runs tbody tr', { timeout: 10000 });
    const listed = await runs.$$eval('#runs tbody tr a', (as) => as.map((a) => a.textContent));
    if (listed.includes(run)) ok('the runs page lists ' + run);
    else fail('the runs page lists ' + run, 'listed: ' + listed.join(', '));
    await runs.type('#filter', 'no-such-run-zzz');
    const filtered = await runs.$$eval('#runs tbody tr', (t) => t.length);
    if (filtered === 0) ok('the filter box hides runs that do not match');
    else fail('the filter box hides runs', filtered + ' rows left');
    await runs.click('#filter', { clickCount: 3 });
    await runs.keyboard.press('Backspace');
    await runs.screenshot({ path: path.join(outDir, 'runs.png'), fullPage: true });

    // The run page: every layer, then a checkpoint written after it loaded.
    const page = await open(base + '/run/' + encodeURIComponent(run));
    await page.evaluate(() => { window.pwLoadMark = 'same page'; });
    // Refresh every 2 s, chosen in the page as a user would (5 s by default):
    // the hidden-page check below then spans two refreshes.
    await page.select('#refresh', '2');
    await page.waitForFunction(
      (n) => document.querySelectorAll('#layers tbody tr').length >= n, { timeout: 15000 }, layers.length);
    const shown = await page.$$eval('#layers tbody tr', (t) => t.map((r) => r.dataset.layer));
    const missing = layers.filter((l) => !shown.includes(l));
    if (missing.length === 0) ok('the run page shows every layer (' + layers.join(', ') + ')');
    else fail('the run page shows every layer', 'missing: ' + missing.join(', '));
    await page.waitForSelector('#heat-previous:not([hidden])', { timeout: 15000 });
    const heat = await page.$eval('#heat-previous', (i) => i.complete && i.naturalWidth > 0);
    if (heat) ok('the heatmap is drawn');
    else fail('the heatmap is drawn', 'the image did not load');

    const atLoad = newestStep(runDir);
    const shownAtLoad = await page.$eval('#last-step', (e) => e.textContent);
    // Wait for a checkpoint the trainer writes after this moment to be on the page.
    let later = -1;
    const until = Date.now() + 30000;
    while (Date.now() < until) {
      later = newestStep(runDir);
      if (later > atLoad) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (later <= atLoad) {
      fail('a new checkpoint appears without a reload', 'the trainer wrote nothing after step ' + atLoad);
    } else {
      try {
        await page.waitForFunction((s) => {
          const cells = Array.from(document.querySelectorAll('#layers tbody td.last-step'));
          return Number(document.getElementById('last-step').textContent) >= s &&
            cells.length > 0 && cells.every((c) => Number(c.textContent) >= s);
        }, { timeout: 25000, polling: 200 }, later);
        const same = await page.evaluate(() => window.pwLoadMark);
        if (same === 'same page') ok('step ' + later + ', written after the page loaded (it showed ' + shownAtLoad + '), appears without a reload');
        else fail('a new checkpoint appears without a reload', 'the page was reloaded');
      } catch (e) {
        const now = await page.$eval('#last-step', (x) => x.textContent);
        fail('a new checkpoint appears without a reload', 'waited for step ' + later + ', the page shows ' + now);
      }
    }
    // A hidden page asks the daemon nothing, though the run changes meanwhile,
    // and catches up as soon as it is shown again.  Headless Chromium shows
    // only the newest tab of a window: another tab hides this one.
    // A refresh already under way when the page is hidden may finish (its
    // picture loads); counting starts once it has.
    const other = await browser.newPage();
    await page.waitForFunction(() => document.visibilityState === 'hidden' &&
      !document.documentElement.dataset.refreshing, { timeout: 15000, polling: 100 }).catch(() => {});
    const asked = [];
    page.on('request', (r) => asked.push(r.url()));
    const state = await page.evaluate(() => document.visibilityState);
    const before = newestStep(runDir);
    await new Promise((r) => setTimeout(r, 5000)); // 2 refreshes; a checkpoint every 0.7 s
    const during = asked.length;
    const after = newestStep(runDir);
    if (state === 'hidden' && during === 0 && after > before) {
      ok('a hidden page makes no requests (steps ' + before + ' to ' + after + ' written meanwhile)');
    } else {
      fail('a hidden page makes no requests', 'state ' + state + ', ' + during + ' requests (' +
        asked.slice(0, 3).join(' ') + '), steps ' + before + ' to ' + after);
    }
    await other.close();
    await page.bringToFront();
    try {
      await page.waitForFunction((s) => Number(document.getElementById('last-step').textContent) >= s,
        { timeout: 15000, polling: 200 }, after);
      const same = await page.evaluate(() => window.pwLoadMark);
      if (same === 'same page') ok('shown again, the page catches up (step ' + after + ') without a reload');
      else fail('shown again, the page catches up', 'the page was reloaded');
    } catch (e) {
      const now = await page.$eval('#last-step', (x) => x.textContent);
      fail('shown again, the page catches up', 'waited for step ' + after + ', the page shows ' + now);
    }
    await page.screenshot({ path: path.join(outDir, 'run.png'), fullPage: true });
    if (problems.length === 0) ok('no console errors and no failed requests');
    else fail('no console errors', problems.slice(0, 5).join(' | '));
  } catch (e) {
    fail('the browser session', e.message);
  } finally {
    await browser.close();
  }
  process.exit(failed ? 1 : 0);
})();
