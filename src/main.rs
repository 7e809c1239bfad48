//! The `hallq` binary: everything lives in the library; see `hallq::cli`.

/// jemalloc, not glibc's malloc: the request path allocates and frees many small objects on
/// several threads; jemalloc runs it in fewer instructions and keeps fewer bytes per open
/// case (BENCHMARKS.md, "The allocator").
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read when it starts. Its background thread hands freed pages back to
/// the OS about 10 s after they were freed (`dirty_decay_ms`), also while the daemon is idle:
/// without it the pages of a flood of connections stayed resident until the arenas that
/// freed them allocated again (132 MiB 30 s after the flood instead of the 35 MiB before).
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &u8 = &b"background_thread:true\0"[0];

fn main() -> std::process::ExitCode {
    hallq::cli::main()
}
