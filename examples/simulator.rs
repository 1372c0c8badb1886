//! `cargo run --release --example simulator -- [OPTIONS]`: serve the four vendors'
//! deletion APIs on 127.0.0.1 with a generated population, quotas and faults,
//! and print the lines that point purge at them.

mod sim;

use std::time::Duration;

use clap::Parser;
use sim::{Config, Quota, Sim, Vendor};

#[derive(Parser)]
#[command(about = "Local simulator of the Rally, Braze, Gainsight PX and Zendesk deletion APIs")]
struct Args {
    /// People in the population (person N: personN@example.com, ext-N, gp-N, 1000000+N, …)
    #[arg(long, default_value_t = 10_000)]
    people: usize,
    /// Requests per second each vendor allows (Zendesk: 60 times as many per minute, as it reports them)
    #[arg(long, default_value_t = 20)]
    quota: u64,
    /// Latency added to every answer, in milliseconds
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Share of answers that are 500/502/503
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Share of connections dropped without an answer
    #[arg(long, default_value_t = 0.0)]
    drop_rate: f64,
    /// Share of answers held for --slow-ms (longer than purge's --timeout to test it)
    #[arg(long, default_value_t = 0.0)]
    slow_rate: f64,
    #[arg(long, default_value_t = 5_000)]
    slow_ms: u64,
    /// Every N seconds, answer everything 429 for --storm-secs
    #[arg(long)]
    storm_every: Option<u64>,
    #[arg(long, default_value_t = 2)]
    storm_secs: u64,
    /// How long a Zendesk job stays open, in milliseconds
    #[arg(long, default_value_t = 2_000)]
    job_ms: u64,
    /// Braze's lookups (POST /users/export/ids) allowed per minute, apart from --quota
    #[arg(long, default_value_t = 250)]
    braze_lookups_per_min: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let a = Args::parse();
    let q = Quota {
        limit: a.quota,
        window: Duration::from_secs(1),
    };
    let cfg = Config {
        // Zendesk's window is a minute (what `x-rate-limit` reports), the others' a second.
        quota: Vendor::all()
            .iter()
            .map(|v| {
                let q = if *v == Vendor::Zendesk {
                    Quota {
                        limit: a.quota * 60,
                        window: Duration::from_secs(60),
                    }
                } else {
                    q
                };
                (*v, q)
            })
            .collect(),
        latency: Duration::from_millis(a.latency_ms),
        error_rate: a.error_rate,
        drop_rate: a.drop_rate,
        slow_rate: a.slow_rate,
        slow: Duration::from_millis(a.slow_ms),
        storm_every: a.storm_every.map(Duration::from_secs),
        storm_len: Duration::from_secs(a.storm_secs),
        job_time: Duration::from_millis(a.job_ms),
        lookup_quota: Quota {
            limit: a.braze_lookups_per_min,
            window: Duration::from_secs(60),
        },
        seed: a.seed,
        ..Config::default()
    };
    let sim = Sim::start(cfg, a.people).await?;
    println!(
        "purge simulator: {} people, {} requests/s per vendor; Ctrl-C to stop\n",
        a.people, a.quota
    );
    // One self-contained command per vendor: its credential and its own
    // --base-url on the line, so pasting several never mixes them up.
    for v in Vendor::all() {
        let env: Vec<String> = v
            .env()
            .iter()
            .map(|(k, val)| format!("{k}={val}"))
            .collect();
        println!("# {}", v.command());
        println!(
            "{} purge {} --base-url {}{} --yes --report {}.jsonl {}\n",
            env.join(" "),
            v.command(),
            sim.url(v),
            v.api()
                .sim_args()
                .iter()
                .map(|a| format!(" {a}"))
                .collect::<String>(),
            v.command(),
            example_id(v)
        );
    }
    println!(
        "# braze -k email: every profile of an address is looked up first ({}/min here); \
         person N with N % 10 == 3 has 2 profiles, N % 10 == 7 has 3\n",
        a.braze_lookups_per_min
    );
    // `purge everywhere`: one purge.toml naming every vendor's base URL (and the
    // rates this simulator keeps), then one run with every credential.
    println!("# purge everywhere: every vendor at once, by e-mail, from one purge.toml");
    println!("cat > purge.toml <<'EOF'");
    print!("{}", sim.purge_toml(a.braze_lookups_per_min, a.quota));
    println!("EOF");
    let env: Vec<String> = Vendor::all()
        .iter()
        .flat_map(|v| v.env().iter())
        .map(|(k, val)| format!("{k}={val}"))
        .collect();
    println!(
        "{} purge everywhere --yes --report everywhere.jsonl {} {}\n",
        env.join(" "),
        sim::email(1),
        sim::email(2)
    );
    println!("# any other credential is refused with 401, as the vendor would");
    tokio::signal::ctrl_c().await?;
    for v in Vendor::all() {
        let gone = sim
            .life(v)
            .iter()
            .filter(|l| **l != sim::Life::Alive)
            .count();
        let c = sim.counters(v);
        println!(
            "{}: {} requests, {} answered 429, {} people deleted",
            v.command(),
            c.requests.load(std::sync::atomic::Ordering::Relaxed),
            c.throttled.load(std::sync::atomic::Ordering::Relaxed),
            gone
        );
    }
    Ok(())
}

/// Person 1's identifier of the vendor's default kind.
fn example_id(v: Vendor) -> String {
    v.api().ident("default", 1)
}
