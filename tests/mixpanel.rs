//! Mixpanel's GDPR API v3 on the wire (wiremock and the simulator, 127.0.0.1):
//! the documented create and status requests, the task recorded as the job,
//! verify by the task's status, the certificate, and a dry run that needs no
//! credential and no project.

mod common;
mod simulated;

use common::*;
use serde_json::{Value, json};
use simulated::*;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

const ENV: &[(&str, &str)] = &[("MIXPANEL_GDPR_TOKEN", "gdpr-secret")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_creates_a_task_per_1999_distinct_ids_and_records_it_as_the_job() {
    let rec = Recorder::new(|n, _| {
        ResponseTemplate::new(201)
            .set_body_json(json!({"status": "ok", "results": {"task_id": format!("task-{n}")}}))
    });
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(rec.clone())
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = (0..2000).map(|i| format!("u{i}")).collect();
    let out = run_ids(
        dir.path(),
        &[
            "mixpanel",
            "-y",
            "--project-token",
            "abc123",
            "--report",
            "r.jsonl",
        ],
        &ids,
        &server.uri(),
        ENV,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seen = rec.seen();
    assert_eq!(seen.len(), 2, "1,999 distinct ids a task");
    for s in &seen {
        assert_eq!(s.method, "POST");
        assert_eq!(s.path, "/data-deletions/v3.0");
        assert_eq!(s.query, "token=abc123");
        assert_eq!(s.headers["authorization"], "Bearer gdpr-secret");
        assert_eq!(s.body["compliance_type"], "GDPR");
    }
    // The two tasks may arrive in either order (the lane does not promise one).
    let mut sizes: Vec<usize> = seen
        .iter()
        .map(|s| s.body["distinct_ids"].as_array().unwrap().len())
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [1, 1999]);
    let lines = report_lines(&dir.path().join("r.jsonl"));
    assert_eq!(lines.len(), 2000);
    assert!(lines.iter().all(|l| l["outcome"] == "queued"));
    let first = lines.iter().find(|l| l["id"] == "u0").unwrap();
    // u0's job is the task its request created (the n-th answer is task-n).
    let n = seen
        .iter()
        .position(|s| {
            s.body["distinct_ids"]
                .as_array()
                .unwrap()
                .contains(&json!("u0"))
        })
        .unwrap();
    assert_eq!(first["job_id"], format!("task-{n}"));
    assert!(
        !stderr(&out).contains("gdpr-secret"),
        "no credential in any output"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dry_run_needs_no_credential_nor_project_but_a_real_run_needs_the_project() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["mixpanel", "--dry-run", "u1", "u2"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        r#"POST https://mixpanel.com/api/app/data-deletions/v3.0?token=PROJECT_TOKEN {"compliance_type":"GDPR","distinct_ids":["u1","u2"]}"#
    );
    let out = run(
        dir.path(),
        &["mixpanel", "--region", "eu", "--dry-run", "u1"],
        &[],
    )
    .await;
    assert!(
        stdout(&out).starts_with("POST https://eu.mixpanel.com/api/app/"),
        "{}",
        stdout(&out)
    );
    // A real run without the project stops before anything is sent.
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let out = run(
        dir.path(),
        &["mixpanel", "-y", "--base-url", &server.uri(), "u1"],
        ENV,
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--project-token"), "{}", stderr(&out));
    server.verify().await;
}

/// `purge.toml` for the simulated Mixpanel.
fn toml(sim: &Sim) -> String {
    format!(
        "[mixpanel]\nbase-url = \"{}\"\nproject-token = \"sim-project\"\n",
        sim.url(Vendor::Mixpanel)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reads_the_task_until_it_succeeds_and_the_certificate_says_so() {
    let sim = Sim::start(fast(), 20).await.unwrap();
    sim.mixpanel_task_time(std::time::Duration::from_secs(3600));
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "purge.toml", &toml(&sim));
    let people: Vec<String> = (0..5).map(sim::email).collect();
    let input = write_file(dir.path(), "people.txt", &people.join("\n"));
    let args = [
        "mixpanel",
        "-y",
        "-i",
        input.to_str().unwrap(),
        "--report",
        "r.jsonl",
    ];
    let out = run(dir.path(), &args, Vendor::Mixpanel.env()).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(sim.mixpanel_tasks(), 1);
    assert_exactly(&sim, Vendor::Mixpanel, 5, Life::Gone);
    // The task is not finished: not proven, and verify says why.
    let last = verify_lines(dir.path(), Vendor::Mixpanel.env()).await;
    assert_each(&last, &people, "unverifiable", "PENDING");
    // One status read for the task, not one per person.
    assert_eq!(
        sim.counters(Vendor::Mixpanel)
            .reads
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // Done: verified, and the certificate counts them proven.
    sim.mixpanel_task_time(std::time::Duration::ZERO);
    let last = verify_lines(dir.path(), Vendor::Mixpanel.env()).await;
    assert_each(&last, &people, "verified", "SUCCESS");
    let out = run(
        dir.path(),
        &["certificate", "--report", "r.jsonl", "-o", "c.md"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("5 people at 1 vendor"), "{err}");
    assert!(err.contains("0 not proven"), "{err}");
    let doc = std::fs::read_to_string(dir.path().join("c.md")).unwrap();
    assert!(doc.contains("Mixpanel"), "{doc}");
}

/// A report's task is input, not authority: a line naming a task that does
/// not hold its distinct id proves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_read_back_from_the_report_proves_only_the_ids_it_names() {
    let sim = Sim::start(fast(), 20).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "purge.toml", &toml(&sim));
    let args = ["mixpanel", "-y", "--report", "r.jsonl", &sim::email(1)];
    let out = run(dir.path(), &args, Vendor::Mixpanel.env()).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = dir.path().join("r.jsonl");
    let real: Value = report_lines(&report)[0].clone();
    // Someone never purged, recorded as in person 1's task.
    let mut forged = real.clone();
    forged["id"] = json!(sim::email(2));
    let text = std::fs::read_to_string(&report).unwrap() + &forged.to_string() + "\n";
    std::fs::write(&report, text).unwrap();
    let out = run(
        dir.path(),
        &["verify", "--report", "r.jsonl"],
        Vendor::Mixpanel.env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let last = last_lines(&report);
    assert_eq!(last[&sim::email(1)]["outcome"], "verified");
    assert_eq!(last[&sim::email(2)]["outcome"], "unverifiable");
    assert!(
        last[&sim::email(2)]["detail"]
            .as_str()
            .unwrap()
            .contains("does not name this distinct id"),
        "{}",
        last[&sim::email(2)]
    );
}
