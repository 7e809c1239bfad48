// What every hallq page shares: the page's place in the URL, the access token, the API
// client, the resumable event stream and its connection indicator.
//
// The stream is read with fetch() rather than EventSource, for three reasons a hall's screen
// depends on: the token goes in the Authorization header (never in a URL that a proxy might
// log); the server's keep-alive comments are visible, so a connection that died without a
// word is noticed and replaced instead of leaving a frozen board; and the HTTP status is
// known, so a rejected token shows as such instead of as endless reconnecting.

import { t } from './i18n.js';

/** Path segments after the page name: /display/city → ['city']. */
export const route = location.pathname.split('/').filter(Boolean).slice(1).map(decodeURIComponent);
export const params = new URLSearchParams(location.search);

export function param(name, fallback) {
  const v = params.get(name);
  return v === null || v === '' ? fallback : v;
}

export function numParam(name, fallback, min, max) {
  const n = Number(params.get(name));
  return params.has(name) && Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) e.append(c);
  }
  return e;
}

export const $ = (sel, root = document) => root.querySelector(sel);

// ------------------------------------------------------------------ token

const tokenKey = (kind) => `hallq.token.${kind}`;

/**
 * The page's token: from the URL fragment (`#token=…`, which never reaches the server and is
 * removed from the address bar at once), else from localStorage.
 */
export function storedToken(kind) {
  const frag = new URLSearchParams(location.hash.slice(1));
  const given = frag.get('token');
  if (given) {
    try { localStorage.setItem(tokenKey(kind), given); } catch { /* kept for this visit only */ }
    frag.delete('token');
    const rest = frag.toString();
    history.replaceState(null, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
    return given;
  }
  try { return localStorage.getItem(tokenKey(kind)); } catch { return null; }
}

/** Ask for a token in a modal dialog; resolves with it once saved. */
export function promptToken(kind, reason) {
  return new Promise((resolve) => {
    const input = el('input', {
      type: 'password', id: 'token-input', autocomplete: 'off', required: true, spellcheck: 'false',
    });
    const form = el('form', { method: 'dialog', class: 'token-form' },
      el('h2', { text: t('token.title') }),
      reason ? el('p', { class: 'error', role: 'alert', text: t('token.rejected') + reason }) : null,
      el('p', { text: t('token.help') }),
      el('label', { for: 'token-input', text: t('token.label') }),
      input,
      el('div', { class: 'buttons' }, el('button', { type: 'submit', class: 'primary', text: t('token.save') })));
    const dlg = el('dialog', { class: 'token-dialog' }, form);
    document.body.append(dlg);
    form.addEventListener('submit', (e) => {
      const v = input.value.trim();
      if (!v) { e.preventDefault(); return; }
      try { localStorage.setItem(tokenKey(kind), v); } catch { /* ignore */ }
      dlg.close();
      dlg.remove();
      resolve(v);
    });
    dlg.addEventListener('cancel', (e) => e.preventDefault());
    dlg.showModal();
    input.focus();
  });
}

// ------------------------------------------------------------------ API

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.code = problem?.type?.replace('urn:hallq:problem:', '');
  }
}

/** A random Idempotency-Key (crypto.randomUUID needs a secure context; halls use plain http). */
export function newKey() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export class Api {
  /** `token` is a function, so a token replaced after a prompt is used at once. */
  constructor(token) {
    this.token = token;
  }

  headers(extra = {}) {
    const h = { Accept: 'application/json', ...extra };
    const tok = this.token();
    if (tok) h.Authorization = `Bearer ${tok}`;
    return h;
  }

  async request(method, path, body, { idempotent = true } = {}) {
    const headers = this.headers(body === undefined ? {} : { 'Content-Type': 'application/json' });
    // Writes carry an Idempotency-Key and are retried once on a network failure, so a
    // dropped answer never turns one click into two calls.
    if (method !== 'GET' && idempotent) headers['Idempotency-Key'] = newKey();
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) init.body = JSON.stringify(body);
    let r;
    try {
      r = await fetch(path, init);
    } catch (e) {
      if (method === 'GET' || !idempotent) throw e;
      await sleep(500);
      r = await fetch(path, init);
    }
    if (r.status === 204) return null;
    const text = await r.text();
    const data = text ? JSON.parse(text) : null;
    if (!r.ok) throw new ApiError(r.status, data);
    return data;
  }

  get(path) { return this.request('GET', path); }
  post(path, body) { return this.request('POST', path, body); }
}

