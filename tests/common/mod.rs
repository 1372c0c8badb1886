//! Shared helpers for the integration tests: running the binary, reading reports,
//! and wiremock responders that record what arrived and when.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use serde_json::Value;
use wiremock::{Request, Respond, ResponseTemplate};

/// Every environment variable purge reads for a vendor (credentials, and the
/// flags that fall back to one), from the registry; cleared so the developer's
/// own never leak in.
pub fn credential_vars() -> Vec<String> {
    let mut vars: Vec<String> = purge::services::REGISTRY
        .iter()
        .flat_map(|e| e.env_vars())
        .collect();
    vars.push("PURGE_BASE_URL".to_string());
    vars
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_purge")
}

/// A `purge` command with a clean environment plus `env`, run in `dir`.
pub fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir).args(args).stdin(Stdio::null());
    for v in credential_vars() {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Run the binary off the async runtime (the mock server lives on it).
pub async fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = command(dir, args, env);
    tokio::task::spawn_blocking(move || cmd.output().expect("run purge"))
        .await
        .expect("join")
}

/// Run with `stdin` piped in.
pub async fn run_with_stdin(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: String,
) -> Output {
    let mut cmd = command(dir, args, env);
    cmd.stdin(Stdio::piped());
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn purge");
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).expect("write stdin");
        drop(input);
        child.wait_with_output().expect("wait")
    })
    .await
    .expect("join")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The report file as parsed JSON lines.
pub fn report_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad report line {l:?}: {e}")))
        .collect()
}

