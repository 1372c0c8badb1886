//! `cargo run --release --example bench`: the throughput benchmark (DESIGN §6).
//!
//! Starts the simulator in-process, runs the real release `purge` binary against
//! it for each scenario, checks the simulator's population afterwards (exactly
//! the asked people gone), and prints one table: scenario, identifiers, requests,
//! ideal time (requests ÷ quota), actual time, efficiency (ideal ÷ actual), 429s,
//! client CPU seconds, client peak RSS. `-- --quick` runs shorter scenarios.

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

fn identifier(vendor: Vendor, i: usize) -> String {
    match vendor {
        Vendor::Rally => sim::email(i),
        Vendor::Braze => sim::braze_external(i),
        Vendor::Gainsight => sim::gainsight_id(i),
        Vendor::Zendesk => sim::zendesk_id(i).to_string(),
    }
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

// The child is reaped by `wait_usage` (wait4), which std's `Child` cannot see.
#[allow(clippy::zombie_processes)]
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
    let mut cmd = Command::new(bin);
    cmd.args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in s.vendor.env() {
        cmd.env(k, v);
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
    let actual = started.elapsed().as_secs_f64();
    let summary: serde_json::Value =
        serde_json::from_str(reader.join().unwrap().trim()).unwrap_or_default();
    assert_eq!(code, 0, "{}: purge exited {code}: {summary}", s.name);

    let c = sim.counters(s.vendor);
    let requests = c.requests.load(Ordering::Relaxed);
    let throttled = c.throttled.load(Ordering::Relaxed);
    let dropped = c.dropped.load(Ordering::Relaxed);
    // Answered requests on the quota'd lane (Zendesk erasures have their own).
    let life = sim.life(s.vendor);
    let (mut lost, mut wrong) = (0, 0);
    for (i, l) in life.iter().enumerate() {
        if i < s.targets && *l != s.expect {
            lost += 1;
        }
        if i >= s.targets && *l != Life::Alive {
            wrong += 1;
        }
        if s.lookups {
            let left = sim.braze_profiles_left(i);
            if i < s.targets && left > 0 {
                lost += 1;
            }
            if i >= s.targets && left != 1 + sim::braze_extra(i) {
                wrong += 1;
            }
        }
    }
    // Lookups: measured against their own quota (the deletions have another).
    let (answered, throttled) = if s.lookups {
        (
            c.lookups.load(Ordering::Relaxed) - c.lookups_throttled.load(Ordering::Relaxed),
            c.lookups_throttled.load(Ordering::Relaxed),
        )
    } else {
        (requests - throttled - dropped, throttled)
    };
    let outcomes = last_outcomes(&report);
    let missing = ids.iter().filter(|i| !outcomes.contains_key(*i)).count();
    let ideal = s.quota_rps.map(|q| answered as f64 / q);
    Row {
        name: s.name.to_string(),
        ids: s.targets,
        requests,
        ideal,
        actual,
        throttled,
        cpu,
        rss_mb,
        lost: lost + missing,
        wrong,
    }
}

fn last_outcomes(path: &Path) -> HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["outcome"] != "pending")
        .map(|v| {
            (
                v["id"].as_str().unwrap_or_default().to_string(),
                v["outcome"].to_string(),
            )
        })
        .collect()
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
    if only.as_deref().is_none_or(|o| "dry-run".contains(o)) {
        eprintln!("running: 1,000,000 ids --dry-run");
        rows.push(dry_run_million(&bin, dir.path()));
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
}
