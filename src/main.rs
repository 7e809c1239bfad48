//! The `hallq` binary: everything lives in the library; see `hallq::cli`.

fn main() -> std::process::ExitCode {
    hallq::cli::main()
}
