//! `cargo run --release --example bench`: the throughput benchmark (DESIGN §6).
//!
//! Starts the simulator in-process, runs the real release `purge` binary against
//! it for each scenario, checks the simulator's population afterwards (exactly
//! the asked people gone), and prints one table: scenario, identifiers, requests,
//! ideal time (requests ÷ quota), actual time, efficiency (ideal ÷ actual), 429s,
//! client CPU seconds, client peak RSS. `-- --quick` runs shorter scenarios.
//! The `verify …` rows (`-- --only verify`) time `purge verify` over the report
//! of a fast purge, at each vendor's read quota (see [`VerifyCase`]).

mod sim;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sim::{Config, Life, Quota, Sim, Vendor};

struct Scenario {
    name: &'static str,
    vendor: Vendor,
    people: usize,
    /// The identifiers to purge (person numbers).
    targets: usize,
    args: Vec<&'static str>,
    cfg: Config,
    /// Requests per second the quota allows (`None`: not a quota scenario).
    quota_rps: Option<f64>,
    /// Whether erasure is permanent (Zendesk soft leaves people `Soft`).
    expect: Life,
    /// Braze by e-mail: the identifiers are e-mail addresses, looked up first;
    /// ideal time is from the lookups and their quota, and every profile sharing
    /// an asked address must be gone (nobody else's).
    lookups: bool,
}

struct Row {
    name: String,
    ids: usize,
    requests: u64,
    ideal: Option<f64>,
    actual: f64,
    throttled: u64,
    cpu: f64,
    rss_mb: f64,
    lost: usize,
    wrong: usize,
}

fn quota(limit: u64, secs: u64) -> Quota {
    Quota {
        limit,
        window: Duration::from_secs(secs),
    }
}

fn cfg(vendor: Vendor, q: Quota) -> Config {
    let mut c = Config::default();
    c.quota.insert(vendor, q);
    c
}

/// Person `i`'s identifier of the vendor's default kind.
fn identifier(vendor: Vendor, i: usize) -> String {
    vendor.api().ident("default", i)
}

fn scenarios(quick: bool) -> Vec<Scenario> {
    let scale = if quick { 5 } else { 1 };
    let mut faults = cfg(Vendor::Braze, quota(20, 1));
    faults.error_rate = 0.05;
    let mut gpx = cfg(Vendor::Gainsight, quota(200, 1));
    gpx.latency = Duration::from_millis(50);
    // A clock-aligned window with only X-RateLimit-* headers, as Braze keeps it.
    let mut braze_window = cfg(Vendor::Braze, quota(20, 1));
    braze_window.quota_retry_after = false;
    // Gainsight at a tenth of its documented quota, saying nothing: no headers,
    // no Retry-After.
    let mut gpx_silent = cfg(Vendor::Gainsight, quota(20, 1));
    gpx_silent.latency = Duration::from_millis(50);
    gpx_silent.quota_retry_after = false;
    // The same silent vendor keeping clock-aligned one-second windows instead.
    let mut gpx_silent_window = gpx_silent.clone();
    gpx_silent_window.windowed.insert(Vendor::Gainsight);
    let mut zd_soft = cfg(Vendor::Zendesk, quota(600, 60));
    zd_soft.job_time = Duration::from_secs(2);
    let mut zd = zd_soft.clone();
    zd.erase_quota = quota(700, 600);
    vec![
        Scenario {
            name: "braze: e-mail, lookup at 250/min",
            vendor: Vendor::Braze,
            people: 2_000,
            targets: 300 / scale,
            args: vec!["-k", "email"],
            cfg: Config::default(),
            quota_rps: Some(250.0 / 60.0),
            expect: Life::Gone,
            lookups: true,
        },
        Scenario {
            name: "rally: 10 req/s, headers only",
            vendor: Vendor::Rally,
            people: 40_000,
            targets: 30_000 / scale,
            args: vec![],
            cfg: cfg(Vendor::Rally, quota(10, 1)),
            quota_rps: Some(10.0),
            expect: Life::Gone,
            lookups: false,
        },
        Scenario {
            name: "braze: 20 req/s x 50 ids",
            vendor: Vendor::Braze,
            people: 40_000,
            targets: 30_000 / scale,
            args: vec!["--rate", "20/s"],
            cfg: cfg(Vendor::Braze, quota(20, 1)),
            quota_rps: Some(20.0),
            expect: Life::Gone,
            lookups: false,
        },
        Scenario {
            name: "braze: same, 5% 5xx faults",
            vendor: Vendor::Braze,
            people: 40_000,
            targets: 30_000 / scale,
            args: vec!["--rate", "20/s"],
            cfg: faults,
            quota_rps: Some(20.0),
            expect: Life::Gone,
            lookups: false,
        },
        Scenario {
            name: "braze: 20 per 1-s window, headers only",
            vendor: Vendor::Braze,
            people: 40_000,
            targets: 30_000 / scale,
            args: vec![],
            cfg: braze_window,
            quota_rps: Some(20.0),
            expect: Life::Gone,
            lookups: false,
        },
        Scenario {
            name: "gainsight-px: 200 req/s, 50 ms latency",
            vendor: Vendor::Gainsight,
            people: 10_000,
            targets: 6_000 / scale,
            args: vec![],
            cfg: gpx,
            quota_rps: Some(200.0),
            expect: Life::Gone,
            lookups: false,
        },
        Scenario {
            name: "gainsight-px: 20 req/s, silent (no headers)",
            vendor: Vendor::Gainsight,
            people: 10_000,
            targets: 600 / scale,
            args: vec![],
            cfg: gpx_silent,
            quota_rps: Some(20.0),
            expect: Life::Gone,
            lookups: false,
        },
        Scenario {
            name: "gainsight-px: 20 per 1-s window, silent (no headers)",
            vendor: Vendor::Gainsight,
            people: 10_000,
            targets: 600 / scale,
            args: vec![],
            cfg: gpx_silent_window,
            quota_rps: Some(20.0),
            expect: Life::Gone,
            lookups: false,
        },
        Scenario {
            name: "zendesk: 600/min, 2 s jobs, --soft",
            vendor: Vendor::Zendesk,
            people: 20_000,
            targets: 15_000 / scale,
            args: vec!["--soft"],
            cfg: zd_soft,
            quota_rps: Some(10.0),
            expect: Life::Soft,
            lookups: false,
        },
        Scenario {
            name: "zendesk: 2 s jobs + permanent lane",
            vendor: Vendor::Zendesk,
            people: 2_000,
            targets: 700,
            args: vec![],
            cfg: zd,
            quota_rps: None,
            expect: Life::Gone,
            lookups: false,
        },
    ]
}

