//! `[cluster]`: the PostgreSQL log of record, this node's name and the address other nodes
//! send its halls' requests to. Checked for shape only: this module never connects.

use super::super::ClusterConfig;
use super::super::raw::{RawCluster, RawConfig};
use super::Ctx;

pub(super) fn cluster(cx: &mut Ctx, raw: &RawConfig) -> Option<ClusterConfig> {
    let table = raw.cluster.as_ref()?;
    let r: &RawCluster = table.get_ref();
    let mut missing = |field: &str, what: &str| {
        cx.err(
            Some(table.span()),
            format!("cluster.{field}"),
            format!("is required in [cluster]: {what}"),
        );
    };
    if r.postgres.is_none() {
        missing(
            "postgres",
            "the PostgreSQL URL, e.g. \"postgresql://hallq@db1/hallq\"",
        );
    }
    if r.node.is_none() {
        missing(
            "node",
            "this node's name, unique in the cluster, e.g. \"n1\"",
        );
    }
    if r.advertise.is_none() {
        missing(
            "advertise",
            "the URL other nodes redirect to, e.g. \"http://10.0.0.5:8080\"",
        );
    }
    let postgres = r.postgres.as_ref().map(|v| {
        let s = v.get_ref().trim();
        let url = s.starts_with("postgresql://") || s.starts_with("postgres://");
        // A key=value string (libpq's other form) is accepted as the driver reads it.
        if !url && !s.contains('=') {
            cx.at(
                v,
                "cluster.postgres",
                "must be a postgresql:// URL or a key=value connection string",
            );
        } else if s.parse::<tokio_postgres::Config>().is_err() {
            // The driver's message may quote the string, password included: not repeated.
            cx.at(
                v,
                "cluster.postgres",
                "is not a connection string PostgreSQL's driver reads",
            );
        }
        s.to_owned()
    });
    let node = r.node.as_ref().map(|v| {
        let s = v.get_ref();
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !ok {
            cx.at(
                v,
                "cluster.node",
                format!(
                    "`{s}` is not a node name: use 1-64 characters a-z, A-Z, 0-9, '-', '_', '.'"
                ),
            );
        }
        s.clone()
    });
    let advertise = r.advertise.as_ref().map(|v| {
        let s = v.get_ref().trim_end_matches('/');
        let rest = s
            .strip_prefix("http://")
            .or_else(|| s.strip_prefix("https://"));
        if rest.is_none_or(|h| h.is_empty() || h.contains('/') || h.contains(' ')) {
            cx.at(
                v,
                "cluster.advertise",
                format!("`{s}` is not a base URL: use http://host:port, no path"),
            );
        }
        s.to_owned()
    });
    let lease_s = match &r.lease_s {
        None => 5,
        Some(v) if (2..=300).contains(v.get_ref()) => u64::from(*v.get_ref()),
        Some(v) => {
            cx.at(v, "cluster.lease_s", "must be between 2 and 300 seconds");
            5
        }
    };
    Some(ClusterConfig {
        postgres: postgres?,
        node: node?,
        advertise: advertise?,
        lease_s,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const HALL: &str = "\n[[hall]]\nid = \"h\"\nname = \"Hall\"\ntier = \"county\"\n\n[[hall.service]]\nid = \"s\"\nname = \"S\"\nprefix = \"A\"\n\n[[hall.window]]\nid = \"w\"\nname = \"W\"\nservices = [\"s\"]\n";

    fn load(cluster: &str) -> Result<Config, Vec<String>> {
        Config::from_toml("t.toml", &format!("{cluster}\n{HALL}"))
            .map_err(|e| e.0.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn without_cluster_the_daemon_runs_alone() {
        assert!(load("").unwrap().cluster.is_none());
    }

    #[test]
    fn a_cluster_section_is_read_with_its_default_lease() {
        let c = load(
            "[cluster]\npostgres = \"postgresql://hallq:secret@db1/hallq\"\nnode = \"n1\"\nadvertise = \"http://10.0.0.5:8080/\"\n",
        )
        .unwrap();
        let c = c.cluster.unwrap();
        assert_eq!(
            (c.node.as_str(), c.advertise.as_str(), c.lease_s),
            ("n1", "http://10.0.0.5:8080", 5)
        );
        assert!(
            !format!("{c:?}").contains("secret"),
            "the password never reaches a log"
        );
    }

    #[test]
    fn every_cluster_mistake_is_located_and_named() {
        let errors = load(
            "[cluster]\npostgres = \"mysql://db\"\nnode = \"n 1\"\nadvertise = \"10.0.0.5:8080\"\nlease_s = 1\n",
        )
        .unwrap_err();
        let want = [
            ("t.toml:2:", "cluster.postgres"),
            ("t.toml:3:", "cluster.node"),
            ("t.toml:4:", "cluster.advertise"),
            ("t.toml:5:", "cluster.lease_s"),
        ];
        assert_eq!(errors.len(), want.len(), "{errors:#?}");
        for ((at, field), e) in want.iter().zip(&errors) {
            assert!(
                e.starts_with(at) && e.contains(field),
                "{e} should be at {at} and name {field}"
            );
        }
        let missing = load("[cluster]\nnode = \"n1\"\n").unwrap_err();
        assert!(
            missing
                .iter()
                .any(|e| e.contains("cluster.postgres") && e.contains("required")),
            "{missing:?}"
        );
        assert!(
            missing
                .iter()
                .any(|e| e.contains("cluster.advertise") && e.contains("required")),
            "{missing:?}"
        );
        let unknown = load("[cluster]\npostgress = \"x\"\n").unwrap_err();
        assert!(
            unknown.iter().any(|e| e.contains("postgress")),
            "{unknown:?}"
        );
    }
}
