//! The `purge` binary: parse, run, exit with the run's code (see `purge::run`).

// mimalloc, not the system's allocator: a dry run of ten million e-mails
// makes and drops two small strings an identifier (its `Ident`, and the
// request body's copy) a hundred at a time, the pattern glibc's malloc is
// slowest at (its fast bins merged at every larger request): 1.16 s with
// glibc, 0.8 s with mimalloc, `sort -u` 0.9 s, on the bench's 2-core VM.
// Without transparent huge pages (`no_thp`): with them the dedupe tables'
// cache misses cost less, but a huge page asked for just after another
// program freed much memory waits for the kernel to compact it, and the
// same run took 0.77 to 1.34 s (BENCHMARKS.md, issue #24).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    purge::run::main().into()
}
