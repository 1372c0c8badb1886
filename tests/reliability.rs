//! Reliability: faults, kills, Ctrl-C, hostile input and hostile answers lose
//! nothing. Against the in-process simulator (`examples/sim/`) or wiremock, all
//! on 127.0.0.1. See RELIABILITY.md.

mod common;
mod simulated;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use simulated::*;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The simulator at its nastiest: 20% 5xx, 5% dropped connections, 5% answers
/// slower than purge's `--timeout 1s`, and a 1-second 429 storm every 5 seconds.
fn hostile() -> Config {
    let q = |limit| Quota {
        limit,
        window: Duration::from_secs(1),
    };
    Config {
        quota: Vendor::all().into_iter().map(|v| (v, q(2000))).collect(),
        error_rate: 0.20,
        drop_rate: 0.05,
        slow_rate: 0.05,
        slow: Duration::from_millis(1500),
        storm_every: Some(Duration::from_secs(5)),
        storm_len: Duration::from_secs(1),
        job_time: Duration::from_millis(300),
        seed: 7,
        ..Config::default()
    }
}

/// One final report line per identifier; every outcome true; the population
/// shows exactly the asked people gone (or soft-deleted).
async fn faults_lose_nothing(vendor: Vendor, kind: &str, n: usize, extra: &[&str], gone: Life) {
    let sim = Sim::start(hostile(), n + 500).await.unwrap();
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
    args.extend([
        "--base-url",
        &url,
        "--report",
        "r.jsonl",
        "--timeout",
        "1s",
        "--rate",
        "500/s",
        "--max-retries",
        "10",
    ]);
    args.extend(extra);
    let out = run(dir.path(), &args, vendor.env()).await;
    let code = out.status.code().unwrap();
    assert!(
        code == 0 || code == 1,
        "{vendor:?}: exit {code}: {}",
        stderr(&out)
    );
    let lines = report_lines(&dir.path().join("r.jsonl"));
    let mut finals: HashMap<String, Vec<serde_json::Value>> = HashMap::new();
    for l in lines.into_iter().filter(|l| l["outcome"] != "pending") {
        finals
            .entry(l["id"].as_str().unwrap().to_string())
            .or_default()
            .push(l);
    }
    assert_eq!(
        finals.len(),
        n,
        "{vendor:?}: every identifier has an outcome"
    );
    let mut failed = 0;
    for (i, id) in list.iter().enumerate() {
        let f = &finals[id];
        assert_eq!(f.len(), 1, "{vendor:?}: {id} has {} final lines", f.len());
        let outcome = f[0]["outcome"].as_str().unwrap();
        match outcome {
            "queued" | "deleted" | "not_found" => {
                assert_eq!(
                    sim.life(vendor)[i],
                    gone,
                    "{vendor:?}: {id} reported {outcome} but is not gone"
                );
            }
            "failed" => {
                failed += 1;
                assert!(
                    f[0]["detail"].as_str().unwrap().contains("gave up after"),
                    "{vendor:?}: {}",
                    f[0]
                );
            }
            other => panic!("{vendor:?}: {id} ended {other}"),
        }
    }
    let life = sim.life(vendor);
    assert!(
        life[n..].iter().all(|l| *l == Life::Alive),
        "{vendor:?}: someone not asked for was deleted"
    );
    let c = sim.counters(vendor);
    let faults = c.faults.load(std::sync::atomic::Ordering::Relaxed)
        + c.dropped.load(std::sync::atomic::Ordering::Relaxed)
        + c.slow.load(std::sync::atomic::Ordering::Relaxed)
        + c.throttled.load(std::sync::atomic::Ordering::Relaxed);
    assert!(faults > 0, "{vendor:?}: no fault was injected");
    eprintln!(
        "{vendor:?}: {n} identifiers, {faults} faults injected, {failed} failed after retries, lost 0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_rally() {
    faults_lose_nothing(Vendor::Rally, "email", 5000, &[], Life::Gone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_braze() {
    faults_lose_nothing(Vendor::Braze, "external-id", 5000, &[], Life::Gone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_gainsight() {
    faults_lose_nothing(Vendor::Gainsight, "id", 1000, &[], Life::Gone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: about a minute"]
async fn soak_faults_gainsight_5000() {
    faults_lose_nothing(Vendor::Gainsight, "id", 5000, &[], Life::Gone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_zendesk_soft() {
    faults_lose_nothing(Vendor::Zendesk, "id", 5000, &["--soft"], Life::Soft).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_zendesk_permanent() {
    faults_lose_nothing(Vendor::Zendesk, "id", 200, &[], Life::Gone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: about a minute"]
async fn soak_faults_zendesk_permanent_400() {
    faults_lose_nothing(Vendor::Zendesk, "id", 400, &[], Life::Gone).await;
}

/// Kill purge with SIGKILL at `kills` seeded random moments, resuming each time,
/// then finish: the population ends as after an uninterrupted run, the report
/// stays readable, and only batches in flight at a kill were sent twice.
async fn kills_lose_nothing(vendor: Vendor, n: usize, rate: &str, batch: usize, kills: usize) {
    let mut cfg = simulated::fast();
    cfg.job_time = Duration::from_millis(800);
    let sim = Sim::start(cfg, n + 200).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kind = match vendor {
        Vendor::Rally => "email",
        Vendor::Braze => "external-id",
        _ => "id",
    };
    let list = ids(vendor, kind, n);
    let input = write_file(dir.path(), "ids.txt", &list.join("\n"));
    let report = dir.path().join("r.jsonl");
    let url = sim.url(vendor);
    let args = [
        vendor.command(),
        "-y",
        "-q",
        "-k",
        kind,
        "--format",
        "lines",
        "-i",
        input.to_str().unwrap(),
        "--base-url",
        &url,
        "--report",
        report.to_str().unwrap(),
        "--resume",
        "--rate",
        rate,
        "--concurrency",
        "4",
    ];
    let mut rng = fastrand::Rng::with_seed(42);
    let mut torn_seen = 0;
    for _ in 0..kills {
        let mut child = command(dir.path(), &args, vendor.env())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(rng.u64(150..900))).await;
        let _ = child.kill();
        let _ = child.wait();
        // Every line but perhaps a torn last one parses.
        let text = std::fs::read_to_string(&report).unwrap_or_default();
        let mut lines: Vec<&str> = text.split('\n').collect();
        if !text.ends_with('\n') && !text.is_empty() {
            torn_seen += 1;
            lines.pop();
        }
        for l in lines.iter().filter(|l| !l.is_empty()) {
            serde_json::from_str::<serde_json::Value>(l)
                .unwrap_or_else(|e| panic!("{vendor:?}: bad line {l:?}: {e}"));
        }
    }
    let out = run(dir.path(), &args, vendor.env()).await;
    assert_eq!(out.status.code(), Some(0), "{vendor:?}: {}", stderr(&out));
    let outcomes = last_outcomes(&report);
    assert_eq!(outcomes.len(), n);
    assert!(
        outcomes
            .values()
            .all(|o| o == "queued" || o == "deleted" || o == "not_found"),
        "{outcomes:?}"
    );
    simulated::assert_exactly(&sim, vendor, n, Life::Gone);
    let twice = sim.asked(vendor).values().filter(|c| **c > 1).count();
    // Each kill can leave at most the requests in flight (concurrency 4) to be sent again.
    assert!(
        twice <= kills * 4 * batch,
        "{vendor:?}: {twice} people were asked for twice"
    );
    eprintln!(
        "{vendor:?}: {kills} kills ({torn_seen} torn last lines), {twice} sent twice, lost 0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_rally() {
    kills_lose_nothing(Vendor::Rally, 3000, "15/s", 100, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: ten kills"]
async fn soak_kills_rally() {
    kills_lose_nothing(Vendor::Rally, 3000, "15/s", 100, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_braze() {
    kills_lose_nothing(Vendor::Braze, 2000, "15/s", 50, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: ten kills"]
async fn soak_kills_braze() {
    kills_lose_nothing(Vendor::Braze, 2000, "15/s", 50, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_gainsight() {
    kills_lose_nothing(Vendor::Gainsight, 600, "100/s", 1, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: ten kills"]
async fn soak_kills_gainsight() {
    kills_lose_nothing(Vendor::Gainsight, 600, "100/s", 1, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_zendesk_between_submission_and_completion() {
    kills_lose_nothing(Vendor::Zendesk, 600, "10/s", 100, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: ten kills"]
async fn soak_kills_zendesk() {
    kills_lose_nothing(Vendor::Zendesk, 600, "10/s", 100, 10).await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_quits_at_once_and_the_report_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    // Answers take longer than the test: only a second Ctrl-C ends the run.
    let rec = Recorder::new(|_, _| {
        ResponseTemplate::new(202)
            .set_body_string(r#"{"message":"ok","count":100}"#)
            .set_delay(Duration::from_secs(60))
    });
    Mock::given(any())
        .respond_with(rec.clone())
        .mount(&server)
        .await;
    let input = write_file(dir.path(), "list.txt", &emails(1000).join("\n"));
    let uri = server.uri();
    let args = [
        "rally",
        "-y",
        "-i",
        input.to_str().unwrap(),
        "--base-url",
        &uri,
        "--report",
        "r.jsonl",
    ];
    let mut child = command(dir.path(), &args, &[("RALLY_API_TOKEN", "t")])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Readiness, not sleeps: signal once requests are in flight, and again once
    // purge has said it is draining them.
    let said = Arc::new(Mutex::new(String::new()));
    let err = child.stderr.take().unwrap();
    let s = Arc::clone(&said);
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            let mut s = s.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    let wait_for = |what: &str, ready: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready() {
            assert!(Instant::now() < deadline, "never ready: {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_for("requests in flight", &|| !rec.seen().is_empty());
    let pid = child.id().to_string();
    let sigint = || {
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
    };
    sigint();
    wait_for("the drain message", &|| {
        said.lock().unwrap().contains("interrupted: finishing")
    });
    sigint();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    reader.join().unwrap();
    let text = said.lock().unwrap().clone();
    assert_eq!(status.code(), Some(130), "{text}");
    assert!(text.contains("signalled twice: quitting now"), "{text}");
    // The answers in flight take a minute: quitting at once recorded none of them.
    let lines = report_lines(&dir.path().join("r.jsonl"));
    assert!(lines.iter().all(|l| l["outcome"] != "queued"), "{lines:?}");
    // Resumable: the report parses, and a resume finishes every identifier.
    let _ = report_lines(&dir.path().join("r.jsonl"));
    drop(server);
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(202).set_body_string(r#"{"message":"ok","count":100}"#))
        .mount(&server)
        .await;
    let uri = server.uri();
    let args = [
        "rally",
        "-y",
        "-i",
        input.to_str().unwrap(),
        "--base-url",
        &uri,
        "--report",
        "r.jsonl",
        "--resume",
    ];
    let out = run(dir.path(), &args, &[("RALLY_API_TOKEN", "t")]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let outcomes = last_outcomes(&dir.path().join("r.jsonl"));
    assert_eq!(outcomes.len(), 1000);
    assert!(outcomes.values().all(|o| o == "queued"));
}

#[test]
fn the_input_reader_never_panics_on_any_bytes() {
    use purge::input::{Column, Format, InputSpec, load};
    use purge::services::{Check, Kind, KindSpec};
    let dir = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(1234);
    let alphabet: &[u8] = b"a@.b,;\t\"\r\n #=+-|\\\x00\xff\xfe\xef\xbb\xbf0123456789emailEMAIL";
    let kinds = [
        KindSpec {
            kind: Kind::Email,
            check: Check::Email,
            headers: &["email"],
            pair: None,
        },
        KindSpec {
            kind: Kind::Id,
            check: Check::Numeric,
            headers: &["id"],
            pair: None,
        },
        KindSpec {
            kind: Kind::Phone,
            check: Check::Phone,
            headers: &["phone"],
            pair: None,
        },
        KindSpec {
            kind: Kind::Alias,
            check: Check::Alias,
            headers: &["alias"],
            pair: Some(("alias_label", "alias_name")),
        },
        KindSpec {
            kind: Kind::ExternalId,
            check: Check::Text,
            headers: &["external_id"],
            pair: None,
        },
    ];
    for round in 0..3000 {
        let len = rng.usize(0..400);
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                if rng.bool() {
                    alphabet[rng.usize(0..alphabet.len())]
                } else {
                    rng.u8(..)
                }
            })
            .collect();
        let name = ["x.txt", "x.csv", "x.tsv", "x"][round % 4];
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let spec = InputSpec {
            positional: vec![],
            files: vec![path],
            column: match round % 5 {
                0 => Some(Column::parse("email")),
                1 => Some(Column::parse("2")),
                _ => None,
            },
            ref_column: None,
            format: match round % 3 {
                0 => Some(Format::Csv),
                1 => Some(Format::Lines),
                _ => None,
            },
            kind: kinds[round % kinds.len()],
            stdin: None,
        };
        // Ok or a clear error: never a panic.
        let _ = load(&spec);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nasty_files_give_a_clear_outcome_or_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut big = Vec::with_capacity(10 << 20);
    big.extend(std::iter::repeat_n(b'a', 10 << 20));
    let mut dups = Vec::new();
    for _ in 0..1_000_000 {
        dups.extend_from_slice(b"same@example.com\n");
    }
    let cases: Vec<(&str, Vec<u8>, i32, &str)> = vec![
        (
            "nul.txt",
            b"a@example.com\nb\x00c@example.com\n".to_vec(),
            1,
            "control characters",
        ),
        ("one-line.txt", big, 1, "e-mail longer than"),
        (
            "latin1.txt",
            b"a@example.com\nj\xf6rg@example.com\n".to_vec(),
            2,
            "latin1.txt:2: not UTF-8",
        ),
        (
            "quotes.csv",
            b"email\n\"a@example.com,b\nc@example.com\n".to_vec(),
            1,
            "invalid email",
        ),
        (
            "formula.csv",
            b"email\n=cmd|' /C calc'!A0\n@SUM(1+1)\nok@example.com\n".to_vec(),
            1,
            "formula.csv:2",
        ),
        (
            "header-only.csv",
            b"email\n".to_vec(),
            2,
            "no identifiers found",
        ),
        ("dups.txt", dups, 0, "999999 duplicates dropped"),
    ];
    for (name, bytes, code, needle) in cases {
        let p = d.join(name);
        std::fs::File::create(&p)
            .unwrap()
            .write_all(&bytes)
            .unwrap();
        let out = run(d, &["rally", "--dry-run", "-i", p.to_str().unwrap()], &[]).await;
        assert_eq!(out.status.code(), Some(code), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{name}: {}", stderr(&out));
        if name == "dups.txt" {
            assert_eq!(
                stdout(&out).lines().count(),
                1,
                "one request for the one e-mail"
            );
        }
    }
}

async fn answers(
    template: ResponseTemplate,
    then_ok: bool,
) -> (
    MockServer,
    Recorder<impl Fn(usize, &wiremock::Request) -> ResponseTemplate + Send + Sync + 'static>,
) {
    let rec = Recorder::new(move |n, _| {
        if n == 0 || !then_ok {
            template.clone()
        } else {
            ResponseTemplate::new(202).set_body_string(r#"{"message":"ok","count":1}"#)
        }
    });
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(rec.clone())
        .mount(&server)
        .await;
    (server, rec)
}

async fn rally_once(server: &MockServer, dir: &Path, extra: &[&str]) -> std::process::Output {
    let uri = server.uri();
    let mut args = vec![
        "rally",
        "-y",
        "a@example.com",
        "--base-url",
        &uri,
        "--report",
        "r.jsonl",
        "--max-retries",
        "3",
    ];
    args.extend(extra);
    run(dir, &args, &[("RALLY_API_TOKEN", "t")]).await
}

/// (case, the vendor's answer, then well-behaved?, extra args, exit code, outcome).
type HostileAnswer = (
    &'static str,
    ResponseTemplate,
    bool,
    &'static [&'static str],
    i32,
    &'static str,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_answers_never_lose_an_identifier_or_sleep_unbounded() {
    let cases: Vec<HostileAnswer> = vec![
        (
            "truncated JSON",
            ResponseTemplate::new(202).set_body_string(r#"{"message":"Peop"#),
            false,
            &[],
            0,
            "queued",
        ),
        (
            "HTML error page",
            ResponseTemplate::new(502).set_body_string("<html><body>Bad gateway</body></html>"),
            true,
            &[],
            0,
            "queued",
        ),
        (
            "empty 200",
            ResponseTemplate::new(200),
            false,
            &[],
            0,
            "queued",
        ),
        (
            "Retry-After -5",
            ResponseTemplate::new(429).insert_header("Retry-After", "-5"),
            true,
            &[],
            0,
            "queued",
        ),
        (
            "Retry-After abc",
            ResponseTemplate::new(429).insert_header("Retry-After", "abc"),
            true,
            &[],
            0,
            "queued",
        ),
        (
            "Retry-After 10 years",
            ResponseTemplate::new(429).insert_header("Retry-After", "315360000"),
            true,
            &["--max-wait", "2s"],
            75,
            "failed",
        ),
        (
            "Reset in the past",
            ResponseTemplate::new(202)
                .set_body_string(r#"{"message":"ok","count":1}"#)
                .insert_header("X-RateLimit-Limit", "10")
                .insert_header("X-RateLimit-Remaining", "0")
                .insert_header("X-RateLimit-Reset", "1000000000"),
            false,
            &[],
            0,
            "queued",
        ),
        (
            "gzip that is not gzip",
            ResponseTemplate::new(202)
                .insert_header("Content-Encoding", "gzip")
                .set_body_string(r#"{"message":"ok","count":1}"#),
            false,
            &[],
            0,
            "queued",
        ),
        (
            "a 500 forever",
            ResponseTemplate::new(500).set_body_string("oops"),
            false,
            &[],
            1,
            "failed",
        ),
    ];
    for (name, template, then_ok, extra, code, outcome) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (server, _rec) = answers(template, then_ok).await;
        let started = Instant::now();
        let out = rally_once(&server, dir.path(), extra).await;
        assert_eq!(out.status.code(), Some(code), "{name}: {}", stderr(&out));
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{name}: took {:?}",
            started.elapsed()
        );
        let lines = report_lines(&dir.path().join("r.jsonl"));
        assert_eq!(lines.len(), 1, "{name}: one line for the one identifier");
        assert_eq!(lines[0]["outcome"], outcome, "{name}: {}", lines[0]);
    }
    // A truncated job status from Zendesk: the outcome is unknown, so `failed`, not lost.
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200).set_body_string(r#"{"job_status":{"id":"J1","sta"#),
        )
        .mount(&server)
        .await;
    let out = run(
        dir.path(),
        &[
            "zendesk",
            "-y",
            "1",
            "2",
            "--base-url",
            &server.uri(),
            "--report",
            "r.jsonl",
        ],
        &[("ZENDESK_OAUTH_TOKEN", "t")],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let outcomes = last_outcomes(&dir.path().join("r.jsonl"));
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes.values().all(|o| o == "failed"));
}
