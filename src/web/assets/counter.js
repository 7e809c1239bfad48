// Counter console (/counter/{hall}/{window}): one window's officer terminal.
//
// Every action is one request to the counter API (`POST …/windows/{window}/{action}`);
// the console's view (the window, the tickets it may call, tickets it parked or marked
// no-show) is re-read after each action and whenever the hall's stream reports a change, so
// two consoles on one window, or a supervisor's action, never leave it showing stale state.

import { applyI18n, has, langButton, onLang, t } from './i18n.js';
import {
  $, Api, ApiError, Stream, clock, el, indicator, loadRoster, officerPlate, promptToken, route,
  setTimeZone, storedToken, toast,
} from './common.js';

const [hall, windowId] = route;
const KIND = 'counter';
let token = storedToken(KIND);
const api = new Api(() => token);
const enc = encodeURIComponent;
const hallPath = `/v1/halls/${enc(hall)}`;
const winPath = `${hallPath}/windows/${enc(windowId)}`;

/** The officers roster for the 公示牌 (name → staff number and photo). */
let roster = new Map();

const view = {
  hallName: '',
  businessDay: null, // 'YYYY-MM-DD', to turn a typed number into a ticket id
  services: [], // [{id, name}]
  win: null, // WindowView
  queue: [], // TicketView[] this window may call, in its order
  held: [], // parked or no-show tickets last at this window
  busy: false,
};

// ------------------------------------------------------------------ reading

let refreshing = null;
let again = false;
let heldStale = true;
const HELD_KINDS = new Set(['snapshot', 'parked', 'no_show', 'returned', 'reactivated', 'cancelled', 'day_opened']);

/** Re-read the window, its queue and its held tickets; coalesces overlapping requests. */
async function refresh() {
  if (refreshing) { again = true; return refreshing; }
  refreshing = (async () => {
    do {
      again = false;
      try {
        // The hall's ticket list is the one costly read; it is re-read only when a ticket
        // may have been parked, marked no-show or brought back.
        const held = heldStale;
        heldStale = false;
        const [win, queue, parked, noShow] = await Promise.all([
          api.get(winPath),
          api.get(`${winPath}/queue`),
          held ? api.get(`${hallPath}/tickets?status=parked`) : null,
          held ? api.get(`${hallPath}/tickets?status=no_show`) : null,
        ]);
        view.win = win;
        view.queue = queue;
        if (held) view.held = [...parked, ...noShow].filter((tk) => tk.window === windowId);
        render();
      } catch (e) {
        heldStale = true;
        await failed(e);
      }
    } while (again);
  })();
  try { await refreshing; } finally { refreshing = null; }
}

let refreshTimer = null;
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 120);
}

/** 预约: today's booked arrivals (masked), re-read when a booking changes. */
let arrivalsReading = null;
async function loadArrivals() {
  if (!view.businessDay) return;
  arrivalsReading ??= api.get(`${hallPath}/bookings?date=${view.businessDay}`)
    .then((list) => {
      const name = (id) => view.services.find((s) => s.id === id)?.name ?? id;
      $('#arrivals').replaceChildren(...(list.length ? list.map((b) => el('li', {
        dataset: { code: b.code, status: b.status },
      },
      el('span', { class: 'time', text: clock(b.start) }),
      el('span', { class: 'code', text: b.code }),
      el('span', { text: `${name(b.service)} · ${b.citizen.name ?? b.citizen.id_number}` }),
      el('span', { text: has(`status.${b.status}`) ? t(`status.${b.status}`) : b.status }))) : [
        el('li', { text: t('counter.arrivals_none') }),
      ]));
      $('#arrivals-box').hidden = false;
    })
    // A hall that books nothing has no arrivals to show.
    .catch(() => { $('#arrivals-box').hidden = true; })
    .finally(() => { arrivalsReading = null; });
  return arrivalsReading;
}

// ------------------------------------------------------------------ acting

let prompting = null;
async function failed(e) {
  if (e instanceof ApiError && e.status === 401) {
    prompting ??= promptToken(KIND, e.message).then((tok) => { token = tok; prompting = null; stream.kick(); });
    await prompting;
    return;
  }
  // The engine's refusals in the console's language; the API's own words otherwise.
  const key = `error.${e.code}`;
  toast(e.code && has(key) ? t(key) : e.message || String(e), 'error');
}

