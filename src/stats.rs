//! The statistics report (`GET /v1/stats`): one hall or a subtree of the tier tree, one day.
//!
//! Built from the halls' `DayStats` (today's from their shards, earlier days from the store)
//! and the store's per-day case counts. Percentiles come from an HDR histogram fed every
//! sample, accurate to three significant digits.

use hdrhistogram::Histogram;
use jiff::civil::Date;
use serde::Serialize;

use crate::booking::BookingDay;
use crate::queue::stats::DayStats;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub hall: String,
    pub subtree: bool,
    pub day: Date,
    /// The halls counted.
    pub halls: Vec<String>,
    /// Per hall and service: halls that share a service id keep a row each.
    pub services: Vec<ServiceReport>,
    /// Per hall, over its services (`service` is `*`).
    pub hall_totals: Vec<ServiceReport>,
    /// Over every hall and service (`hall` and `service` are `*`).
    pub total: ServiceReport,
    pub windows: WindowReport,
    pub cases: CaseReport,
    /// 预约: bookings and seats of the day's slots, per bookable service and in total.
    pub bookings: BookingReport,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BookingReport {
    /// Per service id, summed over the halls that book it.
    pub services: Vec<BookingDay>,
    pub total: BookingDay,
}

impl BookingReport {
    /// Sum the halls' booking days per service id and over all services.
    pub fn sum(days: &[BookingDay]) -> BookingReport {
        let mut out = BookingReport {
            total: BookingDay {
                service: "*".to_owned(),
                ..BookingDay::default()
            },
            ..BookingReport::default()
        };
        for d in days {
            match out.services.iter_mut().find(|s| s.service == d.service) {
                Some(s) => s.add(d),
                None => out.services.push(d.clone()),
            }
            out.total.add(d);
        }
        out
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServiceReport {
    pub hall: String,
    pub service: String,
    pub issued: u64,
    /// Served + no-show + being called or served now.
    pub called: u64,
    pub served: u64,
    pub no_show: u64,
    pub cancelled: u64,
    pub expired: u64,
    pub open: u64,
    /// No-shows among tickets whose call ended (served or no-show).
    pub no_show_rate: Option<f64>,
    /// Ratings 4 and 5 among rated tickets (好评率).
    pub satisfaction_rate: Option<f64>,
    pub ratings: [u64; 5],
    pub wait_s: Percentiles,
    pub service_s: Percentiles,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: Option<u64>,
    pub p90: Option<u64>,
    pub p99: Option<u64>,
    pub max: Option<u64>,
    pub mean: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WindowReport {
    pub windows: u64,
    pub open_s: u64,
    pub busy_s: u64,
    /// Busy seconds over open seconds.
    pub utilisation: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CaseReport {
    pub finished_on_time: u64,
    pub finished_overdue: u64,
    pub on_time_rate: Option<f64>,
}

pub(crate) fn percentiles(samples: &[u32]) -> Percentiles {
    if samples.is_empty() {
        return Percentiles::default();
    }
    let mut h = Histogram::<u64>::new(3).expect("3 significant digits is valid");
    for &s in samples {
        h.record(u64::from(s)).expect("auto-resizing histogram");
    }
    Percentiles {
        count: h.len(),
        p50: Some(h.value_at_quantile(0.5)),
        p90: Some(h.value_at_quantile(0.9)),
        p99: Some(h.value_at_quantile(0.99)),
        max: Some(h.max()),
        mean: Some(h.mean()),
    }
}

pub(crate) fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Sum the halls' days per hall and service, per hall, and over everything.
pub fn build(hall: &str, subtree: bool, day: Date, days: &[DayStats], cases: (u64, u64)) -> Report {
    #[derive(Default)]
    struct Acc {
        r: ServiceReport,
        wait: Vec<u32>,
        service: Vec<u32>,
    }
    /// The position of the (hall, service) row, added if new.
    fn row(rows: &mut Vec<Acc>, hall: &str, service: &str) -> usize {
        match rows
            .iter()
            .position(|a| a.r.hall == hall && a.r.service == service)
        {
            Some(p) => p,
            None => {
                rows.push(Acc {
                    r: ServiceReport {
                        hall: hall.to_owned(),
                        service: service.to_owned(),
                        ..ServiceReport::default()
                    },
                    ..Acc::default()
                });
                rows.len() - 1
            }
        }
    }
    let mut by_service: Vec<Acc> = Vec::new();
    let mut by_hall: Vec<Acc> = Vec::new();
    let mut total = Acc::default();
    let mut windows = WindowReport::default();
    for d in days {
        let hall_pos = row(&mut by_hall, &d.hall, "*");
        for s in &d.services {
            let service_pos = row(&mut by_service, &d.hall, &s.service);
            for acc in [
                &mut by_service[service_pos],
                &mut by_hall[hall_pos],
                &mut total,
            ] {
                let r = &mut acc.r;
                r.issued += u64::from(s.issued);
                r.served += u64::from(s.served);
                r.no_show += u64::from(s.no_show);
                r.cancelled += u64::from(s.cancelled);
                r.expired += u64::from(s.expired);
                r.open += u64::from(s.open);
                r.called += u64::from(s.served + s.no_show + s.in_service);
                for (t, n) in r.ratings.iter_mut().zip(s.ratings) {
                    *t += u64::from(n);
                }
                acc.wait.extend(&s.wait_s);
                acc.service.extend(&s.service_s);
            }
        }
        for w in &d.windows {
            windows.windows += 1;
            windows.open_s += w.open_s;
            windows.busy_s += w.busy_s;
        }
    }
    windows.utilisation = ratio(windows.busy_s, windows.open_s);
    let finish = |acc: Acc| {
        let mut r = acc.r;
        r.no_show_rate = ratio(r.no_show, r.served + r.no_show);
        r.satisfaction_rate = ratio(r.ratings[3] + r.ratings[4], r.ratings.iter().sum());
        r.wait_s = percentiles(&acc.wait);
        r.service_s = percentiles(&acc.service);
        r
    };
    let mut total = finish(total);
    total.hall = "*".to_owned();
    total.service = "*".to_owned();
    Report {
        hall: hall.to_owned(),
        subtree,
        day,
        halls: days.iter().map(|d| d.hall.clone()).collect(),
        services: by_service.into_iter().map(finish).collect(),
        hall_totals: by_hall.into_iter().map(finish).collect(),
        total,
        windows,
        cases: CaseReport {
            finished_on_time: cases.0,
            finished_overdue: cases.1,
            on_time_rate: ratio(cases.0, cases.0 + cases.1),
        },
        bookings: BookingReport::sum(&[]),
    }
}

/// The report as CSV: one row per hall and service, one per hall (`service` `*`) and a total
/// row (`hall` and `service` `*`), for the day's report sheet.
pub fn csv(r: &Report) -> String {
    let opt = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
    let rate = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
    let mut out = String::from(
        "day,hall,subtree,service,issued,called,served,no_show,cancelled,expired,open,no_show_rate,satisfaction_rate,rating_1,rating_2,rating_3,rating_4,rating_5,wait_p50_s,wait_p90_s,wait_p99_s,service_p50_s,service_p90_s,service_p99_s,window_utilisation,cases_on_time,cases_overdue\n",
    );
    let rows = r.services.iter().chain(&r.hall_totals);
    for s in rows.chain(std::iter::once(&r.total)) {
        let row = [
            r.day.to_string(),
            s.hall.clone(),
            r.subtree.to_string(),
            s.service.clone(),
            s.issued.to_string(),
            s.called.to_string(),
            s.served.to_string(),
            s.no_show.to_string(),
            s.cancelled.to_string(),
            s.expired.to_string(),
            s.open.to_string(),
            rate(s.no_show_rate),
            rate(s.satisfaction_rate),
            s.ratings[0].to_string(),
            s.ratings[1].to_string(),
            s.ratings[2].to_string(),
            s.ratings[3].to_string(),
            s.ratings[4].to_string(),
            opt(s.wait_s.p50),
            opt(s.wait_s.p90),
            opt(s.wait_s.p99),
            opt(s.service_s.p50),
            opt(s.service_s.p90),
            opt(s.service_s.p99),
            if s.hall == "*" {
                rate(r.windows.utilisation)
            } else {
                String::new()
            },
            if s.hall == "*" {
                r.cases.finished_on_time.to_string()
            } else {
                String::new()
            },
            if s.hall == "*" {
                r.cases.finished_overdue.to_string()
            } else {
                String::new()
            },
        ];
        out += &row.join(",");
        out.push('\n');
    }
    out
}
