//! What operations import works against what the daemon serves: the Grafana dashboard
//! (`config/grafana/hallq.json`) and the Prometheus alert rules (`config/prometheus/`) use
//! only metrics of the catalogue (`docs/METRICS.md`) that a real scrape has, every query parses
//! as PromQL, the rules pass `promtool test rules`, and a real `/metrics` passes
//! `promtool check metrics` without a lint. promtool comes from Debian's `prometheus`
//! package; `scripts/test` installs it, and under CI=true a missing promtool fails the tests
//! that need it instead of skipping them.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::*;

const DASHBOARD: &str = include_str!("../config/grafana/hallq.json");
const ALERTS: &str = include_str!("../config/prometheus/alerts.yml");
const ALERTS_TEST: &str = include_str!("../config/prometheus/alerts_test.yml");
const CATALOGUE: &str = include_str!("../docs/METRICS.md");

/// The selector every dashboard query puts on a series that carries `hall?` and `tier`: the
/// tier and hall selectors, with the empty hall allowed so that `labels = "tier"` still matches.
const HALL_SELECTOR: &str = r#"{tier=~"$tier", hall=~"$hall|""#;

/// Whether `tool` can run; under CI a missing tool is a failure.
fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is missing; scripts/test installs it (Debian package prometheus)"
        );
        eprintln!("skipping: {tool} is not installed (scripts/test installs it)");
    }
    found
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Run promtool; returns (success, stdout + stderr).
fn promtool(args: &[&str], stdin: Option<&Path>) -> (bool, String) {
    let mut cmd = Command::new("promtool");
    cmd.args(args);
    if let Some(file) = stdin {
        cmd.stdin(Stdio::from(std::fs::File::open(file).unwrap()));
    }
    let out = cmd.output().expect("promtool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

// ----------------------------------------------------------------------------------------
// The catalogue, the dashboard's and the rules' expressions.

/// One row of the catalogue table: the metric's type and labels (`hall?` stays as written).
struct Entry {
    kind: String,
    labels: Vec<String>,
}

fn catalogue() -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    for line in CATALOGUE.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // "| `name` | type | labels | what |" splits into ["", name, type, labels, what, ""].
        if cells.len() < 5 || !cells[1].starts_with("`hallq_") {
            continue;
        }
        let labels = cells[3]
            .split(',')
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect();
        out.insert(
            cells[1].trim_matches('`').to_owned(),
            Entry {
                kind: cells[2].to_owned(),
                labels,
            },
        );
    }
    assert!(
        out.len() >= 20,
        "docs/METRICS.md's catalogue table parses ({} rows)",
        out.len()
    );
    out
}

/// Every `hallq_…` identifier in `text`, in order.
fn metric_names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("hallq_") {
        let before = rest[..at].chars().next_back();
        let tail = &rest[at..];
        let len = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.push(tail[..len].to_owned());
        }
        rest = &tail[len..];
    }
    out
}

/// A histogram's series name (`_bucket`, `_count`, `_sum`) as (base, suffix), when the base
/// is a histogram of the catalogue.
fn histogram_part<'a>(
    name: &'a str,
    catalogue: &BTreeMap<String, Entry>,
) -> Option<(&'a str, &'a str)> {
    ["_bucket", "_count", "_sum"]
        .into_iter()
        .find_map(|suffix| {
            let base = name.strip_suffix(suffix)?;
            (catalogue.get(base)?.kind == "histogram").then_some((base, suffix))
        })
}

/// The dashboard's queries: (where, PromQL) for every panel target and annotation, and the
/// template variables' `label_values(…)` queries separately (not PromQL).
struct DashboardQueries {
    promql: Vec<(String, String)>,
    variables: Vec<(String, String)>,
}

fn dashboard() -> Value {
    serde_json::from_str(DASHBOARD).expect("config/grafana/hallq.json is JSON")
}

