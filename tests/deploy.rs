//! What an operator copies from the repository works: the README quickstart, the systemd unit,
//! the example config. These use outside tools (bash, curl, systemd-analyze); `scripts/test`
//! installs them, and under CI=true a missing tool fails the test instead of skipping it.

mod support;

use std::process::Command;

use support::Hallq;

/// Whether `tool` can run; under CI a missing tool is a failure.
fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is missing; scripts/test installs it"
        );
        eprintln!("skipping: {tool} is not installed (scripts/test installs it)");
    }
    found
}

fn quickstart() -> String {
    let readme = include_str!("../README.md");
    let start = readme
        .find("<!-- quickstart -->")
        .expect("README has a quickstart block");
    let block = &readme[start..];
    let code = block.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let end = block[code..].find("```").expect("the block ends");
    block[code..code + end].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_quickstart_works_verbatim() {
    if !have("curl") || !have("bash") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    // The demo config, as `cargo run` starts it, but on a free port.
    let d = Hallq::demo(data.path()).spawn();
    let base = d.base.clone();
    let script = quickstart().replace("http://127.0.0.1:8080", &base);
    assert_ne!(
        script,
        quickstart(),
        "the quickstart talks to 127.0.0.1:8080"
    );
    let out = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the quickstart failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "event: snapshot",
        "event: issued",
        "event: window_opened",
        "event: called",
        "\"announcement\":\"请A001号到3号窗口办理\"",
        "\"number\":\"A001\",\"service\":\"social\"",
        "\"status\":\"called\"",
        "\"window\":\"w3\"",
    ] {
        assert!(
            stdout.contains(expected),
            "quickstart output lacks {expected}:\n{stdout}"
        );
    }
    d.kill();
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    if !have("systemd-analyze") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let unit = include_str!("../systemd/hallq.service")
        .replace("/usr/local/bin/hallq", env!("CARGO_BIN_EXE_hallq"));
    for directive in [
        "Type=notify",
        "WatchdogSec=",
        "User=hallq",
        "StateDirectory=hallq",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
    ] {
        assert!(unit.contains(directive), "the unit sets {directive}");
    }
    let file = dir.path().join("hallq.service");
    std::fs::write(&file, unit).unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&security.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for hallq.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure score in:\n{text}"));
    assert!(score <= 2.0, "exposure {score} is above 2.0 (\"OK\")");
}

#[test]
fn the_example_config_validates() {
    let c = hallq::config::Config::from_file(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/hallq.example.toml"
    )))
    .unwrap();
    assert!(!c.demo);
    assert!(c.matters.len() > 1, "the example has a matters catalogue");
    assert_eq!(c.halls.len(), 4);
    let out = Command::new(env!("CARGO_BIN_EXE_hallq"))
        .args([
            "check-config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/hallq.example.toml"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
}
