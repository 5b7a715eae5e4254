// dashboard.js -- the two pages of pwccad's dashboard (docs/DASHBOARD.md).
//
// Both pages ask /api/version once per refresh interval (5 s unless the
// "refresh" list on the page says otherwise; kept in localStorage) and fetch
// their data again only when the daemon says something changed: however
// often the run is scored, a page refreshes at most once per interval.  A
// hidden page (another tab, a minimised window) asks nothing at all, and
// refreshes once when it is shown again.  Every request is conditional (the
// browser keeps the answer and sends its ETag): what did not change costs a
// 304, and the page leaves the parts whose data is the same untouched; table
// rows are updated in place.  The pictures are SVG the daemon draws (the
// same renderer as `pwcca plot`), shown from the fetched bytes.  Every name
// from the database is put on the page as text (textContent), never as
// markup.  Failures are shown on the page.
'use strict';
(function () {
  const INTERVALS = [2, 5, 10, 30, 60]; // seconds a page may choose between (its #refresh list)
  const DEFAULT_S = 5; // each check costs an open tab some CPU: 5 s is live enough for training
  const $ = (id) => document.getElementById(id);

  function fmtStep(v) { return v === null || v === undefined ? '\u2013' : String(v); }
  function fmtReal(v) { return v === null || v === undefined ? '\u2013' : v.toPrecision(4); }
  function ago(t) {
    if (!t) return '';
    const s = Math.max(0, Date.now() / 1000 - t);
    if (s < 90) return Math.round(s) + ' s ago';
    if (s < 5400) return Math.round(s / 60) + ' min ago';
    return Math.round(s / 3600) + ' h ago';
  }
  function alertText(a) {
    if (!a) return '\u2013';
    let t = a.kind + (a.layer ? ' ' + a.layer : '') + ' at step ' + a.step;
    if (a.value !== null) t += ' (' + fmtReal(a.value) + ')';
    return t + (a.created_at ? ', ' + ago(a.created_at) : '');
  }
  function showError(msg) {
    const e = $('error');
    e.textContent = msg || '';
    e.hidden = !msg;
  }
  // Touch the page only when the text changes: a page redrawn every tick
  // for a clock costs the browser a paint each time for nothing.
  function setStatus(text) {
    const e = $('status');
    if (e.textContent !== text) e.textContent = text;
  }
  // A conditional GET: the browser revalidates its copy (If-None-Match) and
  // gets a 304 when it is current.  Returns the response and its ETag.
  async function getFresh(url) {
    const r = await fetch(url, { cache: 'no-cache', credentials: 'same-origin' });
    if (!r.ok) throw new Error(url + ': ' + r.status + ' ' + (await r.text()).trim());
    return { r, etag: r.headers.get('ETag') };
  }
  // The change counters: small and new each time, not worth the HTTP cache.
  async function getVersion(url) {
    const r = await fetch(url, { cache: 'no-store', credentials: 'same-origin' });
    if (!r.ok) throw new Error(url + ': ' + r.status + ' ' + (await r.text()).trim());
    return r.json();
  }

  // The refresh interval: the page's list, remembered by the browser.
  function refreshMs() {
    const v = Number($('refresh').value);
    return (INTERVALS.includes(v) ? v : DEFAULT_S) * 1000;
  }
  function setupRefresh(changed) {
    const sel = $('refresh');
    let saved = null;
    try { saved = Number(localStorage.getItem('pwccad.refresh')); } catch (e) { /* storage off */ }
    sel.value = String(INTERVALS.includes(saved) ? saved : DEFAULT_S);
    sel.addEventListener('change', () => {
      try { localStorage.setItem('pwccad.refresh', sel.value); } catch (e) { /* storage off */ }
      changed();
    });
  }

  // Follow the daemon: once per interval while the page is visible, ask for
  // the counter named by key and call refresh() when it differs from the
  // version of the data on the page (what refresh() returns).  One request
  // at a time; none while the page is hidden.
  function follow(versionUrl, key, refresh) {
    let seen = -1;
    let busy = false;
    let timer = null;
    let last = 0; // when the last tick started, ms
    let changedAt = ''; // when the data on the page last changed, as shown
    function schedule(ms) {
      clearTimeout(timer);
      timer = document.visibilityState === 'visible' ? setTimeout(tick, ms) : null;
    }
    async function tick() {
      timer = null;
      if (busy || document.visibilityState !== 'visible') return;
      busy = true;
      document.documentElement.dataset.refreshing = '1'; // for tests and styles
      last = Date.now();
      try {
        const v = await getVersion(versionUrl);
        // The data says which version it shows: an answer the daemon reused
        // from just before the change is fetched again at the next tick.
        if (v[key] !== seen) {
          seen = await refresh(v);
          changedAt = new Date().toLocaleTimeString();
        }
        setStatus('live, last change seen ' + changedAt);
        showError('');
      } catch (e) {
        setStatus('not connected');
        showError('Cannot reach the daemon: ' + e.message);
      } finally {
        busy = false;
        delete document.documentElement.dataset.refreshing;
        // Hidden while this refresh ran: say so rather than "live".
        if (document.visibilityState !== 'visible') setStatus('paused while hidden');
        schedule(refreshMs());
      }
    }
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState !== 'visible') {
        clearTimeout(timer);
        timer = null;
        setStatus('paused while hidden');
      } else if (!busy) {
        // Shown again: refresh now, unless a refresh just ran.
        schedule(Math.max(0, last + refreshMs() - Date.now()));
      }
    });
    setupRefresh(() => { if (!busy) schedule(Math.max(0, last + refreshMs() - Date.now())); });
    if (document.visibilityState === 'visible') tick();
    else setStatus('paused while hidden');
  }

  // Put rows (an array of {key, cells: [[text, class], ...]}) into tbody,
  // touching only the cells whose text or class changed and moving rows only
  // when the order did: a refresh where one run or layer changed redraws that
  // one row.  dataKey names the row's data attribute.
  function syncRows(tbody, rows, dataKey, decorate) {
    const have = new Map();
    for (const tr of Array.from(tbody.rows)) have.set(tr.dataset[dataKey], tr);
    const keep = new Set();
    let at = tbody.firstElementChild;
    for (const row of rows) {
      let tr = have.get(row.key);
      if (!tr) {
        tr = document.createElement('tr');
        tr.dataset[dataKey] = row.key;
      }
      keep.add(row.key);
      row.cells.forEach(([text, cls], i) => {
        let td = tr.cells[i];
        if (!td) td = tr.appendChild(document.createElement('td'));
        const t = text === null || text === undefined ? '\u2013' : String(text);
        if (i > 0 || !decorate) {
          if (td.textContent !== t) td.textContent = t;
        } else {
          decorate(td, t);
        }
        if (td.className !== (cls || '')) td.className = cls || '';
      });
      if (tr !== at) tbody.insertBefore(tr, at);
      else at = at.nextElementSibling;
    }
    for (const [k, tr] of have) if (!keep.has(k)) tr.remove();
  }

  // ---- / : the runs --------------------------------------------------------
  function runsPage() {
    let runs = [];
    let etag = null;
    function link(td, name) {
      // The first cell: a link to the run's page, its name as text.
      let a = td.firstElementChild;
      if (!a) a = td.appendChild(document.createElement('a'));
      if (a.textContent !== name) a.textContent = name;
    }
    function render() {
      const f = $('filter').value.trim().toLowerCase();
      const rows = [];
      for (const r of runs) {
        if (f && !(r.name.toLowerCase().includes(f) || r.path.toLowerCase().includes(f))) continue;
        rows.push({ key: r.key, cells: [
          [r.name], [r.path, 'path'],
          [r.state + (r.watched ? '' : ' (not watched)'), 'state-' + r.state],
          [fmtStep(r.last_step), 'num'], [r.layers, 'num'], [r.stable_layers, 'num'],
          [r.pending, 'num'], [alertText(r.last_alert)]] });
      }
      const body = document.querySelector('#runs tbody');
      syncRows(body, rows, 'run', link);
      for (const tr of Array.from(body.rows)) {
        const a = tr.cells[0].firstElementChild;
        const href = '/run/' + encodeURIComponent(tr.dataset.run);
        if (a.getAttribute('href') !== href) a.setAttribute('href', href);
      }
      $('count').textContent = rows.length + ' of ' + runs.length + ' runs';
    }
    $('filter').addEventListener('input', render);
    // The list: whole the first time, then only the runs changed since the
    // version the page has (after=), placed by the order of all.
    let after = null;
    let epoch = null;
    async function fetchRuns() {
      const { r, etag: e } = await getFresh(after === null ? '/api/runs' : '/api/runs?after=' + after);
      if (e && e === etag) return; // the same answer as last time: nothing to redraw
      const d = await r.json();
      if (d.order && d.epoch === epoch) {
        const byKey = new Map(runs.map((x) => [x.key, x]));
        for (const x of d.runs) byKey.set(x.key, x);
        const merged = d.order.map((k) => byKey.get(k));
        if (merged.includes(undefined)) { // a run the page never saw: read them all
          after = null;
          return fetchRuns();
        }
        runs = merged;
      } else {
        runs = d.runs; // the whole list (the first, or from a restarted daemon)
      }
      etag = e;
      epoch = d.epoch;
      after = d.version;
      render();
    }
    follow('/api/version', 'version', async () => {
      await fetchRuns();
      return after;
    });
  }

  // ---- /run/NAME ----------------------------------------------------------
  function runPage() {
    const name = decodeURIComponent(location.pathname.slice('/run/'.length));
    const key = encodeURIComponent(name);
    const api = '/api/run/' + key;
    let data = null;
    let etag = null;
    const shown = new Map(); // img id -> {url, etag, blob URL} of the picture it shows
    document.title = 'pwccad: ' + name;
    $('run-name').textContent = name;

    function plotUrl(ref, kind, layer) {
      let u = api + '/plot.svg?ref=' + ref + '&kind=' + kind;
      if (layer) u += '&layer=' + encodeURIComponent(layer);
      return u;
    }
    // Show the picture at url in img: fetched conditionally, so a picture
    // that did not change costs a 304 and is not decoded again.
    async function setImg(img, url) {
      const { r, etag: e } = await getFresh(url);
      const was = shown.get(img.id);
      if (!(was && was.url === url && e && was.etag === e)) {
        const blob = URL.createObjectURL(await r.blob());
        img.src = blob;
        if (was) URL.revokeObjectURL(was.blob);
        shown.set(img.id, { url, etag: e, blob });
      }
      img.hidden = false;
    }
    function curveUrl() {
      return plotUrl($('curve-ref').value, 'lines', $('curve-layer').value);
    }
    async function drawLines() {
      if (data && data.has_previous) await setImg($('lines'), curveUrl());
    }
    function redrawLines() {
      drawLines().catch((e) => showError('Cannot draw the curves: ' + e.message));
    }
    function render(d) {
      const r = d.run;
      $('run-path').textContent = r.path;
      $('run-state').textContent = r.state + (r.final_source ? ' (' + r.final_source + ')' : '') +
        (r.watched ? '' : ', not watched');
      $('run-state').className = 'state-' + r.state;
      $('last-step').textContent = fmtStep(r.last_step);
      $('run-layers').textContent = r.layers + ' (' + r.stable_layers + ' stable)';
      $('run-pending').textContent = r.pending + ' checkpoint' + (r.pending === 1 ? '' : 's');
      const c = d.convergence;
      $('verdict').textContent = !c ? 'decided once the run is final' : c.noise ?
        c.verdict + ' (' + c.distinguishable_pairs + ' of ' + c.pairs + ' layer pairs told ' +
        'apart by the noise at \u00b1' + c.z + ' SE, ' + c.within_noise.length + ' within it; ' +
        c.settled + ' of ' + c.layers.length + ' layers settled within ' + c.tau + ')' :
        c.verdict + ' (Spearman rho ' + fmtReal(c.rho) + ', ' +
        c.settled + ' of ' + c.layers.length + ' layers settled within ' + c.tau + ')';
      $('no-scores').hidden = d.has_previous;
      const final = r.final_step !== null;
      $('final-section').hidden = !final;
      if (final) {
        const refSel = $('curve-ref');
        if (refSel.options.length < 2) refSel.add(new Option('final', 'final'));
      }
      // Layer choices for the curves, kept when they are unchanged.
      const sel = $('curve-layer');
      const names = d.layers.map((l) => l.name);
      const have = Array.from(sel.options).slice(1).map((o) => o.value);
      if (have.join('\n') !== names.join('\n')) {
        const keep = sel.value;
        sel.replaceChildren(new Option('every layer', ''), ...names.map((n) => new Option(n, n)));
        sel.value = names.includes(keep) ? keep : '';
      }
      const rows = [];
      for (let i = d.layers.length - 1; i >= 0; i--) { // top layer first, like the heatmap
        const l = d.layers[i];
        const ok = l.status === null || l.status === 'ok';
        rows.push({ key: l.name, cells: [
          [l.depth, 'num'], [l.name, 'layer'], [l.shape], [l.n, 'num'], [l.p, 'num'],
          [fmtStep(l.last_step), 'num last-step'], [fmtReal(l.last_distance), 'num'],
          [fmtStep(l.stable_step), 'num'],
          [(l.status || '\u2013') + (!ok && l.message ? ': ' + l.message : ''), ok ? '' : 'bad']] });
      }
      syncRows(document.querySelector('#layers tbody'), rows, 'layer');
      const al = [];
      for (const a of d.alerts) {
        const li = document.createElement('li');
        li.textContent = alertText(a);
        al.push(li);
      }
      const list = $('alerts');
      if (al.map((li) => li.textContent).join('\n') !==
          Array.from(list.children).map((li) => li.textContent).join('\n')) list.replaceChildren(...al);
      $('alerts-count').textContent = d.alerts_total > d.alerts.length
        ? '(newest ' + d.alerts.length + ' of ' + d.alerts_total + ')' : '(' + d.alerts_total + ')';
    }
    $('curve-layer').addEventListener('change', redrawLines);
    $('curve-ref').addEventListener('change', redrawLines);
    follow('/api/version?run=' + key, 'run_version', async () => {
      const { r, etag: e } = await getFresh(api);
      if (!(e && e === etag)) {
        data = await r.json();
        etag = e;
        render(data);
      }
      // The pictures, each a 304 when the data it draws did not change.
      const pics = [];
      if (data.has_previous) pics.push(setImg($('heat-previous'), plotUrl('previous', 'heatmap')));
      if (data.run.final_step !== null) pics.push(setImg($('heat-final'), plotUrl('final', 'heatmap')));
      pics.push(drawLines());
      await Promise.all(pics);
      return data.version;
    });
  }

  if (document.body.dataset.page === 'runs') runsPage();
  else runPage();
})();
