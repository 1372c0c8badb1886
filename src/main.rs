//! The `purge` binary: parse, run, exit with the run's code (see `purge::app`).

fn main() {
    std::process::exit(purge::app::main());
}
