//! A shard's ticket timers (wait targets, call timeouts): one timing wheel for every hall the
//! shard owns, armed and disarmed as the engines ask.
//!
//! The wheel is an index rebuilt from the engines; it must never be the only record of a
//! deadline.

use super::Shard;
use crate::queue::TimerKind;

impl Shard {
    /// Arm and disarm a hall's ticket timers as its engine asked.
    pub(super) fn apply_timers(&mut self, local: usize, ops: &[crate::queue::TimerOp]) {
        for op in ops {
            let key = (local as u32, op.ticket, op.kind);
            if let Some(old) = self.timer_keys.remove(&key) {
                self.timers.cancel(old);
            }
            if let Some(at) = op.at {
                let second = at.as_second().max(0) as u64 + u64::from(at.subsec_nanosecond() > 0);
                let packed = (local as u64) << 40 | u64::from(op.ticket) << 8 | kind_code(op.kind);
                self.timer_keys
                    .insert(key, self.timers.insert(second, packed));
            }
        }
    }

    /// Forget every timer of a hall whose business day turned.
    pub(super) fn drop_timers(&mut self, local: usize) {
        let wheel = &mut self.timers;
        self.timer_keys.retain(|&(l, _, _), key| {
            if l as usize == local {
                wheel.cancel(*key);
                false
            } else {
                true
            }
        });
    }
}

fn kind_code(kind: TimerKind) -> u64 {
    match kind {
        TimerKind::Wait => 0,
        TimerKind::Start => 1,
    }
}

pub(super) fn unpack(v: u64) -> (usize, u32, TimerKind) {
    let kind = if v & 0xff == 1 {
        TimerKind::Start
    } else {
        TimerKind::Wait
    };
    ((v >> 40) as usize, (v >> 8) as u32, kind)
}
