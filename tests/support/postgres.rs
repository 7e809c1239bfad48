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
        Postgres::start_with("")
    }

    /// A primary that waits, at every commit, for the synchronous standby `standby1`
    /// (`Postgres::standby_of`) to have it on disk.
    pub fn primary() -> Postgres {
        Postgres::start_with(
            "wal_level = replica\nmax_wal_senders = 4\nsynchronous_standby_names = 'standby1'\n",
        )
    }

    /// A streaming standby of `primary`, named `standby1`, from a base backup of it.
    pub fn standby_of(primary: &Postgres) -> Postgres {
        let (pg, data) = Postgres::unstarted();
        pg.tool(
            "pg_basebackup",
            &["-h", "127.0.0.1", "-U", "postgres", "-D", path(&data), "-R"],
        )
        .args(["-p", &primary.port.to_string(), "--checkpoint=fast"])
        .output()
        .map(check)
        .expect("pg_basebackup runs");
        // Once promoted it has no standby of its own to wait for.
        pg.configure(
            &data,
            "cluster_name = 'standby1'\nsynchronous_standby_names = ''\n",
        );
        // After -R's line in postgresql.auto.conf, so this one is in force: the name the
        // primary's synchronous_standby_names waits for.
        let auto = data.join("postgresql.auto.conf");
        let mut text = std::fs::read_to_string(&auto).unwrap_or_default();
        text += &format!(
            "primary_conninfo = 'host=127.0.0.1 port={} user=postgres application_name=standby1'\n",
            primary.port
        );
        std::fs::write(&auto, text).unwrap();
        pg.start_server(&data);
        pg
    }

    /// Make the standby the primary (as Patroni or an operator would after the primary died).
    pub fn promote(&self) {
        let data = self.dir.path().join("pg");
        self.tool("pg_ctl", &["-D", path(&data), "-w", "-t", "60", "promote"])
            .output()
            .map(check)
            .expect("pg_ctl promote runs");
    }

    /// Stop at once, as a crash would (no checkpoint, no goodbye to clients).
    pub fn kill(&self) {
        let data = self.dir.path().join("pg");
        let _ = self
            .tool(
                "pg_ctl",
                &["-D", path(&data), "-m", "immediate", "-w", "stop"],
            )
            .output();
    }

    /// A server not yet initialised or started, on a free port, and its data directory (in a
    /// tempdir the server's user can reach).
    fn unstarted() -> (Postgres, PathBuf) {
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
        (pg, data)
    }

    fn configure(&self, data: &Path, extra: &str) {
        use std::os::unix::fs::PermissionsExt;
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             max_connections = 200\nsynchronous_commit = on\nfsync = on\n{extra}",
            self.port,
            path(data)
        );
        let file = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&file).unwrap();
        text += &conf;
        std::fs::write(&file, text).unwrap();
        if self.as_root {
            run(Command::new("chown").arg("-R").arg("postgres:").arg(data));
        }
        let _ = std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o700));
    }

    fn start_server(&self, data: &Path) {
        let log = data.join("server.log");
        self.tool(
            "pg_ctl",
            &[
                "-D",
                path(data),
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
    }

    fn start_with(extra: &str) -> Postgres {
        let (pg, data) = Postgres::unstarted();
        pg.tool(
            "initdb",
            &["-D", path(&data), "-U", "postgres", "--auth=trust"],
        )
        .args(["--encoding=UTF8", "--locale=C", "--no-sync"])
        .output()
        .map(check)
        .expect("initdb runs");
        pg.configure(&data, extra);
        pg.start_server(&data);
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
