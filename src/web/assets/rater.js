// The counter-facing rating tablet (评价器, /rate/{hall}/{window}): the window's 公示牌 and,
// once the window completes a ticket, five buttons for the citizen's rating of it. It rates
// with the counter's token (the citizen never needs the QR code here); the daemon checks
// once per ticket and the rating window.

import { applyI18n, langButton, onLang, t } from './i18n.js';
import {
  $, Stream, el, indicator, loadRoster, officerPlate, postIndex, promptToken, route,
  setTimeZone, storedToken,
} from './common.js';

const [hall, windowId] = route;
const KIND = 'counter';
let token = storedToken(KIND);
const enc = encodeURIComponent;

const view = {
  hallName: '',
  windowName: windowId,
  officers: [null, null],
  away: [null, null],
  roster: new Map(),
  // The ticket just completed here and not yet rated: {id, number}.
  pending: null,
  // The last rating given here: {number, rating}, or a refusal's text.
  done: null,
  error: null,
};

async function rate(n) {
  const tk = view.pending;
  if (!tk) return;
  const r = await fetch(`/v1/halls/${enc(hall)}/tickets/${enc(tk.id)}/rating`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ rating: n }),
  }).catch(() => null);
  if (r?.ok) {
    view.done = { number: tk.number, rating: n };
    view.pending = null;
    view.error = null;
  } else {
    const p = r ? await r.json().catch(() => ({})) : {};
    view.error = p.detail ?? t('rate.failed');
  }
  render();
}

function render() {
  $('#hall-name').textContent = view.hallName || hall;
  $('#window-name').textContent = view.windowName;
  const plate = officerPlate(view.officers, view.away, view.roster, t);
  $('#plate').replaceChildren(...(plate ? [plate] : []));
  const tk = view.pending;
  $('#rater-ticket').textContent = tk ? t('rater.ticket', { number: tk.number }) : '';
  $('#rate-buttons').hidden = !tk;
  $('#rate-buttons').replaceChildren(...[5, 4, 3, 2, 1].map((n) => el('button', {
    type: 'button', class: `rate-${n}`, 'data-rating': String(n), text: t(`counter.rating.${n}`),
    onclick: () => rate(n),
  })));
  $('#rate-note').textContent = view.error
    ?? (view.done && !tk ? t('rate.thanks', { r: t(`counter.rating.${view.done.rating}`) })
      : tk ? t('rate.ask') : t('rater.waiting'));
}

function apply(kind, e) {
  switch (kind) {
    case 'snapshot': {
      view.hallName = e.name;
      setTimeZone(e.time_zone);
      const w = e.windows.find((x) => x.id === windowId);
      if (w) {
        view.windowName = w.name;
        view.officers = w.officers ?? [null, null];
        view.away = w.away ?? [null, null];
      }
      break;
    }
    case 'completed':
      if (e.window === windowId && !e.evaluation) {
        view.pending = { id: e.ticket.id, number: e.ticket.number };
        view.done = null;
        view.error = null;
      }
      break;
    case 'called':
      // The next citizen is on the way: the last one's chance to rate here has passed.
      if (e.window === windowId) view.pending = null;
      break;
    case 'officer_signed_in':
      if (e.window === windowId) {
        view.officers[postIndex(e.post)] = e.officer;
        view.away[postIndex(e.post)] = null;
      }
      break;
    case 'officer_signed_out':
      if (e.window === windowId) {
        view.officers[postIndex(e.post)] = null;
        view.away[postIndex(e.post)] = e.absence ?? null;
      }
      break;
    case 'day_opened':
      view.officers = [null, null];
      view.away = [null, null];
      view.pending = null;
      break;
    default:
      break;
  }
}

applyI18n();
langButton($('#lang'));
onLang(render);
const showConn = indicator($('#conn'));

const stream = new Stream({
  url: () => `/v1/halls/${enc(hall)}/events`,
  headers: () => (token ? { Authorization: `Bearer ${token}` } : {}),
  onState: showConn,
  onEvent: (kind, data) => { apply(kind, data); render(); },
  onRefused: async (status, problem) => {
    if (status === 404) return;
    token = await promptToken(KIND, problem?.detail);
    stream.kick();
  },
});

window.hallqRater = { view, stream };

(async () => {
  if (!token) token = await promptToken(KIND);
  view.roster = await loadRoster();
  render();
  stream.run();
})();