fn dashboard_queries(d: &Value) -> DashboardQueries {
    let mut promql = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().into_iter().flatten() {
            promql.push((
                format!(
                    "panel {} ({}) target {}",
                    p["id"],
                    p["title"].as_str().unwrap_or_default(),
                    t["refId"].as_str().unwrap_or_default()
                ),
                t["expr"]
                    .as_str()
                    .expect("every target has an expr")
                    .to_owned(),
            ));
        }
        assert!(
            p["panels"].as_array().is_none_or(Vec::is_empty),
            "rows are not collapsed, so every panel is at the top level: {}",
            p["title"]
        );
    }
    for a in d["annotations"]["list"].as_array().into_iter().flatten() {
        if let Some(e) = a["expr"].as_str() {
            promql.push((
                format!("annotation {}", a["name"].as_str().unwrap_or_default()),
                e.to_owned(),
            ));
        }
    }
    let mut variables = Vec::new();
    for v in d["templating"]["list"].as_array().expect("templating") {
        if v["type"] == "query" {
            let q = v["query"]["query"].as_str().or(v["query"].as_str());
            variables.push((
                format!("variable {}", v["name"].as_str().unwrap_or_default()),
                q.expect("a query variable has a query").to_owned(),
            ));
        }
    }
    DashboardQueries { promql, variables }
}

/// The `expr:` values of a rules file: inline, quoted, or a `|`/`>` block.
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let indent = line.len() - line.trim_start().len();
        let rest = rest.trim();
        if rest.starts_with('|') || rest.starts_with('>') {
            let block: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
                .copied()
                .collect();
            out.push(block.join("\n"));
        } else {
            out.push(rest.trim_matches(|c| c == '\'' || c == '"').to_owned());
        }
    }
    out
}

/// Every metric the dashboard and the rules use, with where it is used.
fn used_metrics() -> BTreeMap<String, BTreeSet<String>> {
    let q = dashboard_queries(&dashboard());
    let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (at, e) in q.promql.iter().chain(&q.variables) {
        for n in metric_names(e) {
            used.entry(n).or_default().insert(format!("dashboard {at}"));
        }
    }
    for e in rule_exprs(ALERTS) {
        for n in metric_names(&e) {
            used.entry(n).or_default().insert("alerts.yml".to_owned());
        }
    }
    used
}

#[test]
fn the_dashboard_and_the_rules_use_only_catalogue_metrics() {
    let catalogue = catalogue();
    let used = used_metrics();
    assert!(
        used.len() >= 20,
        "the expressions were found: {:?}",
        used.keys()
    );
    for (name, at) in &used {
        let base = histogram_part(name, &catalogue).map_or(name.as_str(), |(b, _)| b);
        assert!(
            catalogue.contains_key(base),
            "{name} ({at:?}) is not in docs/METRICS.md's catalogue"
        );
        assert!(
            catalogue[base].kind != "histogram" || base != name,
            "{name} ({at:?}) is a histogram: use {name}_bucket, _count or _sum"
        );
    }
    // Each of the issue's subjects is on the dashboard or in the rules.
    let covered: BTreeSet<&str> = used
        .keys()
        .map(|n| histogram_part(n, &catalogue).map_or(n.as_str(), |(b, _)| b))
        .collect();
    let unused: Vec<&String> = catalogue
        .keys()
        .filter(|n| !covered.contains(n.as_str()))
        .collect();
    assert!(
        unused.is_empty(),
        "every catalogue metric is on the dashboard or in the rules; unused: {unused:?}"
    );
    assert!(
        rule_exprs(ALERTS).len() >= 6,
        "alerts.yml's expressions were found"
    );
}

