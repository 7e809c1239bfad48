//! The core crate stays pure because its dependencies say so: no runtime, storage, HTTP,
//! metrics or logging crate may reach `hallq-core`, directly or through another crate.
//! Reads `crates/hallq-core/Cargo.toml` (what it asks for) and `Cargo.lock` (everything that
//! comes with it); no network, no cargo invocation.

use std::collections::{BTreeSet, HashMap};

/// Crates the core must never depend on, with every crate of their family
/// (`tokio-util`, `hyper-util`, `tracing-subscriber`, `metrics-exporter-prometheus`...).
const FORBIDDEN: [&str; 6] = ["tokio", "redb", "axum", "hyper", "metrics", "tracing"];

fn forbidden(name: &str) -> bool {
    FORBIDDEN.iter().any(|f| {
        name == *f
            || name
                .strip_prefix(f)
                .is_some_and(|rest| rest.starts_with('-') || rest.starts_with('_'))
    })
}

fn read(path: &str) -> toml::Table {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    text.parse().unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// Every dependency table of a manifest, target-specific ones included.
fn dependency_names(manifest: &toml::Table) -> Vec<String> {
    let mut tables = Vec::new();
    for key in ["dependencies", "dev-dependencies", "build-dependencies"] {
        tables.extend(manifest.get(key).and_then(|v| v.as_table()));
    }
    if let Some(targets) = manifest.get("target").and_then(|v| v.as_table()) {
        for target in targets.values().filter_map(|v| v.as_table()) {
            for key in ["dependencies", "dev-dependencies", "build-dependencies"] {
                tables.extend(target.get(key).and_then(|v| v.as_table()));
            }
        }
    }
    let mut names = Vec::new();
    for table in tables {
        for (key, spec) in table {
            // `foo = { package = "tokio" }` renames a crate; the package is what counts.
            let package = spec.get("package").and_then(|p| p.as_str()).unwrap_or(key);
            names.push(package.to_owned());
        }
    }
    names
}

#[test]
fn the_core_manifest_asks_for_no_runtime_io_or_logging_crate() {
    let manifest = read("crates/hallq-core/Cargo.toml");
    let names = dependency_names(&manifest);
    assert!(
        names.iter().any(|n| n == "jiff"),
        "the manifest was not read: {names:?}"
    );
    let bad: Vec<&String> = names.iter().filter(|n| forbidden(n)).collect();
    assert!(
        bad.is_empty(),
        "crates/hallq-core/Cargo.toml depends on {bad:?}; the core takes `now` and commands \
         and returns events, and must not depend on any of {FORBIDDEN:?}"
    );
}

#[test]
fn nothing_the_core_depends_on_brings_one_in() {
    let lock = read("Cargo.lock");
    let packages = lock["package"].as_array().expect("Cargo.lock has packages");
    // Name -> the names it depends on (all versions of a name merged: a superset is safe).
    let mut deps: HashMap<&str, Vec<&str>> = HashMap::new();
    for p in packages {
        let name = p["name"].as_str().unwrap();
        let list = deps.entry(name).or_default();
        for d in p
            .get("dependencies")
            .and_then(|d| d.as_array())
            .into_iter()
            .flatten()
        {
            // "name" or "name version" when several versions are locked.
            list.push(d.as_str().unwrap().split(' ').next().unwrap());
        }
    }
    assert!(
        deps.contains_key("hallq-core"),
        "Cargo.lock has no hallq-core"
    );
    let mut seen = BTreeSet::new();
    let mut todo = vec![("hallq-core", vec!["hallq-core"])];
    while let Some((name, path)) = todo.pop() {
        assert!(
            !forbidden(name),
            "hallq-core pulls in `{name}` through {}; the core must not depend on any of \
             {FORBIDDEN:?}",
            path.join(" -> ")
        );
        if seen.insert(name) {
            for d in deps.get(name).into_iter().flatten() {
                let mut p = path.clone();
                p.push(d);
                todo.push((d, p));
            }
        }
    }
    assert!(
        seen.contains("jiff"),
        "the walk did not reach jiff: {seen:?}"
    );
}

#[test]
fn the_family_rule_catches_the_crates_it_should_and_no_others() {
    for bad in [
        "tokio",
        "tokio-util",
        "hyper_util",
        "metrics-exporter-prometheus",
        "tracing",
    ] {
        assert!(forbidden(bad), "{bad}");
    }
    for fine in [
        "jiff",
        "serde",
        "hashbrown",
        "toml",
        "hypersonic",
        "tracingish",
    ] {
        assert!(!forbidden(fine), "{fine}");
    }
}