/// The child's peak RSS in MB from `/proc/PID/status` (`VmHWM`), polled until it
/// exits. (`ru_maxrss` would count the parent's pages shared before `exec`.)
fn watch_rss(pid: u32) -> std::thread::JoinHandle<f64> {
    std::thread::spawn(move || {
        let mut peak = 0.0f64;
        let path = format!("/proc/{pid}/status");
        while let Ok(text) = std::fs::read_to_string(&path) {
            let Some(line) = text.lines().find(|l| l.starts_with("VmHWM:")) else {
                break; // exited: a zombie has no memory
            };
            let kb: f64 = line
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            peak = peak.max(kb / 1024.0);
            std::thread::sleep(Duration::from_millis(5));
        }
        peak
    })
}

/// Wait for a child and read its exit code, CPU time and peak RSS.
fn wait_usage(pid: u32) -> (i32, f64, f64) {
    let rss = watch_rss(pid);
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut usage) };
    if r < 0 {
        return (-1, 0.0, 0.0);
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (
        code,
        secs(usage.ru_utime) + secs(usage.ru_stime),
        rss.join().unwrap_or(0.0),
    )
}

fn purge_binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let ok = Command::new(cargo)
        .args(["build", "--release", "--bin", "purge"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "cargo build --release --bin purge failed");
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/purge")
}

/// What one `purge` process did: exit code, wall seconds, CPU seconds, peak RSS
/// and its stdout (the `--json` summary).
struct Ran {
    code: i32,
    actual: f64,
    cpu: f64,
    rss_mb: f64,
    stdout: String,
}

/// Run the release binary in `dir` with `args` and the credentials of `vendors`.
// The child is reaped by `wait_usage` (wait4), which std's `Child` cannot see.
#[allow(clippy::zombie_processes)]
async fn spawn_purge(bin: &Path, dir: &Path, args: &[&str], vendors: &[Vendor]) -> Ran {
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for v in vendors {
        for (k, val) in v.env() {
            cmd.env(k, val);
        }
    }
    let started = Instant::now();
    let child = cmd.spawn().expect("spawn purge");
    let pid = child.id();
    let mut stdout = child.stdout.expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).ok();
        text
    });
    let (code, cpu, rss_mb) = tokio::task::spawn_blocking(move || wait_usage(pid))
        .await
        .unwrap();
    Ran {
        code,
        actual: started.elapsed().as_secs_f64(),
        cpu,
        rss_mb,
        stdout: reader.join().unwrap(),
    }
}

/// People in the wrong state at `vendor` afterwards: (asked for but not in
/// `expect`, not asked for but touched). With `lookups` (Braze by e-mail) every
/// profile sharing an asked address must be gone too, and nobody else's.
fn population_check(
    sim: &Sim,
    vendor: Vendor,
    targets: usize,
    expect: Life,
    lookups: bool,
) -> (usize, usize) {
    let life = sim.life(vendor);
    let (mut lost, mut wrong) = (0, 0);
    for (i, l) in life.iter().enumerate() {
        if i < targets && *l != expect {
            lost += 1;
        }
        if i >= targets && *l != Life::Alive {
            wrong += 1;
        }
        if lookups {
            let left = sim.braze_profiles_left(i);
            if i < targets && left > 0 {
                lost += 1;
            }
            if i >= targets && left != 1 + sim::braze_extra(i) {
                wrong += 1;
            }
        }
    }
    (lost, wrong)
}

