// Kiosk (/kiosk/{hall}): the touch screen at the door. One large button per service, a
// priority (green channel) option, check-in for booked citizens (预约签到, by booking code or
// ID number), and a printable ticket with a QR code to the citizen's live ticket page.
//
// URL parameters: print (0 to skip the print dialog; run Chrome with --kiosk-printing to
// print silently), base (the address citizens' phones reach the daemon at, for the QR code;
// default this page's origin), back (seconds before the ticket view closes, default 20).

import { applyI18n, langButton, onLang, t } from './i18n.js';
import {
  $, Api, ApiError, Stream, clock, closedNotice, dateTime, el, indicator, minutes, numParam, param,
  promptToken, route, setTimeZone, storedToken, toast,
} from './common.js';

const hall = route[0];
const KIND = 'kiosk';
let token = storedToken(KIND);
const api = new Api(() => token);
const hallPath = `/v1/halls/${encodeURIComponent(hall)}`;
const printing = param('print', '1') !== '0';
const base = param('base', location.origin);
const backAfter = numParam('back', 20, 3, 600) * 1000;

const view = { snapshot: null, priority: false, issuing: false };

function render() {
  const s = view.snapshot;
  if (!s) return;
  setTimeZone(s.time_zone);
  $('#hall-name').textContent = s.name;
  document.title = `${s.name} · ${t('kiosk.title')}`;
  // Closed: say why and when it opens, and take no numbers (the daemon would refuse them).
  const closed = renderClosed();
  $('#services').replaceChildren(...s.services.map((svc) => el('li', {},
    el('button', {
      type: 'button',
      class: 'service-button',
      dataset: { service: svc.id },
      disabled: view.issuing || Boolean(closed),
      onclick: () => issue(svc.id),
    },
    el('span', { class: 'prefix', 'aria-hidden': 'true', text: svc.prefix }),
    el('span', { class: 'name', text: svc.name }),
    el('span', {
      class: 'load',
      text: `${t('kiosk.waiting', { n: svc.waiting })} · ${t('kiosk.eta', { n: minutes(svc.estimated_wait_s) })}`,
    }),
    el('span', { class: 'go', 'aria-hidden': 'true', text: '›' })))));
  $('#priority').setAttribute('aria-pressed', String(view.priority));
}

/** The closed notice; returns it (null while open). */
function renderClosed() {
  const closed = closedNotice(view.snapshot?.schedule);
  const note = $('#note');
  note.classList.toggle('closed', Boolean(closed));
  if (closed) note.textContent = t('kiosk.closed_notice', closed);
  else if (!view.issuing) note.textContent = '';
  return closed;
}

let reading = null;
async function reload() {
  reading ??= api.get(hallPath)
    .then((s) => { view.snapshot = s; render(); })
    .catch(failed)
    .finally(() => { reading = null; });
  return reading;
}
let reloadTimer = null;
function scheduleReload() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(reload, 1500);
}

let prompting = null;
async function failed(e) {
  if (e instanceof ApiError && e.status === 401) {
    prompting ??= promptToken(KIND, e.message).then((tok) => { token = tok; prompting = null; stream.kick(); reload(); });
    return prompting;
  }
  // The refusals a citizen can meet, in the page's language; others as the API says them.
  if (e.code === 'hall-closed') {
    const closed = closedNotice({ open_now: false, ...e.problem });
    toast(t('kiosk.closed_notice', closed), 'error');
    reload();
    return null;
  }
  const known = { 'daily-cap-reached': 'kiosk.full', 'numbers-exhausted': 'kiosk.full' };
  toast(known[e.code] ? t(known[e.code]) : e.message || String(e), 'error');
  return null;
}

let backTimer = null;

async function issue(service) {
  if (view.issuing) return;
  view.issuing = true;
  render();
  $('#note').textContent = t('kiosk.issuing');
  try {
    const ticket = await api.post(`${hallPath}/tickets`, {
      service, class: view.priority ? 'priority' : 'normal',
    });
    let link = null;
    try {
      link = await api.get(`${hallPath}/tickets/${encodeURIComponent(ticket.id)}/link?base=${encodeURIComponent(base)}`);
    } catch (e) {
      console.warn('hallq: no ticket link:', e.message);
    }
    showTicket(ticket, link);
  } catch (e) {
    await failed(e);
  } finally {
    view.issuing = false;
    view.priority = false;
    render();
    reload();
  }
}