// ------------------------------------------------------------------ stream

/** Parse a text/event-stream body into events; `alive` is called on every chunk. */
async function* readEvents(response, alive) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let ev = { event: 'message', data: [], id: null, retry: null };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    alive();
    buf += value;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, '');
      buf = buf.slice(nl + 1);
      if (line === '') {
        if (ev.data.length || ev.retry !== null) yield ev;
        ev = { event: 'message', data: [], id: ev.id, retry: null };
        continue;
      }
      if (line.startsWith(':')) continue;
      const c = line.indexOf(':');
      const field = c < 0 ? line : line.slice(0, c);
      const val = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
      if (field === 'event') ev.event = val;
      else if (field === 'data') ev.data.push(val);
      else if (field === 'id') ev.id = val;
      else if (field === 'retry' && /^\d+$/.test(val)) ev.retry = Number(val);
    }
  }
}

/**
 * A server-sent event stream that never gives up: it resumes with Last-Event-ID after any
 * disconnect (the daemon restarting, a proxy timing out, a laptop waking), replaces a
 * connection that went silent for `idleMs`, and reports its state for the indicator:
 * connecting, live, offline, auth (token rejected) or gone (hall or ticket unknown).
 */
export class Stream {
  constructor({ url, headers = () => ({}), onEvent, onState = () => {}, onRefused, idleMs = 45000 }) {
    Object.assign(this, { url, headers, onEvent, onState, onRefused, idleMs });
    this.lastId = null;
    this.retry = 2000;
    this.state = null;
  }

  setState(s, detail) {
    if (s === this.state && !detail) return;
    this.state = s;
    this.onState(s, detail);
  }

  /** Reconnect now (after a new token was entered, say). */
  kick() {
    this.wake?.();
    this.ctl?.abort();
  }

  async run() {
    let backoff = this.retry;
    for (;;) {
      const ctl = new AbortController();
      this.ctl = ctl;
      let idle;
      const alive = () => {
        clearTimeout(idle);
        idle = setTimeout(() => ctl.abort(), this.idleMs);
      };
      let wait = null;
      try {
        this.setState('connecting');
        const h = { Accept: 'text/event-stream', ...this.headers() };
        if (this.lastId !== null) h['Last-Event-ID'] = this.lastId;
        alive();
        const r = await fetch(this.url(), { headers: h, signal: ctl.signal, cache: 'no-store' });
        if (!r.ok) {
          let problem = null;
          try { problem = await r.json(); } catch { /* not a problem document */ }
          if (r.status === 401 || r.status === 403) {
            this.setState('auth', problem?.detail);
            this.onRefused?.(r.status, problem);
            wait = 30000;
          } else if (r.status === 404) {
            this.setState('gone', problem?.detail);
            this.onRefused?.(r.status, problem);
            wait = 30000;
          } else {
            throw new Error(`HTTP ${r.status}`);
          }
        } else {
          this.setState('live');
          backoff = this.retry;
          for await (const ev of readEvents(r, alive)) {
            if (ev.retry !== null) this.retry = ev.retry;
            if (ev.id !== null) this.lastId = ev.id;
            if (!ev.data.length) continue;
            try {
              this.onEvent(ev.event, JSON.parse(ev.data.join('\n')), ev.id);
            } catch (e) {
              console.error('hallq: cannot apply event', ev.event, e);
            }
          }
        }
      } catch (e) {
        if (e.name !== 'AbortError') console.warn('hallq: stream interrupted:', e.message);
      } finally {
        clearTimeout(idle);
      }
      if (wait === null) {
        this.setState('offline');
        wait = backoff + Math.random() * 500;
        backoff = Math.min(backoff * 2, 15000);
      }
      await new Promise((r) => {
        const timer = setTimeout(r, wait);
        this.wake = () => { clearTimeout(timer); r(); };
      });
      this.wake = null;
    }
  }
}

/** Keep a connection indicator element in step with a stream's state. */
export function indicator(elem) {
  let last = 'connecting';
  const show = (state = last) => {
    last = state;
    elem.dataset.state = state;
    elem.textContent = t(`conn.${state}`);
    elem.setAttribute('role', 'status');
  };
  show();
  return show;
}

// ------------------------------------------------------------------ formatting

export function minutes(seconds) {
  return Math.max(1, Math.round(seconds / 60));
}

