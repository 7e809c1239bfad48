// Page texts in Chinese (default) and English. The choice is kept in localStorage, so a
// hall's screens come back in the language they were left in.

const DICT = {
  zh: {
    'lang.switch': 'English',
    'lang.switch.title': '切换到英文',
    'conn.connecting': '正在连接…',
    'conn.live': '实时',
    'conn.offline': '连接中断，正在重连…',
    'conn.auth': '令牌无效',
    'conn.gone': '不存在',
    'token.title': '请输入访问令牌',
    'token.help': '令牌由管理员发放，仅保存在本机浏览器中。',
    'token.rejected': '令牌被拒绝：',
    'token.label': '访问令牌',
    'token.save': '保存',
    'sound.enable': '点击此处启用声音提示',
    'common.cancel': '取消',
    'common.confirm': '确定',
    'common.minutes': '{n} 分钟',
    'common.none': '—',
    'status.booked': '已预约',
    'status.waiting': '等候中',
    'status.called': '已呼叫',
    'status.serving': '办理中',
    'status.done': '已办结',
    'status.no_show': '已过号',
    'status.parked': '暂离',
    'status.cancelled': '已取消',
    'status.expired': '已失效',
    'class.normal': '普通',
    'class.priority': '绿色通道',
    'class.appointment': '预约',
    'wstate.closed': '未开放',
    'wstate.open': '空闲',
    'wstate.calling': '呼叫中',
    'wstate.serving': '办理中',
    'wstate.paused': '暂停服务',
    // display board
    'display.please_go': '请到',
    'display.go': '办理',
    'display.idle': '欢迎光临',
    'display.recent': '最近呼叫',
    'display.windows': '窗口',
    'display.waiting': '等候人数',
    'display.waiting_n': '{n} 人',
    'display.no_calls': '暂无呼叫',
    // counter console
    'counter.current': '当前号',
    'counter.nobody': '暂无',
    'counter.call_next': '呼叫下一位',
    'counter.recall': '重呼',
    'counter.start': '开始办理',
    'counter.complete': '办结',
    'counter.no_show': '过号',
    'counter.transfer': '转移',
    'counter.park': '暂离',
    'counter.release': '退回队列',
    'counter.pause': '暂停',
    'counter.open': '开启窗口',
    'counter.close': '关闭窗口',
    'counter.call_number': '指定叫号',
    'counter.call_number.placeholder': '号码，如 A005',
    'counter.call': '呼叫',
    'counter.queue': '本窗口可办理的等候号',
    'counter.queue_empty': '没有等候的号',
    'counter.held': '暂离 / 过号',
    'counter.return': '回到队列',
    'counter.reactivate': '恢复',
    'counter.waited': '已等 {n} 分钟',
    'counter.position': '第 {n} 位',
    'counter.post': '岗位',
    'counter.officer': '工号',
    'counter.sign_in': '签到',
    'counter.sign_out': '签退',
    'counter.officers': 'A岗 {a} · B岗 {b}',
    'counter.calls': '第 {n} 次呼叫',
    'counter.confirm_next.title': '呼叫下一位？',
    'counter.confirm_next.body': '{number} 尚未办结。呼叫下一位将自动办结该号。',
    'counter.complete.title': '办结 {number}',
    'counter.complete.body': '请选择群众评价（好差评），或不评价直接办结：',
    'counter.complete.skip': '不评价，办结',
    'counter.rating.1': '非常不满意',
    'counter.rating.2': '不满意',
    'counter.rating.3': '基本满意',
    'counter.rating.4': '满意',
    'counter.rating.5': '非常满意',
    'counter.transfer.title': '转移 {number}',
    'counter.transfer.service': '转到事项',
    'counter.transfer.placement': '排队位置',
    'counter.placement.default': '按大厅设置',
    'counter.placement.original': '按原取号时间',
    'counter.placement.head': '队首',
    'counter.placement.back': '队尾',
    'counter.pause.title': '暂停服务',
    'counter.pause.reason': '暂停原因',
    'counter.reason.break': '临时休息',
    'counter.reason.meeting': '参加会议',
    'counter.reason.system': '系统故障',
    'counter.reason.other': '其他',
    'counter.nobody_waiting': '没有等候的号',
    'counter.done': '{action}：{number}',
    'counter.keys': '快捷键',
    'error.window-closed': '窗口未开放，请先开启窗口',
    'error.window-paused': '窗口已暂停，请先开启窗口',
    'error.window-busy': '当前号尚未办结，请先办结、退回或转移',
    'error.no-current-ticket': '当前没有号',
    'error.invalid-transition': '该号当前状态不允许此操作',
    'error.not-served-here': '本窗口不办理该号的事项',
    'error.unknown-ticket': '今天没有这个号',
    'error.officer-not-assigned': '该工号不属于本窗口的这个岗位',
    'error.reactivation-expired': '过号已超过可恢复的时间',
    'counter.keys.list': 'F1 / 空格 呼叫下一位 · R 重呼 · S 开始 · C 办结（1–5 评价） · N 过号 · T 转移 · P 暂离 · G 指定叫号 · Z 暂停 · O 开启 · X 关闭 · Esc 取消',
    // kiosk
    'kiosk.title': '请选择办理事项',
    'kiosk.priority': '绿色通道（老弱病残孕、军人优先）',
    'kiosk.waiting': '等候 {n} 人',
    'kiosk.eta': '约 {n} 分钟',
    'kiosk.issuing': '正在取号…',
    'kiosk.your_number': '您的号码',
    'kiosk.position': '前面还有 {n} 人',
    'kiosk.position0': '您是下一位',
    'kiosk.eta_long': '预计等候约 {n} 分钟',
    'kiosk.scan': '扫码查看排队进度',
    'kiosk.done': '完成',
    'kiosk.printing': '请取走您的号票',
    'kiosk.closed': '大厅当前不在办公时间',
    'kiosk.full': '该事项今日号源已满，请咨询服务台',
    'kiosk.taken_at': '取号时间 {t}',
    'kiosk.help': '取号后请留意显示屏和广播叫号；扫描号票上的二维码，可在手机上查看排队进度。',
    // citizen ticket page
    'ticket.ahead': '前面还有',
    'ticket.people': '人',
    'ticket.next': '您是下一位，请留意叫号',
    'ticket.eta': '预计等候约 {n} 分钟',
    'ticket.called': '请到 {window} 办理',
    'ticket.recalled': '第 {n} 次呼叫，请尽快到 {window}',
    'ticket.serving': '正在 {window} 办理',
    'ticket.done': '已办结，感谢您的耐心等候',
    'ticket.no_show': '您已过号，请到服务台咨询',
    'ticket.parked': '暂离中，回来后请到窗口报到',
    'ticket.cancelled': '该号已取消',
    'ticket.expired': '该号已失效',
    'ticket.booked': '预约已登记，到场后请签到',
    'ticket.recent': '正在呼叫',
    'ticket.invalid': '链接无效，请扫描号票上的二维码',
    'ticket.unknown': '没有找到这个号，它可能不是今天的号',
    'ticket.taken_at': '取号时间 {t}',
  },
  en: {
    'lang.switch': '中文',
    'lang.switch.title': 'Switch to Chinese',
    'conn.connecting': 'Connecting…',
    'conn.live': 'Live',
    'conn.offline': 'Disconnected, reconnecting…',
    'conn.auth': 'Token rejected',
    'conn.gone': 'Not found',
    'token.title': 'Enter the access token',
    'token.help': 'The administrator issues tokens; it is kept only in this browser.',
    'token.rejected': 'Token rejected: ',
    'token.label': 'Access token',
    'token.save': 'Save',
    'sound.enable': 'Tap here to turn on sound',
    'common.cancel': 'Cancel',
    'common.confirm': 'OK',
    'common.minutes': '{n} min',
    'common.none': '—',
    'status.booked': 'Booked',
    'status.waiting': 'Waiting',
    'status.called': 'Called',
    'status.serving': 'Serving',
    'status.done': 'Done',
    'status.no_show': 'No-show',
    'status.parked': 'Away',
    'status.cancelled': 'Cancelled',
    'status.expired': 'Expired',
    'class.normal': 'Normal',
    'class.priority': 'Priority',
    'class.appointment': 'Appointment',
    'wstate.closed': 'Closed',
    'wstate.open': 'Idle',
    'wstate.calling': 'Calling',
    'wstate.serving': 'Serving',
    'wstate.paused': 'Paused',
    'display.please_go': 'Please go to',
    'display.go': '',
    'display.idle': 'Welcome',
    'display.recent': 'Recent calls',
    'display.windows': 'Windows',
    'display.waiting': 'Waiting',
    'display.waiting_n': '{n}',
    'display.no_calls': 'No calls yet',
    'counter.current': 'Current',
    'counter.nobody': 'None',
    'counter.call_next': 'Call next',
    'counter.recall': 'Recall',
    'counter.start': 'Start',
    'counter.complete': 'Complete',
    'counter.no_show': 'No-show',
    'counter.transfer': 'Transfer',
    'counter.park': 'Park',
    'counter.release': 'Release',
    'counter.pause': 'Pause',
    'counter.open': 'Open window',
    'counter.close': 'Close window',
    'counter.call_number': 'Call a number',
    'counter.call_number.placeholder': 'Number, e.g. A005',
    'counter.call': 'Call',
    'counter.queue': 'Waiting for this window',
    'counter.queue_empty': 'Nobody is waiting',
    'counter.held': 'Away / no-show',
    'counter.return': 'Return',
    'counter.reactivate': 'Reactivate',
    'counter.waited': 'waited {n} min',
    'counter.position': '#{n}',
    'counter.post': 'Post',
    'counter.officer': 'Officer',
    'counter.sign_in': 'Sign in',
    'counter.sign_out': 'Sign out',
    'counter.officers': 'A: {a} · B: {b}',
    'counter.calls': 'call {n}',
    'counter.confirm_next.title': 'Call the next citizen?',
    'counter.confirm_next.body': '{number} is not completed. Calling the next citizen completes it.',
    'counter.complete.title': 'Complete {number}',
    'counter.complete.body': 'Choose the citizen\'s rating, or complete without one:',
    'counter.complete.skip': 'Complete without rating',
    'counter.rating.1': 'Very dissatisfied',
    'counter.rating.2': 'Dissatisfied',
    'counter.rating.3': 'Acceptable',
    'counter.rating.4': 'Satisfied',
    'counter.rating.5': 'Very satisfied',
    'counter.transfer.title': 'Transfer {number}',
    'counter.transfer.service': 'To service',
    'counter.transfer.placement': 'Place in queue',
    'counter.placement.default': 'Hall default',
    'counter.placement.original': 'By issue time',
    'counter.placement.head': 'At the head',
    'counter.placement.back': 'At the back',
    'counter.pause.title': 'Pause the window',
    'counter.pause.reason': 'Reason',
    'counter.reason.break': 'Short break',
    'counter.reason.meeting': 'Meeting',
    'counter.reason.system': 'System failure',
    'counter.reason.other': 'Other',
    'counter.nobody_waiting': 'Nobody is waiting',
    'counter.done': '{action}: {number}',
    'counter.keys': 'Shortcuts',
    'error.window-closed': 'The window is closed; open it first',
    'error.window-paused': 'The window is paused; open it first',
    'error.window-busy': 'Complete, release or transfer the current ticket first',
    'error.no-current-ticket': 'There is no current ticket',
    'error.invalid-transition': 'The ticket\'s status does not allow this',
    'error.not-served-here': 'This window does not serve that ticket\'s service',
    'error.unknown-ticket': 'There is no such ticket today',
    'error.officer-not-assigned': 'That officer is not assigned to this post',
    'error.reactivation-expired': 'Too late to reactivate this no-show',
    'counter.keys.list': 'F1 / Space call next · R recall · S start · C complete (1–5 rating) · N no-show · T transfer · P park · G call a number · Z pause · O open · X close · Esc cancel',
    'kiosk.title': 'Choose your service',
    'kiosk.priority': 'Priority (elderly, disabled, pregnant, military)',
    'kiosk.waiting': '{n} waiting',
    'kiosk.eta': 'about {n} min',
    'kiosk.issuing': 'Issuing…',
    'kiosk.your_number': 'Your number',
    'kiosk.position': '{n} ahead of you',
    'kiosk.position0': 'You are next',
    'kiosk.eta_long': 'Estimated wait about {n} min',
    'kiosk.scan': 'Scan to follow your place in the queue',
    'kiosk.done': 'Done',
    'kiosk.printing': 'Please take your ticket',
    'kiosk.closed': 'The hall is closed now',
    'kiosk.full': 'No more tickets for this service today; please ask at the information desk',
    'kiosk.taken_at': 'Issued at {t}',
    'kiosk.help': 'Watch the display and listen for your number. Scan the QR code on your ticket to follow the queue on your phone.',
    'ticket.ahead': 'Ahead of you',
    'ticket.people': '',
    'ticket.next': 'You are next — please watch for your call',
    'ticket.eta': 'Estimated wait about {n} min',
    'ticket.called': 'Please go to {window}',
    'ticket.recalled': 'Call {n}: please go to {window} now',
    'ticket.serving': 'Being served at {window}',
    'ticket.done': 'Completed — thank you for waiting',
    'ticket.no_show': 'You missed your call; please ask at the information desk',
    'ticket.parked': 'Away — report to the window when you are back',
    'ticket.cancelled': 'This ticket was cancelled',
    'ticket.expired': 'This ticket has expired',
    'ticket.booked': 'Appointment booked; check in when you arrive',
    'ticket.recent': 'Now calling',
    'ticket.invalid': 'This link is not valid; scan the QR code on your ticket',
    'ticket.unknown': 'This ticket was not found; it may not be from today',
    'ticket.taken_at': 'Issued at {t}',
  },
};

