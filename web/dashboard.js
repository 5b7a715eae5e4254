// dashboard.js -- the two pages of pwccad's dashboard (docs/DASHBOARD.md).
//
// Both pages poll /api/version every POLL_MS and fetch their data again only
// when the daemon says something changed; the pictures are SVG the daemon
// draws (the same renderer as `pwcca plot`), reloaded with the run's change
// counter in their address.  Every name from the database is put on the page
// as text (textContent), never as markup.  Failures are shown on the page.
'use strict';
(function () {
  const POLL_MS = 2000;
  const $ = (id) => document.getElementById(id);

  function cell(tr, text, cls) {
    const td = document.createElement('td');
    td.textContent = text === null || text === undefined ? '\u2013' : String(text);
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }
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
  function setStatus(text) { $('status').textContent = text; }
  async function getJSON(url) {
    const r = await fetch(url, { cache: 'no-store', credentials: 'same-origin' });
    if (!r.ok) throw new Error(url + ': ' + r.status + ' ' + (await r.text()).trim());
    return r.json();
  }

  // Poll: call refresh() whenever the counter named by key differs from the
  // version of the data on the page (what refresh() returns).
  function follow(versionUrl, key, refresh) {
    let seen = -1;
    let busy = false;
    async function tick() {
      if (busy) return;
      busy = true;
      try {
        const v = await getJSON(versionUrl);
        // The data says which version it shows: an answer the daemon reused
        // from just before the change is fetched again at the next tick.
        if (v[key] !== seen) seen = await refresh(v);
        setStatus('live, updated ' + new Date().toLocaleTimeString());
        showError('');
      } catch (e) {
        setStatus('not connected');
        showError('Cannot reach the daemon: ' + e.message);
      } finally {
        busy = false;
      }
    }
    tick();
    setInterval(tick, POLL_MS);
  }

  // ---- / : the runs --------------------------------------------------------
  function runsPage() {
    let runs = [];
    function render() {
      const f = $('filter').value.trim().toLowerCase();
      const body = document.querySelector('#runs tbody');
      const rows = [];
      for (const r of runs) {
        if (f && !(r.name.toLowerCase().includes(f) || r.path.toLowerCase().includes(f))) continue;
        const tr = document.createElement('tr');
        tr.dataset.run = r.key;
        const td = document.createElement('td');
        const a = document.createElement('a');
        a.href = '/run/' + encodeURIComponent(r.key);
        a.textContent = r.name;
        td.appendChild(a);
        tr.appendChild(td);
        cell(tr, r.path, 'path');
        cell(tr, r.state + (r.watched ? '' : ' (not watched)'), 'state-' + r.state);
        cell(tr, fmtStep(r.last_step), 'num');
        cell(tr, r.layers, 'num');
        cell(tr, r.stable_layers, 'num');
        cell(tr, r.pending, 'num');
        cell(tr, alertText(r.last_alert));
        rows.push(tr);
      }
      body.replaceChildren(...rows);
      $('count').textContent = rows.length + ' of ' + runs.length + ' runs';
    }
    $('filter').addEventListener('input', render);
    follow('/api/version', 'version', async () => {
      const d = await getJSON('/api/runs');
      runs = d.runs;
      render();
      return d.version;
    });
  }

  // ---- /run/NAME ----------------------------------------------------------
  function runPage() {
    const name = decodeURIComponent(location.pathname.slice('/run/'.length));
    const key = encodeURIComponent(name);
    const api = '/api/run/' + key;
    let version = 0;
    let data = null;
    document.title = 'pwccad: ' + name;
    $('run-name').textContent = name;

    function plotUrl(ref, kind, layer) {
      let u = api + '/plot.svg?ref=' + ref + '&kind=' + kind + '&v=' + version;
      if (layer) u += '&layer=' + encodeURIComponent(layer);
      return u;
    }
    function setImg(img, url) {
      if (img.getAttribute('src') !== url) img.src = url;
      img.hidden = false;
    }
    function drawLines() {
      if (!data || !data.has_previous) return;
      const ref = $('curve-ref').value;
      setImg($('lines'), plotUrl(ref, 'lines', $('curve-layer').value));
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
      $('verdict').textContent = c ? c.verdict + ' (Spearman rho ' + fmtReal(c.rho) + ', ' +
        c.settled + ' of ' + c.layers.length + ' layers settled within ' + c.tau + ')' :
        'decided once the run is final';
      $('no-scores').hidden = d.has_previous;
      if (d.has_previous) setImg($('heat-previous'), plotUrl('previous', 'heatmap'));
      const final = r.final_step !== null;
      $('final-section').hidden = !final;
      if (final) {
        setImg($('heat-final'), plotUrl('final', 'heatmap'));
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
      drawLines();
      const rows = [];
      for (let i = d.layers.length - 1; i >= 0; i--) { // top layer first, like the heatmap
        const l = d.layers[i];
        const tr = document.createElement('tr');
        tr.dataset.layer = l.name;
        cell(tr, l.depth, 'num');
        cell(tr, l.name, 'layer');
        cell(tr, l.shape);
        cell(tr, l.n, 'num');
        cell(tr, l.p, 'num');
        cell(tr, fmtStep(l.last_step), 'num last-step');
        cell(tr, fmtReal(l.last_distance), 'num');
        cell(tr, fmtStep(l.stable_step), 'num');
        const ok = l.status === null || l.status === 'ok';
        cell(tr, (l.status || '\u2013') + (!ok && l.message ? ': ' + l.message : ''), ok ? '' : 'bad');
        rows.push(tr);
      }
      document.querySelector('#layers tbody').replaceChildren(...rows);
      const al = [];
      for (const a of d.alerts) {
        const li = document.createElement('li');
        li.textContent = alertText(a);
        al.push(li);
      }
      $('alerts').replaceChildren(...al);
      $('alerts-count').textContent = d.alerts_total > d.alerts.length
        ? '(newest ' + d.alerts.length + ' of ' + d.alerts_total + ')' : '(' + d.alerts_total + ')';
    }
    $('curve-layer').addEventListener('change', drawLines);
    $('curve-ref').addEventListener('change', drawLines);
    follow('/api/version?run=' + key, 'run_version', async (v) => {
      data = await getJSON(api);
      version = data.version;
      render(data);
      return data.version;
    });
  }

  if (document.body.dataset.page === 'runs') runsPage();
  else runPage();
})();