async fn run(bin: &Path, dir: &Path, s: Scenario) -> Row {
    let sim = Sim::start(s.cfg.clone(), s.people)
        .await
        .expect("start the simulator");
    let ids: Vec<String> = (0..s.targets)
        .map(|i| {
            if s.lookups {
                sim::email(i)
            } else {
                identifier(s.vendor, i)
            }
        })
        .collect();
    let input = dir.join(format!("{}.txt", s.vendor.command()));
    std::fs::write(&input, ids.join("\n")).unwrap();
    let report = dir.join(format!(
        "report-{}.jsonl",
        Instant::now().elapsed().as_nanos()
    ));
    let _ = std::fs::remove_file(&report);
    let url = sim.url(s.vendor);
    let mut args = vec![
        s.vendor.command(),
        "-y",
        "-q",
        "--json",
        "--format",
        "lines",
    ];
    args.extend([
        "-i",
        input.to_str().unwrap(),
        "--base-url",
        &url,
        "--report",
        report.to_str().unwrap(),
    ]);
    args.extend(&s.args);
    let ran = spawn_purge(bin, dir, &args, &[s.vendor]).await;
    let summary: serde_json::Value = serde_json::from_str(ran.stdout.trim()).unwrap_or_default();
    assert_eq!(
        ran.code, 0,
        "{}: purge exited {}: {summary}",
        s.name, ran.code
    );

    let c = sim.counters(s.vendor);
    let requests = c.requests.load(Ordering::Relaxed);
    let throttled = c.throttled.load(Ordering::Relaxed);
    let dropped = c.dropped.load(Ordering::Relaxed);
    let (lost, wrong) = population_check(&sim, s.vendor, s.targets, s.expect, s.lookups);
    // Lookups: measured against their own quota (the deletions have another).
    // Otherwise the answered requests on the quota'd lane (Zendesk erasures have their own).
    let (answered, throttled) = if s.lookups {
        (
            c.lookups.load(Ordering::Relaxed) - c.lookups_throttled.load(Ordering::Relaxed),
            c.lookups_throttled.load(Ordering::Relaxed),
        )
    } else {
        (requests - throttled - dropped, throttled)
    };
    let outcomes = last_outcomes(&report);
    let vendor = s.vendor.command();
    let missing = ids
        .iter()
        .filter(|i| !outcomes.contains_key(&(vendor.to_string(), i.to_string())))
        .count();
    let ideal = s.quota_rps.map(|q| answered as f64 / q);
    Row {
        name: s.name.to_string(),
        ids: s.targets,
        requests,
        ideal,
        actual: ran.actual,
        throttled,
        cpu: ran.cpu,
        rss_mb: ran.rss_mb,
        lost: lost + missing,
        wrong,
    }
}

/// The last final outcome of each (vendor, identifier) in a report.
fn last_outcomes(path: &Path) -> HashMap<(String, String), String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["outcome"] != "pending")
        .map(|v| {
            (
                (
                    v["vendor"].as_str().unwrap_or_default().to_string(),
                    v["id"].as_str().unwrap_or_default().to_string(),
                ),
                v["outcome"].to_string(),
            )
        })
        .collect()
}

/// `purge everywhere` (issue #15): the same people, by e-mail, at every vendor
/// of the registry. Each vendor alone (`purge VENDOR -k email`) on a fresh simulator,
/// then all at once (`purge everywhere` from a purge.toml) on another fresh
/// one, with the same quotas and flags: the target is at most 1.1 × the slowest
/// vendor alone. The quotas make each vendor alone take about half a minute.
fn everywhere_cfg() -> Config {
    let mut c = Config {
        lookup_quota: quota(300, 1),
        ..Config::default()
    };
    for v in Vendor::all() {
        c.quota.insert(v, v.api().bench().quota);
    }
    c
}

/// The requests per second that bound each vendor in the scenario (its
/// lookups', or its quota's).
fn everywhere_rps(v: Vendor) -> f64 {
    let cfg = everywhere_cfg();
    let q = if v.api().bench().lookups {
        cfg.lookup_quota
    } else {
        cfg.quota[&v]
    };
    q.limit as f64 / q.window.as_secs_f64()
}

/// (lost, wrongly deleted) at `vendor`: persons `0..targets` erased, nobody else touched.
fn everywhere_population(sim: &Sim, vendor: Vendor, targets: usize) -> (usize, usize) {
    let api = vendor.api();
    let lost = (0..targets).filter(|i| !api.erased(sim, *i)).count();
    let wrong = (targets..sim.population())
        .filter(|i| !api.untouched(sim, *i))
        .count();
    (lost, wrong)
}

