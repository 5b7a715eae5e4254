// dashboard_load.js -- open dashboard pages in headless Chromium and keep them open.
//
// Usage: NODE_PATH=... node dashboard_load.js BASE_URL PATH...
// Opens every PATH in its own tab of one Chromium (/usr/bin/chromium, or
// $PW_CHROMIUM), prints "first_render PATH MS" when each page is drawn (the
// runs table filled, or the run's layer table filled and its heatmap
// loaded), then "ready", and keeps the pages polling until stdin closes.
'use strict';
const puppeteer = require('puppeteer-core');
const [base, ...paths] = process.argv.slice(2);

(async () => {
  const browser = await puppeteer.launch({
    executablePath: process.env.PW_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run'],
  });
  // A first tab, so the figures are the pages' and not the browser's start-up.
  await (await browser.newPage()).goto('about:blank');
  for (const p of paths) {
    const page = await browser.newPage();
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
    console.log('first_render ' + p + ' ' + (Date.now() - t0));
  }
  console.log('ready');
  process.stdin.resume();
  process.stdin.on('end', async () => { await browser.close(); process.exit(0); });
})().catch((e) => { console.error(e.message); process.exit(1); });
