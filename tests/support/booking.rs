//! The booking fixture: the test config with `[booking]` (hall `h1`, service `s`: one-hour
//! slots, `capacity` seats, two working days ahead), a `booking` portal token, and the
//! business day turning at midnight so a test on a moved clock knows its day.

use super::{config, token};

/// The citizen-facing portal's token.
pub const PORTAL: &str = "t-portal";
/// An ID number and phone the tests book with; their digits must appear nowhere on disk.
pub const ID_NUMBER: &str = "44010619900307123X";
pub const PHONE: &str = "13912345678";

/// The booking test config; `limits` are extra `[booking]` lines.
pub fn booking_config(capacity: u32, limits: &str) -> String {
    // The business day turns at midnight: slots of a day are that day's appointments.
    let mut s: String = config(1)
        .lines()
        .map(|l| {
            if l.starts_with("day_starts = ") {
                "day_starts = \"00:00\"\n".to_owned()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    s += &token(PORTAL, "booking", &["*"]);
    s += &format!(
        r#"
[booking]
keys = ["test-booking-key-0123456789"]
{limits}

[[booking.slots]]
hall = "h1"
service = "s"
slot_minutes = 60
capacity = {capacity}
days_ahead = 2
cancel_until_minutes = 120
"#
    );
    s
}

/// A citizen's body part: `n` varies the ID number.
pub fn citizen(n: u32) -> serde_json::Value {
    serde_json::json!({
        "id_number": format!("3301061990{n:07}X"),
        "phone": format!("138{n:08}"),
    })
}

/// Fails if any of `needles` (a citizen's digits, a name) stands in a line of `log` or in
/// any file under `data_dir`: what the clear-text scans of the privacy tests check.
pub fn assert_no_clear_text(log: &[String], data_dir: &std::path::Path, needles: &[&str]) {
    for line in log {
        for n in needles {
            assert!(!line.contains(n), "the log holds `{n}`: {line}");
        }
    }
    let mut all = Vec::new();
    files(data_dir, &mut all);
    assert!(!all.is_empty());
    for f in all {
        let bytes = std::fs::read(&f).unwrap();
        for n in needles {
            let hit = bytes.windows(n.len()).any(|w| w == n.as_bytes());
            assert!(!hit, "{} holds `{n}`", f.display());
        }
    }
}

fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}
