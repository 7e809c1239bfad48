// Public progress board (/progress/{hall}, 政务公开): the hall's cases scrolling on a screen —
// matter, masked applicant, stage, due date and state — kept from the case stream alone
// (`/v1/case-events?hall=…`, replayed from its retained log on first connect, resumed with
// Last-Event-ID after), never by polling. Shows only what the stream carries: the applicant
// as the case holds them (masked); case ids are shown as the business system gave them.
//
// URL parameters: rows (cases shown at once, default 12), scroll (seconds per page when
// there are more, default 8), lang (zh or en).

import { applyI18n, langButton, onLang, t } from './i18n.js';
import {
  perFrame,
  $, Api, Stream, clock, dateTime, el, indicator, numParam, promptToken, route, setTimeZone, storedToken,
} from './common.js';

const hall = route[0];
const KIND = 'display';
let token = storedToken(KIND);
const rows = numParam('rows', 12, 3, 50);
const scrollMs = numParam('scroll', 8, 2, 120) * 1000;

/** case id → {id, matter, applicant, stage, due, state, changed}: the newest change first. */
const cases = new Map();
let page = 0;

function upsert(id, fields) {
  const c = cases.get(id) ?? { id };
  Object.assign(c, fields, { changed: Date.now() });
  cases.delete(id);
  cases.set(id, c);
  return c;
}

function fromView(v, at) {
  upsert(v.id, {
    matter: v.matter_name,
    applicant: v.applicant?.name_masked ?? v.applicant?.contact_masked ?? '',
    stage: v.stage,
    due: v.deadline,
    state: v.state,
    at,
  });
}

/** Changes to a case the board already shows; an unknown case's later events are skipped. */
function known(id, fields) {
  if (cases.has(id)) upsert(id, fields);
}

function applyEvent(kind, e) {
  switch (kind) {
    case 'accepted':
    case 'submitted':
      if (e.case.hall === hall) fromView(e.case, e.at);
      break;
    case 'accepted_online':
      known(e.case, { stage: 'single', state: 'open' });
      break;
    case 'suspended':
      known(e.case, { state: 'suspended', due: null });
      break;
    case 'resumed':
      known(e.case, { state: 'open' });
      break;
    case 'deadline_changed':
      known(e.case, { due: e.deadline });
      break;
    case 'forwarded':
      known(e.case, { stage: 'upper' });
      break;
    case 'handed':
      known(e.case, { stage: 'routed', hall: e.to });
      break;
    case 'obligation_overdue':
      known(e.case, { state: e.state });
      break;
    case 'outcome': {
      const r = e.outcome.result;
      if (r === 'not_accepted' || r === 'revoked') known(e.case, { state: r, due: null });
      else known(e.case, { stage: 'delivery', outcome: r });
      break;
    }
    case 'completed':
      known(e.case, { state: 'completed', due: null });
      break;
    case 'withdrawn':
      known(e.case, { state: 'withdrawn', due: null });
      break;
    default:
      break;
  }
}

function label(kind, v) {
  if (v === undefined || v === null || v === '') return '—';
  const s = t(`${kind}.${v}`);
  return s === `${kind}.${v}` ? v : s;
}

function render() {
  const all = [...cases.values()].reverse();
  const pages = Math.max(1, Math.ceil(all.length / rows));
  page %= pages;
  const shown = all.slice(page * rows, page * rows + rows);
  $('#empty').hidden = all.length > 0;
  $('#cases').replaceChildren(...shown.map((c) => el('tr', {
    dataset: { case: c.id, state: c.state },
    class: `case-row state-${c.state}`,
  },
  el('td', { class: 'case-id', text: c.id }),
  el('td', { class: 'case-matter', text: c.matter ?? '' }),
  el('td', { class: 'case-applicant', text: c.applicant || '—' }),
  el('td', { class: 'case-stage', text: label('stage', c.stage) }),
  el('td', { class: 'case-due', text: c.due ? dateTime(c.due) : '—' }),
  el('td', { class: 'case-state', text: label('cstate', c.state) }))));
}

const scheduleRender = perFrame(render);

applyI18n();
langButton($('#lang'));
onLang(scheduleRender);
const showConn = indicator($('#conn'));
onLang(() => showConn());

setInterval(() => { $('#clock').textContent = clock(); }, 1000);
$('#clock').textContent = clock();
// More cases than fit: turn the page now and then (滚动公示).
setInterval(() => {
  if (cases.size > rows) { page += 1; scheduleRender(); }
}, scrollMs);

let prompting = false;
const stream = new Stream({
  // First connect: the retained log from its start; reconnects send Last-Event-ID instead.
  url: () => `/v1/case-events?hall=${encodeURIComponent(hall)}${stream.lastId === null ? '&last_event_id=0' : ''}`,
  headers: () => (token ? { Authorization: `Bearer ${token}` } : {}),
  onState: (s) => { document.body.dataset.conn = s; showConn(s); },
  onEvent: (kind, data) => { applyEvent(kind, data); scheduleRender(); },
  onRefused: async (status, problem) => {
    if (status === 404 || prompting) return;
    prompting = true;
    token = await promptToken(KIND, problem?.detail);
    prompting = false;
    stream.kick();
  },
});

window.hallqProgress = { cases, stream };

(async () => {
  if (!token) token = await promptToken(KIND);
  const api = new Api(() => token);
  try {
    const h = await api.request('GET', `/v1/halls/${encodeURIComponent(hall)}`);
    setTimeZone(h.time_zone);
    $('#clock').textContent = clock();
    $('#hall-name').textContent = h.name;
    document.title = `${h.name} · ${t('progress.title')}`;
  } catch (e) {
    $('#hall-name').textContent = hall;
  }
  render();
  stream.run();
})();
