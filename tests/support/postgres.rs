//! A real PostgreSQL for the cluster tests: Debian's server binaries (`initdb`, `pg_ctl`,
//! from the `postgresql` package, which `scripts/test` installs when missing), a data
//! directory in a tempdir, listening on a free loopback port; stopped (immediate mode) when
//! dropped. PostgreSQL refuses to run as root, so as root it runs as the `postgres` user the
//! package creates. A missing server is a failure, never a skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    as_root: bool,
}

/// The newest PostgreSQL server under /usr/lib/postgresql that has initdb and pg_ctl.
fn server_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort_by_key(|b| {
        b.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop().unwrap_or_else(|| {
        panic!(
            "no PostgreSQL server under /usr/lib/postgresql/*/bin: the cluster tests need Debian's \
             `postgresql` package (scripts/test installs it)"
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Postgres {
    pub fn start() -> Postgres {
        let bin = server_bin();
        let dir = tempfile::tempdir().expect("a tempdir for PostgreSQL");
        let as_root = rustix::process::geteuid().is_root();
        let data = dir.path().join("pg");
        std::fs::create_dir(&data).unwrap();
        if as_root {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
            run(Command::new("chown").arg("postgres:").arg(&data));
        }
        let pg = Postgres {
            dir,
            bin,
            port: free_port(),
            as_root,
        };
        pg.tool(
            "initdb",
            &["-D", path(&data), "-U", "postgres", "--auth=trust"],
        )
        .args(["--encoding=UTF8", "--locale=C", "--no-sync"])
        .output()
        .map(check)
        .expect("initdb runs");
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             max_connections = 200\nsynchronous_commit = on\nfsync = on\n",
            pg.port,
            path(&data)
        );
        let file = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&file).unwrap();
        text += &conf;
        std::fs::write(&file, text).unwrap();
        let log = data.join("server.log");
        pg.tool(
            "pg_ctl",
            &[
                "-D",
                path(&data),
                "-l",
                path(&log),
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        .output()
        .map(check)
        .expect("pg_ctl start runs");
        pg
    }

    /// `postgresql://` URL of the `postgres` database, as `[cluster] postgres` takes it.
    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Run `sql` with psql; its unaligned, tuples-only output.
    pub fn sql(&self, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                sql,
            ])
            .output()
            .expect("psql runs");
        String::from_utf8_lossy(&check(out).stdout)
            .trim()
            .to_owned()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pg/server.log")).unwrap_or_default()
    }

    fn tool(&self, name: &str, args: &[&str]) -> Command {
        let exe = self.bin.join(name);
        let mut cmd = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.args(args).current_dir("/");
        cmd
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

fn run(cmd: &mut Command) {
    check(cmd.output().expect("the command runs"));
}

fn check(out: Output) -> Output {
    assert!(
        out.status.success(),
        "failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("pg");
        let _ = self
            .tool(
                "pg_ctl",
                &["-D", path(&data), "-m", "immediate", "-w", "stop"],
            )
            .output();
    }
}