/** 预约签到: a booking code (8 letters and digits) or an ID number (15 or 18 characters). */
async function checkIn(ev) {
  ev.preventDefault();
  const input = $('#checkin-input');
  const v = input.value.trim().toUpperCase();
  if (!v) return;
  input.value = '';
  $('#checkin-form').hidden = true;
  try {
    const r = v.length >= 15
      ? await api.post(`${hallPath}/bookings/check-in`, { id_number: v })
      : await api.post(`${hallPath}/bookings/${encodeURIComponent(v)}/check-in`, {});
    let link = null;
    try {
      link = await api.get(`${hallPath}/tickets/${encodeURIComponent(r.ticket.id)}/link?base=${encodeURIComponent(base)}`);
    } catch (e) {
      console.warn('hallq: no ticket link:', e.message);
    }
    showTicket(r.ticket, link);
    if (r.booking.late) toast(t('kiosk.checkin_late'), 'info');
  } catch (e) {
    await failed(e);
  } finally {
    reload();
  }
}

function showTicket(ticket, link) {
  const s = view.snapshot;
  $('#slip-hall').textContent = s?.name ?? hall;
  $('#slip-service').textContent = ticket.service_name;
  $('#slip-number').textContent = ticket.number;
  const cls = $('#slip-class');
  cls.hidden = ticket.class === 'normal';
  cls.textContent = t(`class.${ticket.class}`);
  $('#slip-position').textContent = ticket.position <= 1
    ? t('kiosk.position0')
    : t('kiosk.position', { n: ticket.position - 1 });
  $('#slip-eta').textContent = t('kiosk.eta_long', { n: minutes(ticket.estimated_wait_s) });
  $('#slip-time').textContent = t('kiosk.taken_at', { t: dateTime(ticket.issued_at) });
  const qr = $('#slip-qr');
  if (link) {
    qr.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(link.qr_svg)}`;
    qr.alt = link.url;
    qr.hidden = false;
    $('#slip').dataset.url = link.url;
  } else {
    qr.hidden = true;
  }
  $('#slip').dataset.ticket = ticket.id;
  $('#ticket-view').hidden = false;
  $('#done').focus();
  if (printing) setTimeout(() => window.print(), 100);
  clearTimeout(backTimer);
  backTimer = setTimeout(closeTicket, backAfter);
}

function closeTicket() {
  clearTimeout(backTimer);
  $('#ticket-view').hidden = true;
  document.querySelector('.service-button')?.focus();
}

applyI18n();
langButton($('#lang'));
onLang(render);
const showConn = indicator($('#conn'));
onLang(() => showConn());

$('#priority').addEventListener('click', () => {
  view.priority = !view.priority;
  render();
});
$('#done').addEventListener('click', closeTicket);
$('#checkin').addEventListener('click', () => {
  $('#checkin-form').hidden = false;
  $('#checkin-input').focus();
});
$('#checkin-cancel').addEventListener('click', () => { $('#checkin-form').hidden = true; });
$('#checkin-form').addEventListener('submit', checkIn);
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && !$('#ticket-view').hidden) closeTicket();
});

// The closed notice says 今天 / 明天: it is rewritten as the clock moves.
const tick = () => {
  $('#clock').textContent = clock();
  if (view.snapshot && !view.snapshot.open_now) renderClosed();
};
tick();
setInterval(tick, 1000);

const stream = new Stream({
  url: () => `${hallPath}/events`,
  headers: () => (token ? { Authorization: `Bearer ${token}` } : {}),
  onState: showConn,
  onEvent: (kind, data) => {
    if (kind === 'snapshot') {
      view.snapshot = data;
      render();
      return;
    }
    if (kind === 'schedule_changed' && view.snapshot) {
      view.snapshot.schedule = data.schedule;
      view.snapshot.open_now = data.schedule.open_now;
    }
    // Waiting counts move at once; estimated waits follow with the next read.
    for (const q of data.queues ?? []) {
      const svc = view.snapshot?.services.find((x) => x.id === q.service);
      if (svc) svc.waiting = q.waiting;
    }
    render();
    scheduleReload();
  },
  onRefused: (status, problem) => {
    if (status === 401) failed(new ApiError(status, problem));
  },
});

window.hallqKiosk = { view, stream };

(async () => {
  if (!token) token = await promptToken(KIND);
  stream.run();
})();
