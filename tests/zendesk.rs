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

/// A wiremock Zendesk answering with `rec`, except `show_many?ids=`, answered
/// by a Zendesk whose users are all active end-users (not recorded).
async fn zendesk<F>(rec: Recorder<F>) -> MockServer
where
    F: Fn(usize, &wiremock::Request) -> ResponseTemplate + Send + Sync + 'static,
{
    let server = MockServer::start().await;
    Mock::given(EndUsers)
        .respond_with(|r: &wiremock::Request| zendesk_end_users(r).unwrap())
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(any()).respond_with(rec).mount(&server).await;
    server
}

/// A wiremock Zendesk answering everything with `rec`.
async fn zendesk_own<F>(rec: Recorder<F>) -> MockServer
where
    F: Fn(usize, &wiremock::Request) -> ResponseTemplate + Send + Sync + 'static,
{
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(rec).mount(&server).await;
    server
}

struct EndUsers;

impl wiremock::Match for EndUsers {
    fn matches(&self, r: &wiremock::Request) -> bool {
        zendesk_end_users(r).is_some() && param(r, "include").is_empty()
    }
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
                    // A completed destroy job as the OAS documents it (not
                    // recorded), for this run's job and users.
                    let mut f = fixture("job_completed.json")["body"].clone();
                    assert_eq!(f["job_status"]["results"][0]["action"], "delete");
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
        "GET https://acme.zendesk.com/api/v2/users/show_many?external_ids=ext%201,ext%3B2"
    );
}

/// `ShowManyUsers` documents only `ids` and `external_ids` (the OAS): a
/// `brand_id` there may be ignored, so purge never sends one, and a report
/// that names a brand scope says it could not be applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_brand_scope_is_claimed_on_show_many() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| {
        let path = r.url.path();
        if path == "/api/v2/users/show_many" {
            // A Zendesk that ignores what it does not document.
            ResponseTemplate::new(200).set_body_json(json!({"users": [
                {"id": 4401, "external_id": "ext-1", "role": "end-user", "active": true}]}))
        } else if path == "/api/v2/users/destroy_many" {
            job("JB", "completed", Some(deleted(&["4401".into()])))
        } else {
            ResponseTemplate::new(404).set_body_json(json!({"error": "InvalidEndpoint"}))
        }
    });
    let server = zendesk_own(rec.clone()).await;
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
            "7",
            "ext-1",
            "ext-2",
            "--base-url",
            &uri,
            "--report",
            "a.jsonl",
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seen = rec.seen();
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].query, "external_ids=ext-1,ext-2", "no brand_id");
    assert!(seen.iter().all(|s| !s.query.contains("brand_id")));
    // Deleted by the numeric id it resolved to, never by external id.
    assert_eq!(seen[1].path, "/api/v2/users/destroy_many");
    assert_eq!(seen[1].query, "ids=4401");
    let lines = report_lines(&dir.path().join("a.jsonl"));
    let last = |id: &str| lines.iter().rev().find(|l| l["id"] == id).unwrap().clone();
    assert_eq!(last("ext-1")["outcome"], "deleted");
    assert_eq!(last("ext-2")["outcome"], "not_found");
    let detail = last("ext-2")["detail"].as_str().unwrap().to_string();
    assert!(
        detail.contains("--brand-id 7 could not be applied") && !detail.contains("searched brand"),
        "{detail}"
    );
    assert!(
        stderr(&out).contains("--brand-id 7: not applied"),
        "{}",
        stderr(&out)
    );
}

