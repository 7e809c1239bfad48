//! The command line: parse flags into one type, validate them into what runs, report an
//! invalid combination once, before any work starts.
//!
//! Exit codes: 0 success, 64 (EX_USAGE) for a bad config or flags, 1 for a runtime failure.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use crate::clock::{Clock, SteadyClock};
use crate::config::{Config, Role, hex, token_hash};
use crate::server::Daemon;

const EX_USAGE: u8 = 64;
/// sysexits.h: an error writing the output.
const EX_IOERR: u8 = 74;

#[derive(Debug, Parser)]
#[command(
    name = "hallq",
    version,
    about = "Call queues and case deadlines for government service halls",
    long_about = "With no command, serves the embedded demo config on 127.0.0.1:8080 with data in ./data."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the daemon.
    Serve(ServeArgs),
    /// Validate a config file and explain every problem with file:line:column and field.
    CheckConfig {
        /// The config file (TOML).
        file: PathBuf,
    },
    /// Compute a case deadline on a working calendar. The first line of the output is the
    /// deadline in RFC 3339.
    Deadline {
        /// Calendar file in the official notice format (e.g. config/calendars/cn-mainland.toml).
        #[arg(long)]
        calendar: PathBuf,
        /// Acceptance: YYYY-MM-DD, YYYY-MM-DDTHH:MM (in the calendar's time zone) or RFC 3339.
        #[arg(long)]
        accepted: String,
        /// The limit: 20wd (working days), 8wh / 90wm (working hours/minutes), 30d (natural days).
        #[arg(long)]
        limit: String,
        /// A suspension FROM..TO (same formats as --accepted); the clock pauses and goes on
        /// with what remained. Repeat for several, in order.
        #[arg(long = "suspend", value_name = "FROM..TO")]
        suspensions: Vec<String>,
    },
    /// Make a new random bearer token and print it with the [[token]] entry for the config.
    Token {
        /// kiosk, counter, display, case-officer, supervisor or admin.
        #[arg(long)]
        role: String,
        /// Hall (subtree root) the token covers; repeat for several, or `*` for all.
        #[arg(long = "hall", required = true)]
        halls: Vec<String>,
        /// Name shown in logs.
        #[arg(long)]
        name: Option<String>,
    },
    /// Take a consistent copy of a store into DIR/hallq.backup: from a running daemon
    /// (--target and an admin --token; it goes on serving) or from a stopped daemon's --data.
    Backup {
        /// The running daemon, e.g. http://127.0.0.1:8080.
        #[arg(long, requires = "token", conflicts_with = "data")]
        target: Option<String>,
        /// An admin bearer token of that daemon.
        #[arg(long)]
        token: Option<String>,
        /// A stopped daemon's data directory.
        #[arg(long, required_unless_present = "target")]
        data: Option<PathBuf>,
        /// Where to write hallq.backup.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a backup whole and install it as the store of an empty data directory; the
    /// daemon started on it replays the copied log as after a crash.
    Restore {
        /// The backup file (DIR/hallq.backup).
        #[arg(long)]
        from: PathBuf,
        /// The data directory to create the store in; must hold no store yet.
        #[arg(long)]
        data: PathBuf,
    },
}

#[derive(Debug, Clone, Default, clap::Args)]
struct ServeArgs {
    /// Config file; without it the embedded demo config is served (loopback only).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on [default: the config's, or 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Data directory [default: the config's, or ./data].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Entry point of the `hallq` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => serve(ServeArgs::default()),
        Some(Cmd::Serve(args)) => serve(args),
        Some(Cmd::CheckConfig { file }) => check_config(&file),
        Some(Cmd::Token { role, halls, name }) => token(&role, &halls, name),
        Some(Cmd::Backup {
            target,
            token,
            data,
            out,
        }) => backup(target, token, data, &out),
        Some(Cmd::Restore { from, data }) => match crate::backup::restore(&from, &data) {
            Ok(summary) => emit(&format!(
                "restored {} into {}: {summary}\n",
                from.display(),
                data.display()
            )),
            Err(e) => {
                eprintln!("hallq restore: {e}");
                ExitCode::FAILURE
            }
        },
        Some(Cmd::Deadline {
            calendar,
            accepted,
            limit,
            suspensions,
        }) => match deadline(&calendar, &accepted, &limit, &suspensions) {
            Ok(lines) => emit(&lines),
            Err(e) => {
                eprintln!("hallq deadline: {e}");
                ExitCode::from(EX_USAGE)
            }
        },
    }
}

