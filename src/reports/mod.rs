//! The assessment reports (日检查、周考勤、月通报、季考核): a period's figures per hall, window
//! and officer, rolled up over a subtree of the tier tree with a row per hall.
//!
//! Built from what each hall stored per business day (its `DayStats`, with the per-window and
//! per-officer figures, and its per-day case counts) and, for today, from the hall's shard;
//! never recomputed from events. Percentiles come from every sample of the period
//! (`stats::percentiles`), never from averages of days. This module only adds figures up; the
//! API gathers the days (`api::reports`) and `html`/`csv` render the result.

pub mod csv;
pub mod html;
pub mod period;

use jiff::civil::Date;
use serde::Serialize;

use crate::config::Config;
use crate::queue::stats::DayStats;
use crate::stats::{Percentiles, percentiles, ratio};
use crate::store::{CaseCount, Of, PeriodCounts};
pub use period::{Kind, Period};

/// One hall's stored figures for the period's days, as the API gathered them.
#[derive(Debug, Clone, Default)]
pub struct HallDays {
    pub hall: String,
    pub days: Vec<DayStats>,
    /// The period's case counts by `case_stats` key: the hall's finished cases and the
    /// rating loop's counts for the hall, its windows and officers (`store::CaseCount`).
    pub counts: PeriodCounts,
}

impl HallDays {
    fn count(&self, kind: CaseCount, of: Option<Of<'_>>) -> Pair {
        let key = match of {
            None => kind.key(&self.hall),
            Some(of) => kind.key_of(&self.hall, of),
        };
        self.counts
            .get(&key)
            .copied()
            .map_or(Pair::default(), Pair::from)
    }

    /// The rating loop's figures of the hall (`of` `None`), or of one window or officer.
    fn rating_loop(&self, of: Option<Of<'_>>) -> RatingLoop {
        let rectified = self.count(CaseCount::Rectified, of);
        RatingLoop {
            rectified,
            rectified_on_time_rate: rectified.rate(),
            complaints_received: self.count(CaseCount::ComplaintReceived, of).on_time,
            complaints_closed: self.count(CaseCount::ComplaintClosed, of),
        }
    }
}

/// The rating loop (差评整改, 投诉) of a row: bad ratings rectified within their working day
/// or late, complaints received and closed on time or late.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RatingLoop {
    pub rectified: Pair,
    pub rectified_on_time_rate: Option<f64>,
    pub complaints_received: u64,
    pub complaints_closed: Pair,
}

impl RatingLoop {
    fn absorb(&mut self, o: &RatingLoop) {
        self.rectified.add((o.rectified.on_time, o.rectified.late));
        self.rectified_on_time_rate = self.rectified.rate();
        self.complaints_received += o.complaints_received;
        self.complaints_closed
            .add((o.complaints_closed.on_time, o.complaints_closed.late));
    }
}

/// Counts on time and late.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pair {
    pub on_time: u64,
    pub late: u64,
}

impl Pair {
    pub fn add(&mut self, (on_time, late): (u64, u64)) {
        self.on_time += on_time;
        self.late += late;
    }

    pub fn rate(&self) -> Option<f64> {
        ratio(self.on_time, self.on_time + self.late)
    }
}

impl From<(u64, u64)> for Pair {
    fn from((on_time, late): (u64, u64)) -> Pair {
        Pair { on_time, late }
    }
}

/// What every row has: service given and how it was judged.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Service {
    pub served: u64,
    pub wait_s: Percentiles,
    pub service_s: Percentiles,
    /// Ratings 1..5 (非常不满意 … 非常满意).
    pub ratings: [u64; 5],
    /// Ratings 4 and 5 among rated tickets (满意率).
    pub satisfaction_rate: Option<f64>,
    /// Ratings 1 and 2: each opened a rectification (差评).
    pub bad_ratings: u64,
}

