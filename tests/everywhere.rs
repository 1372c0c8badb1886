//! `purge everywhere`: one list of e-mails at the four simulated vendors at once
//! (the simulator answers like each vendor and tells who is gone), and
//! wiremock vendors for what must never be sent.

mod common;
mod simulated;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use simulated::*;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Every vendor's credential for the simulator.
fn sim_env() -> Vec<(&'static str, &'static str)> {
    Vendor::all()
        .iter()
        .flat_map(|v| v.env().iter().copied())
        .collect()
}

/// A purge.toml pointing every vendor at `urls`, quick quotas for tests.
fn config(urls: &HashMap<&str, String>, extra: &str) -> String {
    let mut text = String::new();
    for v in Vendor::all() {
        let (name, more) = (v.command(), v.api().test_toml());
        if let Some(u) = urls.get(name) {
            text.push_str(&format!(
                "[{name}]\nbase-url = \"{u}\"\nrate = \"200/s\"\n{more}\n"
            ));
        }
    }
    text.push_str(extra);
    text
}

fn sim_urls(sim: &Sim) -> HashMap<&'static str, String> {
    Vendor::all()
        .iter()
        .map(|v| (v.command(), sim.url(*v)))
        .collect()
}

fn people(dir: &Path, n: usize) -> String {
    let list: Vec<String> = (0..n).map(sim::email).collect();
    write_file(dir, "people.txt", &list.join("\n"))
        .to_str()
        .unwrap()
        .to_string()
}

/// Persons `0..n` are erased at `vendor` as its test table asks, no one else.
fn assert_erased(sim: &Sim, vendor: Vendor, n: usize) {
    for i in 0..sim.population() {
        let erased = vendor.api().erased(sim, i);
        assert_eq!(erased, i < n, "{vendor:?}: person {i} erased: {erased}");
    }
}