#[test]
fn the_dashboard_is_a_grafana_model_with_tier_and_hall_selectors() {
    let d = dashboard();
    assert!(
        d["schemaVersion"].as_u64().unwrap() >= 38,
        "Grafana 10+ model"
    );
    assert_eq!(d["uid"], "hallq");
    let vars = d["templating"]["list"].as_array().unwrap();
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("variable ${name}"))
    };
    assert_eq!(
        (
            var("datasource")["type"].as_str(),
            var("datasource")["query"].as_str()
        ),
        (Some("datasource"), Some("prometheus"))
    );
    let queries = dashboard_queries(&d).variables;
    let query_of = |name: &str| {
        queries
            .iter()
            .find(|(at, _)| at == &format!("variable {name}"))
            .map(|(_, q)| q.as_str())
            .unwrap()
    };
    assert_eq!(query_of("tier"), "label_values(hallq_queue_length, tier)");
    assert_eq!(
        query_of("hall"),
        r#"label_values(hallq_queue_length{tier=~"$tier"}, hall)"#,
        "halls are filtered by the selected tiers"
    );
    for name in ["tier", "hall"] {
        let v = var(name);
        assert_eq!(
            (
                v["multi"].as_bool(),
                v["includeAll"].as_bool(),
                v["allValue"].as_str()
            ),
            (Some(true), Some(true), Some(".*")),
            "${name} is multi-select with All"
        );
        assert_eq!(v["datasource"]["uid"], "${datasource}");
    }

    let catalogue = catalogue();
    let panels = d["panels"].as_array().unwrap();
    let rows: Vec<&str> = panels
        .iter()
        .filter(|p| p["type"] == "row")
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for want in [
        "Queues & waits",
        "Windows",
        "Satisfaction",
        "Deadlines & alarms",
        "Daemon health",
    ] {
        assert!(
            rows.iter().any(|r| r.starts_with(want)),
            "a row {want}: {rows:?}"
        );
    }
    let mut ids = BTreeSet::new();
    let mut cells: HashMap<(u64, u64), &str> = HashMap::new();
    for p in panels {
        let title = p["title"].as_str().unwrap();
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "panel ids are unique"
        );
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64().unwrap(),
            g["y"].as_u64().unwrap(),
            g["w"].as_u64().unwrap(),
            g["h"].as_u64().unwrap(),
        );
        assert!(
            x + w <= 24 && w > 0 && h > 0,
            "{title} fits the 24-column grid"
        );
        for cx in x..x + w {
            for cy in y..y + h {
                if let Some(other) = cells.insert((cx, cy), title) {
                    panic!("{title} overlaps {other}");
                }
            }
        }
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title} has a query");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{title}");
        }
    }

    // Series that carry `hall?` and `tier` are always selected by tier and hall, with the
    // empty hall allowed: in `labels = "tier"` mode there is no hall label to match.
    for (at, expr) in dashboard_queries(&d).promql {
        let mut rest = expr.as_str();
        while let Some(i) = rest.find("hallq_") {
            let name = &metric_names(&rest[i..])[0];
            let base = histogram_part(name, &catalogue).map_or(name.as_str(), |(b, _)| b);
            let after = &rest[i + name.len()..];
            if catalogue[base].labels.iter().any(|l| l == "hall?") {
                assert!(
                    after.starts_with(HALL_SELECTOR),
                    "{at}: {name} is selected by {HALL_SELECTOR}…}}: {expr}"
                );
            }
            rest = after;
        }
    }
}

/// Grafana's variables replaced by what Prometheus would get, in hall mode or tier mode.
fn expand(expr: &str, hall: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$__range", "12h")
        .replace("$__interval", "1m")
        .replace("$tier", "(county|township)")
        .replace("$hall", hall)
}