/// Lines written whole so far to a report another process is writing (the
/// last may be half-written as it is read: it is not counted).
pub fn whole_lines(path: &Path) -> usize {
    std::fs::read(path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}

/// The last line of each identifier in a report.
pub fn last_lines(path: &Path) -> HashMap<String, Value> {
    report_lines(path)
        .into_iter()
        .map(|l| (l["id"].as_str().unwrap().to_string(), l))
        .collect()
}

/// `purge verify --report r.jsonl` in `dir` with `env`, which must exit 0;
/// then the last line of each identifier.
pub async fn verify_lines(dir: &Path, env: &[(&str, &str)]) -> HashMap<String, Value> {
    let out = run(dir, &["verify", "--report", "r.jsonl"], env).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    last_lines(&dir.join("r.jsonl"))
}

/// Each of `people`'s last lines (`last`, from [`last_lines`] or
/// [`verify_lines`]) has `outcome`, and a detail that says `why`.
pub fn assert_each(last: &HashMap<String, Value>, people: &[String], outcome: &str, why: &str) {
    for p in people {
        let line = &last[p];
        assert_eq!(line["outcome"], outcome, "{line}");
        let detail = line["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(why), "{line}");
    }
}

/// The last outcome per id in a report.
pub fn last_outcomes(path: &Path) -> HashMap<String, String> {
    report_lines(path)
        .into_iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap_or_default().to_string(),
                v["outcome"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write input");
    p
}

/// `n` distinct e-mails `user{i}@example.com`.
pub fn emails(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user{i}@example.com")).collect()
}

/// One request as the mock saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub wall: SystemTime,
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

/// A responder that records every request and answers with `answer(n, request)`
/// (`n` counts from 0).
pub struct Recorder<F> {
    pub seen: Arc<Mutex<Vec<Seen>>>,
    answer: Arc<F>,
}

impl<F> Clone for Recorder<F> {
    fn clone(&self) -> Self {
        Recorder {
            seen: Arc::clone(&self.seen),
            answer: Arc::clone(&self.answer),
        }
    }
}

impl<F> Recorder<F>
where
    F: Fn(usize, &Request) -> ResponseTemplate + Send + Sync + 'static,
{
    pub fn new(answer: F) -> Self {
        Recorder {
            seen: Arc::new(Mutex::new(vec![])),
            answer: Arc::new(answer),
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl<F> Respond for Recorder<F>
where
    F: Fn(usize, &Request) -> ResponseTemplate + Send + Sync + 'static,
{
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let n = {
            let mut seen = self.seen.lock().unwrap();
            seen.push(Seen {
                at: Instant::now(),
                wall: SystemTime::now(),
                method: request.method.to_string(),
                path: request.url.path().to_string(),
                query: request.url.query().unwrap_or_default().to_string(),
                headers: request
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect(),
                body: serde_json::from_slice(&request.body).unwrap_or(Value::Null),
            });
            seen.len() - 1
        };
        (self.answer)(n, request)
    }
}

/// The strings of a JSON array field of a request body.
pub fn body_list(body: &Value, field: &str) -> Vec<String> {
    body[field]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A server whose one endpoint (`POST path` with a JSON body and this bearer
/// token) answers through `rec`; anything else gets wiremock's 404.
pub async fn json_post_endpoint<F>(
    path: &str,
    bearer: &str,
    rec: Recorder<F>,
) -> wiremock::MockServer
where
    F: Fn(usize, &Request) -> ResponseTemplate + Send + Sync + 'static,
{
    use wiremock::matchers;
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(matchers::method("POST"))
        .and(matchers::path(path))
        .and(matchers::header(
            "authorization",
            format!("Bearer {bearer}").as_str(),
        ))
        .and(matchers::header("content-type", "application/json"))
        .respond_with(rec)
        .mount(&server)
        .await;
    server
}

/// Run purge on `ids` (written to `ids.txt` in `dir`) against `base`: `args`
/// plus `-i ids.txt --base-url base`.
pub async fn run_ids<S: AsRef<str>>(
    dir: &Path,
    args: &[&str],
    ids: &[S],
    base: &str,
    env: &[(&str, &str)],
) -> Output {
    let list: Vec<&str> = ids.iter().map(AsRef::as_ref).collect();
    let input = write_file(dir, "ids.txt", &list.join("\n"));
    let mut all = args.to_vec();
    all.extend(["-i", input.to_str().unwrap_or_default(), "--base-url", base]);
    run(dir, &all, env).await
}

/// A query parameter of a request the mock received ("" when absent).
pub fn param(r: &Request, key: &str) -> String {
    r.url
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A comma-separated query parameter of a recorded request, as a list.
pub fn query_list(s: &Seen, key: &str) -> Vec<String> {
    url::form_urlencoded::parse(s.query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.split(',').map(str::to_string).collect())
        .unwrap_or_default()
}

/// A Zendesk `job_status` answer.
pub fn zendesk_job(id: &str, status: &str, results: Option<Vec<Value>>) -> ResponseTemplate {
    let total = results.as_ref().map_or(0, Vec::len);
    ResponseTemplate::new(200).set_body_json(serde_json::json!({"job_status": {
        "id": id, "url": format!("https://acme.zendesk.com/api/v2/job_statuses/{id}.json"),
        "total": total, "progress": total, "status": status,
        "message": if status == "completed" { serde_json::json!("Completed at 2023-09-18 23:35:58 +0000") } else { Value::Null },
        "results": results}}))
}

/// Successful delete results for these user ids.
pub fn zendesk_deleted(ids: &[String]) -> Vec<Value> {
    ids.iter()
        .map(|i| serde_json::json!({"id": i.parse::<u64>().unwrap_or(0), "action": "delete", "status": "Deleted", "success": true}))
        .collect()
}

/// Zendesk's `show_many?ids=` answer (`ShowManyUsers` in the OAS, with the
/// `role` and `active` of the Users JSON format): every id listed is an active
/// end-user. `None` for any other request.
pub fn zendesk_end_users(r: &Request) -> Option<ResponseTemplate> {
    if r.url.path() != "/api/v2/users/show_many" || param(r, "ids").is_empty() {
        return None;
    }
    let users: Vec<Value> = param(r, "ids")
        .split(',')
        .filter_map(|v| v.parse::<u64>().ok())
        .map(|id| serde_json::json!({"id": id, "role": "end-user", "active": true}))
        .collect();
    Some(ResponseTemplate::new(200).set_body_json(serde_json::json!({"users": users})))
}

/// A stateless Zendesk: the job id names the users it deletes, so a poll can
/// answer with their results at once; permanent erasure succeeds.
pub fn stateless_zendesk(r: &Request) -> ResponseTemplate {
    if let Some(users) = zendesk_end_users(r) {
        return users;
    }
    let path = r.url.path();
    if path == "/api/v2/users/destroy_many" {
        let ids = param(r, "ids");
        return zendesk_job(&format!("J-{}", ids.replace(',', "-")), "queued", None);
    }
    if let Some(job) = path.strip_prefix("/api/v2/job_statuses/") {
        let ids: Vec<String> = job
            .trim_start_matches("J-")
            .split('-')
            .map(String::from)
            .collect();
        return zendesk_job(job, "completed", Some(zendesk_deleted(&ids)));
    }
    if let Some(id) = path.strip_prefix("/api/v2/deleted_users/") {
        return ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"deleted_user": {"id": id.parse::<u64>().unwrap_or(0), "active": false}}));
    }
    ResponseTemplate::new(404)
        .set_body_json(serde_json::json!({"error": "InvalidEndpoint", "description": "Not found"}))
}

/// SHA-256 of an identifier, lower-case hex (as reports and certificates hash it).
pub fn sha256_hex(s: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
