//! The `hallq-loadtest` binary; see `hallq_loadtest::cli`.

fn main() -> std::process::ExitCode {
    hallq_loadtest::cli::main()
}
