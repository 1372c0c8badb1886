//! `purge verify` against wiremock vendors answering their read endpoints as
//! documented: gone → `verified`, still there → `present` (exit 1), and
//! Braze, which deletes asynchronously, asked again with `--wait`.

mod common;
mod simulated;

use std::sync::{Arc, Mutex};

use common::*;
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn line(vendor: &str, kind: &str, id: &str, outcome: &str, vendor_ids: &[&str]) -> String {
    let mut l = json!({"vendor": vendor, "kind": kind, "id": id, "outcome": outcome,
        "detail": "", "http_status": 200, "request": 1, "job_id": null, "at": "2026-11-25T10:00:00Z"});
    if !vendor_ids.is_empty() {
        l["vendor_ids"] = json!(vendor_ids);
    }
    l.to_string()
}

async fn server<F>(rec: Recorder<F>) -> MockServer
where
    F: Fn(usize, &wiremock::Request) -> ResponseTemplate + Send + Sync + 'static,
{
    let s = MockServer::start().await;
    Mock::given(any()).respond_with(rec).mount(&s).await;
    s
}

/// A folder with a `purge.toml` whose `[vendor]` table points at `uri`, and
/// the report `r.jsonl` holding `lines`.
fn verify_setup(
    vendor: &str,
    uri: &str,
    lines: &[String],
) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "purge.toml",
        &format!("[{vendor}]\nbase-url = \"{uri}\"\n"),
    );
    let report = write_file(dir.path(), "r.jsonl", &(lines.join("\n") + "\n"));
    (dir, report)
}

/// The lines verify appended (after the first `n`).
fn appended(path: &std::path::Path, n: usize) -> Vec<Value> {
    report_lines(path).into_iter().skip(n).collect()
}

fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("GAINSIGHT_PX_API_KEY", "k1"),
        ("ZENDESK_EMAIL", "agent@example.com"),
        ("ZENDESK_API_TOKEN", "k2"),
        ("BRAZE_API_KEY", "k3"),
        ("RALLY_API_TOKEN", "k4"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gainsight_gone_is_verified_present_is_present_and_a_second_verify_skips_the_verified() {
    let rec = Recorder::new(|_, r| match r.url.path() {
        "/v1/users/gp-2" => ResponseTemplate::new(200)
            .set_body_json(json!({"identifyId": "gp-2", "email": "b@x.io"})),
        _ => ResponseTemplate::new(404).set_body_json(
            json!({"externalapierror": {"status": "NOT_FOUND", "message": "User was not found"}}),
        ),
    });
    let s = server(rec.clone()).await;
    let lines = [
        line("gainsight-px", "id", "gp-1", "deleted", &[]),
        line("gainsight-px", "id", "gp-2", "deleted", &[]),
        line("gainsight-px", "id", "gp-3", "failed", &[]),
    ];
    let (dir, report) = verify_setup("gainsight-px", &s.uri(), &lines);
    let out = run(dir.path(), &["verify", "--report", "r.jsonl"], &env()).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let new = appended(&report, 3);
    assert_eq!(
        new.len(),
        2,
        "failed identifiers are not asked about: {new:?}"
    );
    let by = |id: &str| new.iter().find(|l| l["id"] == id).unwrap().clone();
    assert_eq!(by("gp-1")["outcome"], "verified");
    assert_eq!(by("gp-1")["detail"], "GET /v1/users/{identifyId} → 404");
    assert_eq!(by("gp-2")["outcome"], "present");
    let seen: Vec<String> = rec
        .seen()
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert_eq!(seen.len(), 2);
    assert!(seen.contains(&"GET /v1/users/gp-1".to_string()));
    assert!(
        stderr(&out).contains("still present") || stderr(&out).contains("present"),
        "{}",
        stderr(&out)
    );
    // Again: only the present one is asked.
    let out = run(dir.path(), &["verify", "--report", "r.jsonl"], &env()).await;
    assert_eq!(out.status.code(), Some(1));
    let paths: Vec<String> = rec.seen().iter().skip(2).map(|s| s.path.clone()).collect();
    assert_eq!(paths, ["/v1/users/gp-2"]);
}

/// A Zendesk account as its read endpoints show it: `show_many` lists active
/// and soft-deleted users (`active: false`) with their e-mail, the search
/// finds active users by e-mail, `deleted_users/{id}` answers while a user is
/// soft-deleted. 12, 14, 15 and 99 are active, 13 soft-deleted.
fn zendesk_account(r: &wiremock::Request) -> ResponseTemplate {
    let users = [
        (12, "b@x.io", true),
        (13, "c@x.io", false),
        (14, "e@x.io", true),
        (15, "f@x.io", true),
        (99, "someone.else@x.io", true),
    ];
    let user = |(id, email, active): (i32, &str, bool)| json!({"id": id, "email": email, "role": "end-user", "active": active});
    match r.url.path() {
        "/api/v2/users/show_many" => {
            assert_eq!(param(r, "include"), "identities", "{}", r.url);
            let ids = param(r, "ids");
            let listed: Vec<Value> = users
                .iter()
                .filter(|u| ids.split(',').any(|i| i == u.0.to_string()))
                .map(|u| user(*u))
                .collect();
            ResponseTemplate::new(200).set_body_json(json!({"users": listed, "identities": []}))
        }
        "/api/v2/users/search" => {
            let q = param(r, "query");
            let hits: Vec<Value> = users
                .iter()
                .filter(|u| u.2 && q == format!("email:{}", u.1))
                .map(|u| user(*u))
                .collect();
            ResponseTemplate::new(200)
                .set_body_json(json!({"users": hits, "count": hits.len(), "next_page": null}))
        }
        "/api/v2/deleted_users/13" => ResponseTemplate::new(200)
            .set_body_json(json!({"deleted_user": {"id": 13, "email": "c@x.io", "active": false}})),
        _ => ResponseTemplate::new(404)
            .set_body_json(json!({"error": "RecordNotFound", "description": "Not found"})),
    }
}

/// The report is input, not authority: recorded user ids count only once
/// Zendesk confirms they are the person's; the others are dropped (the detail
/// says so) and the person is looked up by its e-mail, so a forged line
/// naming another user, or an erased one, proves nothing, and a person Zendesk
/// never had is `verified`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zendesk_verify_confirms_recorded_ids_and_looks_up_the_rest_by_e_mail() {
    let rec = Recorder::new(|_, r| zendesk_account(r));
    let s = server(rec.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "purge.toml",
        &format!("[zendesk]\nbase-url = \"{}\"\n", s.uri()),
    );
    let lines = [
        line("zendesk", "email", "a@x.io", "deleted", &["11"]),
        line("zendesk", "email", "b@x.io", "deleted", &["12"]),
        line("zendesk", "email", "c@x.io", "deleted", &["13"]),
        line("zendesk", "email", "d@x.io", "not_found", &[]),
        // Forged: another, active user; an erased user while f@ is active.
        line("zendesk", "email", "e@x.io", "deleted", &["99"]),
        line("zendesk", "email", "f@x.io", "deleted", &["77"]),
    ];
    let report = write_file(dir.path(), "r.jsonl", &(lines.join("\n") + "\n"));
    let out = run(
        dir.path(),
        &["verify", "--report", "r.jsonl", "--json"],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let new = appended(&report, 6);
    assert_eq!(new.len(), 6, "{new:?}");
    let by = |id: &str| new.iter().find(|l| l["id"] == id).unwrap().clone();
    let detail = |id: &str| by(id)["detail"].as_str().unwrap().to_string();
    assert_eq!(by("a@x.io")["outcome"], "verified", "{}", detail("a@x.io"));
    assert!(detail("a@x.io").contains("user 11 is not listed by Zendesk"));
    assert_eq!(by("b@x.io")["outcome"], "present");
    assert!(detail("b@x.io").contains("user 12 is active"));
    assert_eq!(by("c@x.io")["outcome"], "present");
    assert!(detail("c@x.io").starts_with("soft-deleted, erased by Zendesk within 30 days"));
    // Never had: looked up by e-mail, not found.
    assert_eq!(by("d@x.io")["outcome"], "verified", "{}", detail("d@x.io"));
    assert!(detail("d@x.io").contains("no user with this e-mail"));
    // The forged lines prove nothing: the person is found by e-mail, active.
    assert_eq!(by("e@x.io")["outcome"], "present", "{}", detail("e@x.io"));
    assert!(
        detail("e@x.io").contains("user 14 is active"),
        "{}",
        detail("e@x.io")
    );
    assert!(
        detail("e@x.io").contains("user 99 is not this person's at Zendesk")
            && detail("e@x.io").contains("dropped"),
        "{}",
        detail("e@x.io")
    );
    assert_eq!(by("e@x.io")["vendor_ids"], json!(["14"]));
    assert_eq!(by("f@x.io")["outcome"], "present", "{}", detail("f@x.io"));
    assert!(detail("f@x.io").contains("user 15 is active"));
    assert!(detail("f@x.io").contains("user 77 is not listed"));
    let seen = rec.seen();
    assert!(seen.iter().all(|s| s.method == "GET"), "verify only reads");
    let q: Vec<String> = seen
        .iter()
        .map(|s| format!("{}?{}", s.path, s.query))
        .collect();
    assert_eq!(
        q[0],
        "/api/v2/users/show_many?ids=11,12,13,99,77&include=identities"
    );
    let summary: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let z = &summary["vendors"][0];
    assert_eq!(
        (
            z["verified"].as_u64(),
            z["present"].as_u64(),
            z["unverifiable"].as_u64()
        ),
        (Some(2), Some(4), None)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn braze_still_there_twice_then_gone_is_verified_with_wait() {
    let asked = Arc::new(Mutex::new(0));
    let a = Arc::clone(&asked);
    let rec = Recorder::new(move |_, r| {
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(r.url.path(), "/users/export/ids");
        assert_eq!(body["email_address"], "ann@x.io");
        let mut n = a.lock().unwrap();
        *n += 1;
        let users = if *n < 3 {
            json!([{"braze_id": "b1", "email": "ann@x.io"}])
        } else {
            json!([])
        };
        ResponseTemplate::new(201).set_body_json(json!({"users": users, "message": "success"}))
    });
    let s = server(rec.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "purge.toml",
        &format!(
            "[braze]\nbase-url = \"{}\"\nlookup-rate = \"10/s\"\n",
            s.uri()
        ),
    );
    let report = write_file(
        dir.path(),
        "r.jsonl",
        &(line("braze", "email", "ann@x.io", "queued", &["b1"]) + "\n"),
    );
    let out = run(
        dir.path(),
        &["verify", "--report", "r.jsonl", "--wait", "30s"],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(*asked.lock().unwrap(), 3);
    let new = appended(&report, 1);
    let outcomes: Vec<&str> = new.iter().map(|l| l["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["present", "present", "verified"]);
    assert_eq!(new[2]["detail"], "POST /users/export/ids → 201: no profile");
    // Without --wait: one check, present, exit 1.
    let report2 = write_file(
        dir.path(),
        "r2.jsonl",
        &(line("braze", "email", "ann@x.io", "queued", &["b1"]) + "\n"),
    );
    *asked.lock().unwrap() = 0;
    let out = run(dir.path(), &["verify", "--report", "r2.jsonl"], &env()).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(appended(&report2, 1)[0]["outcome"], "present");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rally_ids_are_searched_and_emails_are_unverifiable_without_a_request() {
    let rec = Recorder::new(|_, r| {
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(r.url.path(), "/people/search");
        assert_eq!(body["peopleIds"], json!(["p-1", "p-2"]));
        ResponseTemplate::new(200).set_body_json(json!({"results": [{"personId": "p-2", "email": "b@x.io", "properties": [], "populationIds": []}], "total": 1, "pageInfo": {"hasNextPage": false}}))
    });
    let s = server(rec.clone()).await;
    let lines = [
        line("rally", "id", "p-1", "queued", &[]),
        line("rally", "id", "p-2", "queued", &[]),
        line("rally", "email", "c@x.io", "queued", &[]),
    ];
    let (dir, report) = verify_setup("rally", &s.uri(), &lines);
    let out = run(dir.path(), &["verify", "--report", "r.jsonl"], &env()).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let new = appended(&report, 3);
    let by = |id: &str| new.iter().find(|l| l["id"] == id).unwrap().clone();
    assert_eq!(by("p-1")["outcome"], "verified");
    assert_eq!(by("p-2")["outcome"], "present");
    assert_eq!(by("c@x.io")["outcome"], "unverifiable");
    assert!(
        by("c@x.io")["detail"]
            .as_str()
            .unwrap()
            .contains("no e-mail lookup of people whose answer for a missing person is known")
    );
    assert_eq!(
        rec.seen().len(),
        1,
        "one search for both ids, none for the e-mail"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_missing_from_the_config_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "purge.toml",
        "[rally]\nbase-url = \"http://127.0.0.1:9\"\n",
    );
    write_file(
        dir.path(),
        "r.jsonl",
        &(line("braze", "email", "a@x.io", "queued", &[]) + "\n"),
    );
    let out = run(dir.path(), &["verify", "--report", "r.jsonl"], &env()).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no [braze] table"),
        "{}",
        stderr(&out)
    );
}

/// The table lists vendors in the order of purge.toml, not in the order their
/// lines reached the report (`purge everywhere` runs them at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_lists_vendors_in_the_order_of_the_configuration_file() {
    let rec = Recorder::new(|_, _| {
        ResponseTemplate::new(404).set_body_json(
            json!({"externalapierror": {"status": "NOT_FOUND", "message": "User was not found"}}),
        )
    });
    let s = server(rec).await;
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "purge.toml",
        &format!(
            "[gainsight-px]\nbase-url = \"{}\"\n\n[rally]\nbase-url = \"http://127.0.0.1:9\"\n",
            s.uri()
        ),
    );
    let lines = [
        line("rally", "email", "c@x.io", "queued", &[]),
        line("gainsight-px", "id", "gp-1", "deleted", &[]),
    ];
    write_file(dir.path(), "r.jsonl", &(lines.join("\n") + "\n"));
    for _ in 0..2 {
        let out = run(dir.path(), &["verify", "--report", "r.jsonl"], &env()).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{err}");
        let rows: Vec<&str> = err
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|w| *w == "rally" || *w == "gainsight-px")
            .take(2)
            .collect();
        assert_eq!(rows, ["gainsight-px", "rally"], "{err}");
    }
}

/// An identifyId deleted with the body form (`team/alice`) is never asked
/// about in a path: a server that decodes `%2F` routes
/// `GET /v1/users/team%2Falice` elsewhere (404), which would read as gone.
/// It is asked with the filter (case-insensitive at Gainsight, so matched
/// exactly here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gainsight_body_form_ids_are_verified_by_filter_never_in_a_path() {
    let rec = Recorder::new(|_, r| {
        if r.url.path() == "/v1/users" && param(r, "filter") == "id==team/alice" {
            ResponseTemplate::new(200).set_body_json(json!({"users": [
                {"identifyId": "team/alice", "email": "a@x.io"}], "scrollId": "x", "totalHits": 1}))
        } else if r.url.path() == "/v1/users" {
            // `Team/Bob` is gone; `team/bob` (another user) matches the filter.
            ResponseTemplate::new(200).set_body_json(json!({"users": [
                {"identifyId": "team/bob", "email": "b@x.io"}], "scrollId": "x", "totalHits": 1}))
        } else {
            // A path-decoding server: `/v1/users/team/alice` is no route.
            ResponseTemplate::new(404)
                .set_body_json(json!({"externalapierror": {"status": "NOT_FOUND"}}))
        }
    });
    let s = server(rec.clone()).await;
    let lines = [
        line("gainsight-px", "id", "team/alice", "deleted", &[]),
        line("gainsight-px", "id", "Team/Bob", "deleted", &[]),
        line("gainsight-px", "id", "a;b/c", "deleted", &[]),
    ];
    let (dir, report) = verify_setup("gainsight-px", &s.uri(), &lines);
    let out = run(dir.path(), &["verify", "--report", "r.jsonl"], &env()).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let new = appended(&report, 3);
    let by = |id: &str| new.iter().find(|l| l["id"] == id).unwrap().clone();
    assert_eq!(by("team/alice")["outcome"], "present");
    assert_eq!(by("Team/Bob")["outcome"], "verified");
    assert_eq!(by("a;b/c")["outcome"], "unverifiable");
    let seen = rec.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|s| s.path == "/v1/users"), "{seen:?}");
}