/// Attendance (周考勤): seconds signed in at a post, stated absences, and those covered by the
/// other post (AB岗).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Attendance {
    pub signed_in_s: u64,
    pub absences: u64,
    pub covered_absences: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HallRow {
    pub hall: String,
    pub name: String,
    pub issued: u64,
    pub no_show: u64,
    #[serde(flatten)]
    pub service: Service,
    pub attendance: Attendance,
    /// Rectifications of bad ratings finished within their one working day, or late;
    /// complaints.
    #[serde(flatten)]
    pub rating_loop: RatingLoop,
    /// Every case the hall finished (承诺件 and the rest): on time or overdue.
    pub cases: Pair,
    pub cases_on_time_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowRow {
    pub hall: String,
    pub window: String,
    #[serde(flatten)]
    pub service: Service,
    /// The window's bad ratings rectified on time or late (complaints name an officer, not
    /// a window, so a window's complaint counts stay 0).
    #[serde(flatten)]
    pub rating_loop: RatingLoop,
    /// Signed in at either post, absences and those covered (day records before the
    /// per-window attendance count 0 here).
    pub attendance: Attendance,
    pub open_s: u64,
    pub busy_s: u64,
    pub utilisation: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OfficerRow {
    pub hall: String,
    pub officer: String,
    /// 工号, from the roster (absent for a name no longer on it).
    pub staff_no: Option<String>,
    #[serde(flatten)]
    pub service: Service,
    /// The bad ratings of tickets the officer served, rectified on time or late; the
    /// complaints that name the officer.
    #[serde(flatten)]
    pub rating_loop: RatingLoop,
    pub attendance: Attendance,
}

/// One day over every hall of the report, for the chart of the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayRow {
    pub day: Date,
    pub served: u64,
    pub rated: u64,
    pub satisfaction_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub kind: Kind,
    pub title: &'static str,
    pub period: Period,
    pub hall: String,
    pub subtree: bool,
    /// The last day with figures: the period's end, or today while it runs.
    pub through: Date,
    pub halls: Vec<HallRow>,
    pub windows: Vec<WindowRow>,
    pub officers: Vec<OfficerRow>,
    pub days: Vec<DayRow>,
    /// Over every hall (`hall` is `*`).
    pub total: HallRow,
}

/// Samples and counts of one row while the days are added.
#[derive(Default)]
struct Acc {
    served: u64,
    ratings: [u64; 5],
    wait: Vec<u32>,
    service: Vec<u32>,
}

impl Acc {
    fn add(&mut self, served: u32, ratings: &[u32; 5], wait: &[u32], service: &[u32]) {
        self.served += u64::from(served);
        for (t, n) in self.ratings.iter_mut().zip(ratings) {
            *t += u64::from(*n);
        }
        self.wait.extend(wait);
        self.service.extend(service);
    }

    fn merge(&mut self, other: &Acc) {
        self.served += other.served;
        for (t, n) in self.ratings.iter_mut().zip(other.ratings) {
            *t += n;
        }
        self.wait.extend(&other.wait);
        self.service.extend(&other.service);
    }

    fn finish(&self) -> Service {
        let rated: u64 = self.ratings.iter().sum();
        Service {
            served: self.served,
            wait_s: percentiles(&self.wait),
            service_s: percentiles(&self.service),
            ratings: self.ratings,
            satisfaction_rate: ratio(self.ratings[3] + self.ratings[4], rated),
            bad_ratings: self.ratings[0] + self.ratings[1],
        }
    }
}

/// Rows keyed by (hall, window or officer) while the days are added.
type Keyed<V> = Vec<((String, String), V)>;

/// Position of the row keyed `key`, added with `new` when absent.
fn slot<K: PartialEq, V>(rows: &mut Vec<(K, V)>, key: K, new: impl FnOnce() -> V) -> usize {
    match rows.iter().position(|(k, _)| *k == key) {
        Some(i) => i,
        None => {
            rows.push((key, new()));
            rows.len() - 1
        }
    }
}

/// Add up the halls' days into the report.
pub fn build(
    config: &Config,
    kind: Kind,
    period: Period,
    (root, subtree): (&str, bool),
    through: Date,
    halls: &[HallDays],
) -> Report {
    let mut hall_rows = Vec::new();
    let mut windows: Keyed<(Acc, (u64, u64), Attendance)> = Vec::new();
    let mut officers: Keyed<(Acc, Attendance)> = Vec::new();
    let mut days: Vec<(Date, Acc)> = Vec::new();
    let mut all = Acc::default();
    let mut total = HallRow::empty("*", "");
    for h in halls {
        let name = config
            .hall_index(&h.hall)
            .map_or(String::new(), |i| config.halls[i].name.to_string());
        let mut row = HallRow::empty(&h.hall, &name);
        let mut acc = Acc::default();
        for d in &h.days {
            let day = slot(&mut days, d.day, Acc::default);
            for s in &d.services {
                row.issued += u64::from(s.issued);
                row.no_show += u64::from(s.no_show);
                acc.add(s.served, &s.ratings, &s.wait_s, &s.service_s);
                days[day].1.add(s.served, &s.ratings, &[], &[]);
            }
            for w in &d.windows {
                let i = slot(&mut windows, (h.hall.clone(), w.window.clone()), || {
                    (Acc::default(), (0, 0), Attendance::default())
                });
                let (acc, (open, busy), att) = &mut windows[i].1;
                acc.add(w.served, &w.ratings, &w.wait_s, &w.service_s);
                *open += w.open_s;
                *busy += w.busy_s;
                att.signed_in_s += w.signed_in_s;
                att.absences += u64::from(w.absences);
                att.covered_absences += u64::from(w.covered_absences);
            }
            for o in &d.officers {
                let i = slot(&mut officers, (h.hall.clone(), o.officer.clone()), || {
                    (Acc::default(), Attendance::default())
                });
                let (acc, att) = &mut officers[i].1;
                acc.add(o.served, &o.ratings, &o.wait_s, &o.service_s);
                att.signed_in_s += o.signed_in_s;
                att.absences += u64::from(o.absences);
                att.covered_absences += u64::from(o.covered_absences);
                row.attendance.signed_in_s += o.signed_in_s;
                row.attendance.absences += u64::from(o.absences);
                row.attendance.covered_absences += u64::from(o.covered_absences);
            }
        }
        // A window or officer whose only figures this period are ratings rectified or
        // complaints (say, rated on a day before the period) still gets its row.
        for key in h.counts.keys() {
            let Some((_, rest)) = key.split_once('#') else {
                continue;
            };
            if let Some((_, w)) = rest.split_once("#window=") {
                slot(&mut windows, (h.hall.clone(), w.to_owned()), || {
                    (Acc::default(), (0, 0), Attendance::default())
                });
            } else if let Some((_, o)) = rest.split_once("#officer=") {
                slot(&mut officers, (h.hall.clone(), o.to_owned()), || {
                    (Acc::default(), Attendance::default())
                });
            }
        }
        row.service = acc.finish();
        row.rating_loop = h.rating_loop(None);
        row.cases = h
            .counts
            .get(&h.hall)
            .copied()
            .map_or(Pair::default(), Pair::from);
        row.finish_rates();
        all.merge(&acc);
        total.absorb(&row);
        hall_rows.push(row);
    }
    total.service = all.finish();
    total.finish_rates();
    let no_days = HallDays::default();
    let of_hall = |id: &str| halls.iter().find(|h| h.hall == id).unwrap_or(&no_days);
    days.sort_by_key(|(d, _)| *d);
    Report {
        kind,
        title: kind.title(),
        period,
        hall: root.to_owned(),
        subtree,
        through,
        halls: hall_rows,
        windows: windows
            .into_iter()
            .map(
                |((hall, window), (acc, (open_s, busy_s), attendance))| WindowRow {
                    rating_loop: of_hall(&hall).rating_loop(Some(Of::Window(&window))),
                    hall,
                    window,
                    service: acc.finish(),
                    attendance,
                    open_s,
                    busy_s,
                    utilisation: ratio(busy_s, open_s),
                },
            )
            .collect(),
        officers: officers
            .into_iter()
            .map(|((hall, officer), (acc, attendance))| OfficerRow {
                staff_no: config
                    .officers
                    .iter()
                    .find(|o| *o.name == *officer)
                    .map(|o| o.staff_no.to_string()),
                rating_loop: of_hall(&hall).rating_loop(Some(Of::Officer(&officer))),
                hall,
                officer,
                service: acc.finish(),
                attendance,
            })
            .collect(),
        days: days
            .into_iter()
            .map(|(day, acc)| {
                let s = acc.finish();
                DayRow {
                    day,
                    served: s.served,
                    rated: s.ratings.iter().sum(),
                    satisfaction_rate: s.satisfaction_rate,
                }
            })
            .collect(),
        total,
    }
}

impl HallRow {
    fn empty(hall: &str, name: &str) -> HallRow {
        HallRow {
            hall: hall.to_owned(),
            name: name.to_owned(),
            issued: 0,
            no_show: 0,
            service: Service::default(),
            attendance: Attendance::default(),
            rating_loop: RatingLoop::default(),
            cases: Pair::default(),
            cases_on_time_rate: None,
        }
    }

    fn finish_rates(&mut self) {
        self.cases_on_time_rate = self.cases.rate();
    }

    /// Add a hall's counts (not its samples: the total's service figures come from them all).
    fn absorb(&mut self, h: &HallRow) {
        self.issued += h.issued;
        self.no_show += h.no_show;
        self.attendance.signed_in_s += h.attendance.signed_in_s;
        self.attendance.absences += h.attendance.absences;
        self.attendance.covered_absences += h.attendance.covered_absences;
        self.rating_loop.absorb(&h.rating_loop);
        self.cases.add((h.cases.on_time, h.cases.late));
    }
}
