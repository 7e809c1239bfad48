// Citizen booking page (/book/{hall}): phone-sized. Pick a service, a day and a slot with
// seats left, give the ID number and phone, and get the booking code and its QR code to show
// at the hall's kiosk. The page holds the portal's `booking` token (URL fragment once, then
// localStorage); the ID number and phone go to the daemon, which keeps only a keyed hash and
// masked forms, and are never stored by the page.

import { applyI18n, langButton, onLang, t } from './i18n.js';
import { $, Api, ApiError, clock, el, promptToken, route, setTimeZone, storedToken } from './common.js';

const hall = route[0];
const KIND = 'booking';
let token = storedToken(KIND);
const api = new Api(() => token);
const hallPath = `/v1/halls/${encodeURIComponent(hall)}`;

const view = { offer: null, service: null, day: null, slot: null, slots: [] };

function choice(group, value, label, selected, onpick, disabled = false, sub = null) {
  return el('button', {
    type: 'button', role: 'radio', class: 'choice',
    'aria-checked': String(selected), disabled,
    dataset: { [group]: value },
    onclick: onpick,
  }, el('span', { text: label }), sub ? el('small', { text: sub }) : null);
}

function dayLabel(d) {
  const date = new Date(`${d}T12:00:00Z`);
  const wd = t(`booking.weekday.${date.getUTCDay()}`);
  return `${d.slice(5).replace('-', '/')} ${wd}`;
}

function render() {
  const o = view.offer;
  if (!o) return;
  setTimeZone(o.time_zone);
  $('#hall-name').textContent = o.hall_name;
  document.title = `${o.hall_name} · ${t('booking.title')}`;
  $('#services').replaceChildren(...o.services.map((s) => choice('service', s.service, s.name,
    view.service === s.service, () => pickService(s.service))));
  const svc = o.services.find((s) => s.service === view.service);
  $('#days').replaceChildren(...(svc?.dates ?? []).map((d) => choice('day', d, dayLabel(d),
    view.day === d, () => pickDay(d))));
  $('#slots').replaceChildren(...view.slots.map((s) => choice('slot', s.start, clock(s.start),
    view.slot === s.start, () => { view.slot = s.start; render(); }, !s.bookable,
    s.bookable ? t('booking.left', { n: s.left }) : t('booking.full'))));
  const open = view.slots.filter((s) => s.bookable).length;
  $('#slots-note').textContent = view.day && !open ? t('booking.no_slots') : '';
  $('#submit').disabled = !view.slot;
}

async function pickService(id) {
  view.service = id;
  view.day = null;
  view.slot = null;
  view.slots = [];
  render();
}

async function pickDay(d) {
  view.day = d;
  view.slot = null;
  try {
    view.slots = await api.get(`${hallPath}/slots?service=${encodeURIComponent(view.service)}&date=${d}`);
  } catch (e) {
    await failed(e);
  }
  render();
}

async function submit(ev) {
  ev.preventDefault();
  if (!view.slot) return;
  $('#error').textContent = '';
  $('#submit').disabled = true;
  const citizen = {
    id_number: $('#id-number').value.trim(),
    phone: $('#phone').value.trim(),
  };
  const name = $('#name').value.trim();
  if (name) citizen.name = name;
  try {
    const b = await api.post(`${hallPath}/bookings`, {
      service: view.service, start: view.slot, channel: 'web', citizen,
    });
    // Nothing the citizen typed stays in the page.
    $('#who').reset();
    showDone(b);
  } catch (e) {
    await failed(e);
    if (view.day) await pickDay(view.day);
  } finally {
    render();
  }
}

function showDone(b) {
  const svc = view.offer.services.find((s) => s.service === b.service);
  $('#code').textContent = b.code;
  const qr = $('#qr');
  qr.src = b.qr_svg ? `data:image/svg+xml;charset=utf-8,${encodeURIComponent(b.qr_svg)}` : '';
  qr.alt = b.qr;
  $('#done-service').textContent = svc?.name ?? b.service;
  $('#done-when').textContent = `${dayLabel(b.start.slice(0, 10))} ${clock(b.start)}–${clock(b.end)}`;
  $('#done-citizen').textContent = [b.citizen.name, b.citizen.id_number, b.citizen.phone]
    .filter(Boolean).join(' · ');
  $('#form-view').hidden = true;
  $('#done-view').hidden = false;
}

let prompting = null;
async function failed(e) {
  if (e instanceof ApiError && e.status === 401) {
    prompting ??= promptToken(KIND, e.message).then((tok) => { token = tok; prompting = null; load(); });
    return prompting;
  }
  const known = {
    'slot-full': 'booking.err.full',
    'booking-limit': 'booking.err.limit',
    'booking-closed': 'booking.err.closed',
    'invalid-field': 'booking.err.invalid',
  };
  $('#error').textContent = known[e.code] ? `${t(known[e.code])} ${e.message}` : (e.message || String(e));
  return null;
}

async function load() {
  try {
    view.offer = await api.get(`${hallPath}/booking`);
    if (!view.service && view.offer.services.length) view.service = view.offer.services[0].service;
    render();
  } catch (e) {
    await failed(e);
  }
}

applyI18n();
langButton($('#lang'));
onLang(render);
$('#who').addEventListener('submit', submit);
$('#again').addEventListener('click', () => {
  $('#done-view').hidden = true;
  $('#form-view').hidden = false;
  view.slot = null;
  if (view.day) pickDay(view.day);
});
load();