const ACTION_NAMES = {
  call: 'counter.call_next', recall: 'counter.recall', start: 'counter.start', complete: 'counter.complete',
  'no-show': 'counter.no_show', transfer: 'counter.transfer', park: 'counter.park', release: 'counter.release',
  pause: 'counter.pause', open: 'counter.open', close: 'counter.close', 'sign-in': 'counter.sign_in',
  'sign-out': 'counter.sign_out', return: 'counter.return', reactivate: 'counter.reactivate',
};

async function act(path, body, label, number) {
  if (view.busy) return;
  view.busy = true;
  renderButtons();
  try {
    const r = await api.post(path, body);
    if (r === null && label === 'call') toast(t('counter.nobody_waiting'));
    else toast(t('counter.done', { action: t(ACTION_NAMES[label] ?? label), number: r?.number ?? number ?? '' }));
  } catch (e) {
    await failed(e);
  } finally {
    view.busy = false;
    await refresh();
  }
}

const windowAction = (action, body) => act(`${winPath}/${action}`, body, action, view.win?.current?.number);

const current = () => view.win?.current ?? null;
const busyWithCitizen = () => ['called', 'serving'].includes(current()?.status);

/** Show a modal dialog; resolves with the value of the button that closed it. The button
 * marked `autofocus` has the focus from the first moment, so Enter answers it at once. */
function ask(dialog, setup) {
  return new Promise((resolve) => {
    setup?.(dialog);
    dialog.returnValue = 'cancel';
    dialog.addEventListener('close', () => resolve(dialog.returnValue), { once: true });
    dialog.showModal();
  });
}

async function callNext() {
  if (busyWithCitizen()) {
    const answer = await ask($('#dlg-next'), () => {
      $('#dlg-next-body').textContent = t('counter.confirm_next.body', { number: current().number });
    });
    if (answer !== 'ok') return;
  }
  await windowAction('call');
}

async function complete() {
  if (!current()) return;
  const answer = await ask($('#dlg-complete'), () => {
    $('#dlg-complete-h').textContent = t('counter.complete.title', { number: current().number });
  });
  if (answer === 'cancel' || !answer) return;
  await windowAction('complete', answer === 'skip' ? {} : { evaluation: Number(answer) });
}

async function transfer() {
  const cur = current();
  if (!cur) return;
  const answer = await ask($('#dlg-transfer'), () => {
    $('#dlg-transfer-h').textContent = t('counter.transfer.title', { number: cur.number });
    $('#transfer-service').replaceChildren(...view.services
      .filter((s) => s.id !== cur.service)
      .map((s) => el('option', { value: s.id, text: s.name })));
  });
  if (answer !== 'ok') return;
  const body = { service: $('#transfer-service').value };
  const placement = $('#transfer-placement').value;
  if (placement) body.placement = placement;
  await windowAction('transfer', body);
}

async function pause() {
  const answer = await ask($('#dlg-pause'), () => {
    $('#pause-reasons').replaceChildren(...['break', 'meeting', 'system', 'other']
      .map((r) => el('option', { value: t(`counter.reason.${r}`) })));
    $('#pause-reason').value = '';
  });
  const reason = $('#pause-reason').value.trim();
  if (answer !== 'ok' || !reason) return;
  await windowAction('pause', { reason });
}

async function open() {
  const officer = $('#officer').value.trim();
  const nobody = !view.win?.officers?.some(Boolean);
  await windowAction('open', officer && nobody ? { post: $('#post').value, officer } : {});
}

/** A typed number (A5, a005, A005) or a full ticket id, as today's ticket id. */
function ticketId(typed) {
  const s = typed.trim().toUpperCase();
  if (/^\d{8}-/.test(s)) return s;
  const m = /^([A-Z]+)0*(\d+)$/.exec(s);
  if (!m || !view.businessDay) return null;
  // Pad to the width today's numbers use (taken from any known ticket of that prefix).
  const known = [...view.queue, ...view.held, current()].find((tk) => tk?.number?.startsWith(m[1]));
  const width = known ? known.number.length - m[1].length : 3;
  return `${view.businessDay.replaceAll('-', '')}-${m[1]}${m[2].padStart(width, '0')}`;
}

