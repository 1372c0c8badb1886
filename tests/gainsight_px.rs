//! `purge gainsight-px` specifics against a wiremock Gainsight PX on 127.0.0.1
//! (the shared behaviours are in `conformance.rs`).

mod common;

use common::*;
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "gpx-key-00af";

fn env() -> Vec<(&'static str, &'static str)> {
    vec![("GAINSIGHT_PX_API_KEY", KEY)]
}

fn decoded_segment(s: &Seen) -> String {
    let seg = s.path.strip_prefix("/v1/users/").unwrap_or_default();
    percent_encoding::percent_decode_str(seg)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

/// The Gainsight 404 body (shape from `../shared/fixtures/gainsight_px_404_user_not_found.json`).
fn not_found(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({"externalapierror": {
        "status": "NOT_FOUND", "message": format!("User was not found for parameters {{id={id}}}"),
        "debugMessage": null, "subErrors": null}}))
}

async fn gpx<F>(rec: Recorder<F>) -> MockServer
where
    F: Fn(usize, &wiremock::Request) -> ResponseTemplate + Send + Sync + 'static,
{
    let server = MockServer::start().await;
    Mock::given(header("x-aptrinsic-api-key", KEY))
        .respond_with(rec)
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awkward_ids_reach_the_server_exactly_as_given() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, _| ResponseTemplate::new(204));
    let server = gpx(rec.clone()).await;
    let ids = [
        "with space",
        "a@b.example",
        "x+y",
        "50%off",
        "üñí©ødé",
        "team/alice",
        "semi;colon?q=1#f",
    ];
    let out = run_ids(
        dir.path(),
        &["gainsight-px", "-y", "--report", "r.jsonl"],
        &ids,
        &server.uri(),
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seen = rec.seen();
    assert_eq!(seen.len(), ids.len());
    let mut got: Vec<String> = vec![];
    for s in &seen {
        assert_eq!(s.method, "DELETE");
        assert_eq!(s.query, "hardDelete=true");
        if s.path == "/v1/users/delete" {
            got.push(s.body["identifyId"].as_str().unwrap().to_string());
        } else {
            assert_eq!(s.body, serde_json::Value::Null, "no body on the path form");
            got.push(decoded_segment(s));
        }
    }
    got.sort();
    let mut want: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want);
    // Only ids of unreserved characters travel in the path; the rest in the body.
    let mut in_path: Vec<String> = seen
        .iter()
        .filter(|s| s.path != "/v1/users/delete")
        .map(decoded_segment)
        .collect();
    in_path.sort();
    assert_eq!(in_path, ["a@b.example", "x+y"]);
    let slash = seen
        .iter()
        .find(|s| s.body == json!({"identifyId": "team/alice"}))
        .expect("the / id uses the body form");
    assert_eq!(slash.path, "/v1/users/delete");
    let lines = report_lines(&dir.path().join("r.jsonl"));
    assert!(
        lines
            .iter()
            .all(|l| l["outcome"] == "deleted" && l["detail"] == "permanent"),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_is_an_outcome_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| {
        if r.url.path().ends_with("/absent-id") {
            not_found("absent-id")
        } else {
            ResponseTemplate::new(200)
                .set_body_json(json!({"body": {}, "statusCode": "OK", "statusCodeValue": 200}))
        }
    });
    let server = gpx(rec.clone()).await;
    let out = run(
        dir.path(),
        &[
            "gainsight-px",
            "-y",
            "present",
            "absent-id",
            "--base-url",
            &server.uri(),
            "--report",
            "r.jsonl",
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let outcomes = last_outcomes(&dir.path().join("r.jsonl"));
    assert_eq!(outcomes["present"], "deleted");
    assert_eq!(outcomes["absent-id"], "not_found");
    let lines = report_lines(&dir.path().join("r.jsonl"));
    let nf = lines.iter().find(|l| l["id"] == "absent-id").unwrap();
    assert!(
        nf["detail"]
            .as_str()
            .unwrap()
            .contains("User was not found"),
        "{nf}"
    );
    assert_eq!(nf["http_status"], 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_sends_hard_delete_false_and_says_revivable() {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/v1/users/u1"))
        .and(query_param("hardDelete", "false"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let out = run(
        dir.path(),
        &[
            "gainsight-px",
            "-y",
            "--soft",
            "u1",
            "--base-url",
            &server.uri(),
            "--report",
            "r.jsonl",
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("7 days"), "{}", stderr(&out));
    assert_eq!(
        report_lines(&dir.path().join("r.jsonl"))[0]["detail"],
        "soft"
    );
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emails_are_looked_up_in_one_paged_request_then_each_user_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| {
        if r.method.as_str() == "GET" {
            let page2 = r
                .url
                .query_pairs()
                .any(|(k, v)| k == "scrollId" && v == "scroll-1");
            if page2 {
                ResponseTemplate::new(200)
                    .set_body_json(json!({"users": [], "scrollId": "scroll-2", "totalHits": 3}))
            } else {
                ResponseTemplate::new(200).set_body_json(json!({"users": [
                    {"identifyId": "ann-1", "email": "Ann@Example.com", "firstName": "Ann"},
                    {"identifyId": "ann/2", "email": "ann@example.com"},
                    {"identifyId": "bob-1", "email": "bob@example.com"}
                ], "scrollId": "scroll-1", "totalHits": 3}))
            }
        } else if r.url.path() == "/v1/users/cat%40example.com" {
            // No user has cat's e-mail, nor has it as identifyId.
            not_found("cat@example.com")
        } else {
            ResponseTemplate::new(204)
        }
    });
    let server = gpx(rec.clone()).await;
    let out = run(
        dir.path(),
        &[
            "gainsight-px",
            "-y",
            "-k",
            "email",
            "ann@example.com",
            "bob@example.com",
            "cat@example.com",
            "--base-url",
            &server.uri(),
            "--report",
            "r.jsonl",
            "--concurrency",
            "1",
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seen = rec.seen();
    let gets: Vec<&Seen> = seen.iter().filter(|s| s.method == "GET").collect();
    assert_eq!(gets.len(), 2, "one lookup, two pages");
    for g in &gets {
        assert_eq!(g.path, "/v1/users");
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(g.query.as_bytes())
            .into_owned()
            .collect();
        let filters: Vec<&str> = pairs
            .iter()
            .filter(|(k, _)| k == "filter")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(
            filters,
            [
                "email==ann@example.com",
                "email==bob@example.com",
                "email==cat@example.com"
            ]
        );
        assert!(
            pairs.contains(&("pageSize".into(), "3".into())),
            "{pairs:?}"
        );
    }
    assert!(gets[1].query.contains("scrollId=scroll-1"));
    let mut deleted: Vec<String> = seen
        .iter()
        .filter(|s| s.method == "DELETE")
        .map(|s| {
            if s.path == "/v1/users/delete" {
                s.body["identifyId"].as_str().unwrap().to_string()
            } else {
                decoded_segment(s)
            }
        })
        .collect();
    deleted.sort();
    // An e-mail no user has is tried as an identifyId (they often are e-mails).
    assert_eq!(deleted, ["ann-1", "ann/2", "bob-1", "cat@example.com"]);
    let lines = report_lines(&dir.path().join("r.jsonl"));
    assert_eq!(lines.len(), 3);
    let line = |id: &str| lines.iter().find(|l| l["id"] == id).unwrap().clone();
    assert_eq!(line("ann@example.com")["outcome"], "deleted");
    assert_eq!(
        line("ann@example.com")["detail"],
        "permanent; identifyId ann-1, ann/2"
    );
    assert_eq!(
        line("bob@example.com")["detail"],
        "permanent; identifyId bob-1"
    );
    assert_eq!(line("cat@example.com")["outcome"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn region_picks_the_host() {
    let dir = tempfile::tempdir().unwrap();
    for (region, host) in [
        ("us", "api.aptrinsic.com"),
        ("eu", "api-eu.aptrinsic.com"),
        ("us2", "api-us2.aptrinsic.com"),
    ] {
        let out = run(
            dir.path(),
            &["gainsight-px", "--dry-run", "--region", region, "u1"],
            &[],
        )
        .await;
        assert_eq!(
            stdout(&out).trim(),
            format!("DELETE https://{host}/v1/users/u1?hardDelete=true")
        );
    }
    let out = run(
        dir.path(),
        &["gainsight-px", "--dry-run", "u1"],
        &[("GAINSIGHT_PX_REGION", "ap")],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("us2"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_without_retry_after_backs_off_and_retries() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|n, _| {
        if n < 2 {
            ResponseTemplate::new(429)
        } else {
            ResponseTemplate::new(204)
        }
    });
    let server = gpx(rec.clone()).await;
    let out = run(
        dir.path(),
        &[
            "gainsight-px",
            "-y",
            "u1",
            "--base-url",
            &server.uri(),
            "--report",
            "r.jsonl",
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(rec.seen().len(), 3);
    assert_eq!(last_outcomes(&dir.path().join("r.jsonl"))["u1"], "deleted");
    assert!(stderr(&out).contains("2 answered 429"), "{}", stderr(&out));
}

/// With `--hash-ids`, `-vvv` prints no identifier in clear: not in the
/// request lines (identifier segments masked) nor in the vendor's answer,
/// which may name the person by an id no pattern finds (its size is shown).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_vvv_with_hash_ids_no_identifier_of_any_kind_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, _| not_found("gp-secret-7"));
    let server = gpx(rec.clone()).await;
    let args = [
        "gainsight-px",
        "-y",
        "-vvv",
        "--hash-ids",
        "gp-secret-7",
        "--base-url",
        &server.uri(),
        "--report",
        "r.jsonl",
    ];
    let mut who = env();
    who.push(("USER", "op-jdoe"));
    let out = run(dir.path(), &args, &who).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(rec.seen().len(), 1);
    assert_eq!(decoded_segment(&rec.seen()[0]), "gp-secret-7");
    let err = stderr(&out);
    assert!(err.contains("answer:") && err.contains("bytes"), "{err}");
    assert!(!err.contains("gp-secret-7"), "{err}");
    assert!(!stdout(&out).contains("gp-secret-7"));
    let report = std::fs::read_to_string(dir.path().join("r.jsonl")).unwrap();
    assert!(!report.contains("gp-secret-7"), "{report}");
    // Who ran the purge is on its line (#20: who ran the erasure).
    let lines = report_lines(&dir.path().join("r.jsonl"));
    assert_eq!(lines[0]["operator"], "op-jdoe", "{report}");
}