#[test]
fn every_dashboard_query_parses_as_promql() {
    if !have("promtool") {
        return;
    }
    // promtool parses rules; each query becomes a recording rule, once with halls selected
    // and once as in tier mode, where the hall selector has no values.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let queries = dashboard_queries(&dashboard()).promql;
    for (i, (at, expr)) in queries.iter().enumerate() {
        for (mode, hall) in [("hall", "(h1|h2)"), ("tier", "")] {
            let e = expand(expr, hall);
            assert!(!e.contains('$'), "{at}: an unknown variable in {e}");
            rules += &format!(
                "      # {at}\n      - record: dashboard:query_{i}:{mode}\n        expr: {}\n",
                serde_json::to_string(&e).unwrap()
            );
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard-queries.yml");
    std::fs::write(&file, &rules).unwrap();
    let (ok, out) = promtool(&["check", "rules", file.to_str().unwrap()], None);
    assert!(ok, "a dashboard query does not parse:\n{out}\n{rules}");
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", queries.len() * 2)),
        "{out}"
    );
}

#[test]
fn the_alert_rules_check_and_their_unit_tests_pass() {
    if !have("promtool") {
        return;
    }
    let (ok, out) = promtool(
        &[
            "check",
            "rules",
            repo("config/prometheus/alerts.yml").to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "promtool check rules:\n{out}");
    let (ok, out) = promtool(
        &[
            "test",
            "rules",
            repo("config/prometheus/alerts_test.yml").to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "promtool test rules:\n{out}");
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn every_alert_has_a_firing_and_a_quiet_unit_test() {
    let alerts: BTreeSet<&str> = ALERTS
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert:"))
        .map(str::trim)
        .collect();
    assert!(alerts.len() >= 6, "alerts found: {alerts:?}");
    let lines: Vec<&str> = ALERTS_TEST.lines().map(str::trim).collect();
    let (mut firing, mut quiet) = (BTreeSet::new(), BTreeSet::new());
    for (i, l) in lines.iter().enumerate() {
        let Some(name) = l.strip_prefix("alertname:") else {
            continue;
        };
        let next = lines[i + 1..].iter().find(|l| !l.is_empty()).unwrap();
        if *next == "exp_alerts: []" {
            quiet.insert(name.trim());
        } else {
            assert_eq!(*next, "exp_alerts:", "after alertname {name}");
            firing.insert(name.trim());
        }
    }
    for a in &alerts {
        assert!(firing.contains(a), "alerts_test.yml never sees {a} fire");
        assert!(
            quiet.contains(a),
            "alerts_test.yml never checks {a} stays quiet"
        );
    }
    for a in firing.union(&quiet) {
        assert!(
            alerts.contains(a),
            "alerts_test.yml tests {a}, which alerts.yml lacks"
        );
    }
}

// ----------------------------------------------------------------------------------------
// A real daemon, a workload, a real scrape.

/// One sample of a scrape.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The scrape's samples and its `# TYPE` lines.
struct Scrape {
    samples: Vec<Sample>,
    types: BTreeMap<String, String>,
}

fn parse_scrape(text: &str) -> Scrape {
    let mut samples = Vec::new();
    let mut types = BTreeMap::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("# TYPE ") {
            let (name, kind) = t.split_once(' ').expect("# TYPE name kind");
            types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let name_end = line.find(['{', ' ']).expect("a sample line");
        let name = line[..name_end].to_owned();
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices();
            let mut key = String::new();
            let mut end = 0;
            while let Some((i, c)) = chars.next() {
                match c {
                    '}' => {
                        end = i + 1;
                        break;
                    }
                    ',' | ' ' => {}
                    '=' => {
                        assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
                        let mut value = String::new();
                        while let Some((_, c)) = chars.next() {
                            match c {
                                '\\' => value.push(chars.next().expect("escape").1),
                                '"' => break,
                                c => value.push(c),
                            }
                        }
                        labels.insert(std::mem::take(&mut key), value);
                    }
                    c => key.push(c),
                }
            }
            rest = &body[end..];
        }
        let value = rest.split_whitespace().next().expect("a value");
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("a number in {line}")),
        };
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    Scrape { samples, types }
}

impl Scrape {
    /// The sum of `name`'s samples whose labels include `with`.
    fn sum(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.matching(name, with).map(|s| s.value).sum()
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        with: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && with
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }
}

/// A case accepted `days` days ago (timestamp as RFC 3339).
#[allow(
    clippy::disallowed_methods,
    reason = "cases are accepted relative to the real now the daemon sees"
)]
fn days_ago(days: i64) -> String {
    (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * days))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Subscribe to `GET path` as an SSE stream.
async fn subscribe_to(
    base: &str,
    path: &str,
    token: &str,
) -> tokio::sync::mpsc::UnboundedReceiver<Sse> {
    let resp = client()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(3600))
        .send()
        .await
        .expect("stream request");
    assert_eq!(resp.status(), StatusCode::OK, "{path} answers 200");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut events = eventsource_stream::EventStream::new(resp.bytes_stream());
        while let Some(Ok(e)) = events.next().await {
            let parsed = Sse {
                id: e.id.parse().unwrap_or(0),
                event: e.event,
                data: serde_json::from_str(&e.data).unwrap_or(Value::Null),
            };
            if tx.send(parsed).is_err() {
                return;
            }
        }
    });
    rx
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn post(&self, token: &str, path: &str, body: Value) -> Resp {
        call(
            &self.http,
            Method::POST,
            format!("{}{path}", self.base),
            Some(token),
            Some(body.to_string()),
            &[],
        )
        .await
    }

    /// POST that must answer `status`; returns the body.
    async fn ok(&self, token: &str, path: &str, body: Value, status: u16) -> Value {
        let r = self.post(token, path, body).await;
        assert_eq!(r.status.as_u16(), status, "POST {path}: {:?}", r.body);
        r.body
    }
}

