//! Helpers for tests that run purge against the in-process simulator.
#![allow(dead_code)]

#[path = "../../examples/sim/mod.rs"]
pub mod sim;

use std::collections::HashMap;
use std::time::Duration;

use crate::common::*;
pub use sim::{Config, Life, Quota, Sim, Vendor};

/// Identifiers of persons `0..n` for `vendor` and `kind`, with what is expected of them.
pub fn ids(vendor: Vendor, kind: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| vendor.api().ident(kind, i)).collect()
}

/// A fast simulator: generous quotas so tests are quick, short jobs.
pub fn fast() -> Config {
    let q = |limit| Quota {
        limit,
        window: Duration::from_secs(1),
    };
    Config {
        quota: Vendor::all().into_iter().map(|v| (v, q(500))).collect(),
        job_time: Duration::from_millis(300),
        ..Config::default()
    }
}

/// Run purge for persons `0..n` and return (exit code, last outcome per id).
pub async fn purge(
    sim: &Sim,
    vendor: Vendor,
    kind: &str,
    n: usize,
    extra: &[&str],
) -> (i32, HashMap<String, String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let list = ids(vendor, kind, n);
    let input = write_file(dir.path(), "ids.txt", &list.join("\n"));
    let url = sim.url(vendor);
    let mut args = vec![
        vendor.command(),
        "-y",
        "-k",
        kind,
        "--format",
        "lines",
        "-i",
        input.to_str().unwrap(),
    ];
    // Quick: the simulator allows 500/s; Zendesk would start at its 200/min default.
    args.extend(["--base-url", &url, "--report", "r.jsonl", "--rate", "200/s"]);
    args.extend(vendor.api().sim_args());
    args.extend(extra);
    let out = run(dir.path(), &args, vendor.env()).await;
    let finals: HashMap<String, String> = report_lines(&dir.path().join("r.jsonl"))
        .into_iter()
        .filter(|l| l["outcome"] != "pending")
        .map(|l| {
            (
                l["id"].as_str().unwrap().to_string(),
                l["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (out.status.code().unwrap_or(-1), finals, stderr(&out))
}

/// Persons `0..n` are in state `gone`, everyone else is alive.
pub fn assert_exactly(sim: &Sim, vendor: Vendor, n: usize, gone: Life) {
    for (i, l) in sim.life(vendor).iter().enumerate() {
        if i < n {
            assert_eq!(*l, gone, "{vendor:?}: person {i} should be {gone:?}");
        } else {
            assert_eq!(*l, Life::Alive, "{vendor:?}: person {i} was not asked for");
        }
    }
}
