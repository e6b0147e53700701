//! The `herald` binary: everything lives in the library; see `herald::cli`.

// Planning allocates a few small strings per recipient, a million recipients at a time, on
// every core; mimalloc's thread-local free lists make that about a third faster than glibc's.
// Version 2 (the `v2` feature): version 3 kept apply's requests, allocated on the main thread
// and freed on the HTTP workers, in abandoned pages: 330 MiB at 100,000 sends instead of 105.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    herald::cli::run(std::env::args_os())
}
