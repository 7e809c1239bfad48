//! Where a due second sits in the wheel: its level, its slot and the first second a slot
//! covers, relative to the wheel's position `elapsed` (invariant 1 of the module docs).
//!
//! Plain arithmetic on seconds: never touches the wheel's slots or entries, never reads the
//! clock.

use super::{SLOT_BITS, SLOTS};

/// Level of the highest `SLOT_BITS`-bit digit in which `due` differs from `elapsed` (0 if
/// none).
fn level_for(elapsed: u64, due: u64) -> usize {
    // Or-ing in a low bit makes equal seconds land at level 0 instead of underflowing.
    let masked = (elapsed ^ due) | 1;
    let significant = u64::BITS - 1 - masked.leading_zeros();
    (significant / SLOT_BITS) as usize
}

/// Slot (level-major index) of an entry due at `due >= elapsed`.
pub(super) fn slot_for(elapsed: u64, due: u64) -> usize {
    let level = level_for(elapsed, due);
    let digit = (due >> (level as u32 * SLOT_BITS)) as usize % SLOTS;
    level * SLOTS + digit
}

/// First second covered by `slot` of `level`, given the digits of `elapsed` above `level`.
pub(super) fn slot_start(elapsed: u64, level: usize, slot: usize) -> u64 {
    let shift = level as u32 * SLOT_BITS;
    let above = elapsed
        .checked_shr(shift + SLOT_BITS)
        .and_then(|high| high.checked_shl(shift + SLOT_BITS))
        .unwrap_or(0);
    above | ((slot as u64) << shift)
}
