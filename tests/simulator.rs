//! The simulator smoke test CI runs (the benchmark itself is too long for CI):
//! purge against the in-process simulator for every vendor, then the population
//! shows exactly the asked people gone.

#[path = "../examples/sim/mod.rs"]
mod sim;

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use sim::{Config, Life, Quota, Sim, Vendor};

/// Identifiers of persons `0..n` for `vendor` and `kind`, with what is expected of them.
pub fn ids(vendor: Vendor, kind: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match (vendor, kind) {
            (_, "email") => sim::email(i),
            (Vendor::Rally, _) => sim::rally_id(i),
            (Vendor::Braze, "braze-id") => sim::braze_id(i),
            (Vendor::Braze, "phone") => sim::phone(i),
            (Vendor::Braze, "alias") => format!("{}:{}", sim::alias(i).0, sim::alias(i).1),
            (Vendor::Braze, _) => sim::braze_external(i),
            (Vendor::Gainsight, _) => sim::gainsight_id(i),
            (Vendor::Zendesk, "external-id") => sim::zendesk_external(i),
            (Vendor::Zendesk, _) => sim::zendesk_id(i).to_string(),
        })
        .collect()
}

/// A fast simulator: generous quotas so tests are quick, short jobs.
pub fn fast() -> Config {
    let q = |limit| Quota {
        limit,
        window: Duration::from_secs(1),
    };
    Config {
        quota: Vendor::ALL.iter().map(|v| (*v, q(500))).collect(),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_vendor_purges_exactly_the_asked_people() {
    let sim = Sim::start(fast(), 600).await.unwrap();
    for (vendor, kind, done, state, extra) in [
        (Vendor::Rally, "email", "queued", Life::Gone, vec![]),
        (Vendor::Braze, "external-id", "queued", Life::Gone, vec![]),
        (Vendor::Gainsight, "id", "deleted", Life::Gone, vec![]),
        (Vendor::Zendesk, "id", "deleted", Life::Gone, vec![]),
    ] {
        let (code, finals, err) = purge(&sim, vendor, kind, 250, &extra).await;
        assert_eq!(code, 0, "{vendor:?}: {err}");
        assert_eq!(
            finals.len(),
            250,
            "{vendor:?}: one final line per identifier"
        );
        assert!(finals.values().all(|o| o == done), "{vendor:?}: {finals:?}");
        assert_exactly(&sim, vendor, 250, state);
    }
    // Already gone: Gainsight and Zendesk say so.
    let (code, finals, err) = purge(&sim, Vendor::Gainsight, "id", 10, &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(finals.values().all(|o| o == "not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_and_other_kinds_reach_the_right_people() {
    let sim = Sim::start(fast(), 300).await.unwrap();
    for (vendor, kind, extra) in [
        (Vendor::Gainsight, "email", vec![]),
        (Vendor::Zendesk, "email", vec![]),
        (Vendor::Braze, "alias", vec![]),
    ] {
        let (code, finals, err) = purge(&sim, vendor, kind, 120, &extra).await;
        assert_eq!(code, 0, "{vendor:?} {kind}: {err}");
        assert_eq!(finals.len(), 120);
        assert_exactly(&sim, vendor, 120, Life::Gone);
    }
    let (code, _, err) = purge(&sim, Vendor::Zendesk, "external-id", 200, &["--soft"]).await;
    assert_eq!(code, 0, "{err}");
    // The first 120 were erased by e-mail already; the rest are now soft-deleted.
    for (i, l) in sim.life(Vendor::Zendesk).iter().enumerate() {
        let want = if i < 120 {
            Life::Gone
        } else if i < 200 {
            Life::Soft
        } else {
            Life::Alive
        };
        assert_eq!(*l, want, "person {i}");
    }
}
