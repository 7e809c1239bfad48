//! The `hallq-loadtest` binary; see `hallq_loadtest::cli`.

// The daemon's allocator and its options: the daemon runs in this process.
hallq::jemalloc!();

fn main() -> std::process::ExitCode {
    // The recovery scenario re-executes this program as the daemon (see `ChildDaemon`).
    if std::env::var_os(hallq_loadtest::AS_DAEMON).is_some() {
        return hallq::cli::main();
    }
    // The hold and flood scenarios run their attacking sockets in more processes.
    if let Ok(spec) = std::env::var(hallq_loadtest::hold::AS_ATTACKER) {
        return hallq_loadtest::hold::attacker_main(&spec);
    }
    hallq_loadtest::cli::main()
}
