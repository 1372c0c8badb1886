//! `purge zendesk` specifics against a wiremock Zendesk on 127.0.0.1, answering
//! with the real recorded bodies in `tests/fixtures/zendesk/` (the shared
//! behaviours are in `conformance.rs`).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use common::{query_list as query_ids, zendesk_deleted as deleted, zendesk_job as job};
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

const EMAIL: &str = "agent@example.com";
const TOKEN: &str = "zd-api-token-9c1e";

fn env() -> Vec<(&'static str, &'static str)> {
    vec![("ZENDESK_EMAIL", EMAIL), ("ZENDESK_API_TOKEN", TOKEN)]
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/zendesk/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A recorded answer: its status, rate headers and body.
fn recorded(name: &str) -> ResponseTemplate {
    let f = fixture(name);
    let mut t = ResponseTemplate::new(f["status"].as_u64().unwrap() as u16)
        .set_body_json(f["body"].clone());
    for (k, v) in f["headers"].as_object().unwrap() {
        if !k.eq_ignore_ascii_case("content-type") {
            t = t.insert_header(k.as_str(), v.as_str().unwrap());
        }
    }
    t
}

fn erased(seen: &[Seen]) -> Vec<String> {
    let mut v: Vec<String> = seen
        .iter()
        .filter(|s| s.method == "DELETE")
        .filter_map(|s| {
            s.path
                .strip_prefix("/api/v2/deleted_users/")
                .map(str::to_string)
        })
        .collect();
    v.sort();
    v
}

async fn zendesk<F>(rec: Recorder<F>) -> MockServer
where
    F: Fn(usize, &wiremock::Request) -> ResponseTemplate + Send + Sync + 'static,
{
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(rec).mount(&server).await;
    server
}

fn count(seen: &[Seen], method: &str, prefix: &str) -> usize {
    seen.iter()
        .filter(|s| s.method == method && s.path.starts_with(prefix))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_job_goes_queued_working_completed_then_users_are_erased() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = ["6164068886042", "6164068886170", "6164068886298"]
        .map(String::from)
        .to_vec();
    let job_id = fixture("destroy_many_queued.json")["body"]["job_status"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let polls = Arc::new(Mutex::new(0));
    let (ids2, job2, polls2) = (ids.clone(), job_id.clone(), polls.clone());
    let rec = Recorder::new(move |_, r| {
        let path = r.url.path();
        if path == "/api/v2/users/destroy_many" {
            recorded("destroy_many_queued.json")
        } else if path == format!("/api/v2/job_statuses/{job2}") {
            let mut n = polls2.lock().unwrap();
            *n += 1;
            match *n {
                1 => recorded("job_queued.json"),
                2 => recorded("job_working.json"),
                _ => {
                    // The recorded completed answer, with a delete job's results.
                    let mut f = fixture("job_completed.json")["body"].clone();
                    f["job_status"]["id"] = json!(job2);
                    f["job_status"]["results"] = json!(deleted(&ids2));
                    ResponseTemplate::new(200).set_body_json(f)
                }
            }
        } else if path.starts_with("/api/v2/deleted_users/") {
            ResponseTemplate::new(200).set_body_json(json!({"deleted_user": {"id": 1}}))
        } else {
            ResponseTemplate::new(404).set_body_json(fixture("user_404.json")["body"].clone())
        }
    });
    let server = zendesk(rec.clone()).await;
    let mut args = vec!["zendesk", "-y", "--report", "r.jsonl"];
    let uri = server.uri();
    args.extend(["--base-url", &uri]);
    args.extend(ids.iter().map(String::as_str));
    let out = run(dir.path(), &args, &env()).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seen = rec.seen();
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{EMAIL}/token:{TOKEN}"))
    );
    assert!(seen.iter().all(|s| s.headers["authorization"] == auth));
    assert_eq!(seen[0].method, "DELETE");
    assert_eq!(seen[0].path, "/api/v2/users/destroy_many");
    assert_eq!(query_ids(&seen[0], "ids"), ids);
    assert_eq!(
        count(&seen, "GET", "/api/v2/job_statuses/"),
        3,
        "polled until completed"
    );
    let gaps: Vec<Duration> = seen
        .iter()
        .filter(|s| s.path.starts_with("/api/v2/job_statuses/"))
        .map(|s| s.at)
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| w[1] - w[0])
        .collect();
    assert!(gaps[1] > gaps[0], "polls back off: {gaps:?}");
    let mut want = ids.clone();
    want.sort();
    assert_eq!(
        erased(&seen),
        want,
        "every soft-deleted user is erased for good"
    );
    let lines = report_lines(&dir.path().join("r.jsonl"));
    let pending: Vec<_> = lines.iter().filter(|l| l["outcome"] == "pending").collect();
    assert_eq!(
        pending.len(),
        3,
        "the job is recorded as soon as it is accepted"
    );
    assert!(pending.iter().all(|l| l["job_id"] == job_id.as_str()));
    let outcomes = last_outcomes(&dir.path().join("r.jsonl"));
    assert!(ids.iter().all(|i| outcomes[i] == "deleted"), "{outcomes:?}");
    assert!(
        lines
            .iter()
            .filter(|l| l["outcome"] == "deleted")
            .all(|l| l["detail"] == "permanent")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_items_of_a_recorded_job_are_failed_with_their_words() {
    let dir = tempfile::tempdir().unwrap();
    let body = fixture("job_completed_with_failed_items.json")["body"].clone();
    let results = body["job_status"]["results"].as_array().unwrap().clone();
    // The first result succeeded (no index, matched by id); the next two failed.
    let ok_id = results[0]["id"].as_u64().unwrap().to_string();
    let bad1 = results[1]["id"].as_u64().unwrap().to_string();
    let bad2 = results[2]["id"].as_u64().unwrap().to_string();
    let missing = "42".to_string();
    let job_id = body["job_status"]["id"].as_str().unwrap().to_string();
    let (b, j) = (body.clone(), job_id.clone());
    let rec = Recorder::new(move |_, r| {
        let path = r.url.path();
        if path == "/api/v2/users/destroy_many" {
            job(&j, "queued", None)
        } else if path.starts_with("/api/v2/job_statuses/") {
            ResponseTemplate::new(200).set_body_json(b.clone())
        } else {
            ResponseTemplate::new(200).set_body_json(json!({"deleted_user": {}}))
        }
    });
    let server = zendesk(rec.clone()).await;
    let uri = server.uri();
    let out = run(
        dir.path(),
        &[
            "zendesk",
            "-y",
            "--report",
            "r.jsonl",
            "--base-url",
            &uri,
            &ok_id,
            &bad1,
            &bad2,
            &missing,
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = report_lines(&dir.path().join("r.jsonl"));
    let last = |id: &str| lines.iter().rev().find(|l| l["id"] == id).unwrap().clone();
    assert_eq!(last(&ok_id)["outcome"], "deleted");
    for bad in [&bad1, &bad2] {
        let l = last(bad);
        assert_eq!(l["outcome"], "failed");
        assert!(
            l["detail"]
                .as_str()
                .unwrap()
                .starts_with("OrganizationUpdateFailed: Name:"),
            "{l}"
        );
        assert_eq!(l["job_id"], job_id.as_str());
    }
    assert_eq!(last(&missing)["outcome"], "failed");
    assert_eq!(last(&missing)["detail"], "not in job results");
    assert_eq!(
        erased(&rec.seen()),
        [ok_id],
        "only the deleted user is erased"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_fails_fails_its_identifiers() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| {
        if r.url.path() == "/api/v2/users/destroy_many" {
            job("J9", "queued", None)
        } else {
            ResponseTemplate::new(200).set_body_json(json!({"job_status": {
                "id": "J9", "status": "failed", "message": "Something went wrong", "results": null}}))
        }
    });
    let server = zendesk(rec.clone()).await;
    let out = run(
        dir.path(),
        &[
            "zendesk",
            "-y",
            "--report",
            "r.jsonl",
            "--base-url",
            &server.uri(),
            "7",
            "8",
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let outcomes = last_outcomes(&dir.path().join("r.jsonl"));
    assert_eq!(outcomes["7"], "failed");
    let lines = report_lines(&dir.path().join("r.jsonl"));
    let l = lines.iter().rev().find(|l| l["id"] == "8").unwrap();
    assert!(
        l["detail"]
            .as_str()
            .unwrap()
            .contains("ended failed: Something went wrong"),
        "{l}"
    );
    assert_eq!(erased(&rec.seen()).len(), 0);
}

/// A Zendesk whose jobs complete on the first poll.
fn simple_zendesk()
-> Recorder<impl Fn(usize, &wiremock::Request) -> ResponseTemplate + Send + Sync + 'static> {
    Recorder::new(|_, r| stateless_zendesk(r))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_fifty_ids_are_three_jobs_then_250_erasures_soft_and_no_wait_skip_steps() {
    let ids: Vec<String> = (0..250).map(|i| (5000 + i).to_string()).collect();
    for (mode, polls, erasures, outcome) in [
        ("", 3, 250, "deleted"),
        ("--soft", 3, 0, "deleted"),
        ("--no-wait", 0, 0, "queued"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let rec = simple_zendesk();
        let server = zendesk(rec.clone()).await;
        let input = write_file(dir.path(), "ids.txt", &ids.join("\n"));
        let uri = server.uri();
        let mut args = vec![
            "zendesk",
            "-y",
            "-i",
            input.to_str().unwrap(),
            "--base-url",
            &uri,
            "--report",
            "r.jsonl",
        ];
        if !mode.is_empty() {
            args.push(mode);
        }
        let out = run(dir.path(), &args, &env()).await;
        assert_eq!(out.status.code(), Some(0), "{mode}: {}", stderr(&out));
        let seen = rec.seen();
        let mut sizes: Vec<usize> = seen
            .iter()
            .map(|s| query_ids(s, "ids").len())
            .filter(|n| *n > 0)
            .collect();
        sizes.sort_unstable();
        assert_eq!(sizes, [50, 100, 100], "{mode}: three jobs");
        assert_eq!(
            count(&seen, "GET", "/api/v2/job_statuses/"),
            polls,
            "{mode}: polls"
        );
        assert_eq!(erased(&seen).len(), erasures, "{mode}: permanent erasures");
        let outcomes = last_outcomes(&dir.path().join("r.jsonl"));
        assert_eq!(outcomes.len(), 250);
        assert!(
            outcomes.values().all(|o| o == outcome),
            "{mode}: {outcomes:?}"
        );
        let err = stderr(&out);
        match mode {
            "--soft" => assert!(err.contains("up to 30 days and then erases them"), "{err}"),
            "--no-wait" => {
                let lines = report_lines(&dir.path().join("r.jsonl"));
                assert!(
                    lines
                        .iter()
                        .all(|l| l["job_id"].as_str().is_some_and(|j| j.starts_with("J-")))
                );
            }
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brand_id_rules() {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let uri = server.uri();
    for args in [
        vec!["-k", "external-id", "--brand-id", "all", "ext-1"],
        vec!["-k", "external-id", "--brand-id", "x", "ext-1"],
        vec!["-k", "external-id", "--brand-id=-3", "ext-1"],
        vec!["--brand-id", "5", "123"],
    ] {
        let mut all = vec!["zendesk", "-y", "--base-url", &uri];
        all.extend(&args);
        let out = run(dir.path(), &all, &env()).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("--brand-id"), "{}", stderr(&out));
    }
    server.verify().await;
    let out = run(
        dir.path(),
        &[
            "zendesk",
            "--dry-run",
            "--subdomain",
            "acme",
            "-k",
            "external-id",
            "--brand-id",
            "0",
            "ext 1",
            "ext;2",
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "DELETE https://acme.zendesk.com/api/v2/users/destroy_many?external_ids=ext%201,ext%3B2&brand_id=0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brand_id_zero_is_on_the_wire_and_an_unknown_brand_fails_each_id() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| {
        let brand = r
            .url
            .query_pairs()
            .find(|(k, _)| k == "brand_id")
            .map(|(_, v)| v.into_owned());
        if brand.as_deref() == Some("0") {
            job(
                "JB",
                "completed",
                Some(vec![
                    json!({"id": "ext-1", "external_id": "ext-1", "status": "Deleted", "success": true}),
                ]),
            )
        } else {
            ResponseTemplate::new(400).set_body_json(
                json!({"error": "InvalidValue", "description": "Brand 77 not found"}),
            )
        }
    });
    let server = zendesk(rec.clone()).await;
    let uri = server.uri();
    let out = run(
        dir.path(),
        &[
            "zendesk",
            "-y",
            "--soft",
            "-k",
            "external-id",
            "--brand-id",
            "0",
            "ext-1",
            "--base-url",
            &uri,
            "--report",
            "a.jsonl",
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(rec.seen()[0].query, "external_ids=ext-1&brand_id=0");
    assert_eq!(
        last_outcomes(&dir.path().join("a.jsonl"))["ext-1"],
        "deleted"
    );
    let out = run(
        dir.path(),
        &[
            "zendesk",
            "-y",
            "-k",
            "external-id",
            "--brand-id",
            "77",
            "e1",
            "e2",
            "--base-url",
            &uri,
            "--report",
            "b.jsonl",
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = report_lines(&dir.path().join("b.jsonl"));
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["outcome"] == "failed"
        && l["detail"].as_str().unwrap().contains("Brand 77 not found")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_ids_are_erased_by_the_numeric_id_from_the_results() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| {
        let path = r.url.path();
        if path == "/api/v2/users/destroy_many" {
            job("JX", "queued", None)
        } else if path.starts_with("/api/v2/job_statuses/") {
            job(
                "JX",
                "completed",
                Some(vec![
                    json!({"index": 0, "id": 9001, "status": "Deleted", "success": true}),
                    json!({"index": 1, "error": "UserNotFound", "details": "User not found"}),
                ]),
            )
        } else {
            ResponseTemplate::new(200).set_body_json(json!({"deleted_user": {}}))
        }
    });
    let server = zendesk(rec.clone()).await;
    let out = run(
        dir.path(),
        &[
            "zendesk",
            "-y",
            "-k",
            "external-id",
            "crm-1",
            "crm-2",
            "--base-url",
            &server.uri(),
            "--report",
            "r.jsonl",
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(erased(&rec.seen()), ["9001"]);
    let outcomes = last_outcomes(&dir.path().join("r.jsonl"));
    assert_eq!(outcomes["crm-1"], "deleted");
    assert_eq!(outcomes["crm-2"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emails_are_searched_exactly_then_deleted_and_erased() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| {
        let path = r.url.path();
        if path == "/api/v2/users/search" {
            let q = param(r, "query");
            let users = match q.as_str() {
                // Search also finds near matches; only exact ones count.
                "email:ann@example.com" => {
                    json!([{"id": 501, "email": "Ann@Example.com"}, {"id": 502, "email": "ann@example.com.au"}])
                }
                _ => json!([]),
            };
            ResponseTemplate::new(200)
                .set_body_json(json!({"users": users, "count": 1, "next_page": null}))
        } else if path == "/api/v2/users/destroy_many" {
            job("JE", "queued", None)
        } else if path.starts_with("/api/v2/job_statuses/") {
            job("JE", "completed", Some(deleted(&["501".into()])))
        } else {
            ResponseTemplate::new(200).set_body_json(json!({"deleted_user": {}}))
        }
    });
    let server = zendesk(rec.clone()).await;
    let out = run(
        dir.path(),
        &[
            "zendesk",
            "-y",
            "-k",
            "email",
            "ann@example.com",
            "nobody@example.com",
            "--base-url",
            &server.uri(),
            "--report",
            "r.jsonl",
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seen = rec.seen();
    assert_eq!(count(&seen, "GET", "/api/v2/users/search"), 2);
    let submit = seen
        .iter()
        .find(|s| s.path == "/api/v2/users/destroy_many")
        .unwrap();
    assert_eq!(query_ids(submit, "ids"), ["501"]);
    assert_eq!(erased(&seen), ["501"]);
    let lines = report_lines(&dir.path().join("r.jsonl"));
    let ann = lines
        .iter()
        .rev()
        .find(|l| l["id"] == "ann@example.com")
        .unwrap();
    assert_eq!(ann["outcome"], "deleted");
    assert_eq!(ann["detail"], "permanent; user id 501");
    assert_eq!(
        last_outcomes(&dir.path().join("r.jsonl"))["nobody@example.com"],
        "not_found"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_run_polls_its_recorded_job_on_resume_and_resubmits_a_vanished_one() {
    for vanished in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        // First run: the job never finishes.
        let first = Recorder::new(|_, r| {
            if r.url.path() == "/api/v2/users/destroy_many" {
                job("JK", "queued", None)
            } else {
                job("JK", "working", None)
            }
        });
        let server = zendesk(first.clone()).await;
        let report = dir.path().join("r.jsonl");
        let uri = server.uri();
        let args = [
            "zendesk",
            "-y",
            "1",
            "2",
            "3",
            "--base-url",
            &uri,
            "--report",
            "r.jsonl",
        ];
        let mut child = command(dir.path(), &args, &env())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while report_lines(&report).len() < 3 {
            assert!(Instant::now() < deadline, "no pending lines");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            report_lines(&report)
                .iter()
                .all(|l| l["outcome"] == "pending" && l["job_id"] == "JK")
        );
        drop(server);

        let second = Recorder::new(move |_, r| {
            let path = r.url.path();
            if path == "/api/v2/job_statuses/JK" && vanished {
                ResponseTemplate::new(404)
                    .set_body_json(json!({"error": "RecordNotFound", "description": "Not found"}))
            } else if path == "/api/v2/users/destroy_many" {
                job("JK2", "queued", None)
            } else if path.starts_with("/api/v2/job_statuses/") {
                job(
                    path.rsplit('/').next().unwrap(),
                    "completed",
                    Some(deleted(&["1".into(), "2".into(), "3".into()])),
                )
            } else {
                ResponseTemplate::new(200).set_body_json(json!({"deleted_user": {}}))
            }
        });
        let server = zendesk(second.clone()).await;
        let uri = server.uri();
        let mut again = vec![
            "zendesk",
            "-y",
            "1",
            "2",
            "3",
            "--base-url",
            &uri,
            "--report",
            "r.jsonl",
            "--resume",
        ];
        again.truncate(10);
        let out = run(dir.path(), &again, &env()).await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let seen = second.seen();
        assert_eq!(
            seen[0].path, "/api/v2/job_statuses/JK",
            "the recorded job is polled first"
        );
        let submits = count(&seen, "DELETE", "/api/v2/users/destroy_many");
        assert_eq!(
            submits,
            usize::from(vanished),
            "resubmitted only when the job is gone"
        );
        let outcomes = last_outcomes(&report);
        assert!(
            ["1", "2", "3"].iter().all(|i| outcomes[*i] == "deleted"),
            "{outcomes:?}"
        );
        assert_eq!(erased(&seen), ["1", "2", "3"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_and_account_are_required() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["zendesk", "-y", "--subdomain", "acme", "1"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("ZENDESK_EMAIL")
            && err.contains("ZENDESK_API_TOKEN")
            && err.contains("ZENDESK_OAUTH_TOKEN"),
        "{err}"
    );
    // A token file without the e-mail it belongs to: the e-mail is what is missing.
    let token = write_file(dir.path(), "zd-token", "t0k\n");
    let out = run(
        dir.path(),
        &[
            "zendesk",
            "-y",
            "--subdomain",
            "acme",
            "--token-file",
            token.to_str().unwrap(),
            "1",
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("also needs the e-mail") && err.contains("set ZENDESK_EMAIL"),
        "{err}"
    );
    // A dry run needs no account: a placeholder host, and the reason.
    let out = run(dir.path(), &["zendesk", "--dry-run", "1"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "DELETE https://subdomain.zendesk.com/api/v2/users/destroy_many?ids=1"
    );
    assert!(stderr(&out).contains("--subdomain"));
    let out = run(
        dir.path(),
        &["zendesk", "--dry-run", "-k", "id", "12", "abc"],
        &[("ZENDESK_SUBDOMAIN", "acme")],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "a non-numeric id is invalid");
    assert_eq!(
        stdout(&out).trim(),
        "DELETE https://acme.zendesk.com/api/v2/users/destroy_many?ids=12"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_token_is_sent_as_bearer() {
    let dir = tempfile::tempdir().unwrap();
    let rec = simple_zendesk();
    let server = zendesk(rec.clone()).await;
    let out = run(
        dir.path(),
        &["zendesk", "-y", "--soft", "77", "--base-url", &server.uri()],
        &[("ZENDESK_OAUTH_TOKEN", "oauth-xyz")],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        rec.seen()
            .iter()
            .all(|s| s.headers["authorization"] == "Bearer oauth-xyz")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_throttled_while_our_job_is_open_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let first_done = Arc::new(Mutex::new(false));
    let polls = Arc::new(Mutex::new(0u32));
    let (f, p) = (first_done.clone(), polls.clone());
    let rec = Recorder::new(move |_, r| {
        let path = r.url.path();
        let ids = param(r, "ids");
        if path == "/api/v2/users/destroy_many" {
            if ids.starts_with("1,") {
                job("J1", "queued", None)
            } else if *f.lock().unwrap() {
                job("J2", "queued", None)
            } else {
                // The account's job limit is reached: Zendesk throttles the submission.
                ResponseTemplate::new(429)
                    .insert_header("Retry-After", "0")
                    .set_body_string("Too many jobs")
            }
        } else if path == "/api/v2/job_statuses/J1" {
            let mut n = p.lock().unwrap();
            *n += 1;
            if *n < 2 {
                job("J1", "working", None)
            } else {
                *f.lock().unwrap() = true;
                let ids: Vec<String> = (1..=100).map(|i| i.to_string()).collect();
                job("J1", "completed", Some(deleted(&ids)))
            }
        } else {
            job("J2", "completed", Some(deleted(&["101".to_string()])))
        }
    });
    let server = zendesk(rec.clone()).await;
    let ids: Vec<String> = (1..=101).map(|i| i.to_string()).collect();
    let out = run_ids(
        dir.path(),
        &[
            "zendesk",
            "-y",
            "--soft",
            "--concurrency",
            "1",
            "--max-retries",
            "1",
            "--report",
            "r.jsonl",
        ],
        &ids,
        &server.uri(),
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seen = rec.seen();
    let throttled = seen
        .iter()
        .filter(|s| s.path == "/api/v2/users/destroy_many" && query_ids(s, "ids") == ["101"])
        .count();
    assert!(
        throttled >= 3,
        "the second submission was throttled, held, and sent again ({throttled})"
    );
    let outcomes = last_outcomes(&dir.path().join("r.jsonl"));
    assert_eq!(outcomes["101"], "deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_quota_rises_to_what_x_rate_limit_reports() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|n, _| {
        job(&format!("J{n}"), "queued", None)
            .insert_header("x-rate-limit", "6000")
            .insert_header("x-rate-limit-remaining", "5999")
    });
    let server = zendesk(rec.clone()).await;
    let ids: Vec<String> = (0..2000).map(|i| (10_000 + i).to_string()).collect();
    let out = run_ids(
        dir.path(),
        &["zendesk", "-y", "--no-wait"],
        &ids,
        &server.uri(),
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seen = rec.seen();
    assert_eq!(seen.len(), 20);
    // At the default 200/min the 20 submissions would take 5.7 s.
    let span = seen.last().unwrap().at - seen[0].at;
    assert!(
        span < Duration::from_secs(3),
        "the quota did not rise: {span:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_id_with_a_comma_is_invalid_not_two_people() {
    let dir = tempfile::tempdir().unwrap();
    // Zendesk reads external_ids= as a comma-separated list: "x,y" would be x and y.
    let out = run(
        dir.path(),
        &[
            "zendesk",
            "--dry-run",
            "--subdomain",
            "acme",
            "-k",
            "external-id",
            "ok-1",
            "x,y",
        ],
        &[],
    )
    .await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("invalid") && err.contains("comma"), "{err}");
    assert_eq!(
        stdout(&out).trim(),
        "DELETE https://acme.zendesk.com/api/v2/users/destroy_many?external_ids=ok-1"
    );
}