/// Rally's `POST /people/search` answers a page (`pageInfo.hasNextPage`,
/// `total`): people not on it are not known to be gone. Its page documents
/// no maximum `size`, so the simulator serves both: every one asked, or at
/// most 10 a page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rally_verify_reads_the_page_it_was_given_not_the_whole_result() {
    for max in [None, Some(10)] {
        let sim = simulated::Sim::start(
            simulated::Config {
                rally_search_max: max,
                // Deleted, but still listed by the search for an hour.
                rally_delete_delay: std::time::Duration::from_secs(3600),
                ..simulated::fast()
            },
            30,
        )
        .await
        .unwrap();
        let (code, _, err) = simulated::purge(&sim, simulated::Vendor::Rally, "id", 25, &[]).await;
        assert_eq!(code, 0, "{err}");
        let dir = tempfile::tempdir().unwrap();
        write_file(
            dir.path(),
            "purge.toml",
            &format!(
                "[rally]\nbase-url = \"{}\"\n",
                sim.url(simulated::Vendor::Rally)
            ),
        );
        let lines: Vec<String> = (0..25)
            .map(|i| line("rally", "id", &simulated::sim::rally_id(i), "queued", &[]))
            .collect();
        let report = write_file(dir.path(), "r.jsonl", &(lines.join("\n") + "\n"));
        let out = run(
            dir.path(),
            &["verify", "--report", "r.jsonl"],
            simulated::Vendor::Rally.env(),
        )
        .await;
        assert_eq!(out.status.code(), Some(1), "{max:?}: {}", stderr(&out));
        let new = appended(&report, 25);
        let count = |o: &str| new.iter().filter(|l| l["outcome"] == o).count();
        assert_eq!(count("verified"), 0, "{max:?}: nobody is gone yet");
        match max {
            None => assert_eq!(count("present"), 25),
            Some(_) => {
                assert_eq!(count("present"), 10);
                assert_eq!(count("unverifiable"), 15);
            }
        }
    }
}