/// A webhook no one listens on (the discard port on loopback): its series are in the scrape.
const NOWHERE_WEBHOOK: &str = r#"
[[webhook]]
name = "gateway"
url = "http://127.0.0.1:9/hook"
secret = "ops-test-secret-0123456789"
"#;

/// What the workload did, for checking the scrape against.
const ISSUED_H1: f64 = 6.0;

/// Start the real daemon with `config_prefix` before the test config (cases, alarms, two
/// windows in h1), run a workload that touches every part of the catalogue, and return the
/// `/metrics` text while the SSE subscribers are still connected.
async fn workload_scrape(config_prefix: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let proc = Hallq::config(
        dir.path(),
        &format!(
            "{config_prefix}{}{NOWHERE_WEBHOOK}",
            case_config(dir.path(), 2)
        ),
    )
    .spawn();
    let c = Client {
        http: client(),
        base: proc.base.clone(),
    };

    // A hall display and a supervision consumer are watching.
    let mut display = subscribe(&c.base, "h1", DISPLAY, None).await;
    let mut alarms = subscribe_to(&c.base, "/v1/alarms/events", ADMIN).await;

    // The queue: six tickets in h1, one cancelled; three served and rated (5, 4 and a bad 2,
    // which opens a rectification), one no-show; one left waiting.
    for w in ["w1", "w2"] {
        c.ok(
            COUNTER,
            &format!("/v1/halls/h1/windows/{w}/open"),
            json!({}),
            200,
        )
        .await;
    }
    let mut tickets = Vec::new();
    for (service, class) in [
        ("s", "normal"),
        ("s", "priority"),
        ("t", "normal"),
        ("s", "normal"),
        ("t", "normal"),
        ("s", "normal"),
    ] {
        let t = c
            .ok(
                KIOSK,
                "/v1/halls/h1/tickets",
                json!({"service": service, "class": class}),
                201,
            )
            .await;
        tickets.push(t["id"].as_str().unwrap().to_owned());
    }
    c.ok(
        KIOSK,
        &format!("/v1/halls/h1/tickets/{}/cancel", tickets[5]),
        json!({}),
        200,
    )
    .await;
    for rating in [5, 4, 2] {
        c.ok(COUNTER, "/v1/halls/h1/windows/w1/call", json!({}), 200)
            .await;
        c.ok(COUNTER, "/v1/halls/h1/windows/w1/start", json!({}), 200)
            .await;
        c.ok(
            COUNTER,
            "/v1/halls/h1/windows/w1/complete",
            json!({"evaluation": rating}),
            200,
        )
        .await;
    }
    c.ok(COUNTER, "/v1/halls/h1/windows/w2/call", json!({}), 200)
        .await;
    c.ok(COUNTER, "/v1/halls/h1/windows/w2/no-show", json!({}), 200)
        .await;
    // The display saw the work (it is fed only durable events).
    let mut calls = 0;
    while calls < 4 {
        if next(&mut display, "the display's call events").await.event == "called" {
            calls += 1;
        }
    }

    // Cases: three accepted five days ago on a two-day limit, so yellow, red and escalate
    // are all past and fire at once; one of them then completes late, one is extended so
    // its levels clear, one stays open and overdue. Two fresh ones complete on time and are
    // withdrawn.
    for id in ["LATE-OPEN", "LATE-DONE", "LATE-EXTENDED"] {
        c.ok(
            OFFICER,
            "/v1/cases",
            json!({"id": id, "hall": "h1", "matter": "DAYS-2", "accepted_at": days_ago(5)}),
            201,
        )
        .await;
    }
    let mut raised = BTreeSet::new();
    while raised.len() < 9 {
        let e = next(&mut alarms, "nine alarms of the late cases").await;
        if e.event == "alarm" {
            raised.insert(e.data["id"].as_str().unwrap().to_owned());
        }
    }
    c.ok(OFFICER, "/v1/cases/LATE-DONE/complete", json!({}), 200)
        .await;
    c.ok(
        OFFICER,
        "/v1/cases/LATE-EXTENDED/extend",
        json!({"amount": "10wd", "reason": "专家评审", "approver": "局长"}),
        200,
    )
    .await;
    let mut cleared = 0;
    while cleared < 3 {
        if next(&mut alarms, "the extended case's levels clearing")
            .await
            .event
            == "cleared"
        {
            cleared += 1;
        }
    }
    for (id, action, body) in [
        ("ON-TIME", "complete", json!({})),
        ("WITHDRAWN", "withdraw", json!({"reason": "申请人撤回"})),
    ] {
        c.ok(
            OFFICER,
            "/v1/cases",
            json!({"id": id, "hall": "h1", "matter": "DAYS-2", "accepted_at": days_ago(0)}),
            201,
        )
        .await;
        c.ok(OFFICER, &format!("/v1/cases/{id}/{action}"), body, 200)
            .await;
    }

    // The scrape: plain HTTP, no token, as Prometheus does it. The shards refresh the queue
    // and window gauges every five seconds, so scrape until they show the one ticket left
    // waiting (the county tier's only one, in either label mode) and the last request, the
    // withdrawal, is counted.
    let mut last = String::new();
    for _ in 0..120 {
        let r = c
            .http
            .get(format!("{}/metrics", c.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "GET /metrics");
        let ctype = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        assert!(
            ctype.starts_with("text/plain"),
            "exposition format: {ctype}"
        );
        last = r.text().await.unwrap();
        let scrape = parse_scrape(&last);
        let county = [("tier", "county")];
        if scrape.matching("hallq_queue_length", &county).count() > 0
            && scrape.sum("hallq_queue_length", &county) == 1.0
            && scrape.sum(
                "hallq_cases_closed_total",
                &[("tier", "county"), ("outcome", "withdrawn")],
            ) == 1.0
        {
            drop((display, alarms));
            proc.kill();
            return last;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("after 30 s /metrics still does not show the workload's end:\n{last}");
}

/// `promtool check metrics` reads the scrape on stdin and prints nothing when it is clean.
/// One lint is expected: `hallq_calendar_horizon_days` counts whole civil days in the
/// calendar's zone (a difference of dates, not a duration), which promtool's unit rule would
/// have in seconds; docs/METRICS.md says why.
fn check_metrics(text: &str) {
    const EXPECTED: &str =
        "hallq_calendar_horizon_days use base unit \"seconds\" instead of \"days\"";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, text).unwrap();
    let (_, out) = promtool(&["check", "metrics"], Some(&file));
    let problems: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != EXPECTED)
        .collect();
    assert!(
        problems.is_empty(),
        "promtool check metrics reports problems:\n{out}"
    );
}

/// Every metric the dashboard and the rules use has samples in the scrape, and histograms
/// are histograms.
fn check_used_metrics_exist(scrape: &Scrape) {
    let catalogue = catalogue();
    let names: BTreeSet<&str> = scrape.samples.iter().map(|s| s.name.as_str()).collect();
    let mut missing = Vec::new();
    for (name, at) in used_metrics() {
        match histogram_part(&name, &catalogue) {
            Some((base, _)) => {
                assert_eq!(
                    scrape.types.get(base).map(String::as_str),
                    Some("histogram"),
                    "{base} is a histogram in the scrape"
                );
                if !names.contains(name.as_str()) {
                    missing.push(format!("{name} (used by {at:?})"));
                }
            }
            None => {
                if !names.contains(name.as_str()) {
                    missing.push(format!("{name} (used by {at:?})"));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the scrape lacks metrics the dashboard or the rules use:\n{}",
        missing.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_scrape_passes_promtool_and_has_every_metric_the_dashboard_and_rules_use() {
    if !have("promtool") {
        return;
    }
    let text = workload_scrape("").await;
    check_metrics(&text);
    let scrape = parse_scrape(&text);
    check_used_metrics_exist(&scrape);

    // The workload shows as the catalogue says, with hall and tier on hall series.
    let h1 = [("hall", "h1"), ("tier", "county")];
    let at = |extra: &[(&'static str, &'static str)]| -> Vec<(&'static str, &'static str)> {
        h1.iter().chain(extra).copied().collect()
    };
    for (name, labels, want) in [
        ("hallq_tickets_issued_total", at(&[]), ISSUED_H1),
        (
            "hallq_tickets_issued_total",
            at(&[("class", "priority")]),
            1.0,
        ),
        ("hallq_tickets_called_total", at(&[]), 4.0),
        ("hallq_tickets_served_total", at(&[]), 3.0),
        ("hallq_tickets_no_show_total", at(&[]), 1.0),
        ("hallq_tickets_cancelled_total", at(&[]), 1.0),
        ("hallq_queue_length", at(&[]), 1.0),
        (
            "hallq_queue_target_wait_seconds",
            at(&[("service", "s")]),
            60.0,
        ),
        ("hallq_wait_seconds_count", at(&[]), 4.0),
        ("hallq_service_seconds_count", at(&[]), 3.0),
        ("hallq_ratings_total", at(&[]), 3.0),
        ("hallq_ratings_total", at(&[("rating", "2")]), 1.0),
        ("hallq_cases_open", at(&[("level", "escalate")]), 1.0),
        (
            "hallq_cases_closed_total",
            at(&[("outcome", "overdue")]),
            1.0,
        ),
        (
            "hallq_cases_closed_total",
            at(&[("outcome", "on_time")]),
            1.0,
        ),
        (
            "hallq_cases_closed_total",
            at(&[("outcome", "withdrawn")]),
            1.0,
        ),
        ("hallq_alarms_raised_total", at(&[("level", "red")]), 3.0),
        (
            "hallq_alarms_raised_total",
            at(&[("level", "escalate")]),
            3.0,
        ),
        (
            "hallq_alarms_cleared_total",
            at(&[("level", "escalate")]),
            1.0,
        ),
        ("hallq_store_failures_total", vec![], 0.0),
        ("hallq_build_info", vec![], 1.0),
    ] {
        assert_eq!(
            scrape.sum(name, &labels),
            want,
            "{name}{labels:?} after the workload"
        );
    }
    assert_eq!(
        scrape.sum("hallq_windows", &at(&[])),
        2.0,
        "h1's two windows, whatever their state"
    );
    for stream in ["hall", "alarms"] {
        assert!(
            scrape.sum("hallq_sse_subscribers", &[("stream", stream)]) >= 1.0,
            "the {stream} subscriber is counted"
        );
    }
    for (name, label) in [
        ("hallq_overload_rejections_total", "queue"),
        ("hallq_sse_dropped_total", "stream"),
    ] {
        assert!(
            scrape.matching(name, &[]).count() >= 2
                && scrape
                    .matching(name, &[])
                    .all(|s| s.labels.contains_key(label)),
            "{name} exists from start-up for every {label}, so increase() works from the first scrape"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_tier_mode_the_scrape_is_clean_and_has_every_metric_without_hall() {
    if !have("promtool") {
        return;
    }
    let text = workload_scrape("[metrics]\nlabels = \"tier\"\n").await;
    check_metrics(&text);
    let scrape = parse_scrape(&text);
    check_used_metrics_exist(&scrape);
    let catalogue = catalogue();
    for s in &scrape.samples {
        assert!(
            !s.labels.contains_key("hall"),
            "no series names a hall in tier mode: {s:?}"
        );
        let base = histogram_part(&s.name, &catalogue).map_or(s.name.as_str(), |(b, _)| b);
        if catalogue
            .get(base)
            .is_some_and(|e| e.labels.iter().any(|l| l == "hall?"))
        {
            assert!(s.labels.contains_key("tier"), "{s:?} carries its tier");
        }
    }
    // h1 is the county tier's only hall with tickets: its work shows under tier="county".
    assert_eq!(
        scrape.sum("hallq_tickets_issued_total", &[("tier", "county")]),
        ISSUED_H1
    );
    assert_eq!(
        scrape.sum(
            "hallq_cases_open",
            &[("tier", "county"), ("level", "escalate")]
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_daemon_already_exports_every_metric_the_dashboard_and_rules_use() {
    // Before the first ticket, case or alarm, and before any gauge refresh: a dashboard or
    // an alert rule must read 0, never "No data".
    let dir = tempfile::tempdir().unwrap();
    let config = format!("{}{NOWHERE_WEBHOOK}", case_config(dir.path(), 2));
    let proc = Hallq::config(dir.path(), &config).spawn();
    let text = client()
        .get(format!("{}/metrics", proc.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let scrape = parse_scrape(&text);
    check_used_metrics_exist(&scrape);
    // The hall's series is there at 0, not missing (a sum of nothing would also be 0).
    assert!(
        scrape
            .matching("hallq_cases_open", &[("hall", "h1")])
            .next()
            .is_some(),
        "hallq_cases_open has a series for h1"
    );
    assert_eq!(scrape.sum("hallq_cases_open", &[("hall", "h1")]), 0.0);
    proc.kill();
}
