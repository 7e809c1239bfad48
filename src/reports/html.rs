//! An assessment report as a printable HTML page: the tables of `Report` and its charts drawn
//! as inline SVG on the server, so the page needs no script and prints as it shows (A4, the
//! charts kept whole on a page). Every text from the config or the store is escaped here.

use std::fmt::Write;

use super::{Attendance, RatingLoop, Report, Service};

/// The report's stylesheet: inline in the page (a saved report prints as it showed), and
/// served as `/web/report.css` for the report viewer page, which shows the page's body under
/// a Content-Security-Policy that allows no inline style.
pub const STYLE: &str = r#"body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:24px;color:#1b1f24}
h1{font-size:22px;margin:0 0 4px} .sub{color:#555;margin:0 0 16px}
h2{font-size:17px;margin:22px 0 8px;border-bottom:2px solid #b22;padding-bottom:3px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border:1px solid #bbb;padding:3px 6px;text-align:right} th{background:#f3f3f3}
td.k,th.k{text-align:left} tr.total td{font-weight:bold;background:#fafafa}
.charts{display:flex;flex-wrap:wrap;gap:18px} figure{margin:0;break-inside:avoid}
figcaption{font-size:13px;color:#333;margin-bottom:4px}
@media print{body{margin:10mm} h2{break-after:avoid} table{break-inside:auto}}
"#;

/// The page for `r`.
pub fn render(r: &Report) -> String {
    let title = format!(
        "{} {} · {}{}",
        r.title,
        r.period.name,
        r.hall,
        if r.subtree { " 及下级" } else { "" }
    );
    let mut h = String::with_capacity(16 * 1024);
    let _ = write!(
        h,
        r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t}</title>
<style>
{STYLE}</style></head><body>
<h1>{t}</h1>
<p class="sub">{from} — {to}（数据截至 {through}）</p>
"#,
        t = esc(&title),
        from = r.period.from,
        to = r.period.to,
        through = r.through,
    );
    charts(&mut h, r);
    halls(&mut h, r);
    windows(&mut h, r);
    officers(&mut h, r);
    h.push_str("</body></html>\n");
    h
}

fn charts(h: &mut String, r: &Report) {
    h.push_str("<h2>图表</h2><div class=\"charts\">");
    let days: Vec<(String, f64)> = r
        .days
        .iter()
        .map(|d| (d.day.strftime("%m-%d").to_string(), d.served as f64))
        .collect();
    figure(
        h,
        "每日办件量（已办结）",
        &columns(&days, "#2f6db5", |v| format!("{v:.0}")),
    );
    let ratings: Vec<(String, f64)> = ["非常不满意", "不满意", "基本满意", "满意", "非常满意"]
        .iter()
        .zip(r.total.service.ratings)
        .map(|(l, n)| ((*l).to_owned(), n as f64))
        .collect();
    figure(
        h,
        "评价分布",
        &columns(&ratings, "#c0392b", |v| format!("{v:.0}")),
    );
    let satisfaction: Vec<(String, f64)> = r
        .halls
        .iter()
        .map(|x| {
            let label = if x.name.is_empty() { &x.hall } else { &x.name };
            (
                label.clone(),
                x.service.satisfaction_rate.unwrap_or(0.0) * 100.0,
            )
        })
        .collect();
    figure(
        h,
        "各大厅满意率（%）",
        &bars(&satisfaction, 100.0, |v| format!("{v:.1}%")),
    );
    let hours: Vec<(String, f64)> = r
        .officers
        .iter()
        .map(|o| (o.officer.clone(), o.attendance.signed_in_s as f64 / 3600.0))
        .collect();
    let top = hours.iter().map(|(_, v)| *v).fold(0.0, f64::max);
    figure(
        h,
        "在岗时长（小时）",
        &bars(&hours, top, |v| format!("{v:.1}")),
    );
    h.push_str("</div>");
}

fn figure(h: &mut String, caption: &str, svg: &str) {
    let _ = write!(
        h,
        "<figure><figcaption>{}</figcaption>{svg}</figure>",
        esc(caption)
    );
}

/// Vertical bars, one per label, scaled to the largest value.
fn columns(data: &[(String, f64)], colour: &str, fmt: impl Fn(f64) -> String) -> String {
    let (w, ht, base) = (460.0, 220.0, 180.0);
    let top = data.iter().map(|(_, v)| *v).fold(0.0, f64::max).max(1.0);
    let n = data.len().max(1) as f64;
    let step = (w - 40.0) / n;
    let bar = (step * 0.7).max(1.0);
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{ht}" viewBox="0 0 {w} {ht}" role="img">"#
    );
    let _ = write!(
        s,
        r##"<line x1="30" y1="{base}" x2="{w}" y2="{base}" stroke="#888"/>"##
    );
    // Label every bar when they fit, else about ten of them.
    let every = (data.len() / 10).max(1);
    for (i, (label, v)) in data.iter().enumerate() {
        let x = 34.0 + i as f64 * step;
        let bh = (v / top) * (base - 20.0);
        let _ = write!(
            s,
            r#"<rect x="{x:.1}" y="{:.1}" width="{bar:.1}" height="{bh:.1}" fill="{colour}"><title>{}: {}</title></rect>"#,
            base - bh,
            esc(label),
            fmt(*v)
        );
        if data.len() <= 12 && *v > 0.0 {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"#,
                x + bar / 2.0,
                base - bh - 3.0,
                fmt(*v)
            );
        }
        if i % every == 0 {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"#,
                x + bar / 2.0,
                base + 14.0,
                esc(label)
            );
        }
    }
    let _ = write!(
        s,
        r#"<text x="26" y="24" font-size="10" text-anchor="end">{}</text></svg>"#,
        fmt(top)
    );
    s
}

