//! `purge braze` specifics against a wiremock Braze on 127.0.0.1 (the shared
//! behaviours are in `conformance.rs`).

mod common;

use common::*;
use serde_json::{Value, json};
use wiremock::{MockServer, ResponseTemplate};

const KEY: &str = "braze-rest-key-5150";

fn env() -> Vec<(&'static str, &'static str)> {
    vec![("BRAZE_API_KEY", KEY)]
}

/// Braze answers 201 with the number of identifiers it queued.
fn deleted_count(r: &wiremock::Request) -> ResponseTemplate {
    let body: Value = serde_json::from_slice(&r.body).unwrap_or_default();
    let n = body
        .as_object()
        .and_then(|o| o.values().next())
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    ResponseTemplate::new(201).set_body_json(json!({"deleted": n, "message": "success"}))
}

async fn braze<F>(rec: Recorder<F>) -> MockServer
where
    F: Fn(usize, &wiremock::Request) -> ResponseTemplate + Send + Sync + 'static,
{
    json_post_endpoint("/users/delete", KEY, rec).await
}

fn bodies(
    rec: &Recorder<impl Fn(usize, &wiremock::Request) -> ResponseTemplate + Send + Sync + 'static>,
) -> Vec<Value> {
    let mut b: Vec<Value> = rec.seen().into_iter().map(|s| s.body).collect();
    b.sort_by_key(|v| {
        std::cmp::Reverse(
            v.as_object()
                .and_then(|o| o.values().next())
                .and_then(Value::as_array)
                .map_or(0, Vec::len),
        )
    });
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emails_go_50_50_20_with_the_chosen_prioritization() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| deleted_count(r));
    let server = braze(rec.clone()).await;
    let all = emails(120);
    let input = write_file(dir.path(), "list.txt", &all.join("\n"));
    let uri = server.uri();
    let out = run(
        dir.path(),
        &[
            "braze",
            "-y",
            "-k",
            "email",
            "--prioritization",
            "unidentified,most_recently_updated",
            "-i",
            input.to_str().unwrap(),
            "--base-url",
            &uri,
            "--report",
            "r.jsonl",
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = bodies(&rec);
    let expect = |chunk: &[String]| {
        json!({"email_addresses": chunk.iter().map(|e| json!({
            "email": e, "prioritization": ["unidentified", "most_recently_updated"]
        })).collect::<Vec<_>>()})
    };
    let mut want: Vec<Value> = all.chunks(50).map(expect).collect();
    want.sort_by_key(|v| std::cmp::Reverse(v["email_addresses"].as_array().unwrap().len()));
    assert_eq!(got.len(), 3);
    assert_eq!(
        got[2], want[2],
        "the last request has the 20 remaining, exactly"
    );
    let mut got_full: Vec<String> = got[..2].iter().map(Value::to_string).collect();
    let mut want_full: Vec<String> = want[..2].iter().map(Value::to_string).collect();
    got_full.sort();
    want_full.sort();
    assert_eq!(got_full, want_full);
    let lines = report_lines(&dir.path().join("r.jsonl"));
    assert_eq!(lines.len(), 120);
    assert!(
        lines
            .iter()
            .all(|l| l["outcome"] == "queued" && l["http_status"] == 201)
    );
    // Nothing is looked up, and each line says what Braze's rule means.
    assert!(rec.seen().iter().all(|s| s.path == "/users/delete"));
    for l in &lines {
        assert!(
            l["detail"].as_str().unwrap().contains(
                "Braze deletes at most one profile per address, chosen by prioritization unidentified,most_recently_updated"
            ),
            "{l}"
        );
    }
}

/// Braze's page has `phone_numbers` as an "Array of strings" and defines
/// `prioritization` for e-mails only (vendor-docs/001_cb946d354cb67bb2.txt), so
/// no object-shaped phone number is ever sent: `--prioritization` with
/// phone numbers stops before anything is sent, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phones_never_go_with_a_prioritization_braze_documents_for_e_mails_only() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| deleted_count(r));
    let server = braze(rec.clone()).await;
    let out = run(
        dir.path(),
        &[
            "braze",
            "-y",
            "-k",
            "phone",
            "--prioritization",
            "identified,most_recently_updated",
            "+1 (555) 010-0199",
            "+44.20.7946.0958",
            "--base-url",
            &server.uri(),
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(rec.seen().is_empty(), "nothing sent: {:?}", rec.seen());
    let err = stderr(&out);
    assert!(
        err.contains("--prioritization applies to --kind email only")
            && err.contains("array of strings"),
        "{err}"
    );
}

/// A Braze with profiles to look up: `POST /users/export/ids` answers from
/// `profiles` (address → braze ids), `POST /users/delete` answers 202 with the
/// number of braze ids; both only with the key and a JSON body.
async fn braze_with_profiles<F>(rec: Recorder<F>) -> MockServer
where
    F: Fn(usize, &wiremock::Request) -> ResponseTemplate + Send + Sync + 'static,
{
    use wiremock::matchers;
    let server = MockServer::start().await;
    wiremock::Mock::given(matchers::method("POST"))
        .and(matchers::path_regex("^/users/(export/ids|delete)$"))
        .and(matchers::header(
            "authorization",
            format!("Bearer {KEY}").as_str(),
        ))
        .and(matchers::header("content-type", "application/json"))
        .respond_with(rec)
        .mount(&server)
        .await;
    server
}

fn profiles_answer(r: &wiremock::Request, profiles: &[(&str, &[&str])]) -> ResponseTemplate {
    let body: Value = serde_json::from_slice(&r.body).unwrap_or_default();
    if r.url.path() == "/users/delete" {
        let n = body["braze_ids"].as_array().map_or(0, Vec::len);
        return ResponseTemplate::new(202)
            .set_body_json(json!({"deleted": n, "message": "success"}));
    }
    let (key, field) = if body.get("phone").is_some() {
        ("phone", "phone")
    } else {
        ("email_address", "email")
    };
    let asked = body[key].as_str().unwrap_or_default();
    let users: Vec<Value> = profiles
        .iter()
        .filter(|(a, _)| *a == asked)
        .flat_map(|(a, ids)| ids.iter().map(move |b| json!({"braze_id": b, field: a})))
        .collect();
    let mut answer = json!({"users": users, "message": "success"});
    if users.is_empty() {
        answer["invalid_user_ids"] = json!([asked]);
    }
    ResponseTemplate::new(200).set_body_json(answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_profile_of_an_address_is_looked_up_and_deleted_by_braze_id() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| {
        profiles_answer(
            r,
            &[
                (
                    "ann@example.com",
                    &["65a1f0c2e4b0a1b2c3d4e5f6", "65a1f0c2e4b0a1b2c3d4e5f7"],
                ),
                ("cy@example.com", &["65a1f0c2e4b0a1b2c3d4e5f8"]),
            ],
        )
    });
    let server = braze_with_profiles(rec.clone()).await;
    let out = run(
        dir.path(),
        &[
            "braze",
            "-y",
            "-k",
            "email",
            "ann@example.com",
            "bob@example.com",
            "cy@example.com",
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
    let lookups: Vec<&Value> = seen
        .iter()
        .filter(|s| s.path == "/users/export/ids")
        .map(|s| &s.body)
        .collect();
    assert_eq!(
        lookups,
        [
            &json!({"email_address": "ann@example.com", "fields_to_export": ["braze_id", "email"]}),
            &json!({"email_address": "bob@example.com", "fields_to_export": ["braze_id", "email"]}),
            &json!({"email_address": "cy@example.com", "fields_to_export": ["braze_id", "email"]}),
        ]
    );
    let deletes: Vec<&Value> = seen
        .iter()
        .filter(|s| s.path == "/users/delete")
        .map(|s| &s.body)
        .collect();
    assert_eq!(
        deletes,
        [&json!({"braze_ids": [
            "65a1f0c2e4b0a1b2c3d4e5f6",
            "65a1f0c2e4b0a1b2c3d4e5f7",
            "65a1f0c2e4b0a1b2c3d4e5f8"
        ]})],
        "one deletion, by braze id, nothing for bob@"
    );
    let lines = report_lines(&dir.path().join("r.jsonl"));
    let line = |id: &str| lines.iter().find(|l| l["id"] == id).unwrap().clone();
    let ann = line("ann@example.com");
    assert_eq!(ann["outcome"], "queued");
    assert_eq!(ann["http_status"], 202, "any 2xx is Braze's acceptance");
    assert_eq!(
        ann["detail"],
        "queued for deletion: braze_ids 65a1f0c2e4b0a1b2c3d4e5f6, 65a1f0c2e4b0a1b2c3d4e5f7"
    );
    assert_eq!(
        ann["vendor_ids"],
        json!(["65a1f0c2e4b0a1b2c3d4e5f6", "65a1f0c2e4b0a1b2c3d4e5f7"])
    );
    let bob = line("bob@example.com");
    assert_eq!(bob["outcome"], "not_found");
    assert_eq!(line("cy@example.com")["outcome"], "queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phones_are_looked_up_by_phone_and_an_unknown_one_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| profiles_answer(r, &[("+15550100199", &["b1", "b2"])]));
    let server = braze_with_profiles(rec.clone()).await;
    let out = run(
        dir.path(),
        &[
            "braze",
            "-y",
            "-k",
            "phone",
            "+1 (555) 010-0199",
            "+44.20.7946.0958",
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
        seen[0].body,
        json!({"phone": "+15550100199", "fields_to_export": ["braze_id", "phone"]})
    );
    assert_eq!(
        seen[1].body,
        json!({"phone": "+442079460958", "fields_to_export": ["braze_id", "phone"]})
    );
    assert_eq!(seen[2].body, json!({"braze_ids": ["b1", "b2"]}));
    assert_eq!(seen.len(), 3);
    let outcomes = last_outcomes(&dir.path().join("r.jsonl"));
    assert_eq!(outcomes["+15550100199"], "queued");
    assert_eq!(outcomes["+442079460958"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliases_from_label_name_values_and_from_csv_columns() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| deleted_count(r));
    let server = braze(rec.clone()).await;
    let uri = server.uri();
    let out = run(
        dir.path(),
        &[
            "braze",
            "-y",
            "-k",
            "alias",
            "crm:4711",
            "legacy:a:b",
            "--base-url",
            &uri,
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        rec.seen()[0].body,
        json!({"user_aliases": [
            {"alias_name": "4711", "alias_label": "crm"},
            {"alias_name": "a:b", "alias_label": "legacy"}
        ]})
    );
    let csv = write_file(
        dir.path(),
        "aliases.csv",
        "alias_name,alias_label,note\n9001,crm,x\n\"n, 2\",shop,y\n",
    );
    let out = run(
        dir.path(),
        &[
            "braze",
            "-y",
            "-k",
            "alias",
            "-i",
            csv.to_str().unwrap(),
            "--base-url",
            &uri,
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        rec.seen()[1].body,
        json!({"user_aliases": [
            {"alias_name": "9001", "alias_label": "crm"},
            {"alias_name": "n, 2", "alias_label": "shop"}
        ]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_one_external_ids_are_fifty_plus_one() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, r| deleted_count(r));
    let server = braze(rec.clone()).await;
    let ids: Vec<String> = (0..51).map(|i| format!("user-{i}")).collect();
    let out = run_ids(dir.path(), &["braze", "-y"], &ids, &server.uri(), &env()).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = bodies(&rec);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], json!({"external_ids": ids[..50]}));
    assert_eq!(got[1], json!({"external_ids": ["user-50"]}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_deleted_count_is_noted_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, _| {
        ResponseTemplate::new(200).set_body_json(json!({"deleted": 1, "message": "success"}))
    });
    let server = braze(rec.clone()).await;
    let out = run(
        dir.path(),
        &[
            "braze",
            "-y",
            "a",
            "b",
            "c",
            "--base-url",
            &server.uri(),
            "--report",
            "r.jsonl",
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = report_lines(&dir.path().join("r.jsonl"));
    assert_eq!(lines.len(), 3);
    for l in lines {
        assert_eq!(l["outcome"], "queued");
        assert!(
            l["detail"]
                .as_str()
                .unwrap()
                .contains("Braze counted 1 of 3"),
            "{l}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_bodies_are_surfaced() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(|_, _| {
        ResponseTemplate::new(400).set_body_json(
            json!({"message": "Invalid request", "errors": ["braze_ids must be strings"]}),
        )
    });
    let server = braze(rec.clone()).await;
    let out = run(
        dir.path(),
        &[
            "braze",
            "-y",
            "-k",
            "braze-id",
            "b1",
            "--base-url",
            &server.uri(),
            "--report",
            "r.jsonl",
        ],
        &env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let l = &report_lines(&dir.path().join("r.jsonl"))[0];
    assert_eq!(l["outcome"], "failed");
    assert!(
        l["detail"]
            .as_str()
            .unwrap()
            .contains("Invalid request; braze_ids must be strings"),
        "{l}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_picks_the_host_and_bad_options_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["braze", "--dry-run", "--instance", "eu-02", "u1"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        r#"POST https://rest.fra-02.braze.eu/users/delete {"external_ids":["u1"]}"#
    );
    let out = run(
        dir.path(),
        &["braze", "--dry-run", "u1"],
        &[("BRAZE_INSTANCE", "us-10")],
    )
    .await;
    assert!(
        stdout(&out).starts_with("POST https://rest.us-10.braze.com/users/delete"),
        "{}",
        stdout(&out)
    );

    // Without an instance a dry run shows a placeholder host and says why; a
    // real run stops before sending.
    let out = run(dir.path(), &["braze", "--dry-run", "u1"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("POST https://rest.instance.braze.com/users/delete"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("placeholder") && stderr(&out).contains("--instance"));
    let out = run(
        dir.path(),
        &["braze", "-y", "u1"],
        &[("BRAZE_API_KEY", "k")],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--instance"), "{}", stderr(&out));

    for (args, needle) in [
        (
            vec!["braze", "--dry-run", "--instance", "us-09", "u1"],
            "us-10",
        ),
        (
            vec![
                "braze",
                "--dry-run",
                "--instance",
                "us-01",
                "-k",
                "email",
                "--prioritization",
                "identified,unidentified",
                "a@example.com",
            ],
            "identified and unidentified",
        ),
        (
            vec![
                "braze",
                "--dry-run",
                "--instance",
                "us-01",
                "--prioritization",
                "identified",
                "u1",
            ],
            "--prioritization applies",
        ),
        (
            vec![
                "braze",
                "--dry-run",
                "--instance",
                "us-01",
                "--lookup-rate",
                "2500/min",
                "u1",
            ],
            "--lookup-rate applies to --kind email or phone (their lookups), not --kind external-id",
        ),
        (
            vec![
                "braze",
                "--dry-run",
                "--instance",
                "us-01",
                "-k",
                "email",
                "--lookup-rate",
                "fast",
                "a@example.com",
            ],
            "expected N/s or N/min",
        ),
        (
            vec![
                "braze",
                "--dry-run",
                "--instance",
                "us-01",
                "-k",
                "email",
                "-k",
                "phone",
                "a@example.com",
            ],
            "cannot be used multiple times",
        ),
        (
            vec![
                "braze",
                "--dry-run",
                "--instance",
                "us-01",
                "-k",
                "id",
                "u1",
            ],
            "invalid value 'id'",
        ),
    ] {
        let out = run(dir.path(), &args, &[]).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_of_many_addresses_says_how_long_the_lookups_take() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_file(dir.path(), "list.txt", &emails(1000).join("\n"));
    let out = run(
        dir.path(),
        &[
            "braze",
            "--dry-run",
            "--instance",
            "eu-01",
            "-k",
            "email",
            "-i",
            input.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let first = stdout(&out).lines().next().unwrap_or_default().to_string();
    assert_eq!(
        first,
        r#"POST https://rest.fra-01.braze.eu/users/export/ids {"email_address":"user0@example.com","fields_to_export":["braze_id","email"]}"#
    );
    assert!(
        stderr(&out)
            .contains("expected duration of the real run: 1,000 lookups at 250/min: about 4 min"),
        "{}",
        stderr(&out)
    );
    let out = run(
        dir.path(),
        &[
            "braze",
            "--dry-run",
            "--instance",
            "eu-01",
            "-k",
            "email",
            "--lookup-rate",
            "2500/min",
            "-i",
            input.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert!(
        !stderr(&out).contains("expected duration"),
        "{}",
        stderr(&out)
    );
}