const KEY = 'hallq.lang';

function initial() {
  const asked = new URLSearchParams(location.search).get('lang');
  if (asked === 'zh' || asked === 'en') return asked;
  try {
    const kept = localStorage.getItem(KEY);
    if (kept === 'zh' || kept === 'en') return kept;
  } catch { /* storage may be disabled */ }
  return 'zh';
}

let current = initial();
const listeners = [];

export function lang() {
  return current;
}

/** The text for `key`, with `{name}` placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const s = DICT[current][key] ?? DICT.zh[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

/** Whether the dictionary has `key`. */
export function has(key) {
  return key in DICT.zh;
}

/** Fill every `data-i18n` (text), `data-i18n-title` and `data-i18n-placeholder` under root. */
export function applyI18n(root = document) {
  document.documentElement.lang = current === 'zh' ? 'zh-CN' : 'en';
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const el of root.querySelectorAll('[data-i18n-label]')) {
    el.setAttribute('aria-label', t(el.dataset.i18nLabel));
  }
}

export function setLang(l) {
  current = l;
  try { localStorage.setItem(KEY, l); } catch { /* ignore */ }
  applyI18n();
  for (const f of listeners) f(l);
}

/** Run `f` after every language switch (pages re-render their dynamic parts). */
export function onLang(f) {
  listeners.push(f);
}

/** Wire a button that toggles zh/en. */
export function langButton(button) {
  button.dataset.i18n = 'lang.switch';
  button.dataset.i18nTitle = 'lang.switch.title';
  button.textContent = t('lang.switch');
  button.title = t('lang.switch.title');
  button.addEventListener('click', () => setLang(current === 'zh' ? 'en' : 'zh'));
}