/// The JSON certificate of a report `purge verify` has just appended to: one
/// entry a person, with the purge outcome beside the verification and the
/// standing they make together (#20), from a real verify against the vendor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_certificate_after_purge_verify_has_each_persons_purge_and_verification() {
    let rec = Recorder::new(|_, r| match r.url.path() {
        "/v1/users/gp-2" => ResponseTemplate::new(200)
            .set_body_json(json!({"identifyId": "gp-2", "email": "b@x.io"})),
        _ => ResponseTemplate::new(404).set_body_json(
            json!({"externalapierror": {"status": "NOT_FOUND", "message": "User was not found"}}),
        ),
    });
    let s = server(rec.clone()).await;
    let lines = [
        line("gainsight-px", "id", "gp-1", "deleted", &[]),
        line("gainsight-px", "id", "gp-2", "deleted", &[]),
        line("gainsight-px", "id", "gp-3", "failed", &[]),
    ];
    let (dir, _report) = verify_setup("gainsight-px", &s.uri(), &lines);
    let mut who = env();
    who.push(("USER", "op-jdoe"));
    let out = run(dir.path(), &["verify", "--report", "r.jsonl"], &who).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(rec.seen().len(), 2, "gp-1 and gp-2 asked about");
    // Who ran it is on every line it wrote (#20: who ran the erasure).
    let new = appended(&dir.path().join("r.jsonl"), 3);
    assert!(
        new.len() == 2 && new.iter().all(|l| l["operator"] == "op-jdoe"),
        "{new:?}"
    );
    let args = [
        "certificate",
        "--report",
        "r.jsonl",
        "--format",
        "json",
        "-o",
        "-",
    ];
    let out = run(dir.path(), &args, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["people_count"], 3, "{doc}");
    assert_eq!(doc["ran_by"], json!(["op-jdoe"]), "{doc}");
    let people = doc["people"].as_array().unwrap();
    assert_eq!(people.len(), 3, "one entry a person: {doc}");
    let of = |id: &str| {
        let sha = sha256_hex(id);
        people
            .iter()
            .find(|p| p["sha256"] == sha.as_str())
            .unwrap_or_else(|| panic!("{id} in {doc}"))["vendors"][0]
            .clone()
    };
    let gp1 = of("gp-1");
    assert_eq!(
        (gp1["purge"].as_str(), gp1["verify"].as_str()),
        (Some("deleted"), Some("verified"))
    );
    assert_eq!(gp1["standing"], "proven");
    let gp2 = of("gp-2");
    assert_eq!(gp2["verify"], "present");
    assert_eq!(gp2["standing"], "exception");
    let gp3 = of("gp-3");
    assert_eq!(gp3["purge"], "failed");
    assert_eq!(gp3["standing"], "exception");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("gp-1"),
        "hashed unless --show-ids"
    );
}
