//! The `hallq-loadtest` binary; see `hallq_loadtest::cli`.

fn main() -> std::process::ExitCode {
    // The recovery scenario re-executes this program as the daemon (see `ChildDaemon`).
    if std::env::var_os(hallq_loadtest::AS_DAEMON).is_some() {
        return hallq::cli::main();
    }
    hallq_loadtest::cli::main()
}