/// The last outcome of each (vendor, id).
fn finals(path: &Path) -> HashMap<(String, String), String> {
    report_lines(path)
        .into_iter()
        .filter(|l| l["outcome"] != "pending")
        .map(|l| {
            (
                (
                    l["vendor"].as_str().unwrap().to_string(),
                    l["id"].as_str().unwrap().to_string(),
                ),
                l["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_list_is_erased_at_every_vendor_and_reported_once_per_vendor_and_person() {
    let sim = Sim::start(fast(), 400).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "purge.toml", &config(&sim_urls(&sim), ""));
    let input = people(dir.path(), 150);
    let out = run(
        dir.path(),
        &[
            "everywhere",
            "-i",
            &input,
            "--yes",
            "--report",
            "r.jsonl",
            "--json",
        ],
        &sim_env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Exactly the asked people are erased at every vendor, as its table asks
    // (Zendesk: soft-deleted; Braze: every profile of each address).
    let all = Vendor::all();
    for v in &all {
        assert_erased(&sim, *v, 150);
    }
    let f = finals(&dir.path().join("r.jsonl"));
    assert_eq!(
        f.len(),
        all.len() * 150,
        "one final line per (vendor, person)"
    );
    let summary: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(summary["exit_code"], 0);
    // People, not vendor records: 150 people, 600 vendor outcomes.
    assert_eq!(summary["people"], 150, "{summary}");
    let vendors: Vec<&str> = summary["vendors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["vendor"].as_str().unwrap())
        .collect();
    let registry: Vec<&str> = all.iter().map(|v| v.command()).collect();
    assert_eq!(vendors, registry, "every vendor, in the registry's order");
    for v in summary["vendors"].as_array().unwrap() {
        let done = v["deleted"].as_u64().unwrap() + v["queued"].as_u64().unwrap();
        assert_eq!(done, 150, "{v}");
    }
    // The run's total: requests added up, the longest vendor's time.
    let parts = summary["vendors"].as_array().unwrap();
    let sum = |f: &str| parts.iter().map(|v| v[f].as_u64().unwrap()).sum::<u64>();
    let total = &summary["total"];
    assert_eq!(
        total["requests"].as_u64().unwrap(),
        sum("requests"),
        "{total}"
    );
    assert_eq!(
        total["throttled"].as_u64().unwrap(),
        sum("throttled"),
        "{total}"
    );
    let longest = parts
        .iter()
        .map(|v| v["elapsed_seconds"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert_eq!(
        total["elapsed_seconds"].as_f64().unwrap(),
        longest,
        "{total}"
    );
    assert!(total["wait_seconds"].is_number(), "{total}");
    // Nobody was asked for twice anywhere (Braze: once per profile, checked above).
    for v in all.into_iter().filter(|v| v.api().asked_once()) {
        assert!(sim.asked(v).values().all(|n| *n == 1), "{v:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_run_resumes_at_every_vendor_and_sends_nothing_twice_but_what_was_in_flight() {
    // Slow enough to be killed half way: Zendesk jobs take a second.
    let mut cfg = fast();
    cfg.job_time = Duration::from_secs(1);
    cfg.lookup_quota = Quota {
        limit: 500,
        window: Duration::from_secs(1),
    };
    let sim = Sim::start(cfg, 600).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "purge.toml", &config(&sim_urls(&sim), ""));
    let input = people(dir.path(), 500);
    let report = dir.path().join("r.jsonl");
    let args = ["everywhere", "-i", &input, "--yes", "--report", "r.jsonl"];
    let mut child = command(dir.path(), &args, &sim_env())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Whole lines only: purge is writing the file while it is counted.
    let written = || {
        std::fs::read_to_string(&report)
            .map(|t| t.matches('\n').count())
            .unwrap_or(0)
    };
    while written() < 600 {
        assert!(Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let mut again = args.to_vec();
    again.extend(["--resume", "--json"]);
    let out = run(dir.path(), &again, &sim_env()).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The kill came half way: some were done before it, the rest after.
    let summary: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let skipped: u64 = summary["vendors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["skipped"].as_u64().unwrap())
        .sum();
    assert!(skipped > 0 && skipped < 2000, "{skipped} skipped on resume");
    let f = finals(&report);
    let all = Vendor::all();
    assert_eq!(f.len(), all.len() * 500);
    for v in &all {
        assert_erased(&sim, *v, 500);
    }
    // Only what was in flight at the kill may have been asked twice: at most
    // one request's worth per vendor lane.
    for v in all.into_iter().filter(|v| v.api().asked_once()) {
        let most = v.api().in_flight();
        let twice = sim.asked(v).values().filter(|n| **n > 1).count();
        assert!(twice <= most, "{v:?}: {twice} asked twice");
    }
}

/// How a mock vendor answers.
type Answer = Box<dyn Fn(usize, &wiremock::Request) -> ResponseTemplate + Send + Sync>;
/// A mock vendor: its name, server and recorder.
type MockVendor = (&'static str, MockServer, Recorder<Answer>);

/// Four wiremock vendors recording every request, each answering `answer`.
async fn mock_vendors(
    answer: fn(&str, &wiremock::Request) -> ResponseTemplate,
) -> (Vec<MockVendor>, HashMap<&'static str, String>) {
    let mut out = vec![];
    let mut urls = HashMap::new();
    for name in ["rally", "braze", "gainsight-px", "zendesk"] {
        let f: Answer = Box::new(move |_, r| answer(name, r));
        let rec = Recorder::new(f);
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(rec.clone())
            .mount(&server)
            .await;
        urls.insert(name, server.uri());
        out.push((name, server, rec));
    }
    (out, urls)
}

/// Vendors that would accept anything, except Zendesk's preflight, refused.
fn zendesk_refuses(name: &str, r: &wiremock::Request) -> ResponseTemplate {
    match (name, r.url.path()) {
        ("zendesk", _) => {
            ResponseTemplate::new(401).set_body_json(json!({"error": "Couldn't authenticate you"}))
        }
        ("braze", "/users/export/ids") => {
            ResponseTemplate::new(201).set_body_json(json!({"users": [], "message": "success"}))
        }
        ("gainsight-px", "/v1/users") => {
            ResponseTemplate::new(200).set_body_json(json!({"users": [], "totalHits": 0}))
        }
        _ => ResponseTemplate::new(202).set_body_json(json!({"message": "ok", "count": 1})),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_or_missing_credential_anywhere_deletes_nothing_anywhere() {
    let (vendors, urls) = mock_vendors(zendesk_refuses).await;
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "purge.toml", &config(&urls, ""));
    let env = [
        ("RALLY_API_TOKEN", "t1"),
        ("BRAZE_API_KEY", "t2"),
        ("GAINSIGHT_PX_API_KEY", "t3"),
        ("ZENDESK_EMAIL", "agent@example.com"),
        ("ZENDESK_API_TOKEN", "wrong"),
    ];
    let out = run(
        dir.path(),
        &["everywhere", "--yes", "ann@example.com", "bob@example.com"],
        &env,
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("nothing was deleted at any vendor") && err.contains("Zendesk"),
        "{err}"
    );
    let reads = |name: &str| -> Vec<String> {
        let rec = &vendors.iter().find(|v| v.0 == name).unwrap().2;
        rec.seen()
            .iter()
            .map(|s| format!("{} {}", s.method, s.path))
            .collect()
    };
    // Only the preflight reads went out: no delete at any vendor.
    assert_eq!(reads("rally"), Vec::<String>::new());
    assert_eq!(reads("braze"), ["POST /users/export/ids"]);
    assert_eq!(reads("gainsight-px"), ["GET /v1/users"]);
    assert_eq!(reads("zendesk"), ["GET /api/v2/users/me"]);
    // A missing credential: exit 2, nothing sent at all, the vendor and variable named.
    let before: usize = vendors.iter().map(|v| v.2.seen().len()).sum();
    let out = run(
        dir.path(),
        &["everywhere", "--yes", "ann@example.com"],
        &env[..4],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("Zendesk") && err.contains("ZENDESK_API_TOKEN"),
        "{err}"
    );
    let after: usize = vendors.iter().map(|v| v.2.seen().len()).sum();
    assert_eq!(before, after, "nothing sent");
    // --check says the same as a table, and sends no delete.
    let out = run(dir.path(), &["everywhere", "--check"], &env).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("Zendesk") && l.contains("refused")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("Braze") && l.ends_with("ok")),
        "{table}"
    );
    // Rally is sent no read: its token is not called ok, it is said to be unchecked.
    assert!(
        table.lines().any(|l| l.starts_with("Rally")
            && l.ends_with("present, not checked (Rally UXR -k email sends no read to try it on)")),
        "{table}"
    );
    assert!(!table.contains("ok (present"), "{table}");
    assert!(!table.contains("wrong"), "no secret in the table");
}

/// Rally answers 404 with a web page (a wrong base URL: fatal); the others
/// are the simulator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_that_stops_fatally_stops_alone_and_the_exit_code_says_so() {
    let sim = Sim::start(fast(), 200).await.unwrap();
    let rally = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(404).set_body_string("<html>Not Found</html>"))
        .mount(&rally)
        .await;
    let mut urls = sim_urls(&sim);
    urls.insert("rally", rally.uri());
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "purge.toml", &config(&urls, ""));
    let input = people(dir.path(), 120);
    let out = run(
        dir.path(),
        &[
            "everywhere",
            "-i",
            &input,
            "--yes",
            "--report",
            "r.jsonl",
            "--json",
        ],
        &sim_env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let summary: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let by: HashMap<&str, &Value> = summary["vendors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["vendor"].as_str().unwrap(), v))
        .collect();
    assert_eq!(by["rally"]["exit_code"], 3);
    assert!(
        by["rally"]["stopped"].as_str().unwrap().contains("404"),
        "{}",
        by["rally"]
    );
    let others: Vec<Vendor> = Vendor::all()
        .into_iter()
        .filter(|v| *v != Vendor::Rally)
        .collect();
    for v in &others {
        assert_eq!(by[v.command()]["exit_code"], 0, "{}", by[v.command()]);
        assert_erased(&sim, *v, 120);
    }
    let f = finals(&dir.path().join("r.jsonl"));
    assert_eq!(
        f.len(),
        Vendor::all().len() * 120,
        "every vendor's people have a final line"
    );
    assert!(
        f.iter()
            .filter(|((v, _), _)| v == "rally")
            .all(|(_, o)| o == "failed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_prints_every_vendors_requests_grouped_and_config_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut urls = HashMap::new();
    for (n, p) in [
        ("rally", 1),
        ("braze", 2),
        ("gainsight-px", 3),
        ("zendesk", 4),
    ] {
        urls.insert(n, format!("http://127.0.0.1:{p}"));
    }
    write_file(dir.path(), "purge.toml", &config(&urls, ""));
    let out = run(
        dir.path(),
        &["everywhere", "--dry-run", "ann@example.com"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let heads: Vec<&str> = text.lines().filter(|l| l.starts_with("# ")).collect();
    assert_eq!(heads, ["# rally", "# braze", "# gainsight-px", "# zendesk"]);
    assert!(
        text.contains("POST http://127.0.0.1:1/people/delete"),
        "{text}"
    );
    assert!(
        text.contains("POST http://127.0.0.1:2/users/export/ids"),
        "{text}"
    );
    assert!(
        text.contains("GET http://127.0.0.1:4/api/v2/users/search"),
        "{text}"
    );
    // An unknown key: exit 2, file:line and the key.
    write_file(
        dir.path(),
        "bad.toml",
        "[braze]\ninstance = \"eu-01\"\ninstanse = \"x\"\n",
    );
    let out = run(
        dir.path(),
        &["everywhere", "--config", "bad.toml", "--dry-run", "a@x.io"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.toml:3") && stderr(&out).contains("instanse"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_right_after_the_purge_asks_every_vendor_and_waits_for_braze() {
    let mut cfg = fast();
    // Braze and Rally keep deleted people visible for a while, as they do.
    cfg.braze_delete_delay = Duration::from_secs(3);
    cfg.rally_delete_delay = Duration::from_secs(3);
    let sim = Sim::start(cfg, 100).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let urls = sim_urls(&sim);
    // Zendesk erased for good (not `soft`), so verify can find it gone.
    let mut text = String::new();
    for v in Vendor::all() {
        let (name, more) = (v.command(), v.api().verify_toml());
        text.push_str(&format!(
            "[{name}]\nbase-url = \"{}\"\nrate = \"200/s\"\n{more}",
            urls[name]
        ));
    }
    write_file(dir.path(), "purge.toml", &text);
    let input = people(dir.path(), 40);
    let out = run(
        dir.path(),
        &[
            "everywhere",
            "-i",
            &input,
            "--yes",
            "--report",
            "r.jsonl",
            "--verify",
            "--wait",
            "30s",
        ],
        &sim_env(),
    )
    .await;
    // Rally e-mails cannot be asked about (unverifiable, not an exception).
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let f = finals(&dir.path().join("r.jsonl"));
    for ((vendor, id), outcome) in &f {
        let want = Vendor::named(vendor).api().verified_by_email();
        assert_eq!(outcome, want, "{vendor} {id}");
    }
    assert_eq!(f.len(), Vendor::all().len() * 40);
    // Braze was asked more than once for some: its deletes are not visible at once.
    assert!(
        sim.counters(Vendor::Braze)
            .reads
            .load(std::sync::atomic::Ordering::Relaxed)
            > 80,
        "40 lookups to delete, then at least 40 checks and some again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_yes_and_without_a_terminal_nothing_is_deleted_anywhere() {
    let sim = Sim::start(fast(), 20).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "purge.toml", &config(&sim_urls(&sim), ""));
    let list: Vec<String> = (0..10)
        .map(sim::email)
        .chain(["not-an-address".into()])
        .collect();
    let input = write_file(dir.path(), "people.txt", &list.join("\n"));
    let input = input.to_str().unwrap();
    let args = ["everywhere", "-i", input, "--report", "r.jsonl"];
    let out = run(dir.path(), &args, &sim_env()).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    let n = Vendor::all().len();
    assert!(
        err.contains("without confirmation")
            && err.contains("--yes")
            // A vendor taking its own ids may count the invalid e-mail as one.
            && err.contains(&format!(" people at {n} vendors: "))
            && err.contains(" vendor outcomes without confirmation"),
        "{err}"
    );
    for v in Vendor::all() {
        assert!(sim.life(v).iter().all(|l| *l == Life::Alive), "{v:?}");
        assert!(sim.asked(v).is_empty(), "{v:?}");
    }
    // Nothing left behind: the same command with --yes runs.
    assert!(
        !dir.path().join("r.jsonl").exists(),
        "a refused run left its report"
    );
    let mut again = args.to_vec();
    again.push("--yes");
    let out = run(dir.path(), &again, &sim_env()).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let f = finals(&dir.path().join("r.jsonl"));
    assert_eq!(f.len(), Vendor::all().len() * 11, "{f:?}");
    assert_exactly(&sim, Vendor::Rally, 10, Life::Gone);
    // One vendor alone, too.
    let rally = sim.url(Vendor::Rally);
    let args = [
        "rally",
        "-k",
        "email",
        "--base-url",
        &rally,
        "--report",
        "one.jsonl",
        "-i",
        input,
    ];
    let out = run(dir.path(), &args, Vendor::Rally.env()).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        !dir.path().join("one.jsonl").exists(),
        "a refused run left its report"
    );
    let mut again = args.to_vec();
    again.push("--yes");
    let out = run(dir.path(), &again, Vendor::Rally.env()).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_on_stdin_is_read_once_for_every_vendor() {
    let sim = Sim::start(fast(), 40).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "purge.toml", &config(&sim_urls(&sim), ""));
    let list: Vec<String> = (0..20).map(sim::email).collect();
    let out = run_with_stdin(
        dir.path(),
        &["everywhere", "-i", "-", "--yes", "--report", "r.jsonl"],
        &sim_env(),
        list.join("\n") + "\n",
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for v in Vendor::all() {
        assert_erased(&sim, v, 20);
    }
    assert_eq!(
        finals(&dir.path().join("r.jsonl")).len(),
        Vendor::all().len() * 20
    );
    // The summary counts people, then each vendor's own outcomes.
    let err = stderr(&out);
    let n = Vendor::all().len();
    assert!(
        err.contains(&format!(
            "purge everywhere: 20 people at {n} vendors: {} vendor outcomes\n",
            20 * n
        )),
        "{err}"
    );
    let table: Vec<Vec<&str>> = err
        .lines()
        .skip_while(|l| !l.starts_with("purge everywhere: 20 people"))
        .skip(1)
        .take(n + 1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(table[0][..2], ["vendor", "people"], "{err}");
    assert!(table[1..].iter().all(|r| r[1] == "20"), "{err}");
    // The summary says what the run cost, per vendor and in total.
    let head = err
        .lines()
        .position(|l| {
            l.split_whitespace().collect::<Vec<_>>()
                == [
                    "vendor", "requests", "retries", "answered", "429", "waiting", "elapsed",
                ]
        })
        .unwrap_or_else(|| panic!("no traffic table: {err}"));
    let mut want: Vec<&str> = Vendor::all().iter().map(|v| v.command()).collect();
    want.push("total");
    let n = want.len() - 1;
    let rows: Vec<Vec<&str>> = err
        .lines()
        .skip(head + 1)
        .take(n + 1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    assert_eq!(names, want, "{err}");
    let requests: Vec<u64> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    assert!(requests[..n].iter().all(|n| *n > 0), "{err}");
    assert_eq!(requests[..n].iter().sum::<u64>(), requests[n], "{err}");
    for r in &rows {
        assert!(r[4].ends_with('s') && r[5].ends_with('s'), "{err}");
    }
}

/// Several vendors drain on one Ctrl-C: how to quit at once is said once for
/// the run, and each vendor says what it has left in flight.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_is_explained_once_per_run_not_once_per_vendor() {
    fn slow(name: &str, _: &wiremock::Request) -> ResponseTemplate {
        let answer = if name == "gainsight-px" {
            ResponseTemplate::new(204)
        } else {
            ResponseTemplate::new(202).set_body_json(json!({"message": "ok", "count": 100}))
        };
        answer.set_delay(Duration::from_millis(500))
    }
    let (vendors, urls) = mock_vendors(slow).await;
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "purge.toml",
        &format!(
            "[rally]\nbase-url = \"{}\"\nconcurrency = 1\n\n[gainsight-px]\nbase-url = \"{}\"\nkind = \"id\"\nconcurrency = 1\n",
            urls["rally"], urls["gainsight-px"]
        ),
    );
    let input = people(dir.path(), 1000);
    let child = command(
        dir.path(),
        &["everywhere", "--yes", "-i", &input, "--report", "r.jsonl"],
        &[("RALLY_API_TOKEN", "t1"), ("GAINSIGHT_PX_API_KEY", "t2")],
    )
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let seen = |name: &str| vendors.iter().find(|v| v.0 == name).unwrap().2.seen().len();
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen("rally") == 0 || seen("gainsight-px") == 0 {
        assert!(Instant::now() < deadline, "no requests arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert_eq!(err.matches("press Ctrl-C again").count(), 1, "{err}");
    assert!(
        err.contains("interrupted: finishing the requests in flight and writing the report"),
        "{err}"
    );
    for name in ["rally", "gainsight-px"] {
        assert!(err.contains(&format!("{name}: finishing ")), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_and_stderr_at_vv_never_stop_the_run_or_the_report() {
    // `purge everywhere … -vv 2>&1 | head -1`: the reader goes away at once.
    let sim = Sim::start(fast(), 200).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "purge.toml", &config(&sim_urls(&sim), ""));
    let input = people(dir.path(), 60);
    let args = [
        "everywhere",
        "-i",
        &input,
        "--yes",
        "--report",
        "r.jsonl",
        "-vv",
    ];
    let mut cmd = command(dir.path(), &args, &sim_env());
    let out = tokio::task::spawn_blocking(move || {
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Both read ends closed: every write purge makes now fails with EPIPE.
        drop(child.stdout.take());
        drop(child.stderr.take());
        child.wait().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.code(), Some(0), "purge stopped on a closed pipe");
    let f = finals(&dir.path().join("r.jsonl"));
    assert_eq!(
        f.len(),
        Vendor::all().len() * 60,
        "one final line per (vendor, person)"
    );
    for v in Vendor::all() {
        assert_erased(&sim, v, 60);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_hash_ids_no_identifier_is_in_the_report_stderr_or_json() {
    let sim = Sim::start(fast(), 40).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "purge.toml", &config(&sim_urls(&sim), ""));
    let mut list: Vec<String> = (0..20).map(sim::email).collect();
    // An invalid row: its place and reason may be said, never its value.
    list.push("secret.person.at.example.com".into());
    let input = write_file(dir.path(), "people.txt", &list.join("\n"));
    let args = [
        "everywhere",
        "-i",
        input.to_str().unwrap(),
        "--yes",
        "--report",
        "r.jsonl",
        "--hash-ids",
        "-vvv",
        "--json",
    ];
    let out = run(dir.path(), &args, &sim_env()).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = std::fs::read_to_string(dir.path().join("r.jsonl")).unwrap();
    let finals = report
        .lines()
        .filter(|l| !l.contains("\"pending\""))
        .count();
    assert_eq!(finals, Vendor::all().len() * 21, "{report}");
    let err = stderr(&out);
    assert!(
        err.contains("people.txt:21"),
        "the invalid row's place: {err}"
    );
    for (what, text) in [
        ("report", &report),
        ("stderr", &err),
        ("--json", &stdout(&out)),
    ] {
        for id in &list {
            // As written, and as a URL or JSON would carry it.
            for form in [id.clone(), id.replace('@', "%40")] {
                assert!(!text.contains(&form), "{form} in clear in the {what}");
            }
        }
    }
}

/// `--ref-column`: each person's request reference (a ticket id) is `ref` on
/// every line of that person at every vendor, in clear with `--hash-ids`;
/// the certificate lists it (`people[].ref`); a resumed run keeps it from
/// the report; an unknown column names the file and its columns (exit 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ref_column_is_on_every_line_of_the_person_and_in_the_certificate() {
    let sim = Sim::start(fast(), 20).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A vendor given the list as its own kind reads it from the `email` column.
    let text = config(&sim_urls(&sim), "")
        .lines()
        .map(|l| match l.starts_with("kind = ") {
            true => format!("{l}\ncolumn = \"email\"\n"),
            false => format!("{l}\n"),
        })
        .collect::<String>();
    write_file(dir.path(), "purge.toml", &text);
    let rows: Vec<String> = (0..6)
        .map(|i| format!("{},REQ-{}", sim::email(i), 100 + i))
        .collect();
    write_file(
        dir.path(),
        "people.csv",
        &format!("email,ticket\n{}\n", rows.join("\n")),
    );
    // An unknown column: nothing sent, the file and its columns named.
    let out = run(
        dir.path(),
        &[
            "everywhere",
            "-i",
            "people.csv",
            "--ref-column",
            "case",
            "--yes",
            "--report",
            "x.jsonl",
        ],
        &sim_env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("people.csv:1")
            && err.contains("\"case\"")
            && err.contains("\"email\", \"ticket\""),
        "{err}"
    );
    assert!(!dir.path().join("x.jsonl").exists());
    let out = run(
        dir.path(),
        &[
            "everywhere",
            "-i",
            "people.csv",
            "--ref-column",
            "ticket",
            "--yes",
            "--report",
            "r.jsonl",
            "--hash-ids",
        ],
        &sim_env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = report_lines(&dir.path().join("r.jsonl"));
    assert!(lines.len() >= 6 * Vendor::all().len(), "{}", lines.len());
    let want: HashMap<String, String> = (0..6)
        .map(|i| (sha256_hex(&sim::email(i)), format!("REQ-{}", 100 + i)))
        .collect();
    for l in &lines {
        let who = l["id_sha256"].as_str().expect("hashed");
        assert_eq!(l["ref"].as_str(), Some(want[who].as_str()), "{l}");
    }
    // The certificate lists each person's reference.
    let out = run(
        dir.path(),
        &[
            "certificate",
            "--report",
            "r.jsonl",
            "--format",
            "json",
            "-o",
            "c.json",
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let cert: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("c.json")).unwrap()).unwrap();
    let people = cert["people"].as_array().unwrap();
    assert_eq!(people.len(), 6);
    for p in people {
        assert_eq!(
            p["ref"].as_str(),
            Some(want[p["sha256"].as_str().unwrap()].as_str()),
            "{p}"
        );
    }
    // Resumed without --ref-column: a person retried keeps the reference
    // its earlier lines recorded.
    let host = lines[0]["host"].as_str().unwrap().to_string();
    let failed = json!({"vendor": "rally", "kind": "email", "id": sim::email(7),
        "outcome": "failed", "detail": "HTTP 500", "ref": "REQ-107", "host": host,
        "at": "2026-11-25T10:00:00Z"});
    write_file(dir.path(), "one.jsonl", &format!("{failed}\n"));
    write_file(
        dir.path(),
        "rally.toml",
        &format!("[rally]\nbase-url = \"{}\"\n", sim.url(Vendor::Rally)),
    );
    let out = run(
        dir.path(),
        &[
            "rally",
            "--config",
            "rally.toml",
            "-k",
            "email",
            &sim::email(7),
            "--yes",
            "--report",
            "one.jsonl",
            "--resume",
        ],
        &sim_env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let again = report_lines(&dir.path().join("one.jsonl"));
    assert_eq!(again.len(), 2, "{again:?}");
    assert_eq!(again[1]["outcome"], "queued");
    assert_eq!(again[1]["ref"], "REQ-107");
}
