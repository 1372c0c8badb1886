//! The `purge` binary: parse, run, exit with the run's code (see `purge::run`).

fn main() -> std::process::ExitCode {
    purge::run::main().into()
}
