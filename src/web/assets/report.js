// The assessment report viewer (/report/{hall}?kind=monthly&period=2026-12&subtree=true): a
// supervisor opens it in a browser with the token in the URL fragment (#token=…, never sent
// to the server) or types it; the page asks /v1/reports with the token in the Authorization
// header and shows the server-rendered report (tables and SVG charts) under its controls,
// ready to print, or downloads the same report as CSV. It draws nothing itself.

import { $, params, promptToken, route, storedToken } from './common.js';

const [hall] = route;
const KIND = 'supervisor';
let token = storedToken(KIND);
const enc = encodeURIComponent;

function status(text) {
  $('#status').textContent = text;
}

function query(format) {
  const q = new URLSearchParams({ hall, format });
  const period = $('#period').value.trim();
  if (period) q.set('period', period);
  if ($('#subtree').checked) q.set('subtree', 'true');
  return `/v1/reports/${enc($('#kind').value)}?${q}`;
}

/** The report in `format`; asks for a token again when the one kept is refused. */
async function fetchReport(format) {
  for (;;) {
    if (!token) token = await promptToken(KIND);
    const r = await fetch(query(format), {
      headers: { Authorization: `Bearer ${token}` },
      cache: 'no-store',
    });
    if (r.ok) return r;
    const p = await r.json().catch(() => ({}));
    const why = p.detail ?? `HTTP ${r.status}`;
    if (r.status !== 401) throw new Error(why);
    token = await promptToken(KIND, why);
  }
}

async function show() {
  status('加载中…');
  try {
    const r = await fetchReport('html');
    const doc = new DOMParser().parseFromString(await r.text(), 'text/html');
    document.title = doc.title;
    // The page's inline <style> stays behind: report.css is the same sheet.
    // A copy of the list first: moving a node out of the parsed body shortens the live list.
    $('#report').replaceChildren(...[...doc.body.childNodes]);
    const q = new URLSearchParams({ kind: $('#kind').value });
    if ($('#period').value.trim()) q.set('period', $('#period').value.trim());
    if ($('#subtree').checked) q.set('subtree', 'true');
    history.replaceState(null, '', `${location.pathname}?${q}`);
    status('');
  } catch (e) {
    $('#report').replaceChildren();
    status(e.message);
  }
}

async function downloadCsv() {
  try {
    const r = await fetchReport('csv');
    const name = /filename="([^"]+)"/.exec(r.headers.get('content-disposition') ?? '')?.[1]
      ?? `hallq-${hall}.csv`;
    const url = URL.createObjectURL(await r.blob());
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (e) {
    status(e.message);
  }
}

$('#kind').value = ['daily', 'weekly', 'monthly', 'quarterly'].includes(params.get('kind'))
  ? params.get('kind') : 'monthly';
$('#period').value = params.get('period') ?? '';
$('#subtree').checked = params.get('subtree') === 'true';
$('#controls').addEventListener('submit', (e) => { e.preventDefault(); show(); });
$('#print').addEventListener('click', () => window.print());
$('#csv').addEventListener('click', downloadCsv);
show();
