//! An assessment report as one CSV sheet: a row per hall, window and officer and a total row,
//! told apart by the `level` column, for the spreadsheet the hall's office keeps.

use super::{Attendance, RatingLoop, Report, Service};

const HEADER: &str = "level,period,hall,window,officer,staff_no,served,wait_p50_s,wait_p90_s,service_p50_s,service_p90_s,rated,satisfaction_rate,bad_ratings,rectified_on_time,rectified_late,complaints_received,complaints_closed_on_time,complaints_closed_late,signed_in_h,absences,covered_absences,cases_on_time,cases_overdue\n";

/// The report as CSV. Fields are quoted when they hold a comma, quote or line break.
pub fn render(r: &Report) -> String {
    let mut out = String::from(HEADER);
    let counts = |p: super::Pair| [p.on_time.to_string(), p.late.to_string()];
    for h in r.halls.iter().chain(std::iter::once(&r.total)) {
        let level = if h.hall == "*" { "total" } else { "hall" };
        let [ko, kl] = counts(h.cases);
        row(
            &mut out,
            r,
            [level, &h.hall, "", "", ""],
            &h.service,
            &h.rating_loop,
            Some(&h.attendance),
            [&ko, &kl],
        );
    }
    for w in &r.windows {
        row(
            &mut out,
            r,
            ["window", &w.hall, &w.window, "", ""],
            &w.service,
            &w.rating_loop,
            Some(&w.attendance),
            ["", ""],
        );
    }
    for o in &r.officers {
        row(
            &mut out,
            r,
            [
                "officer",
                &o.hall,
                "",
                &o.officer,
                o.staff_no.as_deref().unwrap_or(""),
            ],
            &o.service,
            &o.rating_loop,
            Some(&o.attendance),
            ["", ""],
        );
    }
    out
}

fn row(
    out: &mut String,
    r: &Report,
    keys: [&str; 5],
    s: &Service,
    rating_loop: &RatingLoop,
    attendance: Option<&Attendance>,
    cases: [&str; 2],
) {
    let opt = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
    let rate = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
    let (hours, absences, covered) = attendance.map_or_else(Default::default, |a| {
        (
            format!("{:.2}", a.signed_in_s as f64 / 3600.0),
            a.absences.to_string(),
            a.covered_absences.to_string(),
        )
    });
    let mut fields: Vec<String> = vec![keys[0].to_owned(), r.period.name.clone()];
    fields.extend(keys[1..].iter().map(|k| (*k).to_owned()));
    fields.extend([
        s.served.to_string(),
        opt(s.wait_s.p50),
        opt(s.wait_s.p90),
        opt(s.service_s.p50),
        opt(s.service_s.p90),
        s.ratings.iter().sum::<u64>().to_string(),
        rate(s.satisfaction_rate),
        s.bad_ratings.to_string(),
    ]);
    fields.extend(
        [
            rating_loop.rectified.on_time,
            rating_loop.rectified.late,
            rating_loop.complaints_received,
            rating_loop.complaints_closed.on_time,
            rating_loop.complaints_closed.late,
        ]
        .map(|n| n.to_string()),
    );
    fields.extend([hours, absences, covered]);
    fields.extend(cases.iter().map(|c| (*c).to_owned()));
    let quoted: Vec<String> = fields.iter().map(|f| quote(f)).collect();
    out.push_str(&quoted.join(","));
    out.push('\n');
}

fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}
