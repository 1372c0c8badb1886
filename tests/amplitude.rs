//! Amplitude's User Privacy API on the wire (wiremock and the simulator,
//! 127.0.0.1): the documented deletion request, 100 people a request, Basic
//! auth, the job's day recorded as the job, a request never sent twice, verify
//! by the job listing, the certificate, and a dry run that needs no credential
//! and no requester.

mod common;
mod simulated;

use common::*;
use serde_json::{Value, json};
use simulated::*;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

const ENV: &[(&str, &str)] = &[
    ("AMPLITUDE_API_KEY", "key-1"),
    ("AMPLITUDE_SECRET_KEY", "secret-1"),
];

/// Amplitude's answer to a deletion request naming `user_ids` (each mapped to an amplitude id).
fn added(body: &Value, day: &str) -> ResponseTemplate {
    let named: Vec<Value> = body_list(body, "user_ids")
        .iter()
        .map(|u| {
            json!({"amplitude_id": 5000 + u[1..].parse::<u64>().unwrap(), "user_id": u,
            "requester": "dpo@acme.example", "requested_on_day": "2026-12-02"})
        })
        .collect();
    ResponseTemplate::new(200).set_body_json(
        json!({"day": day, "status": "staging", "amplitude_ids": named, "invalid_ids": []}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_sends_100_user_ids_a_request_with_basic_auth_and_records_the_jobs_day() {
    let rec = Recorder::new(|_, r| {
        added(
            &serde_json::from_slice(&r.body).unwrap_or_default(),
            "2026-12-14",
        )
    });
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(rec.clone())
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = (0..201).map(|i| format!("u{i}")).collect();
    let args = [
        "amplitude",
        "-y",
        "--requester",
        "dpo@acme.example",
        "--rate",
        "100/s",
        "--report",
        "r.jsonl",
    ];
    let out = run_ids(dir.path(), &args, &ids, &server.uri(), ENV).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seen = rec.seen();
    // base64("key-1:secret-1")
    let basic = "Basic a2V5LTE6c2VjcmV0LTE=";
    for s in &seen {
        assert_eq!(
            (s.method.as_str(), s.path.as_str()),
            ("POST", "/api/2/deletions/users")
        );
        assert_eq!(s.headers["authorization"], basic);
        assert_eq!(s.headers["content-type"], "application/json");
        assert_eq!(s.body["requester"], "dpo@acme.example");
        assert_eq!(s.body["ignore_invalid_id"], "True");
        assert_eq!(s.body["include_mapped_user_ids"], "True");
        assert!(s.body.get("amplitude_ids").is_none() && s.body.get("delete_from_org").is_none());
    }
    let mut sizes: Vec<usize> = seen
        .iter()
        .map(|s| body_list(&s.body, "user_ids").len())
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [1, 100, 100], "100 people a request");
    let lines = report_lines(&dir.path().join("r.jsonl"));
    assert_eq!(lines.len(), 201);
    let u7 = lines.iter().find(|l| l["id"] == "u7").unwrap();
    assert_eq!(u7["outcome"], "queued");
    assert_eq!(u7["job_id"], "2026-12-14");
    assert_eq!(u7["vendor_ids"], json!(["5007"]));
    let err = stderr(&out);
    assert!(!err.contains("secret-1"), "no credential in any output");
    assert!(
        err.contains("each admin gets 3 e-mails"),
        "the confirmation says Amplitude mails every admin: {err}"
    );
}

/// A deletion request is not idempotent: after a timeout it may have reached
/// Amplitude, so it is not sent again; its people end `failed`, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_timed_out_is_not_sent_again() {
    let rec = Recorder::new(|_, _| {
        ResponseTemplate::new(200)
            .set_body_json(json!({"day": "2026-12-14", "status": "staging", "amplitude_ids": []}))
            .set_delay(std::time::Duration::from_secs(3))
    });
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(rec.clone())
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "amplitude",
        "-y",
        "--requester",
        "dpo@acme.example",
        "--timeout",
        "500ms",
        "--report",
        "r.jsonl",
    ];
    let out = run_ids(dir.path(), &args, &["u1", "u2"], &server.uri(), ENV).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(rec.seen().len(), 1, "sent once, never again");
    let lines = report_lines(&dir.path().join("r.jsonl"));
    assert_eq!(lines.len(), 2);
    for l in &lines {
        assert_eq!(l["outcome"], "failed", "{l}");
        assert!(l["detail"].as_str().unwrap().contains("not re-sent"), "{l}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dry_run_needs_no_credential_nor_requester_but_a_real_run_needs_the_requester() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["amplitude", "--dry-run", "u1", "u2"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        r#"POST https://amplitude.com/api/2/deletions/users {"ignore_invalid_id":"True","include_mapped_user_ids":"True","requester":"REQUESTER","user_ids":["u1","u2"]}"#
    );
    assert!(stderr(&out).contains("--requester"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("each admin gets 1 e-mail"),
        "{}",
        stderr(&out)
    );
    let args = [
        "amplitude",
        "--region",
        "eu",
        "-k",
        "amplitude-id",
        "--dry-run",
        "356896327775",
    ];
    let out = run(dir.path(), &args, &[]).await;
    assert_eq!(
        stdout(&out).trim(),
        r#"POST https://analytics.eu.amplitude.com/api/2/deletions/users {"amplitude_ids":[356896327775],"ignore_invalid_id":"True","requester":"REQUESTER"}"#
    );
    // A real run without a requester stops before anything is sent.
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let args = ["amplitude", "-y", "--base-url", &server.uri(), "u1"];
    let out = run(dir.path(), &args, ENV).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--requester"), "{}", stderr(&out));
    server.verify().await;
}

/// `purge.toml` for the simulated Amplitude.
fn toml(sim: &Sim) -> String {
    format!(
        "[amplitude]\nbase-url = \"{}\"\nrequester = \"dpo@example.com\"\n",
        sim.url(Vendor::Amplitude)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reads_the_job_of_the_day_until_it_is_done_and_the_certificate_says_so() {
    let sim = Sim::start(fast(), 20).await.unwrap();
    sim.amplitude_job_time(std::time::Duration::from_secs(3600));
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "purge.toml", &toml(&sim));
    let people: Vec<String> = (0..5).map(sim::email).collect();
    let input = write_file(dir.path(), "people.txt", &people.join("\n"));
    let args = [
        "amplitude",
        "-y",
        "-i",
        input.to_str().unwrap(),
        "--report",
        "r.jsonl",
    ];
    let out = run(dir.path(), &args, Vendor::Amplitude.env()).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(sim.amplitude_jobs(), 1);
    assert_exactly(&sim, Vendor::Amplitude, 5, Life::Gone);
    // The job has not run: not proven, and verify says why.
    let last = verify_lines(dir.path(), Vendor::Amplitude.env()).await;
    assert_each(&last, &people, "unverifiable", "staging");
    // One listing for the five, not one per person.
    let reads = || {
        sim.counters(Vendor::Amplitude)
            .reads
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    assert_eq!(reads(), 1);
    // Done: verified, and the certificate counts them proven.
    sim.amplitude_job_time(std::time::Duration::ZERO);
    let last = verify_lines(dir.path(), Vendor::Amplitude.env()).await;
    assert_each(&last, &people, "verified", "done");
    let args = ["certificate", "--report", "r.jsonl", "-o", "c.md"];
    let out = run(dir.path(), &args, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("5 people at 1 vendor"), "{err}");
    assert!(err.contains("0 not proven"), "{err}");
    let doc = std::fs::read_to_string(dir.path().join("c.md")).unwrap();
    assert!(doc.contains("Amplitude"), "{doc}");
}

/// A report's day is input, not authority: a line naming a day whose job
/// does not name the person, or a day with no job, proves nothing; an
/// amplitude id is matched by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_read_back_from_the_report_proves_only_the_people_its_job_names() {
    let sim = Sim::start(fast(), 20).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "purge.toml", &toml(&sim));
    let amp3 = sim.amplitude_id(3).to_string();
    let mut text = String::new();
    for (kind, id) in [("user-id", sim::email(1)), ("amplitude-id", amp3.clone())] {
        let args = ["amplitude", "-y", "-k", kind, "--report", "one.jsonl", &id];
        let out = run(dir.path(), &args, Vendor::Amplitude.env()).await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let one = dir.path().join("one.jsonl");
        text += &std::fs::read_to_string(&one).unwrap();
        std::fs::remove_file(one).unwrap();
    }
    let report = write_file(dir.path(), "r.jsonl", &text);
    let real = last_lines(&report)[&sim::email(1)].clone();
    assert_eq!(real["vendor_ids"], json!([sim.amplitude_id(1).to_string()]));
    // Person 2, never purged, recorded in person 1's job; person 4 on a day with no job.
    let mut forged = real.clone();
    forged["id"] = json!(sim::email(2));
    forged["vendor_ids"] = json!([]);
    let mut no_job = real.clone();
    no_job["id"] = json!(sim::email(4));
    no_job["job_id"] = json!("2030-01-01");
    let text = std::fs::read_to_string(&report).unwrap()
        + &forged.to_string()
        + "\n"
        + &no_job.to_string()
        + "\n";
    std::fs::write(&report, text).unwrap();
    let last = verify_lines(dir.path(), Vendor::Amplitude.env()).await;
    assert_eq!(last[&sim::email(1)]["outcome"], "verified");
    assert_eq!(last[&amp3]["outcome"], "verified", "{}", last[&amp3]);
    let detail = |id: &str| last[id]["detail"].as_str().unwrap().to_string();
    assert_eq!(last[&sim::email(2)]["outcome"], "unverifiable");
    assert!(detail(&sim::email(2)).contains("does not name this user-id"));
    assert_eq!(last[&sim::email(4)]["outcome"], "unverifiable");
    assert!(detail(&sim::email(4)).contains("lists no deletion job for 2030-01-01"));
}