/// "The API treats the id as case insensitive. Example: "ian1" and "IAN1" are
/// the same value" (`external_id`, User schema in the OAS): a user whose
/// external id differs from the input only in case is the person.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_ids_match_in_any_case_and_only_numeric_ids_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| {
        let path = r.url.path();
        if path == "/api/v2/users/show_many" {
            assert_eq!(param(r, "external_ids"), "crm-1,crm-2");
            ResponseTemplate::new(200).set_body_json(json!({"users": [
                {"id": 9001, "external_id": "CRM-1", "role": "end-user", "active": true}]}))
        } else if path == "/api/v2/users/destroy_many" {
            job("JX", "queued", None)
        } else if path.starts_with("/api/v2/job_statuses/") {
            job("JX", "completed", Some(deleted(&["9001".into()])))
        } else {
            ResponseTemplate::new(200).set_body_json(json!({"deleted_user": {}}))
        }
    });
    let server = zendesk_own(rec.clone()).await;
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
    let seen = rec.seen();
    let submits: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.path == "/api/v2/users/destroy_many")
        .collect();
    assert_eq!(submits.len(), 1);
    assert_eq!(submits[0].query, "ids=9001");
    assert_eq!(erased(&seen), ["9001"]);
    let lines = report_lines(&dir.path().join("r.jsonl"));
    let last = |id: &str| lines.iter().rev().find(|l| l["id"] == id).unwrap().clone();
    assert_eq!(last("crm-1")["outcome"], "deleted");
    assert_eq!(last("crm-2")["outcome"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_and_admins_are_refused_unless_include_staff() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| {
        let path = r.url.path();
        if path == "/api/v2/users/show_many" {
            ResponseTemplate::new(200).set_body_json(json!({"users": [
                {"id": 5776, "role": "end-user", "active": true},
                {"id": 5777, "role": "agent", "active": true},
                {"id": 5778, "role": "admin", "active": true}]}))
        } else if path == "/api/v2/users/destroy_many" {
            let ids: Vec<String> = param(r, "ids").split(',').map(String::from).collect();
            job("JS", "completed", Some(deleted(&ids)))
        } else {
            ResponseTemplate::new(200).set_body_json(json!({"deleted_user": {}}))
        }
    });
    let server = zendesk_own(rec.clone()).await;
    let uri = server.uri();
    let args = |report: &'static str, extra: &'static [&'static str]| {
        let mut a = vec!["zendesk", "-y", "5776", "5777", "5778", "--report", report];
        a.extend(extra);
        a
    };
    let mut a = args("a.jsonl", &[]);
    a.extend(["--base-url", &uri]);
    let out = run(dir.path(), &a, &env()).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("2 refused"), "{}", stderr(&out));
    let submits: Vec<String> = rec
        .seen()
        .iter()
        .filter(|s| s.path == "/api/v2/users/destroy_many")
        .map(|s| s.query.clone())
        .collect();
    assert_eq!(submits, ["ids=5776"]);
    let lines = report_lines(&dir.path().join("a.jsonl"));
    let last = |id: &str| lines.iter().rev().find(|l| l["id"] == id).unwrap().clone();
    assert_eq!(last("5776")["outcome"], "deleted");
    for (id, role) in [("5777", "an agent"), ("5778", "an admin")] {
        let l = last(id);
        assert_eq!(l["outcome"], "refused");
        let d = l["detail"].as_str().unwrap();
        assert!(d.contains(role) && d.contains("--include-staff"), "{d}");
    }
    // Allowed: all three go in the job.
    let mut a = args("b.jsonl", &["--include-staff"]);
    a.extend(["--base-url", &uri]);
    let out = run(dir.path(), &a, &env()).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let last_submit = rec
        .seen()
        .iter()
        .rev()
        .find(|s| s.path == "/api/v2/users/destroy_many")
        .unwrap()
        .query
        .clone();
    assert_eq!(last_submit, "ids=5776,5777,5778");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_owner_and_open_tickets_are_said_so() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| {
        let path = r.url.path();
        if path == "/api/v2/users/destroy_many" {
            job(
                "JO",
                "completed",
                Some(vec![
                    json!({"id": 1, "error": "PermissionDenied", "details": "The account owner cannot be deleted"}),
                    json!({"id": 2, "error": "UserDeleteFailed", "details": "User is the requester of open tickets"}),
                ]),
            )
        } else {
            ResponseTemplate::new(404).set_body_json(json!({"error": "RecordNotFound"}))
        }
    });
    let server = zendesk(rec.clone()).await;
    let out = run(
        dir.path(),
        &[
            "zendesk",
            "-y",
            "--include-staff",
            "1",
            "2",
            "--base-url",
            &server.uri(),
            "--report",
            "r.jsonl",
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = report_lines(&dir.path().join("r.jsonl"));
    let last = |id: &str| lines.iter().rev().find(|l| l["id"] == id).unwrap().clone();
    assert_eq!(last("1")["outcome"], "refused");
    assert!(
        last("1")["detail"]
            .as_str()
            .unwrap()
            .contains("account owner")
    );
    assert_eq!(last("2")["outcome"], "failed");
    let d = last("2")["detail"].as_str().unwrap().to_string();
    assert!(
        d.contains("tickets") && d.contains("then run purge again"),
        "{d}"
    );
    assert_eq!(erased(&rec.seen()).len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emails_are_searched_exactly_then_deleted_and_erased() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| {
        let path = r.url.path().trim_end_matches(".json");
        if path == "/api/v2/users/search" {
            let users = match (param(r, "query").as_str(), param(r, "page").as_str()) {
                // Search also finds near matches; only exact ones count.
                ("email:ann@example.com", _) => {
                    json!([{"id": 501, "email": "Ann@Example.com"}, {"id": 502, "email": "ann@example.com.au"}])
                }
                // A second address of user 503, verified; and 504 holds it unverified.
                ("email:cy@example.com", _) => {
                    json!([{"id": 503, "email": "cyrus@example.com"}, {"id": 504, "email": "c@example.com"}])
                }
                ("email:dee@example.com", "") => {
                    return ResponseTemplate::new(200).set_body_json(json!({
                        "users": [{"id": 505, "email": "dee@example.org"}], "count": 2,
                        "next_page": "https://acme.zendesk.com/api/v2/users/search.json?page=2&query=email%3Adee%40example.com"}));
                }
                ("email:dee@example.com", "2") => json!([{"id": 506, "email": "dee@example.com"}]),
                _ => json!([]),
            };
            ResponseTemplate::new(200)
                .set_body_json(json!({"users": users, "count": 1, "next_page": null}))
        } else if path == "/api/v2/users/show_many" {
            assert_eq!(param(r, "include"), "identities");
            assert_eq!(param(r, "ids"), "501,502,503,504,505,506");
            ResponseTemplate::new(200).set_body_json(json!({
                "users": [
                    {"id": 501, "email": "Ann@Example.com", "role": "end-user"},
                    {"id": 502, "email": "ann@example.com.au", "role": "end-user"},
                    {"id": 503, "email": "cyrus@example.com", "role": "end-user"},
                    {"id": 504, "email": "c@example.com", "role": "end-user"},
                    {"id": 505, "email": "dee@example.org", "role": "end-user"},
                    {"id": 506, "email": "dee@example.com", "role": "end-user"}],
                "identities": [
                    {"user_id": 503, "type": "email", "value": "cy@example.com", "verified": true, "primary": false},
                    {"user_id": 504, "type": "email", "value": "cy@example.com", "verified": false, "primary": false}]}))
        } else if path == "/api/v2/users/destroy_many" {
            job("JE", "queued", None)
        } else if path.starts_with("/api/v2/job_statuses/") {
            job(
                "JE",
                "completed",
                Some(deleted(&["501".into(), "503".into(), "506".into()])),
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
            "email",
            "ann@example.com",
            "nobody@example.com",
            "cy@example.com",
            "dee@example.com",
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
    assert_eq!(
        count(&seen, "GET", "/api/v2/users/search"),
        5,
        "dee@ has two pages"
    );
    let page2 = seen.iter().find(|s| s.query.starts_with("page=2")).unwrap();
    assert_eq!(
        page2.path, "/api/v2/users/search.json",
        "the path of next_page, on our host"
    );
    let submit = seen
        .iter()
        .find(|s| s.path == "/api/v2/users/destroy_many")
        .unwrap();
    assert_eq!(query_ids(submit, "ids"), ["501", "503", "506"]);
    assert_eq!(erased(&seen), ["501", "503", "506"]);
    let lines = report_lines(&dir.path().join("r.jsonl"));
    let last = |id: &str| lines.iter().rev().find(|l| l["id"] == id).unwrap().clone();
    assert_eq!(last("ann@example.com")["outcome"], "deleted");
    assert_eq!(last("ann@example.com")["detail"], "permanent; user id 501");
    assert_eq!(last("cy@example.com")["detail"], "permanent; user id 503");
    assert_eq!(last("dee@example.com")["detail"], "permanent; user id 506");
    assert_eq!(last("nobody@example.com")["outcome"], "not_found");
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
        while whole_lines(&report) < 3 {
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
            if path == "/api/v2/users/show_many" {
                // The recorded users, confirmed before the job is followed.
                zendesk_end_users(r).unwrap()
            } else if path == "/api/v2/job_statuses/JK" && vanished {
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
            (seen[0].path.as_str(), seen[0].query.as_str()),
            ("/api/v2/users/show_many", "ids=1,2,3&include=identities"),
            "the recorded users are confirmed first"
        );
        assert_eq!(
            seen[1].path, "/api/v2/job_statuses/JK",
            "then the recorded job is polled"
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
        "GET https://subdomain.zendesk.com/api/v2/users/show_many?ids=1"
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
        "GET https://acme.zendesk.com/api/v2/users/show_many?ids=12"
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
        "GET https://acme.zendesk.com/api/v2/users/show_many?external_ids=ok-1"
    );
}

/// A Zendesk with an admin (1), another end-user (2) and jane (3, end-user);
/// jobs complete at once; every request recorded.
fn three_users(r: &wiremock::Request) -> ResponseTemplate {
    let users = [
        json!({"id": 1, "email": "admin@example.com", "role": "admin", "active": true}),
        json!({"id": 2, "email": "other@example.com", "role": "end-user", "active": true}),
        json!({"id": 3, "email": "jane@example.com", "role": "end-user", "active": true}),
    ];
    let path = r.url.path().trim_end_matches(".json");
    match path {
        "/api/v2/users/search" => {
            let hits: Vec<&Value> = users
                .iter()
                .filter(|u| format!("email:{}", u["email"].as_str().unwrap()) == param(r, "query"))
                .collect();
            ResponseTemplate::new(200)
                .set_body_json(json!({"users": hits, "count": hits.len(), "next_page": null}))
        }
        "/api/v2/users/show_many" => {
            let ids = param(r, "ids");
            let asked: Vec<&str> = ids.split(',').collect();
            let hits: Vec<&Value> = users
                .iter()
                .filter(|u| asked.contains(&u["id"].to_string().as_str()))
                .collect();
            ResponseTemplate::new(200).set_body_json(json!({"users": hits, "identities": []}))
        }
        "/api/v2/users/destroy_many" => job("J3", "queued", None),
        "/api/v2/job_statuses/J3" => job("J3", "completed", Some(deleted(&["3".into()]))),
        p if p.starts_with("/api/v2/job_statuses/") => ResponseTemplate::new(404)
            .set_body_json(json!({"error": "RecordNotFound", "description": "Not found"})),
        _ => ResponseTemplate::new(200).set_body_json(json!({"deleted_user": {}})),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_pending_line_touches_neither_the_admin_nor_the_other_user() {
    let rec = Recorder::new(|_, r| three_users(r));
    let server = zendesk_own(rec.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    // An expired job naming the admin and another end-user, for jane, at this host.
    let forged = json!({"vendor": "zendesk", "kind": "email", "id": "jane@example.com",
        "outcome": "pending", "detail": "waiting for job EXPIRED", "http_status": 200,
        "job_id": "EXPIRED", "vendor_ids": ["1", "2"], "host": "127.0.0.1",
        "at": "2026-11-30T10:00:00Z"});
    write_file(dir.path(), "r.jsonl", &format!("{forged}\n"));
    let uri = server.uri();
    let args = [
        "zendesk",
        "-y",
        "-k",
        "email",
        "jane@example.com",
        "--base-url",
        &uri,
        "--report",
        "r.jsonl",
        "--resume",
    ];
    let out = run(dir.path(), &args, &env()).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seen = rec.seen();
    let deletes: Vec<String> = seen
        .iter()
        .filter(|s| s.method == "DELETE")
        .map(|s| format!("{}?{}", s.path, s.query))
        .collect();
    assert!(
        deletes.iter().all(|d| !d.contains("ids=1")
            && !d.contains("ids=2")
            && !d.ends_with("/1?")
            && !d.ends_with("/2?")),
        "the admin or the other user was deleted: {deletes:?}"
    );
    assert_eq!(erased(&seen), ["3"], "jane, and only jane, erased");
    let lines = report_lines(&dir.path().join("r.jsonl"));
    let jane: Vec<&Value> = lines
        .iter()
        .filter(|l| l["id"] == "jane@example.com")
        .collect();
    assert_eq!(jane.last().unwrap()["outcome"], "deleted");
    assert_eq!(jane.last().unwrap()["vendor_ids"], json!(["3"]));
    assert!(
        jane.iter().any(|l| l["detail"]
            .as_str()
            .unwrap()
            .contains("user 1 is not this person's")
            && l["detail"]
                .as_str()
                .unwrap()
                .contains("user 2 is not this person's")),
        "the dropped ids are said: {jane:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_from_another_host_is_refused_and_nothing_sent() {
    let rec = Recorder::new(|_, r| three_users(r));
    let server = zendesk_own(rec.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let line = json!({"vendor": "zendesk", "kind": "email", "id": "jane@example.com",
        "outcome": "deleted", "detail": "permanent; user id 3", "http_status": 204,
        "vendor_ids": ["3"], "host": "sandbox.zendesk.com", "at": "2026-11-30T10:00:00Z"});
    write_file(dir.path(), "r.jsonl", &format!("{line}\n"));
    let uri = server.uri();
    let args = [
        "zendesk",
        "-y",
        "-k",
        "email",
        "jane@example.com",
        "--base-url",
        &uri,
        "--report",
        "r.jsonl",
        "--resume",
    ];
    let out = run(dir.path(), &args, &env()).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("sandbox.zendesk.com")
            && err.contains("127.0.0.1")
            && err.contains("nothing sent"),
        "{err}"
    );
    assert!(rec.seen().is_empty(), "nothing may be sent");
}
