// Display board (/display/{hall}): the hall's TV. Follows the hall's event stream, keeps the
// board's state from snapshots and events alone (no polling, no second request per event),
// and announces every call through the Announcer's queue.
//
// URL parameters: repeat (times each announcement is spoken, default 2), chime (0 to turn it
// off), rate (speech rate, default 0.9), voice (part of a voice's name), calls (recent calls
// listed, default 8), stale (seconds: a call older than this when it arrives — replayed
// after a long outage — is shown but not spoken, default 120), lang (zh or en).

import { applyI18n, langButton, onLang, t } from './i18n.js';
import {
  perFrame,
  $, Stream, clock, closedNotice, el, indicator, loadRoster, numParam, officerPlate, param, postIndex,
  promptToken, route, setTimeZone, storedToken,
} from './common.js';
import { Announcer } from './speech.js';

const hall = route[0];
const KIND = 'display';
let token = storedToken(KIND);

const announcer = new Announcer({
  repeat: numParam('repeat', 2, 1, 5),
  chime: param('chime', '1') !== '0',
  rate: numParam('rate', 0.9, 0.5, 2),
  voice: param('voice', ''),
  onBlocked: () => { $('#sound').hidden = false; },
});
const shownCalls = numParam('calls', 8, 1, 20);
const staleMs = numParam('stale', 120, 0, 86400) * 1000;

/** The board's state: replaced by a snapshot, changed by events. */
const state = {
  roster: new Map(), // officer name → {staff_no, photo}: the 公示牌
  name: '',
  services: new Map(), // id → {name, prefix, waiting}
  windows: new Map(), // id → {name, state, current: {ticket, number} | null, pause_reason}
  calls: [], // newest first: {ticket, number, window, window_name, call_count, announcement, called_at}
  seq: 0,
  // The hall's schedule (open now, why closed, next opening), from the snapshot and
  // `schedule_changed` events.
  schedule: null,
  // Browser clock minus server clock, from the last snapshot, to tell a fresh call from a
  // replayed old one on a display whose clock is off.
  skew: 0,
  flashUntil: 0,
};

function applySnapshot(s) {
  state.name = s.name;
  state.seq = s.seq;
  setTimeZone(s.time_zone);
  state.skew = Date.now() - Date.parse(s.at);
  state.services = new Map(s.services.map((v) => [v.id, { name: v.name, prefix: v.prefix, waiting: v.waiting }]));
  state.windows = new Map(s.windows.map((w) => [w.id, {
    name: w.name,
    state: w.state,
    pause_reason: w.pause_reason ?? null,
    current: w.current ? { ticket: w.current.id, number: w.current.number } : null,
    officers: w.officers ?? [null, null],
    away: w.away ?? [null, null],
  }]));
  state.calls = s.recent_calls.map((c) => ({ ...c }));
  state.schedule = s.schedule ?? null;
}

function counts(queues) {
  for (const q of queues ?? []) {
    const s = state.services.get(q.service);
    if (s) s.waiting = q.waiting;
  }
}

function windowOf(id) {
  let w = state.windows.get(id);
  if (!w) {
    w = {
      name: id, state: 'open', current: null, pause_reason: null, officers: [null, null], away: [null, null],
    };
    state.windows.set(id, w);
  }
  return w;
}

/** Clear a window's current ticket if it is `ticket` (events about older tickets leave it). */
function release(windowId, ticket) {
  const w = windowOf(windowId);
  if (!w.current || w.current.ticket === ticket) {
    w.current = null;
    if (w.state === 'calling' || w.state === 'serving') w.state = 'open';
  }
}

function applyEvent(kind, e) {
  if (typeof e.seq === 'number') state.seq = e.seq;
  switch (kind) {
    case 'called': {
      const call = {
        ticket: e.ticket, number: e.number, window: e.window, window_name: e.window_name,
        call_count: e.call_count, announcement: e.announcement, called_at: e.called_at,
      };
      state.calls = [call, ...state.calls.filter((c) => c.ticket !== e.ticket)].slice(0, 20);
      const w = windowOf(e.window);
      w.name = e.window_name;
      w.state = 'calling';
      w.current = { ticket: e.ticket, number: e.number };
      counts(e.queues);
      const age = Date.now() - state.skew - Date.parse(e.called_at);
      if (!(age > staleMs)) {
        state.flashUntil = Date.now() + 8000;
        announcer.enqueue(call);
      }
      break;
    }
    case 'started': {
      const w = windowOf(e.window);
      w.state = 'serving';
      w.current = { ticket: e.ticket.id, number: e.ticket.number };
      break;
    }
    case 'completed':
    case 'no_show':
    case 'parked':
      release(e.window, e.ticket.id);
      break;
    case 'released':
    case 'transferred':
      release(e.window, e.ticket.id);
      counts(e.queues);
      break;
    case 'issued':
    case 'checked_in':
    case 'reactivated':
    case 'returned':
    case 'cancelled':
      counts(e.queues);
      break;
    case 'window_opened':
      windowOf(e.window).state = 'open';
      windowOf(e.window).pause_reason = null;
      break;
    case 'window_paused': {
      const w = windowOf(e.window);
      w.state = 'paused';
      w.pause_reason = e.reason;
      break;
    }
    case 'window_closed': {
      const w = windowOf(e.window);
      w.state = 'closed';
      w.current = null;
      break;
    }
    case 'schedule_changed':
      state.schedule = e.schedule;
      break;
    case 'officer_signed_in': {
      const w = windowOf(e.window);
      w.officers[postIndex(e.post)] = e.officer;
      w.away[postIndex(e.post)] = null;
      break;
    }
    case 'officer_signed_out': {
      const w = windowOf(e.window);
      w.officers[postIndex(e.post)] = null;
      w.away[postIndex(e.post)] = e.absence ?? null;
      break;
    }
    case 'day_opened':
      // Numbers restart, open tickets expired, windows closed (see the engine).
      for (const s of state.services.values()) s.waiting = 0;
      for (const w of state.windows.values()) {
        w.state = 'closed'; w.current = null; w.officers = [null, null]; w.away = [null, null];
      }
      state.calls = [];
      break;
    default:
      break;
  }
}

