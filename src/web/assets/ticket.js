// The citizen's ticket page (/t/{hall}/{ticket}?k=…), opened from the QR code on the
// printed ticket. No token: the link's key `k` lets it read this one ticket and the hall's
// calls. Position and estimated wait update live; when the ticket is called the page says
// where to go, vibrates and (once sound is enabled with a tap) chimes.

import { applyI18n, langButton, onLang, t } from './i18n.js';
import {
  $, Stream, clock, dateTime, el, indicator, minutes, params, route, setTimeZone,
} from './common.js';
import { Announcer } from './speech.js';

const [hall, ticketId] = route;
const k = params.get('k') ?? '';
const enc = encodeURIComponent;

const view = { ticket: null, hallName: '', calls: [], problem: null };
const announcer = new Announcer({ repeat: 0 });

function alertCitizen() {
  navigator.vibrate?.([400, 200, 400, 200, 400]);
  if (announcer.audio) announcer.enqueue({ number: view.ticket.number, announcement: '' });
}

function applyTicket(data) {
  const before = view.ticket;
  view.hallName = data.hall_name;
  setTimeZone(data.time_zone);
  view.ticket = data;
  view.problem = null;
  if (data.recent_calls) view.calls = data.recent_calls;
  const calledNow = data.status === 'called'
    && (!before || before.status !== 'called' || before.call_count < data.call_count);
  if (calledNow && before) alertCitizen();
}

function applyCall(call) {
  view.calls = [call, ...view.calls.filter((c) => c.number !== call.number)].slice(0, 10);
}

function callout() {
  const tk = view.ticket;
  if (view.problem) return ['bad', t(view.problem)];
  if (!tk) return null;
  const where = { window: tk.window_name ?? '', n: tk.call_count };
  switch (tk.status) {
    case 'called':
      return ['called', tk.call_count > 1 ? t('ticket.recalled', where) : t('ticket.called', where)];
    case 'serving': return ['info', t('ticket.serving', where)];
    case 'done': return ['info', t('ticket.done')];
    case 'no_show': return ['bad', t('ticket.no_show')];
    case 'parked': return ['info', t('ticket.parked')];
    case 'cancelled': return ['bad', t('ticket.cancelled')];
    case 'expired': return ['bad', t('ticket.expired')];
    case 'booked': return ['info', t('ticket.booked')];
    default: return null;
  }
}

// The rating (好差评): offered once the service is done and until the citizen has rated.
const rating = { sent: null, error: null };

async function rate(n) {
  rating.error = null;
  const r = await fetch(`/v1/halls/${enc(hall)}/tickets/${enc(ticketId)}/rating?k=${enc(k)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ rating: n }),
  }).catch(() => null);
  if (r?.ok) rating.sent = n;
  else {
    const p = r ? await r.json().catch(() => ({})) : {};
    rating.error = p.detail ?? t('rate.failed');
  }
  render();
}

function renderRating(tk) {
  const rated = rating.sent ?? tk?.evaluation;
  $('#rate').hidden = !tk || tk.status !== 'done';
  $('#rate-buttons').hidden = Boolean(rated);
  $('#rate-buttons').replaceChildren(...[5, 4, 3, 2, 1].map((n) => el('button', {
    type: 'button', class: `rate-${n}`, 'data-rating': String(n), text: t(`counter.rating.${n}`),
    onclick: () => rate(n),
  })));
  $('#rate-note').textContent = rated ? t('rate.thanks', { r: t(`counter.rating.${rated}`) })
    : rating.error ?? t('rate.ask');
}

function render() {
  const tk = view.ticket;
  renderRating(tk);
  $('#hall-name').textContent = view.hallName || hall;
  const c = callout();
  const box = $('#callout');
  box.hidden = !c;
  if (c) {
    box.className = `callout ${c[0]}`;
    box.textContent = c[1];
  }
  $('#my-ticket').hidden = !tk;
  if (tk) {
    document.title = `${tk.number} · ${view.hallName}`;
    $('#service').textContent = tk.service_name;
    $('#number').textContent = tk.number;
    $('#status').textContent = t(`status.${tk.status}`);
    const waiting = tk.status === 'waiting';
    // An appointment checked in early has no place in line until it becomes callable.
    const early = waiting && tk.position === 0 && tk.callable_at;
    $('#ahead').hidden = !waiting || tk.position <= 1;
    $('#ahead-n').textContent = String(Math.max(0, tk.position - 1));
    $('#eta').textContent = !waiting ? ''
      : early ? t('ticket.callable_at', { time: clock(tk.callable_at) })
        : tk.position <= 1 ? t('ticket.next') : t('ticket.eta', { n: minutes(tk.estimated_wait_s) });
    $('#time').textContent = t('ticket.taken_at', { t: dateTime(tk.issued_at) });
  }
  $('#recent').replaceChildren(...view.calls.slice(0, 5).map((call) => el('li', {
    class: tk && call.number === tk.number ? 'mine' : null,
  },
  el('span', { class: 'num', text: call.number }),
  el('span', { text: call.window_name }))));
}

applyI18n();
langButton($('#lang'));
onLang(render);
const showConn = indicator($('#conn'));
onLang(() => showConn());

$('#sound').addEventListener('click', () => {
  announcer.unlock();
  $('#sound').hidden = true;
});

const stream = new Stream({
  url: () => `/v1/halls/${enc(hall)}/tickets/${enc(ticketId)}/public/events?k=${enc(k)}`,
  onState: showConn,
  onEvent: (kind, data) => {
    if (kind === 'ticket') applyTicket(data);
    else if (kind === 'call') applyCall(data);
    render();
  },
  onRefused: (status) => {
    view.problem = status === 404 ? 'ticket.unknown' : 'ticket.invalid';
    render();
  },
});

window.hallqTicket = { view, stream };
render();
stream.run();