/// Horizontal bars, one per label, against `max` (at least the largest value).
fn bars(data: &[(String, f64)], max: f64, fmt: impl Fn(f64) -> String) -> String {
    let row = 22.0;
    let (w, label_w) = (460.0, 130.0);
    let ht = (data.len().max(1) as f64) * row + 10.0;
    let max = data.iter().map(|(_, v)| *v).fold(max, f64::max).max(1e-9);
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{ht}" viewBox="0 0 {w} {ht}" role="img">"#
    );
    for (i, (label, v)) in data.iter().enumerate() {
        let y = 5.0 + i as f64 * row;
        let bw = (v / max) * (w - label_w - 60.0);
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end">{}</text><rect x="{label_w}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="#2e8b57"/><text x="{:.1}" y="{:.1}" font-size="11">{}</text>"##,
            label_w - 6.0,
            y + 14.0,
            esc(label),
            y + 3.0,
            row - 8.0,
            label_w + bw + 4.0,
            y + 14.0,
            fmt(*v)
        );
    }
    s.push_str("</svg>");
    s
}

const FIGURES: &str = "<th>办结</th><th>等候P50</th><th>等候P90</th><th>办理P50</th><th>办理P90</th><th>评价数</th><th>满意率</th><th>差评</th>";

fn service_cells(h: &mut String, s: &Service) {
    let _ = write!(
        h,
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
        s.served,
        dur(s.wait_s.p50),
        dur(s.wait_s.p90),
        dur(s.service_s.p50),
        dur(s.service_s.p90),
        s.ratings.iter().sum::<u64>(),
        pct(s.satisfaction_rate),
        s.bad_ratings
    );
}

fn attendance_cells(h: &mut String, a: &Attendance) {
    let _ = write!(
        h,
        "<td>{:.1}</td><td>{}</td><td>{}</td>",
        a.signed_in_s as f64 / 3600.0,
        a.absences,
        a.covered_absences
    );
}

/// The rating loop's headings and cells, the same in every table.
const LOOP: &str =
    "<th>差评按时整改</th><th>超时整改</th><th>投诉</th><th>投诉按时办结</th><th>投诉超时办结</th>";

fn loop_cells(h: &mut String, l: &RatingLoop) {
    let _ = write!(
        h,
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
        l.rectified.on_time,
        l.rectified.late,
        l.complaints_received,
        l.complaints_closed.on_time,
        l.complaints_closed.late
    );
}

fn halls(h: &mut String, r: &Report) {
    let _ = write!(
        h,
        "<h2>大厅</h2><table id=\"halls\"><tr><th class=\"k\">大厅</th><th>取号</th>{FIGURES}{LOOP}<th>在岗小时</th><th>离岗</th><th>顶岗</th><th>按时办结件</th><th>超期件</th></tr>"
    );
    for x in r.halls.iter().chain(std::iter::once(&r.total)) {
        let total = x.hall == "*";
        let name = if total {
            "合计".to_owned()
        } else if x.name.is_empty() {
            x.hall.clone()
        } else {
            format!("{}（{}）", x.name, x.hall)
        };
        let _ = write!(
            h,
            "<tr{} data-hall=\"{}\"><td class=\"k\">{}</td><td>{}</td>",
            if total { " class=\"total\"" } else { "" },
            esc(&x.hall),
            esc(&name),
            x.issued
        );
        service_cells(h, &x.service);
        loop_cells(h, &x.rating_loop);
        attendance_cells(h, &x.attendance);
        let _ = write!(
            h,
            "<td>{}</td><td>{}</td></tr>",
            x.cases.on_time, x.cases.late
        );
    }
    h.push_str("</table>");
}

fn windows(h: &mut String, r: &Report) {
    let _ = write!(
        h,
        "<h2>窗口</h2><table id=\"windows\"><tr><th class=\"k\">大厅</th><th class=\"k\">窗口</th>{FIGURES}{LOOP}<th>在岗小时</th><th>离岗</th><th>顶岗</th><th>利用率</th></tr>"
    );
    for w in &r.windows {
        let _ = write!(
            h,
            "<tr><td class=\"k\">{}</td><td class=\"k\">{}</td>",
            esc(&w.hall),
            esc(&w.window)
        );
        service_cells(h, &w.service);
        loop_cells(h, &w.rating_loop);
        attendance_cells(h, &w.attendance);
        let _ = write!(h, "<td>{}</td></tr>", pct(w.utilisation));
    }
    h.push_str("</table>");
}

fn officers(h: &mut String, r: &Report) {
    let _ = write!(
        h,
        "<h2>工作人员</h2><table id=\"officers\"><tr><th class=\"k\">大厅</th><th class=\"k\">姓名</th><th class=\"k\">工号</th>{FIGURES}{LOOP}<th>在岗小时</th><th>离岗</th><th>顶岗</th></tr>"
    );
    for o in &r.officers {
        let _ = write!(
            h,
            "<tr><td class=\"k\">{}</td><td class=\"k\">{}</td><td class=\"k\">{}</td>",
            esc(&o.hall),
            esc(&o.officer),
            esc(o.staff_no.as_deref().unwrap_or("—"))
        );
        service_cells(h, &o.service);
        loop_cells(h, &o.rating_loop);
        attendance_cells(h, &o.attendance);
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

fn dur(s: Option<u64>) -> String {
    s.map_or("—".to_owned(), |s| format!("{}:{:02}", s / 60, s % 60))
}

fn pct(v: Option<f64>) -> String {
    v.map_or("—".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

/// Text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