async function callTicket(id, number) {
  await act(`${winPath}/call/${enc(id)}`, undefined, 'call', number);
}

const ACTIONS = {
  call: callNext,
  recall: () => windowAction('recall'),
  start: () => windowAction('start'),
  complete,
  'no-show': () => windowAction('no-show'),
  transfer,
  park: () => windowAction('park'),
  release: () => windowAction('release'),
  pause,
  open,
  close: () => windowAction('close'),
  goto: () => $('#call-input').focus(),
};

// ------------------------------------------------------------------ rendering

function waitedMinutes(tk) {
  return Math.max(0, Math.floor((Date.now() - Date.parse(tk.issued_at)) / 60000));
}

function classTag(tk) {
  return tk.class === 'normal' ? null : el('span', { class: `tag ${tk.class}`, text: t(`class.${tk.class}`) });
}

function renderButtons() {
  const w = view.win;
  const st = w?.state ?? 'closed';
  const has = Boolean(w?.current);
  const enabled = {
    call: st !== 'closed' && st !== 'paused',
    recall: has && w.current.status === 'called',
    start: has && w.current.status === 'called',
    complete: has,
    'no-show': has && w.current.status === 'called',
    transfer: has,
    park: has,
    release: has,
    // The engine pauses and closes only an idle window.
    pause: (st === 'open' || st === 'paused') && !has,
    open: st === 'closed' || st === 'paused',
    close: (st === 'open' || st === 'paused') && !has,
  };
  for (const b of document.querySelectorAll('#actions button')) {
    b.disabled = view.busy || !enabled[b.dataset.action];
  }
  for (const b of document.querySelectorAll('#queue button, #held button, #call-number button')) {
    b.disabled = view.busy;
  }
}

function render() {
  const w = view.win;
  if (!w) return;
  $('#window-name').textContent = w.name;
  $('#hall-name').textContent = view.hallName;
  document.title = `${w.name} · ${view.hallName || hall}`;
  const ws = $('#wstate');
  ws.dataset.state = w.state;
  ws.textContent = w.state === 'paused' && w.pause_reason ? `${t('wstate.paused')} · ${w.pause_reason}` : t(`wstate.${w.state}`);

  const cur = w.current;
  $('#current').replaceChildren(...(cur ? [
    el('span', { class: 'number', text: cur.number }),
    el('div', { class: 'meta' },
      el('span', {}, el('strong', { text: cur.service_name }), ' ', classTag(cur)),
      el('span', { text: `${t(`status.${cur.status}`)} · ${t('counter.calls', { n: cur.call_count })}` }),
      el('span', { text: `${clock(cur.called_at)}${cur.started_at ? ` – ${clock(cur.started_at)}` : ''}` })),
  ] : [el('span', { class: 'none', text: t('counter.nobody') })]));

  const officers = w.officers ?? [null, null];
  $('#who').textContent = t('counter.officers', { a: officers[0] ?? t('common.none'), b: officers[1] ?? t('common.none') });
  const plate = officerPlate(officers, w.away, roster, t);
  $('#plate').replaceChildren(...(plate ? [plate] : []));

  $('#queue').replaceChildren(...(view.queue.length ? view.queue.map((tk) => el('tr', { dataset: { ticket: tk.id } },
    el('td', { class: 'num', text: tk.number }),
    el('td', {}, tk.service_name, ' ', classTag(tk)),
    // An appointment checked in early is listed after the callable tickets, with the time
    // it becomes callable; one moved to the normal lane says so.
    el('td', {
      text: tk.position === 0 && tk.callable_at
        ? t('counter.callable_at', { time: clock(tk.callable_at) })
        : t('counter.position', { n: tk.position }),
      title: tk.reclassified ? t('counter.reclassified') : null,
    }),
    el('td', { text: t('counter.waited', { n: waitedMinutes(tk) }) }),
    el('td', {}, el('button', {
      type: 'button', text: t('counter.call'), 'aria-label': `${t('counter.call')} ${tk.number}`,
      onclick: () => callTicket(tk.id, tk.number),
    }))))
    : [el('tr', {}, el('td', { class: 'empty', colspan: 5, text: t('counter.queue_empty') }))]));

  $('#held-box').hidden = view.held.length === 0;
  $('#held').replaceChildren(...view.held.map((tk) => {
    const action = tk.status === 'parked' ? 'return' : 'reactivate';
    return el('tr', { dataset: { ticket: tk.id } },
      el('td', { class: 'num', text: tk.number }),
      el('td', { text: tk.service_name }),
      el('td', { text: t(`status.${tk.status}`) }),
      el('td', {}, el('button', {
        type: 'button', text: t(`counter.${action}`),
        onclick: () => act(`${hallPath}/tickets/${enc(tk.id)}/${action}`, undefined, action, tk.number),
      })));
  }));
  renderButtons();
}

