//! The binary's command line: config checking, exit codes, the token helper.

use std::net::TcpListener;
use std::process::Command;

fn hallq() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hallq"))
}

const BAD: &str = r#"[[hall]]
id = "h"
name = "Hall"
tier = "county"

[[hall.service]]
id = "s"
name = "S"
prefix = "A"

[[hall.window]]
id = "w1"
name = "1号窗口"
services = ["s", "tax"]
"#;

#[test]
fn a_bad_config_exits_64_naming_file_line_and_field_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("halls.toml");
    std::fs::write(&file, BAD).unwrap();
    // A free port: if the daemon bound it despite the bad config, binding it here would fail.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = dir.path().join("data");
    let out = hallq()
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--config",
        ])
        .arg(&file)
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "{}:14:18: hall[0].window[0].services[1]: unknown service `tax`",
        file.display()
    );
    assert!(stderr.contains(&expected), "stderr was:\n{stderr}");
    assert!(!data.exists(), "nothing was created in the data directory");
    TcpListener::bind(("127.0.0.1", port)).expect("the port was never bound");

    let out = hallq().arg("check-config").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&expected));
}

#[test]
fn check_config_accepts_a_good_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("halls.toml");
    std::fs::write(&file, BAD.replace(", \"tax\"", "")).unwrap();
    let out = hallq().arg("check-config").arg(&file).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (1 halls, 1 windows, 0 tokens)"));
}

#[test]
fn a_missing_config_file_is_a_usage_error() {
    let out = hallq()
        .args(["check-config", "/nonexistent/halls.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/halls.toml"));
}

#[test]
fn the_demo_refuses_to_listen_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let out = hallq()
        .args(["serve", "--listen", "0.0.0.0:0", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only loopback"));
}

#[test]
fn token_prints_a_config_entry_that_validates_and_matches_the_token() {
    let out = hallq()
        .args(["token", "--role", "kiosk", "--hall", "h"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let token = text.lines().next().unwrap().rsplit(' ').next().unwrap();
    assert!(token.starts_with("hq_") && token.len() > 40);
    let entry: String = text.lines().skip(1).collect::<Vec<_>>().join("\n");
    let config = format!("{}\n{entry}\n", BAD.replace(", \"tax\"", ""));
    let c = hallq::config::Config::from_toml("t.toml", &config).unwrap();
    assert_eq!(c.tokens[0].sha256, hallq::config::token_hash(token));
    assert!(!text.contains("demo"));

    let out = hallq()
        .args(["token", "--role", "janitor", "--hall", "h"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
}

const CALENDAR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/config/calendars/cn-mainland.toml"
);

fn deadline(args: &[&str]) -> (Option<i32>, String, String) {
    let out = hallq()
        .args(["deadline", "--calendar", CALENDAR])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn deadline_prints_the_design_examples_on_the_first_line() {
    let (code, out, _) = deadline(&["--accepted", "2025-09-26", "--limit", "20wd"]);
    assert_eq!(code, Some(0));
    assert_eq!(out.lines().next(), Some("2025-10-30T17:00:00+08:00"));
    let (_, out, _) = deadline(&[
        "--accepted",
        "2026-09-14",
        "--limit",
        "10wd",
        "--suspend",
        "2026-09-16..2026-09-24",
    ]);
    assert_eq!(out.lines().next(), Some("2026-10-13T17:00:00+08:00"));
    // The 9-day 2026 Spring Festival: accepted the Friday before, 1 working day is the Saturday
    // make-up day 02-14, 2 working days jump the whole break.
    let (_, out, _) = deadline(&["--accepted", "2026-02-13T10:00", "--limit", "2wd"]);
    assert_eq!(out.lines().next(), Some("2026-02-24T17:00:00+08:00"));
    let (_, out, _) = deadline(&["--accepted", "2026-02-13T10:00", "--limit", "3wh"]);
    assert_eq!(
        out.lines().next(),
        Some("2026-02-13T14:00:00+08:00"),
        "3 office hours from 10:00 skip the lunch break"
    );
    let (_, out, _) = deadline(&["--accepted", "2026-12-20", "--limit", "20wd"]);
    assert!(out.contains("provisional"), "{out}");
}

#[test]
fn deadline_refuses_bad_input_clearly() {
    // Past the calendar's years is not bad input: counted on the default week, flagged.
    let (code, out, _) = deadline(&["--accepted", "2030-01-02", "--limit", "2wd"]);
    assert_eq!(code, Some(0));
    assert_eq!(out.lines().next(), Some("2030-01-04T17:00:00+08:00"));
    assert!(
        out.contains("provisional") && out.contains("from 2027-01-01"),
        "{out}"
    );
    let (code, _, err) = deadline(&["--accepted", "2026-01-02", "--limit", "2weeks"]);
    assert_eq!(code, Some(64));
    assert!(err.contains("--limit") && err.contains("20wd"), "{err}");
    let (code, _, err) = deadline(&["--accepted", "soon", "--limit", "2wd"]);
    assert_eq!(code, Some(64));
    assert!(err.contains("--accepted"), "{err}");
}

#[test]
fn a_reader_that_closes_the_pipe_early_gets_a_quiet_exit() {
    // The pipe's read end is closed before the child writes, so every write fails with EPIPE
    // (what `hallq deadline … | head -1` meets when head exits first, every time here).
    for args in [
        vec![
            "deadline",
            "--calendar",
            "config/calendars/cn-mainland.toml",
            "--accepted",
            "2025-09-26",
            "--limit",
            "20wd",
        ],
        vec!["token", "--role", "kiosk", "--hall", "city"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = hallq()
            .args(&args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: stderr was:\n{stderr}"
        );
        assert!(stderr.is_empty(), "{args:?}: stderr was:\n{stderr}");
    }
}
