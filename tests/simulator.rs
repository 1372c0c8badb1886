//! The simulator smoke test CI runs (the benchmark itself is too long for CI):
//! purge against the in-process simulator for every vendor, then the population
//! shows exactly the asked people gone.

mod common;
mod simulated;

use simulated::sim;
use simulated::*;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn braze_addresses_lose_every_profile_sharing_them_and_nobody_else() {
    let mut cfg = fast();
    cfg.lookup_quota = Quota {
        limit: 500,
        window: std::time::Duration::from_secs(1),
    };
    let sim = Sim::start(cfg, 300).await.unwrap();
    let quick = ["--lookup-rate", "200/s"];
    let (code, finals, err) = purge(&sim, Vendor::Braze, "email", 60, &quick).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(finals.len(), 60);
    assert!(finals.values().all(|o| o == "queued"), "{finals:?}");
    // By phone: the first 60 have no profile left.
    let (code, finals, err) = purge(&sim, Vendor::Braze, "phone", 100, &quick).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(finals.values().filter(|o| *o == "not_found").count(), 60);
    assert_eq!(finals.values().filter(|o| *o == "queued").count(), 40);
    for i in 0..sim.population() {
        let left = sim.braze_profiles_left(i);
        if i < 100 {
            assert_eq!(left, 0, "person {i}: every profile deleted");
        } else {
            assert_eq!(
                left,
                1 + sim::braze_extra(i),
                "person {i} was not asked for"
            );
        }
    }
    let c = sim.counters(Vendor::Braze);
    assert_eq!(c.lookups.load(std::sync::atomic::Ordering::Relaxed), 160);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_credential_is_refused_as_the_vendor_would() {
    let sim = Sim::start(fast(), 50).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    for vendor in Vendor::ALL {
        let mut env: Vec<(&str, &str)> = vendor.env().to_vec();
        // The right variables, a wrong secret.
        for (k, v) in env.iter_mut() {
            if *k != "ZENDESK_EMAIL" {
                *v = "not-the-sim-token";
            }
        }
        let url = sim.url(vendor);
        let id = match vendor {
            Vendor::Rally => "person1@example.com",
            Vendor::Braze => "ext-1",
            Vendor::Gainsight => "gp-1",
            Vendor::Zendesk => "1000001",
        };
        let args = [vendor.command(), "-y", "--base-url", &url, id];
        let out = common::run(dir.path(), &args, &env).await;
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{vendor:?}: {err}");
        assert!(err.contains("HTTP 401"), "{vendor:?}: {err}");
        assert!(!err.contains("not-the-sim-token"), "{vendor:?}: {err}");
    }
    // Braze's lookups too.
    let url = sim.url(Vendor::Braze);
    let args = [
        "braze",
        "-y",
        "-k",
        "email",
        "--base-url",
        &url,
        "person1@example.com",
    ];
    let out = common::run(dir.path(), &args, &[("BRAZE_API_KEY", "not-the-sim-token")]).await;
    assert_eq!(out.status.code(), Some(3), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("HTTP 401"));
    let c = sim.counters(Vendor::Braze);
    assert_eq!(c.lookups.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zendesk_staff_are_refused_and_the_owner_is_never_deleted() {
    let sim = Sim::start(fast(), 10).await.unwrap();
    // Person 0 and the simulator's agent (5777), admin (5778) and owner (5779).
    let staff = ["5777", "5778", "5779"];
    let (code, finals, err) = purge(&sim, Vendor::Zendesk, "id", 1, &staff).await;
    assert_eq!(code, 1, "{err}");
    assert_eq!(finals[&sim::zendesk_id(0).to_string()], "deleted");
    assert!(staff.iter().all(|s| finals[*s] == "refused"), "{finals:?}");
    let mut allowed = staff.to_vec();
    allowed.push("--include-staff");
    let (code, finals, err) = purge(&sim, Vendor::Zendesk, "id", 0, &allowed).await;
    assert_eq!(code, 1, "{err}");
    assert_eq!(finals["5777"], "deleted");
    assert_eq!(finals["5778"], "deleted");
    assert_eq!(finals["5779"], "refused", "the account owner");
}