// ------------------------------------------------------------------ wiring

applyI18n();
langButton($('#lang'));
onLang(render);
const showConn = indicator($('#conn'));
onLang(() => showConn());

for (const b of document.querySelectorAll('#actions button')) {
  b.addEventListener('click', () => ACTIONS[b.dataset.action]());
}

$('#call-number').addEventListener('submit', (e) => {
  e.preventDefault();
  const typed = $('#call-input').value;
  const id = ticketId(typed);
  if (!id) { toast(`${t('counter.call_number')}: ${typed}?`, 'error'); return; }
  $('#call-input').value = '';
  $('#call-input').blur();
  callTicket(id, typed.toUpperCase());
});

$('#officers').addEventListener('submit', (e) => {
  e.preventDefault();
  const officer = $('#officer').value.trim();
  if (!officer) { $('#officer').focus(); return; }
  windowAction('sign-in', { post: $('#post').value, officer });
});
$('#sign-out').addEventListener('click', () => windowAction('sign-out', { post: $('#post').value }));

// Ratings by digit while the completion dialog is open.
$('#dlg-complete').addEventListener('keydown', (e) => {
  if (/^[1-5]$/.test(e.key)) {
    e.preventDefault();
    $('#dlg-complete').close(e.key);
  }
});

const KEYS = {
  F1: 'call', F2: 'recall', F3: 'start', F4: 'complete',
  r: 'recall', s: 'start', c: 'complete', n: 'no-show', t: 'transfer', p: 'park',
  z: 'pause', o: 'open', x: 'close', g: 'goto',
};

document.addEventListener('keydown', (e) => {
  if (document.querySelector('dialog[open]') || e.ctrlKey || e.metaKey || e.altKey) return;
  const target = e.target;
  if (target instanceof HTMLInputElement || target instanceof HTMLSelectElement) {
    if (e.key === 'Escape') target.blur();
    if (e.key !== 'F1') return;
  }
  let action = KEYS[e.key.length === 1 ? e.key.toLowerCase() : e.key];
  // Space calls the next citizen unless it would press a focused button.
  if (e.key === ' ' && !(target instanceof HTMLButtonElement)) action = 'call';
  if (!action) return;
  e.preventDefault();
  const button = document.querySelector(`#actions button[data-action="${action}"]`);
  if (button?.disabled) return;
  ACTIONS[action]();
});

// The waited minutes move on by themselves.
setInterval(() => { if (!document.querySelector('dialog[open]')) render(); }, 30000);

const stream = new Stream({
  url: () => `${hallPath}/events`,
  headers: () => (token ? { Authorization: `Bearer ${token}` } : {}),
  onState: (s) => {
    showConn(s);
    // After any gap, what the stream resumes with may not cover what the console shows.
    if (s === 'live') { heldStale = true; scheduleRefresh(); }
  },
  onEvent: (kind, data) => {
    if (kind === 'snapshot') {
      view.hallName = data.name;
      setTimeZone(data.time_zone);
      view.businessDay = data.business_day;
      view.services = data.services.map((s) => ({ id: s.id, name: s.name }));
    } else if (kind === 'day_opened') {
      view.businessDay = data.date;
    }
    if (HELD_KINDS.has(kind)) heldStale = true;
    if (kind === 'snapshot' || kind === 'booking' || kind === 'day_opened') loadArrivals();
    scheduleRefresh();
  },
  onRefused: (status, problem) => {
    if (status === 401) failed(new ApiError(status, problem));
  },
});

window.hallqCounter = { view, stream };

(async () => {
  if (!token) token = await promptToken(KIND);
  roster = await loadRoster();
  stream.run();
  refresh();
})();
