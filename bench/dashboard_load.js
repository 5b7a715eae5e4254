// dashboard_load.js -- open dashboard pages in headless Chromium and keep them open.
//
// Usage: NODE_PATH=... node dashboard_load.js BASE_URL PATH...
// Opens every PATH in a window of its own in one Chromium (/usr/bin/chromium,
// or $PW_CHROMIUM), prints "first_render PATH MS" when each page is drawn (the
// runs table filled, or the run's layer table filled and its heatmap
// loaded), "visible K of N" (how many of the pages say they are visible),
// then "ready", and keeps the pages polling until stdin closes.  A line
// "open PATH..." on stdin opens more pages the same way (in the browser
// already running, so a benchmark does not time a browser's start-up) and
// answers "opened" once they are drawn.  PW_BENCH_REFRESH=S sets the pages'
// refresh interval (default: the page's own).
//
// A window each, not a tab each: headless Chromium shows only the newest
// tab of a window and reports the others hidden, and a hidden dashboard does
// nothing (web/dashboard.js), so tabs would measure idle pages, not watched ones.
'use strict';
const readline = require('readline');
const puppeteer = require('puppeteer-core');
const [base, ...paths] = process.argv.slice(2);

(async () => {
  const browser = await puppeteer.launch({
    executablePath: process.env.PW_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run'],
  });
  const cdp = await browser.target().createCDPSession();
  const pages = [];
  // A first tab, so the figures are the pages' and not the browser's start-up.
  // PW_BENCH_REFRESH=S: the pages' refresh interval, chosen as a user would
  // in the page's list (it is kept in the origin's localStorage).
  const first = await browser.newPage();
  if (process.env.PW_BENCH_REFRESH) {
    await first.goto(base + '/assets/dashboard.css');
    await first.evaluate((s) => localStorage.setItem('pwccad.refresh', s), process.env.PW_BENCH_REFRESH);
  }
  await first.goto('about:blank');

  async function open(p) {
    const { targetId } = await cdp.send('Target.createTarget', { url: 'about:blank', newWindow: true });
    const target = await browser.waitForTarget((t) => t._targetId === targetId);
    const page = await target.page();
    await page.setViewport({ width: 1280, height: 900 });
    const t0 = Date.now();
    await page.goto(base + p, { waitUntil: 'domcontentloaded', timeout: 30000 });
    if (p.startsWith('/run/')) {
      await page.waitForFunction(() => {
        const img = document.getElementById('heat-previous');
        return document.querySelectorAll('#layers tbody tr').length > 0 &&
          img && !img.hidden && img.complete && img.naturalWidth > 0;
      }, { timeout: 30000, polling: 20 });
    } else {
      await page.waitForFunction(() => document.querySelectorAll('#runs tbody tr').length > 0,
        { timeout: 30000, polling: 20 });
    }
    pages.push(page);
    return Date.now() - t0;
  }
  async function visible() {
    let k = 0;
    for (const page of pages) k += (await page.evaluate(() => document.visibilityState)) === 'visible';
    return 'visible ' + k + ' of ' + pages.length;
  }

  for (const p of paths) console.log('first_render ' + p + ' ' + (await open(p)));
  console.log(await visible());
  console.log('ready');
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', async (line) => {
    const [cmd, ...more] = line.trim().split(/\s+/);
    if (cmd !== 'open') return;
    try {
      for (const p of more) await open(p);
      console.log(await visible());
      console.log('opened');
    } catch (e) {
      console.log('open failed: ' + e.message);
    }
  });
  rl.on('close', async () => { await browser.close(); process.exit(0); });
})().catch((e) => { console.error(e.message); process.exit(1); });