/// Requests, 429s, ideal seconds (the slowest vendor's answered requests on its
/// bounding quota) and (lost, wrongly deleted) at `vendors` of `sim` after a
/// run whose report is `report`: everyone asked for in the expected state with
/// a final line at each vendor, nobody else touched.
fn everywhere_check(
    sim: &Sim,
    vendors: &[Vendor],
    targets: usize,
    ids: &[String],
    report: &Path,
) -> (u64, u64, f64, usize, usize) {
    let outcomes = last_outcomes(report);
    let (mut requests, mut throttled, mut ideal, mut lost, mut wrong) = (0, 0, 0.0f64, 0, 0);
    for v in vendors {
        let c = sim.counters(*v);
        requests += c.requests.load(Ordering::Relaxed);
        throttled += c.throttled.load(Ordering::Relaxed);
        let bound = if v.api().bench().lookups {
            c.lookups.load(Ordering::Relaxed) - c.lookups_throttled.load(Ordering::Relaxed)
        } else {
            c.requests.load(Ordering::Relaxed) - c.throttled.load(Ordering::Relaxed)
        };
        ideal = ideal.max(bound as f64 / everywhere_rps(*v));
        let (l, w) = everywhere_population(sim, *v, targets);
        let missing = ids
            .iter()
            .filter(|i| !outcomes.contains_key(&(v.command().to_string(), i.to_string())))
            .count();
        lost += l + missing;
        wrong += w;
    }
    (requests, throttled, ideal, lost, wrong)
}