// Times are shown in the hall's time zone (from its snapshot), not the device's: a TV or a
// phone set to the wrong zone still shows the hall's clock.
let zone;

export function setTimeZone(tz) {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    zone = tz;
  } catch {
    zone = undefined;
  }
}

function partsOf(ts) {
  const f = new Intl.DateTimeFormat('en-CA', {
    timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23', weekday: 'short',
  });
  const p = {};
  for (const x of f.formatToParts(ts ? new Date(ts) : new Date())) p[x.type] = x.value;
  return p;
}

export function clock(ts) {
  const p = partsOf(ts);
  return `${p.hour}:${p.minute}`;
}

export function dateTime(ts) {
  const p = partsOf(ts);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/** A coming instant as people say it, in the hall's zone: 今天 08:30, 明天 08:30, 10月8日（周四）08:30. */
export function when(ts) {
  const p = partsOf(ts);
  const n = partsOf();
  const days = Math.round((Date.UTC(p.year, p.month - 1, p.day) - Date.UTC(n.year, n.month - 1, n.day)) / 86400000);
  const time = `${p.hour}:${p.minute}`;
  if (days === 0) return t('when.today', { time });
  if (days === 1) return t('when.tomorrow', { time });
  const w = WEEKDAYS.indexOf(p.weekday);
  return t('when.date', {
    time, month: Number(p.month), day: Number(p.day), weekday: t(`weekday.${w}`), mon: t(`month.${Number(p.month)}`),
  });
}

/**
 * What a closed hall tells citizens, from its snapshot's `schedule`: null while open, else
 * `{ why, opens }` (why it is closed — the holiday, the override's reason, after hours — and
 * when it opens).
 */
export function closedNotice(schedule) {
  if (!schedule || schedule.open_now) return null;
  const r = schedule.closed_reason ?? { code: 'after-hours' };
  const why = r.name && (r.code === 'holiday' || r.code === 'override')
    ? t(`closed.${r.code}.named`, { name: r.name })
    : t(`closed.${r.code}`);
  const opens = schedule.next_opening
    ? t('closed.opens', { when: when(schedule.next_opening) })
    : t('closed.no_opening');
  return { title: t('closed.title'), why, opens };
}

/** Show a short message in the page's live region. */
export function toast(msg, kind = 'info') {
  let box = $('#toast');
  if (!box) {
    box = el('div', { id: 'toast', role: 'status', 'aria-live': 'polite' });
    document.body.append(box);
  }
  box.textContent = msg;
  box.dataset.kind = kind;
  box.classList.add('shown');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => box.classList.remove('shown'), kind === 'error' ? 8000 : 4000);
}

// ------------------------------------------------------------------ 公示牌

/** The roster (public, as the plate on every counter is): name → {staff_no, photo}. */
export async function loadRoster() {
  const r = await fetch('/v1/officers').catch(() => null);
  const body = r?.ok ? await r.json().catch(() => null) : null;
  return new Map((body?.officers ?? []).map((o) => [o.name, o]));
}

/** A post's index in a window's `officers` and `away` arrays. */
export const postIndex = (post) => (String(post).toUpperCase() === 'B' ? 1 : 0);

/**
 * A window's 公示牌: the serving officer (A when signed in, else B) with staff number and
 * photo, and each away officer's whereabouts (去向公开). `null` when nobody is assigned.
 */
export function officerPlate(officers, away, roster, t) {
  const [a, b] = officers ?? [null, null];
  const serving = a ?? b;
  const notes = (away ?? []).map((x, i) => (x ? `${i ? 'B' : 'A'}岗 ${x.note}${x.back_at ? ` ${clock(x.back_at)}` : ''}` : null)).filter(Boolean);
  if (!serving && !notes.length) return null;
  const who = serving ? roster.get(serving) : null;
  return el('div', { class: 'plate', dataset: { officer: serving ?? '' } },
    who?.photo ? el('img', { src: who.photo, alt: serving }) : null,
    el('div', {},
      serving ? el('div', { class: 'name', text: serving }) : null,
      who ? el('div', { class: 'staff', text: t('plate.staff', { n: who.staff_no }) }) : null,
      ...notes.map((n) => el('div', { class: 'away', text: n }))));
}

/** `fn` at most once per animation frame, however often the returned function is called:
 * a burst of events renders the page once. */
export function perFrame(fn) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; fn(); });
  };
}
