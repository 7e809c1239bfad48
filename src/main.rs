//! The `hallq` binary: everything lives in the library; see `hallq::cli`.

hallq::jemalloc!();

fn main() -> std::process::ExitCode {
    hallq::cli::main()
}
