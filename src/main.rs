//! The `herald` binary: everything lives in the library; see `herald::cli`.

// Planning allocates a few small strings per recipient, a million recipients at a time, on
// every core; mimalloc's thread-local free lists make that about a third faster than glibc's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    herald::cli::run(std::env::args_os())
}
