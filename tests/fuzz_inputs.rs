//! Fuzzing in CI: arbitrary bytes, and valid bodies mutated field by field, through the
//! same parse each handler runs (`hallq::api::fuzzing`); the config, calendar and time-limit
//! parsers on arbitrary text and on mutations of the shipped files. The properties: nothing
//! panics, and a body refused although it is a JSON object gets a problem naming a field
//! (a syntax error, with no field to name, is `malformed-json`). `fuzz/` runs the same
//! targets under libFuzzer for hours; `PROPTEST_CASES` makes this one longer too.

use hallq::api::fuzzing::{BODIES, parse_body, parse_calendar, parse_config, parse_limit};
use proptest::prelude::*;
use serde_json::{Map, Value};

const CTYPES: [&str; 4] = [
    "application/json",
    "",
    "application/json; charset=utf-8",
    "text/plain",
];

/// The property every body parse keeps.
fn check(kind: &str, ctype: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    let Err(p) = parse_body(kind, ctype, bytes) else {
        return Ok(());
    };
    prop_assert!(
        p.kind.starts_with("urn:hallq:problem:"),
        "{kind}: {}",
        p.kind
    );
    prop_assert!(!p.detail.is_empty());
    if ctype == "text/plain" && !bytes.iter().all(u8::is_ascii_whitespace) {
        prop_assert_eq!(p.status, 415);
        return Ok(());
    }
    prop_assert_eq!(p.status, 400, "{}: {:?}", kind, p);
    // An empty body is read as `{}`.
    let json: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let object = matches!(serde_json::from_slice::<Value>(json), Ok(Value::Object(_)));
    if object {
        let field = p.field.as_deref().unwrap_or("");
        prop_assert!(
            !field.is_empty(),
            "{kind}: a JSON object refused without naming a field: {:?} for {}",
            p,
            String::from_utf8_lossy(bytes)
        );
    } else {
        prop_assert_eq!(
            p.kind.as_str(),
            "urn:hallq:problem:malformed-json",
            "{}: {}",
            kind,
            String::from_utf8_lossy(bytes)
        );
    }
    Ok(())
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        Just(Value::String("2026-03-02T01:30:00Z".into())),
        Just(Value::String("5wd".into())),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// One structural change to a valid body's text.
#[derive(Debug, Clone)]
enum Mutation {
    Remove(usize),
    Replace(usize, Value),
    Add(String, Value),
    Duplicate(usize),
    Trail(String),
    Truncate(usize),
    Insert(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Remove),
        (any::<usize>(), any_json()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        ("[a-z_]{0,10}", any_json()).prop_map(|(k, v)| Mutation::Add(k, v)),
        any::<usize>().prop_map(Mutation::Duplicate),
        ".{1,6}".prop_map(Mutation::Trail),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
    ]
}

/// Apply mutations to `example` (a JSON object's text).
fn mutate(example: &str, ms: &[Mutation]) -> Vec<u8> {
    let Value::Object(start) = serde_json::from_str(example).unwrap() else {
        unreachable!("examples are objects")
    };
    let mut fields: Vec<(String, Value)> = start.into_iter().collect();
    let mut tail: Vec<u8> = Vec::new();
    let mut cut: Option<usize> = None;
    let mut inserts = Vec::new();
    for m in ms {
        let n = fields.len().max(1);
        match m {
            Mutation::Remove(i) if !fields.is_empty() => {
                fields.remove(i % n);
            }
            Mutation::Replace(i, v) if !fields.is_empty() => fields[i % n].1 = v.clone(),
            Mutation::Add(k, v) => fields.push((k.clone(), v.clone())),
            Mutation::Duplicate(i) if !fields.is_empty() => {
                let f = fields[i % n].clone();
                fields.push(f);
            }
            Mutation::Trail(s) => tail.extend_from_slice(s.as_bytes()),
            Mutation::Truncate(i) => cut = Some(*i),
            Mutation::Insert(i, b) => inserts.push((*i, *b)),
            _ => {}
        }
    }
    // Written by hand so a key can appear twice.
    let mut text = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text += &format!("{}:{v}", Value::String(k.clone()));
    }
    text.push('}');
    let mut bytes = text.into_bytes();
    bytes.extend(tail);
    for (i, b) in inserts {
        let at = i % (bytes.len() + 1);
        bytes.insert(at, b);
    }
    if let Some(i) = cut {
        bytes.truncate(i % (bytes.len() + 1));
    }
    bytes
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_a_body_parse(
        kind in 0..BODIES.len(),
        ctype in 0..CTYPES.len(),
        bytes in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        check(BODIES[kind].0, CTYPES[ctype], &bytes)?;
    }

    #[test]
    fn mutated_bodies_are_accepted_or_refused_naming_the_field(
        kind in 0..BODIES.len(),
        ms in prop::collection::vec(mutation(), 1..4),
    ) {
        let (name, example) = BODIES[kind];
        check(name, "application/json", &mutate(example, &ms))?;
    }

    #[test]
    fn arbitrary_text_never_panics_the_file_parsers(text in "(?s).{0,400}") {
        parse_config(&text);
        parse_calendar(text.as_bytes());
        parse_limit(&text);
    }

    #[test]
    fn mutated_config_and_calendar_files_never_panic_their_parsers(
        at in any::<usize>(),
        len in 0usize..40,
        with in "(?s).{0,20}",
    ) {
        for file in [CONFIG, CALENDAR] {
            let mut text = file.to_owned();
            let mut start = at % (text.len() + 1);
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (start + len).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.replace_range(start..end, &with);
            parse_config(&text);
            parse_calendar(text.as_bytes());
        }
    }
}

const CONFIG: &str = include_str!("../config/hallq.example.toml");
const CALENDAR: &str = include_str!("../config/calendars/cn-mainland.toml");

#[test]
fn every_example_body_is_valid() {
    for (kind, example) in BODIES {
        assert!(
            parse_body(kind, "application/json", example.as_bytes()).is_ok(),
            "{kind}: {example}"
        );
    }
    assert!(parse_calendar(CALENDAR.as_bytes()));
    assert!(parse_limit("5wd"));
}

#[test]
fn the_strict_cases_from_the_issue_are_refused_naming_the_field() {
    let p = parse_body("issue", "application/json", br#"{"service":"social"} xx"#).unwrap_err();
    assert_eq!(p.kind, "urn:hallq:problem:malformed-json");
    let p = parse_body("issue", "application/json", br#"{"service":"s","class":1}"#).unwrap_err();
    assert_eq!(p.field.as_deref(), Some("class"));
    let p = parse_body(
        "ack",
        "application/json",
        br#"{"consumer":"a","consumer":"b","seq":1}"#,
    )
    .unwrap_err();
    assert_eq!(p.field.as_deref(), Some("consumer"));
}