/// The scenario's rows, and the line comparing `everywhere` with the slowest vendor alone.
async fn everywhere(bin: &Path, dir: &Path, quick: bool) -> (Vec<Row>, String) {
    let targets = if quick { 2_000 } else { 10_000 };
    let people = targets + targets / 5;
    let ids: Vec<String> = (0..targets).map(sim::email).collect();
    let input = dir.join("everywhere-people.txt");
    std::fs::write(&input, ids.join("\n")).unwrap();
    let input = input.to_str().unwrap();
    let mut rows = vec![];
    let mut slowest: Option<(f64, &str)> = None;
    for v in Vendor::all() {
        eprintln!("running: everywhere: {} alone", v.command());
        let sim = Sim::start(everywhere_cfg(), people)
            .await
            .expect("start the simulator");
        let report = dir.join(format!("everywhere-{}.jsonl", v.command()));
        let url = sim.url(v);
        let mut args: Vec<String> = [
            v.command(),
            "-k",
            v.api().bench().kind,
            "-y",
            "-q",
            "--json",
            "-i",
            input,
            "--base-url",
            &url,
            "--report",
            report.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec();
        for (flag, value) in v.api().bench().flags {
            args.push(format!("--{flag}"));
            if *value != "true" {
                args.push(value.to_string());
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let ran = spawn_purge(bin, dir, &args, &[v]).await;
        assert_eq!(
            ran.code,
            0,
            "{}: purge exited {}: {}",
            v.command(),
            ran.code,
            ran.stdout
        );
        let (requests, throttled, ideal, lost, wrong) =
            everywhere_check(&sim, &[v], targets, &ids, &report);
        if slowest.is_none_or(|(t, _)| ran.actual > t) {
            slowest = Some((ran.actual, v.command()));
        }
        rows.push(Row {
            name: format!(
                "everywhere: {} alone, -k {}",
                v.command(),
                v.api().bench().kind
            ),
            ids: targets,
            requests,
            ideal: Some(ideal),
            actual: ran.actual,
            throttled,
            cpu: ran.cpu,
            rss_mb: ran.rss_mb,
            lost,
            wrong,
        });
    }
    let all = format!("all {} at once", Vendor::all().len());
    eprintln!("running: everywhere: {all}");
    let sim = Sim::start(everywhere_cfg(), people)
        .await
        .expect("start the simulator");
    let mut toml = String::new();
    for v in Vendor::all() {
        toml.push_str(&format!(
            "[{}]\nbase-url = \"{}\"\n",
            v.command(),
            sim.url(v)
        ));
        let plan = v.api().bench();
        if plan.kind != "email" {
            toml.push_str(&format!("kind = \"{}\"\n", plan.kind));
        }
        for (key, value) in plan.flags {
            if *value == "true" {
                toml.push_str(&format!("{key} = true\n"));
            } else {
                toml.push_str(&format!("{key} = \"{value}\"\n"));
            }
        }
    }
    let config = dir.join("purge.toml");
    std::fs::write(&config, toml).unwrap();
    let report = dir.join("everywhere-all.jsonl");
    let args = [
        "everywhere",
        "--config",
        config.to_str().unwrap(),
        "-y",
        "-q",
        "--json",
        "-i",
        input,
        "--report",
        report.to_str().unwrap(),
    ];
    let ran = spawn_purge(bin, dir, &args, &Vendor::all()).await;
    assert_eq!(
        ran.code, 0,
        "everywhere: purge exited {}: {}",
        ran.code, ran.stdout
    );
    let (requests, throttled, ideal, lost, wrong) =
        everywhere_check(&sim, &Vendor::all(), targets, &ids, &report);
    rows.push(Row {
        name: format!("everywhere: {all}"),
        ids: targets,
        requests,
        ideal: Some(ideal),
        actual: ran.actual,
        throttled,
        cpu: ran.cpu,
        rss_mb: ran.rss_mb,
        lost,
        wrong,
    });
    let (slow, name) = slowest.unwrap_or((f64::NAN, "?"));
    let ratio = ran.actual / slow;
    let line = format!(
        "everywhere: slowest vendor alone {name} {slow:.1} s; {all} {:.1} s; ratio {ratio:.3} (target <= 1.1: {})",
        ran.actual,
        if ratio <= 1.1 { "met" } else { "NOT met" }
    );
    (rows, line)
}

// The child is reaped by `wait_usage` (wait4).
#[allow(clippy::zombie_processes)]
fn dry_run_million(bin: &Path, dir: &Path) -> Row {
    let input = dir.join("million.txt");
    let text: String = (0..1_000_000)
        .map(|i| format!("user{i}@example.com\n"))
        .collect();
    std::fs::write(&input, text).unwrap();
    let started = Instant::now();
    let child = Command::new(bin)
        .args(["rally", "--dry-run", "-q", "-i", input.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn purge");
    let (code, cpu, rss_mb) = wait_usage(child.id());
    assert_eq!(code, 0, "dry run exited {code}");
    Row {
        name: "rally: 1,000,000 ids, --dry-run".into(),
        ids: 1_000_000,
        requests: 10_000,
        ideal: None,
        actual: started.elapsed().as_secs_f64(),
        throttled: 0,
        cpu,
        rss_mb,
        lost: 0,
        wrong: 0,
    }
}

/// Run `cmd` with stdout to /dev/null; (seconds, exit code, CPU s, peak RSS MB).
// The child is reaped by `wait_usage` (wait4).
#[allow(clippy::zombie_processes)]
fn timed(cmd: &mut Command) -> (f64, i32, f64, f64) {
    let started = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let (code, cpu, rss_mb) = wait_usage(child.id());
    (started.elapsed().as_secs_f64(), code, cpu, rss_mb)
}

/// Runs of each command in [`interleaved`].
const INTERLEAVED: usize = 5;

/// `a` and `b` run in turn [`INTERLEAVED`] times, after one warm-up run each:
/// each one's median run (seconds, exit code, CPU s, peak RSS MB). On this
/// VM a program's first run after another has freed much memory pays for
/// it again (the host takes freed pages back), whichever program it is; runs
/// in turn give both the same conditions.
fn interleaved(a: &dyn Fn() -> Command, b: &dyn Fn() -> Command) -> [(f64, i32, f64, f64); 2] {
    timed(&mut a());
    timed(&mut b());
    let (mut ra, mut rb) = (vec![], vec![]);
    for _ in 0..INTERLEAVED {
        ra.push(timed(&mut a()));
        rb.push(timed(&mut b()));
    }
    let median = |mut runs: Vec<(f64, i32, f64, f64)>| {
        runs.sort_by(|x, y| x.0.total_cmp(&y.0));
        runs[runs.len() / 2]
    };
    [median(ra), median(rb)]
}

/// A row measured beside a reference command on the same file: "ideal s" is
/// the reference's time, so efficiency is reference ÷ purge.
fn beside(name: &str, ids: usize, requests: u64, purge: (f64, f64, f64), reference: f64) -> Row {
    Row {
        name: name.into(),
        ids,
        requests,
        ideal: Some(reference),
        actual: purge.0,
        throttled: 0,
        cpu: purge.1,
        rss_mb: purge.2,
        lost: 0,
        wrong: 0,
    }
}

/// Issue 24: 10,000,000 e-mails, `--dry-run -q` to /dev/null, beside `sort -u`
/// on the same file (both in this invocation): each the median of
/// [`INTERLEAVED`] runs taken in turn after one warm-up each.
fn dry_run_ten_million(bin: &Path, dir: &Path) -> Vec<Row> {
    let n = 10_000_000;
    let input = dir.join("ten-million.txt");
    {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
        for i in 0..n {
            writeln!(w, "user{i}@example.com").unwrap();
        }
    }
    let sort = || {
        let mut c = Command::new("sort");
        c.arg("-u").arg(&input).env("LC_ALL", "C");
        c
    };
    let purge = || {
        let mut c = Command::new(bin);
        c.args(["rally", "--dry-run", "-q", "-i", input.to_str().unwrap()]);
        c
    };
    let [
        (sort_s, code, sort_cpu, sort_rss),
        (s, purge_code, cpu, rss),
    ] = interleaved(&sort, &purge);
    assert_eq!(code, 0, "sort -u exited {code}");
    assert_eq!(purge_code, 0, "dry run exited {purge_code}");
    let _ = std::fs::remove_file(&input);
    vec![
        beside(
            "rally: 10,000,000 e-mails, --dry-run (ideal = sort -u)",
            n,
            (n / 100) as u64,
            (s, cpu, rss),
            sort_s,
        ),
        Row {
            name: "reference: sort -u, same 10,000,000 lines".into(),
            ids: n,
            requests: 0,
            ideal: None,
            actual: sort_s,
            throttled: 0,
            cpu: sort_cpu,
            rss_mb: sort_rss,
            lost: 0,
            wrong: 0,
        },
    ]
}

/// Issue 24: `--resume` over a 1,000,000-line report in which everyone is
/// done (nothing left to send), beside `wc -l` on the same report.
fn resume_million(bin: &Path, dir: &Path) -> Vec<Row> {
    let n = 1_000_000;
    let input = dir.join("resume-input.txt");
    let report = dir.join("resume-report.jsonl");
    {
        use std::io::Write;
        let mut i_w = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
        let mut r_w = std::io::BufWriter::new(std::fs::File::create(&report).unwrap());
        for i in 0..n {
            writeln!(i_w, "user{i}@example.com").unwrap();
            writeln!(
                r_w,
                r#"{{"vendor":"rally","kind":"email","id":"user{i}@example.com","outcome":"deleted","detail":"POST /people/delete → 202","http_status":202,"request":{},"job_id":null,"host":"127.0.0.1","at":"2026-12-01T00:00:00Z"}}"#,
                i / 100 + 1
            )
            .unwrap();
        }
    }
    let (wc_s, code, wc_cpu, wc_rss) = timed(Command::new("wc").arg("-l").arg(&report));
    assert_eq!(code, 0, "wc -l exited {code}");
    // Nothing is left to send: the base URL is never reached.
    let (s, code, cpu, rss) = timed(
        Command::new(bin)
            .args([
                "rally",
                "--base-url",
                "http://127.0.0.1:9/api/public/v1",
                "-y",
                "-q",
                "--resume",
                "--report",
                report.to_str().unwrap(),
                "-i",
                input.to_str().unwrap(),
            ])
            .env("RALLY_API_TOKEN", sim::SIM_TOKEN),
    );
    assert_eq!(code, 0, "resume exited {code}");
    vec![
        beside(
            "rally: --resume, 1,000,000-line report, all done (ideal = wc -l)",
            n,
            0,
            (s, cpu, rss),
            wc_s,
        ),
        Row {
            name: "reference: wc -l, same report".into(),
            ids: n,
            requests: 0,
            ideal: None,
            actual: wc_s,
            throttled: 0,
            cpu: wc_cpu,
            rss_mb: wc_rss,
            lost: 0,
            wrong: 0,
        },
    ]
}

/// Issue 24: `purge certificate` of a 1,000,000-line report (one person a
/// line, all deleted), beside `sha256sum` of the same report (the certificate
/// hashes it as it reads). The row's name gives the certificate's size and
/// its companion's (the per-person rows, past `--inline-people`).
fn certificate_million(bin: &Path, dir: &Path) -> Vec<Row> {
    let n = 1_000_000;
    let report = dir.join("certificate-report.jsonl");
    let html = dir.join("certificate.html");
    let rows = dir.join("certificate.people.jsonl");
    {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(std::fs::File::create(&report).unwrap());
        for i in 0..n {
            writeln!(
                w,
                r#"{{"vendor":"rally","kind":"email","id":"user{i}@example.com","outcome":"deleted","detail":"POST /people/delete → 202","http_status":202,"request":{},"job_id":null,"host":"127.0.0.1","at":"2026-12-01T00:00:00Z"}}"#,
                i / 100 + 1
            )
            .unwrap();
        }
    }
    let (sum_s, code, sum_cpu, sum_rss) = timed(Command::new("sha256sum").arg(&report));
    assert_eq!(code, 0, "sha256sum exited {code}");
    let (s, code, cpu, rss) = timed(Command::new(bin).args([
        "certificate",
        "--report",
        report.to_str().unwrap(),
        "-o",
        html.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "certificate exited {code}");
    let size = |p: &Path| std::fs::metadata(p).map_or(0.0, |m| m.len() as f64 / 1e6);
    let (kb, mb) = (size(&html) * 1e3, size(&rows));
    for p in [&report, &html, &rows] {
        let _ = std::fs::remove_file(p);
    }
    vec![
        beside(
            &format!(
                "purge certificate, 1,000,000 people ({kb:.0} kB HTML + {mb:.0} MB people rows file; ideal = sha256sum)"
            ),
            n,
            0,
            (s, cpu, rss),
            sum_s,
        ),
        Row {
            name: "reference: sha256sum, same report".into(),
            ids: n,
            requests: 0,
            ideal: None,
            actual: sum_s,
            throttled: 0,
            cpu: sum_cpu,
            rss_mb: sum_rss,
            lost: 0,
            wrong: 0,
        },
    ]
}

/// A `purge verify` row (issue #16): purge `people` at a generous quota, set
/// the simulator to the read quota it means, then time `purge verify` over the
/// report with only a purge.toml naming the endpoint (and what a user would
/// set for that quota).
struct VerifyCase {
    name: &'static str,
    vendor: Vendor,
    kind: &'static str,
    /// The simulator while purging.
    cfg: Config,
    /// The purge run's own flags (its rate at the generous quota).
    purge_args: Vec<&'static str>,
    /// The read quota while verifying (Braze: its `/users/export/ids` quota).
    read_quota: Quota,
    /// Read requests a second `read_quota` allows.
    read_rps: f64,
    /// Added to every answer while verifying.
    latency: Duration,
    /// purge.toml keys besides `base-url`.
    toml: &'static str,
    /// People to purge and verify, if not 10,000 (a fifth with `--quick`).
    people: Option<usize>,
}

fn verify_cases() -> Vec<VerifyCase> {
    // Rally and Braze send only X-RateLimit-*, Gainsight nothing, on their 429s.
    let quiet = |vendor, q| {
        let mut c = cfg(vendor, q);
        c.quota_retry_after = false;
        c
    };
    let mut braze = quiet(Vendor::Braze, quota(20_000, 60));
    braze.lookup_quota = quota(5, 1);
    vec![
        VerifyCase {
            name: "verify rally: -k id, 3 searches/s x 100, headers only",
            vendor: Vendor::Rally,
            kind: "id",
            cfg: quiet(Vendor::Rally, quota(1_000, 1)),
            purge_args: vec![],
            read_quota: quota(3, 1),
            read_rps: 3.0,
            latency: Duration::ZERO,
            toml: "",
            people: None,
        },
        VerifyCase {
            name: "verify braze: external ids, 5 exports/s x 50",
            vendor: Vendor::Braze,
            kind: "external-id",
            cfg: braze,
            purge_args: vec![],
            read_quota: quota(5, 1),
            read_rps: 5.0,
            latency: Duration::ZERO,
            toml: "lookup-rate = \"5/s\"\n",
            people: None,
        },
        VerifyCase {
            name: "verify gainsight-px: 200 GET/s, 50 ms, silent",
            vendor: Vendor::Gainsight,
            kind: "id",
            cfg: quiet(Vendor::Gainsight, quota(5_000, 1)),
            purge_args: vec!["--rate", "5000/s"],
            read_quota: quota(200, 1),
            read_rps: 200.0,
            latency: Duration::from_millis(50),
            toml: "",
            people: None,
        },
        VerifyCase {
            name: "verify zendesk: 15000/min, show_many + deleted_users",
            vendor: Vendor::Zendesk,
            kind: "id",
            cfg: cfg(Vendor::Zendesk, quota(100_000, 60)),
            purge_args: vec!["--soft", "--rate", "1000/s"],
            read_quota: quota(15_000, 60),
            read_rps: 250.0,
            latency: Duration::ZERO,
            toml: "",
            people: None,
        },
        // Zendesk's largest quota (High Volume add-on / Enterprise Plus) at a
        // realistic latency: one GET deleted_users per user, 4 in flight.
        VerifyCase {
            name: "verify zendesk: 2500/min, 100 ms latency",
            vendor: Vendor::Zendesk,
            kind: "id",
            cfg: cfg(Vendor::Zendesk, quota(100_000, 60)),
            purge_args: vec!["--soft", "--rate", "1000/s"],
            read_quota: quota(2_500, 60),
            read_rps: 2_500.0 / 60.0,
            latency: Duration::from_millis(100),
            toml: "",
            people: Some(2_000),
        },
    ]
}

fn verify_identifier(vendor: Vendor, i: usize) -> String {
    match vendor {
        Vendor::Rally => sim::rally_id(i),
        _ => identifier(vendor, i),
    }
}

// The child is reaped by `wait_usage` (wait4).
#[allow(clippy::zombie_processes)]
async fn run_verify(bin: &Path, dir: &Path, c: VerifyCase, n: usize) -> Row {
    let sim = Sim::start(c.cfg.clone(), n + n / 10)
        .await
        .expect("start the simulator");
    let ids: Vec<String> = (0..n).map(|i| verify_identifier(c.vendor, i)).collect();
    let work = tempfile::tempdir_in(dir).unwrap();
    let work = work.path();
    let input = work.join("ids.txt");
    std::fs::write(&input, ids.join("\n")).unwrap();
    let report = work.join("report.jsonl");
    let url = sim.url(c.vendor);
    // 1. Purge them, fast.
    let mut cmd = Command::new(bin);
    cmd.args([c.vendor.command(), "-y", "-q", "--json", "-k", c.kind])
        .args(["-i", input.to_str().unwrap(), "--base-url", &url])
        .args(["--report", report.to_str().unwrap()])
        .args(&c.purge_args)
        .envs(c.vendor.env().iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let purged = Instant::now();
    let status = tokio::task::spawn_blocking(move || cmd.status())
        .await
        .unwrap()
        .expect("spawn purge");
    assert!(status.success(), "{}: the purge exited {status}", c.name);
    eprintln!("  purged {n} in {:.1} s", purged.elapsed().as_secs_f64());
    if c.vendor == Vendor::Zendesk {
        // The 30 days pass: Zendesk erases what it soft-deleted.
        let erased = sim.zendesk_erase_soft();
        assert_eq!(erased, n, "{}: soft-deleted", c.name);
    }
    // 2. The read quota, then purge verify.
    if c.vendor == Vendor::Braze {
        sim.set_lookup_quota(c.read_quota);
    } else {
        sim.set_quota(c.vendor, c.read_quota);
    }
    sim.set_latency(c.latency);
    let config = work.join("purge.toml");
    std::fs::write(
        &config,
        format!("[{}]\nbase-url = \"{url}\"\n{}", c.vendor.command(), c.toml),
    )
    .unwrap();
    let counters = sim.counters(c.vendor);
    let before = (
        counters.requests.load(Ordering::Relaxed),
        counters.reads.load(Ordering::Relaxed),
        counters.reads_throttled.load(Ordering::Relaxed),
    );
    let mut cmd = Command::new(bin);
    cmd.args([
        "verify",
        "-q",
        "--json",
        "--report",
        report.to_str().unwrap(),
    ])
    .args(["--config", config.to_str().unwrap()])
    .envs(c.vendor.env().iter().copied())
    .stdout(Stdio::null())
    .stderr(Stdio::inherit());
    let started = Instant::now();
    let child = cmd.spawn().expect("spawn purge verify");
    let pid = child.id();
    let (code, cpu, rss_mb) = tokio::task::spawn_blocking(move || wait_usage(pid))
        .await
        .unwrap();
    let actual = started.elapsed().as_secs_f64();
    assert_eq!(code, 0, "{}: purge verify exited {code}", c.name);
    let requests = counters.requests.load(Ordering::Relaxed) - before.0;
    let reads = counters.reads.load(Ordering::Relaxed) - before.1;
    let throttled = counters.reads_throttled.load(Ordering::Relaxed) - before.2;
    assert_eq!(requests, reads, "{}: verify sent only reads", c.name);
    // 3. Every identifier's last line must be `verified`; nobody else touched.
    let outcomes = last_outcomes(&report);
    let mut tally: HashMap<&str, usize> = HashMap::new();
    for id in &ids {
        let key = (c.vendor.command().to_string(), id.clone());
        let o = outcomes.get(&key).map_or("(none)", |o| o.trim_matches('"'));
        *tally.entry(o).or_default() += 1;
    }
    eprintln!("  verify: {tally:?}, {reads} reads, {throttled} answered 429");
    let not_verified = n - tally.get("verified").copied().unwrap_or(0);
    let life = sim.life(c.vendor);
    let wrong = life[n..].iter().filter(|l| **l != Life::Alive).count();
    Row {
        name: c.name.to_string(),
        ids: n,
        requests: reads,
        ideal: Some((reads - throttled) as f64 / c.read_rps),
        actual,
        throttled,
        cpu,
        rss_mb,
        lost: not_verified,
        wrong,
    }
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let only: Option<String> = std::env::args().skip_while(|a| a != "--only").nth(1);
    let bin = purge_binary();
    let dir = tempfile::tempdir().unwrap();
    let mut rows = vec![];
    for s in scenarios(quick) {
        if only.as_deref().is_some_and(|o| !s.name.contains(o)) {
            continue;
        }
        eprintln!("running: {}", s.name);
        rows.push(run(&bin, dir.path(), s).await);
    }
    for c in verify_cases() {
        if only.as_deref().is_some_and(|o| !c.name.contains(o)) {
            continue;
        }
        eprintln!("running: {}", c.name);
        let n = c.people.unwrap_or(10_000) / if quick { 5 } else { 1 };
        rows.push(run_verify(&bin, dir.path(), c, n).await);
    }
    if only.as_deref().is_none_or(|o| "dry-run".contains(o)) {
        eprintln!("running: 1,000,000 ids --dry-run");
        rows.push(dry_run_million(&bin, dir.path()));
    }
    if only
        .as_deref()
        .is_none_or(|o| "10,000,000 dry-run".contains(o))
    {
        eprintln!("running: 10,000,000 e-mails --dry-run beside sort -u");
        rows.extend(dry_run_ten_million(&bin, dir.path()));
    }
    if only.as_deref().is_none_or(|o| "resume".contains(o)) {
        eprintln!("running: --resume over 1,000,000 lines beside wc -l");
        rows.extend(resume_million(&bin, dir.path()));
    }
    if only.as_deref().is_none_or(|o| "certificate".contains(o)) {
        eprintln!("running: purge certificate of 1,000,000 people beside sha256sum");
        rows.extend(certificate_million(&bin, dir.path()));
    }
    let mut notes = vec![];
    if only.as_deref().is_none_or(|o| "everywhere".contains(o)) {
        let (more, note) = everywhere(&bin, dir.path(), quick).await;
        rows.extend(more);
        notes.push(note);
    }
    println!(
        "| scenario | identifiers | requests | ideal s | actual s | efficiency | 429s | CPU s | peak RSS MB | lost | wrongly deleted |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &rows {
        let (ideal, eff) = match r.ideal {
            Some(i) => (format!("{i:.1}"), format!("{:.3}", i / r.actual)),
            None => ("—".into(), "—".into()),
        };
        println!(
            "| {} | {} | {} | {} | {:.1} | {} | {} ({:.2}%) | {:.2} | {:.0} | {} | {} |",
            r.name,
            r.ids,
            r.requests,
            ideal,
            r.actual,
            eff,
            r.throttled,
            100.0 * r.throttled as f64 / r.requests.max(1) as f64,
            r.cpu,
            r.rss_mb,
            r.lost,
            r.wrong
        );
    }
    for n in notes {
        println!("\n{n}");
    }
}