// ------------------------------------------------------------------ rendering

/** The closed banner: why the hall is closed and when it opens; hidden while open. */
function renderClosed() {
  const closed = closedNotice(state.schedule);
  $('#closed').hidden = !closed;
  document.body.classList.toggle('hall-closed', Boolean(closed));
  if (!closed) return;
  $('#closed-title').textContent = closed.title;
  $('#closed-why').textContent = closed.why;
  $('#closed-opens').textContent = closed.opens;
}

function render() {
  $('#hall-name').textContent = state.name || hall;
  renderClosed();
  document.title = `${state.name || hall} · ${t('display.recent')}`;

  const latest = state.calls[0];
  $('#latest-idle').hidden = Boolean(latest);
  $('#latest-call').hidden = !latest;
  if (latest) {
    $('#latest-number').textContent = latest.number;
    $('#latest-window').textContent = latest.window_name;
  }
  $('#latest').classList.toggle('flash', Date.now() < state.flashUntil);

  const recent = state.calls.slice(1, shownCalls);
  $('#recent').replaceChildren(...(recent.length
    ? recent.map((c) => el('li', { dataset: { ticket: c.ticket } },
      el('span', { class: 'num', text: c.number }),
      el('span', { class: 'arrow', 'aria-hidden': 'true', text: '→' }),
      el('span', { class: 'win', text: c.window_name })))
    : [el('li', { class: 'empty', text: latest ? '' : t('display.no_calls') })]));

  const open = [...state.windows.entries()].filter(([, w]) => w.state !== 'closed');
  $('#windows').replaceChildren(...open.map(([id, w]) => el('li', {
    class: `win-card state-${w.state}`, dataset: { window: id },
  },
  el('span', { class: 'win-name', text: w.name }),
  el('span', { class: 'win-number', text: w.current ? w.current.number : t('common.none') }),
  el('span', { class: 'win-state', text: w.state === 'paused' && w.pause_reason ? `${t('wstate.paused')} · ${w.pause_reason}` : t(`wstate.${w.state}`) }),
  officerPlate(w.officers, w.away, state.roster, t))));

  $('#queues').replaceChildren(...[...state.services.entries()].map(([id, s]) => el('li', { dataset: { service: id } },
    el('span', { class: 'svc-prefix', text: s.prefix }),
    el('span', { class: 'svc-name', text: s.name }),
    el('span', { class: 'svc-waiting', text: t('display.waiting_n', { n: s.waiting }) }))));
}

const scheduleRender = perFrame(render);

// ------------------------------------------------------------------ start

applyI18n();
langButton($('#lang'));
onLang(scheduleRender);
const showConn = indicator($('#conn'));
onLang(() => showConn());

function tick() {
  $('#clock').textContent = clock();
  // 今天 / 明天 in the closed banner follow the clock.
  if (state.schedule && !state.schedule.open_now) renderClosed();
  if (state.flashUntil && Date.now() >= state.flashUntil) {
    state.flashUntil = 0;
    scheduleRender();
  }
}
tick();
setInterval(tick, 1000);

// Browsers may refuse sound until someone has touched the page once.
const unlock = () => { announcer.unlock(); $('#sound').hidden = true; };
window.addEventListener('pointerdown', unlock);
window.addEventListener('keydown', unlock);

let prompting = false;
const stream = new Stream({
  url: () => `/v1/halls/${encodeURIComponent(hall)}/events`,
  headers: () => (token ? { Authorization: `Bearer ${token}` } : {}),
  onState: (s) => { document.body.dataset.conn = s; showConn(s); },
  onEvent: (kind, data) => {
    if (kind === 'snapshot') applySnapshot(data);
    else applyEvent(kind, data);
    scheduleRender();
  },
  // A display keeps retrying with the token it has (a restarted daemon may accept it
  // again); someone at a keyboard can enter a new one meanwhile.
  onRefused: async (status, problem) => {
    if (status === 404 || prompting) return;
    prompting = true;
    token = await promptToken(KIND, problem?.detail);
    prompting = false;
    stream.kick();
  },
});

// For diagnostics in the browser console: the board's state and the announcement queue.
window.hallqDisplay = { state, announcer, stream };

(async () => {
  if (!token) token = await promptToken(KIND);
  state.roster = await loadRoster();
  render();
  stream.run();
})();
