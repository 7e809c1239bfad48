//! A run as a timeline: answers grouped by when they arrived, in fixed buckets, with the
//! latency of each group, so a stall (nothing answered for a while, then a burst of long
//! waits) shows where a single percentile hides it.

use std::fmt::Write;
use std::time::Duration;

use hdrhistogram::Histogram;

/// One answer: when it arrived (since the start of the run) and how long it took.
#[derive(Clone, Copy)]
pub struct Answered {
    pub at_us: u64,
    pub latency_us: u64,
}

/// The table: one line per `bucket` from the first answer to the last, for the main traffic
/// and a second series (the background) side by side.
pub fn render(main: &[Answered], second: &[Answered], bucket: Duration) -> String {
    let width = bucket.as_micros().max(1) as u64;
    let end = main
        .iter()
        .chain(second)
        .map(|a| a.at_us)
        .max()
        .unwrap_or(0);
    let buckets = (end / width + 1) as usize;
    let group = |answers: &[Answered]| {
        let mut hs: Vec<Option<Histogram<u64>>> = vec![None; buckets];
        for a in answers {
            hs[(a.at_us / width) as usize]
                .get_or_insert_with(|| Histogram::new(3).expect("valid precision"))
                .record(a.latency_us.max(1))
                .ok();
        }
        hs
    };
    let (m, s) = (group(main), group(second));
    let mut out = format!(
        "timeline ({} ms buckets, by arrival of the answer; latency in ms)\n\
         {:>8} {:>7} {:>8} {:>8} {:>8} | {:>5} {:>8} {:>8}\n",
        width / 1000,
        "t ms",
        "answers",
        "p50",
        "p99",
        "max",
        "bg",
        "bg p50",
        "bg max"
    );
    for (i, (a, b)) in m.iter().zip(&s).enumerate() {
        let _ = writeln!(
            out,
            "{:>8} {} | {}",
            i as u64 * width / 1000,
            cells(a.as_ref(), 7, &[0.5, 0.99, 1.0]),
            cells(b.as_ref(), 5, &[0.5, 1.0])
        );
    }
    out
}

/// A bucket's cells: how many answers (`width` wide), then the latency at each quantile in
/// ms (1.0 is the max); dashes for a bucket with no answer.
fn cells(h: Option<&Histogram<u64>>, width: usize, quantiles: &[f64]) -> String {
    let mut out = format!("{:>width$}", h.map_or(0, Histogram::len));
    for &q in quantiles {
        let _ = match h {
            Some(h) => write!(out, " {:>8.2}", h.value_at_quantile(q) as f64 / 1000.0),
            None => write!(out, " {:>8}", "-"),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_fall_in_the_bucket_of_their_arrival() {
        let main = [
            Answered {
                at_us: 1_000,
                latency_us: 500,
            },
            Answered {
                at_us: 25_000,
                latency_us: 20_000,
            },
        ];
        let t = render(&main, &[], Duration::from_millis(10));
        let lines: Vec<&str> = t.lines().skip(2).collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(lines[0].split_whitespace().nth(1) == Some("1"), "{t}");
        assert!(lines[1].split_whitespace().nth(1) == Some("0"), "{t}");
        assert!(lines[2].contains("20.0"), "{t}");
    }
}