/// `hallq backup`: from a running daemon over HTTP, or from a stopped daemon's data.
fn backup(
    target: Option<String>,
    token: Option<String>,
    data: Option<PathBuf>,
    out: &std::path::Path,
) -> ExitCode {
    let result = match (target, token, data) {
        (Some(target), Some(token), None) => {
            crate::backup::fetch(&target, &token, out).map_err(|e| e.to_string())
        }
        (None, _, Some(data)) => backup_dir(&data, out),
        _ => {
            eprintln!("hallq backup: give --target and --token, or --data");
            return ExitCode::from(EX_USAGE);
        }
    };
    match result {
        Ok((file, summary)) => emit(&format!("wrote {}: {summary}\n", file.display())),
        Err(e) => {
            eprintln!("hallq backup: {e}");
            ExitCode::FAILURE
        }
    }
}

fn backup_dir(
    data: &std::path::Path,
    out: &std::path::Path,
) -> Result<(PathBuf, crate::backup::Summary), String> {
    let file = out.join("hallq.backup");
    if file.exists() {
        return Err(format!("{} already exists", file.display()));
    }
    std::fs::create_dir_all(out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let f =
        std::fs::File::create(&file).map_err(|e| format!("creating {}: {e}", file.display()))?;
    let mut w = std::io::BufWriter::new(f);
    let summary = crate::backup::write_dir(data, &mut w).map_err(|e| e.to_string())?;
    let f = w.into_inner().map_err(|e| e.to_string())?;
    f.sync_all().map_err(|e| e.to_string())?;
    crate::backup::verify(&file).map_err(|e| e.to_string())?;
    Ok((file, summary))
}

/// `hallq deadline`: the deadline on its first line, then how it was counted.
fn deadline(
    file: &std::path::Path,
    accepted: &str,
    limit: &str,
    suspensions: &[String],
) -> Result<String, String> {
    use crate::calendar::{Calendar, Deadline, Limit, Suspension, SuspensionMode};
    let label = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {label}: {e}"))?;
    let cal = Calendar::from_toml(&label, &text).map_err(|e| e.to_string())?;
    let limit: Limit = limit
        .parse()
        .map_err(|e: crate::calendar::LimitError| format!("--limit: {e}"))?;
    let accepted = cal
        .parse_instant(accepted)
        .map_err(|e| format!("--accepted: {e}"))?;
    let suspensions = suspensions
        .iter()
        .map(|s| {
            let (from, to) = s
                .split_once("..")
                .ok_or_else(|| format!("--suspend `{s}`: expected FROM..TO"))?;
            Ok(Suspension {
                from: cal
                    .parse_instant(from)
                    .map_err(|e| format!("--suspend: {e}"))?,
                until: Some(
                    cal.parse_instant(to)
                        .map_err(|e| format!("--suspend: {e}"))?,
                ),
                mode: SuspensionMode::Pause,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    match cal
        .deadline(accepted, limit, &suspensions, None)
        .map_err(|e| e.to_string())?
    {
        Deadline::Running(due) => {
            let mut out = cal.format_rfc3339(due.at);
            out += &format!(
                "\naccepted {} with {limit} on calendar {} ({}..{})",
                cal.format_rfc3339(accepted),
                cal.id(),
                cal.range().first,
                cal.range().last
            );
            if !suspensions.is_empty() {
                out += &format!("\n{} suspension(s) paused the clock", suspensions.len());
            }
            if let Some(day) = due.first_uncovered {
                out += &format!(
                    "\nprovisional: calendar {} covers {}..{}; the days outside it (from {day}) were counted on the default week",
                    cal.id(),
                    cal.range().first,
                    cal.range().last
                );
            }
            Ok(out)
        }
        Deadline::Stopped(_) => Err("the clock is stopped".into()),
    }
}

fn check_config(file: &std::path::Path) -> ExitCode {
    match Config::from_file(file) {
        Ok(c) => {
            let windows: usize = c.halls.iter().map(|h| h.windows.len()).sum();
            println!(
                "{}: ok ({} halls, {} windows, {} tokens)",
                file.display(),
                c.halls.len(),
                windows,
                c.tokens.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(EX_USAGE)
        }
    }
}

fn token(role: &str, halls: &[String], name: Option<String>) -> ExitCode {
    if !Role::ALL.iter().any(|r| r.as_str() == role) {
        eprintln!(
            "unknown role `{role}`; expected one of kiosk, counter, display, case-officer, supervisor, admin"
        );
        return ExitCode::from(EX_USAGE);
    }
    let mut bytes = [0u8; 24];
    if let Err(e) = getrandom::fill(&mut bytes) {
        eprintln!("cannot read random bytes: {e}");
        return ExitCode::FAILURE;
    }
    let token = format!("hq_{}", hex(&bytes));
    let name = name.unwrap_or_else(|| format!("{role}-{}", halls.join("-")));
    let list = halls
        .iter()
        .map(|h| format!("\"{h}\""))
        .collect::<Vec<_>>()
        .join(", ");
    emit(&format!(
        "# token (give it to the device; it is not stored anywhere): {token}\n\
         [[token]]\n\
         name = \"{name}\"\n\
         role = \"{role}\"\n\
         halls = [{list}]\n\
         sha256 = \"{}\"",
        hex(&token_hash(&token))
    ))
}

/// Write a command's answer (and a newline) to stdout. A reader that closed the pipe early
/// (`hallq deadline … | head -1`) took what it wanted: exit quietly with success instead of
/// panicking as `println!` does on EPIPE.
fn emit(text: &str) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hallq: cannot write to standard output: {e}");
            ExitCode::from(EX_IOERR)
        }
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    init_logging(args.log_format);
    // Config and flags are checked before anything is opened or bound.
    let config = match &args.config {
        Some(path) => match Config::from_file(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                eprintln!("hallq: not starting: the config has errors");
                return ExitCode::from(EX_USAGE);
            }
        },
        None => Config::demo(),
    };
    let listen = args.listen.unwrap_or(config.server.listen);
    if config.demo && !listen.ip().is_loopback() {
        eprintln!(
            "hallq: the embedded demo config serves only loopback addresses, not {listen}; pass --config for real use"
        );
        return ExitCode::from(EX_USAGE);
    }
    let data = args
        .data
        .clone()
        .unwrap_or_else(|| config.server.data.clone());
    if config.demo {
        tracing::warn!("serving the embedded DEMO config; its tokens are public (see README)");
    }

    let runtime = match crate::server::runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hallq: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = Arc::new(config);
    let clock: Arc<dyn Clock> = Arc::new(SteadyClock::system());
    let daemon = match Daemon::start(config.clone(), &data, clock) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("hallq: {e}");
            return ExitCode::FAILURE;
        }
    };
    if std::env::var_os("HALLQ_TEST_HOOKS").is_some_and(|v| v == "1") {
        tracing::warn!("HALLQ_TEST_HOOKS=1: the test hooks under /v1/_test/ are mounted");
        daemon.enable_test_hooks();
    }
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("hallq: cannot listen on {listen}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let addr = listener.local_addr().unwrap_or(listen);
        tracing::info!(%addr, config = %config.source, data = %data.display(), "listening");
        // Scripts and tests read the port from this line.
        println!("hallq listening on http://{addr}");
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        match daemon.serve(listener, shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("hallq: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// SIGTERM (systemd, kill) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
