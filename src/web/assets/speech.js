// The display's voice: a queue of announcements, spoken one after another.
//
// Each call becomes a chime and its announcement repeated N times. An item starts only when
// the one before it has ended (the utterance's `end` or `error`), so a second call never
// cuts off the first, and calls are spoken in the order they were made. Nothing here ever
// calls speechSynthesis.cancel().
//
// Every item dispatches a `hallq:announce` event on window ({kind: 'chime'|'say', text,
// number}) when it starts, for anything else in the page that follows the announcements
// (an LED strip driver, or a test).

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Announcer {
  constructor({ repeat = 2, chime = true, rate = 0.9, gap = 700, voice = '', onBlocked = () => {} } = {}) {
    Object.assign(this, { repeat, chime, rate, gap, voiceHint: voice, onBlocked });
    this.queue = [];
    this.running = false;
    this.audio = null;
    // Held while speaking: Chrome drops `end` for utterances that were garbage-collected.
    this.utterance = null;
  }

  /** Queue a call (a `called` event or a snapshot's call). */
  enqueue(call) {
    if (this.chime) this.queue.push({ kind: 'chime', number: call.number });
    for (let i = 0; i < this.repeat; i++) {
      this.queue.push({ kind: 'say', text: call.announcement, number: call.number });
    }
    this.run();
  }

  get pending() {
    return this.queue.length + (this.running ? 1 : 0);
  }

  async run() {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length) {
        const item = this.queue.shift();
        window.dispatchEvent(new CustomEvent('hallq:announce', { detail: item }));
        try {
          if (item.kind === 'chime') await this.playChime();
          else await this.say(item.text);
        } catch (e) {
          console.warn('hallq: announcement failed:', e);
        }
        if (this.queue.length) await sleep(this.gap);
      }
    } finally {
      this.running = false;
    }
  }

  voice() {
    const voices = window.speechSynthesis.getVoices();
    const hint = this.voiceHint.toLowerCase();
    return (hint && voices.find((v) => v.name.toLowerCase().includes(hint)))
      || voices.find((v) => /^zh[-_]CN/i.test(v.lang))
      || voices.find((v) => /^zh/i.test(v.lang))
      || null;
  }

  say(text) {
    if (!('speechSynthesis' in window)) return Promise.resolve();
    return new Promise((resolve) => {
      const u = new SpeechSynthesisUtterance(text);
      u.lang = 'zh-CN';
      u.rate = this.rate;
      const v = this.voice();
      if (v) u.voice = v;
      let guard = null;
      const finish = () => {
        clearInterval(guard);
        if (this.utterance === u) this.utterance = null;
        resolve();
      };
      u.onend = finish;
      u.onerror = (e) => {
        if (e.error === 'not-allowed') this.onBlocked();
        finish();
      };
      this.utterance = u;
      window.speechSynthesis.speak(u);
      // Some engines never report the end. Move on once nothing has been speaking for a
      // while after a generous limit, and in any case well after the longest sentence.
      const limit = Date.now() + Math.max(15000, text.length * 700);
      guard = setInterval(() => {
        const late = Date.now() - limit;
        if ((late > 0 && !window.speechSynthesis.speaking) || late > 30000) finish();
      }, 1000);
    });
  }

  /** A two-tone chime, generated (no audio file); resolves when it has sounded. */
  async playChime() {
    try {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (Ctx) {
        this.audio ??= new Ctx();
        const ctx = this.audio;
        if (ctx.state === 'suspended') {
          await Promise.race([ctx.resume(), sleep(300)]);
          if (ctx.state === 'suspended') this.onBlocked();
        }
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.type = 'sine';
        const t0 = ctx.currentTime + 0.05;
        osc.frequency.setValueAtTime(880, t0);
        osc.frequency.setValueAtTime(698.5, t0 + 0.55);
        gain.gain.setValueAtTime(0.0001, t0);
        gain.gain.exponentialRampToValueAtTime(0.4, t0 + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.01, t0 + 0.5);
        gain.gain.setValueAtTime(0.0001, t0 + 0.55);
        gain.gain.exponentialRampToValueAtTime(0.4, t0 + 0.57);
        gain.gain.exponentialRampToValueAtTime(0.0001, t0 + 1.3);
        osc.connect(gain).connect(ctx.destination);
        osc.start(t0);
        osc.stop(t0 + 1.35);
      }
    } catch (e) {
      console.warn('hallq: no chime:', e);
    }
    // Timed by the page, not the audio clock, which stands still while audio is blocked.
    await sleep(1400);
  }

  /** Call from a user gesture: lets audio and speech start where the browser requires it. */
  unlock() {
    try {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (Ctx) {
        this.audio ??= new Ctx();
        this.audio.resume();
      }
    } catch { /* no audio at all */ }
  }
}
