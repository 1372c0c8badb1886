//! A local simulator of the four vendors' deletion APIs (Rally UXR, Braze,
//! Gainsight PX, Zendesk) on 127.0.0.1, one port each.
//!
//! It holds a population of people, so a run's result can be checked (who is
//! gone, who is not, who was asked for twice); enforces a quota per vendor with
//! that vendor's rate headers; and injects latency and faults (5xx, dropped
//! connections, answers slower than the client's timeout, 429 storms).
//!
//! Used by `examples/simulator.rs` (command line), `examples/bench.rs`, and the
//! integration tests (`#[path = "../examples/sim/mod.rs"] mod sim;`).
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The four vendors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vendor {
    Rally,
    Braze,
    Gainsight,
    Zendesk,
}

impl Vendor {
    pub const ALL: [Vendor; 4] = [
        Vendor::Rally,
        Vendor::Braze,
        Vendor::Gainsight,
        Vendor::Zendesk,
    ];

    /// The `purge` subcommand.
    pub fn command(self) -> &'static str {
        match self {
            Vendor::Rally => "rally",
            Vendor::Braze => "braze",
            Vendor::Gainsight => "gainsight-px",
            Vendor::Zendesk => "zendesk",
        }
    }

    /// The credentials purge needs for the simulator (any other is refused).
    pub fn env(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Vendor::Rally => &[("RALLY_API_TOKEN", SIM_TOKEN)],
            Vendor::Braze => &[("BRAZE_API_KEY", SIM_TOKEN)],
            Vendor::Gainsight => &[("GAINSIGHT_PX_API_KEY", SIM_TOKEN)],
            Vendor::Zendesk => &[
                ("ZENDESK_EMAIL", "agent@example.com"),
                ("ZENDESK_API_TOKEN", SIM_TOKEN),
            ],
        }
    }
}

/// A quota: `limit` requests per fixed `window`.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    pub limit: u64,
    pub window: Duration,
}

/// What the simulator does besides answering.
#[derive(Debug, Clone)]
pub struct Config {
    /// Quota per vendor (Zendesk's applies to everything but `deleted_users`).
    pub quota: HashMap<Vendor, Quota>,
    /// Zendesk's permanent-erasure quota (700 per 10 minutes by default).
    pub erase_quota: Quota,
    /// Braze's `POST /users/export/ids` quota, apart from its `/users/*` one:
    /// 250 a minute for workspaces onboarded since 2024-08-22 (2,500 before).
    pub lookup_quota: Quota,
    /// Braze profiles sharing an address: person N with N % 10 == 3 has one more
    /// (anonymous) profile with their e-mail and phone, N % 10 == 7 two more.
    pub braze_shared: bool,
    /// Added to every answer.
    pub latency: Duration,
    /// Share of answers that are 500/502/503 (nothing done).
    pub error_rate: f64,
    /// Share of connections closed without an answer (nothing done).
    pub drop_rate: f64,
    /// Share of answers held for `slow` (the work is done, the answer is late).
    pub slow_rate: f64,
    pub slow: Duration,
    /// Every `storm_every`, answer everything 429 for `storm_len`.
    pub storm_every: Option<Duration>,
    pub storm_len: Duration,
    /// How long a Zendesk job stays open.
    pub job_time: Duration,
    /// Zendesk's job limit.
    pub max_jobs: usize,
    /// Whether an over-quota 429 carries `Retry-After`. Braze and Rally send only
    /// their `X-RateLimit-*` headers; Gainsight PX often sends nothing at all.
    pub quota_retry_after: bool,
    /// How long a person Rally accepted for deletion stays visible to
    /// `POST /people/search`. Rally deletes asynchronously: `POST /people/delete`
    /// answers 202 "People marked for deletion"
    /// (https://docs.rallyuxr.com/api-reference/people/delete-people). 0: at once.
    /// The population ([`Sim::life`]) shows them gone at once either way.
    pub rally_delete_delay: Duration,
    /// How long a deleted Braze profile is still returned by `POST
    /// /users/export/ids`. Braze deletes asynchronously: `/users/delete` queues
    /// the deletion (its "deleted" counts identifiers queued, not people found,
    /// https://www.braze.com/docs/api/endpoints/user_data/post_user_delete/), and
    /// "it may take a few minutes for the user to be fully deleted in Braze"
    /// (https://braze.com/docs/user_guide/data/unification/user_data/delete_users).
    /// 0: at once. The population ([`Sim::life`], [`Sim::braze_profiles_left`])
    /// shows them gone at once either way.
    pub braze_delete_delay: Duration,
    /// The most people one `POST /people/search` page lists, whatever
    /// `pageInfo.size` asks: Rally's page documents `pageInfo.size` but no
    /// maximum, so the simulator can serve either (None: as many as asked).
    pub rally_search_max: Option<usize>,
    /// What a Zendesk `destroy_many` job says of a user soft-deleted before it
    /// (see [`SoftInJob`]).
    pub zendesk_soft_in_job: SoftInJob,
    pub seed: u64,
}

/// What `destroy_many` does with a user already soft-deleted: Zendesk does not
/// document it (DestroyManyUsers in vendor-specs/zendesk-support-oas.yaml
/// speaks of active users only), so the simulator can answer either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SoftInJob {
    /// `RecordNotFound` for that user (the soft-deleted are not listed).
    #[default]
    NotFound,
    /// A failed result (`UserDeleteFailed`), as if it could not be deleted again.
    Failed,
}

impl Default for Config {
    fn default() -> Self {
        let q = |limit, secs| Quota {
            limit,
            window: Duration::from_secs(secs),
        };
        Config {
            quota: HashMap::from([
                (Vendor::Rally, q(100, 1)),
                (Vendor::Braze, q(20_000, 60)),
                (Vendor::Gainsight, q(200, 1)),
                (Vendor::Zendesk, q(700, 60)),
            ]),
            erase_quota: q(700, 600),
            lookup_quota: q(250, 60),
            braze_shared: true,
            latency: Duration::ZERO,
            error_rate: 0.0,
            drop_rate: 0.0,
            slow_rate: 0.0,
            slow: Duration::from_secs(5),
            storm_every: None,
            storm_len: Duration::from_secs(2),
            job_time: Duration::from_millis(500),
            max_jobs: 30,
            quota_retry_after: true,
            rally_delete_delay: Duration::ZERO,
            braze_delete_delay: Duration::ZERO,
            zendesk_soft_in_job: SoftInJob::NotFound,
            rally_search_max: None,
            seed: 1,
        }
    }
}

/// The one credential the simulator accepts, for every vendor.
pub const SIM_TOKEN: &str = "sim-token";

/// Person `i` of the population, with every vendor's identifiers.
pub fn email(i: usize) -> String {
    format!("person{i}@example.com")
}
pub fn rally_id(i: usize) -> String {
    format!("rp{i:07}")
}
pub fn braze_external(i: usize) -> String {
    format!("ext-{i}")
}
pub fn braze_id(i: usize) -> String {
    format!("b{i:07}")
}
pub fn phone(i: usize) -> String {
    format!("+1555{i:07}")
}
/// How many more Braze profiles person `i` has with the same e-mail and phone
/// (anonymous: no external id), when `Config::braze_shared`.
pub fn braze_extra(i: usize) -> usize {
    match i % 10 {
        3 => 1,
        7 => 2,
        _ => 0,
    }
}
/// The braze id of person `i`'s extra profile `k` (1-based).
pub fn braze_extra_id(i: usize, k: usize) -> String {
    format!("b{i:07}-{k}")
}
pub fn alias(i: usize) -> (String, String) {
    ("crm".to_string(), format!("c{i}"))
}
pub fn gainsight_id(i: usize) -> String {
    format!("gp-{i}")
}
pub fn zendesk_id(i: usize) -> u64 {
    1_000_000 + i as u64
}
/// Zendesk staff records outside the population (user id, role): an agent, an
/// admin, and the account owner (an admin Zendesk never deletes).
pub const ZENDESK_STAFF: [(u64, &str); 3] = [(5777, "agent"), (5778, "admin"), (5779, "admin")];
/// Person `i`'s near miss, for `i % 10 == 9`: another Zendesk user whose
/// e-mail merely contains person `i`'s (`near-personI@…`). Zendesk's search
/// is not exact: searching person `i`'s address finds the near miss on the
/// first page and person `i` on the second (`next_page`).
pub fn zendesk_near(i: usize) -> Option<u64> {
    (i % 10 == 9).then(|| 9_000_000 + i as u64)
}

/// The account owner among [`ZENDESK_STAFF`].
pub const ZENDESK_OWNER: u64 = 5779;

/// Person `i`'s Zendesk external id as first written (mixed case): Zendesk
/// "treats the id as case insensitive. Example: \"ian1\" and \"IAN1\" are
/// the same value" (`external_id` of the User schema,
/// vendor-specs/zendesk-support-oas.yaml), so the simulator shows it as
/// written and finds it in any case.
pub fn zendesk_external(i: usize) -> String {
    format!("Zx-{i}")
}

/// A person's state at one vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Life {
    Alive,
    /// Soft-deleted (Gainsight `hardDelete=false`; Zendesk before permanent erasure).
    Soft,
    Gone,
}

/// Counters per vendor.
#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub throttled: AtomicU64,
    pub faults: AtomicU64,
    pub dropped: AtomicU64,
    pub slow: AtomicU64,
    pub unauthorized: AtomicU64,
    pub bad_requests: AtomicU64,
    /// Braze's `/users/export/ids` requests, and those answered 429.
    pub lookups: AtomicU64,
    pub lookups_throttled: AtomicU64,
    /// Requests that read people (see [`is_read`]), and those answered 429;
    /// also counted in `requests` / `throttled`.
    pub reads: AtomicU64,
    pub reads_throttled: AtomicU64,
    /// Zendesk users submitted for deletion who were not the person asked for
    /// (a near miss of the search, see [`zendesk_near`]).
    pub wrongly_submitted: AtomicU64,
}

/// Whether a request reads people (for resolving them before a deletion, or
/// verifying after one): Rally `POST /people/search`; Braze `POST
/// /users/export/ids`; Gainsight PX `GET /v1/users` and `GET /v1/users/{id}`;
/// Zendesk `GET` of `users/show_many`, `users/search`, `deleted_users/{id}`.
/// Not job polling nor `users/me`.
pub fn is_read(vendor: Vendor, method: &str, path: &str) -> bool {
    let path = path.trim_end_matches(".json");
    match vendor {
        Vendor::Rally => method == "POST" && path == "/api/public/v1/people/search",
        Vendor::Braze => method == "POST" && path == "/users/export/ids",
        Vendor::Gainsight => method == "GET" && path.starts_with("/v1/users"),
        Vendor::Zendesk => {
            method == "GET"
                && (path == "/api/v2/users/show_many"
                    || path == "/api/v2/users/search"
                    || path.starts_with("/api/v2/deleted_users/"))
        }
    }
}

#[derive(Debug)]
struct Job {
    created: Instant,
    /// (index, user id or None, the submitted value, was external id)
    items: Vec<(usize, Option<usize>, String, bool)>,
    results: Option<Vec<Value>>,
}

struct Window {
    index: u64,
    count: u64,
}

struct State {
    cfg: Config,
    /// The parts of `cfg` a running simulator can change ([`Sim::set_quota`],
    /// [`Sim::set_lookup_quota`], [`Sim::set_latency`]).
    live: Mutex<Live>,
    population: usize,
    life: Mutex<HashMap<Vendor, Vec<Life>>>,
    /// How many times each person was asked to be deleted, per vendor.
    asked: Mutex<HashMap<Vendor, HashMap<usize, u32>>>,
    windows: Mutex<HashMap<(Vendor, &'static str), Window>>,
    /// Braze's extra profiles (see [`braze_extra`]) deleted so far, and when.
    braze_extra_gone: Mutex<HashMap<String, Instant>>,
    /// When each person became `Gone` at each vendor (for the vendors that
    /// delete asynchronously: `rally_delete_delay`, `braze_delete_delay`).
    gone_at: Mutex<HashMap<(Vendor, usize), Instant>>,
    bucket: Mutex<Option<(f64, Instant)>>,
    jobs: Mutex<HashMap<String, Job>>,
    next_job: AtomicU64,
    counters: HashMap<Vendor, Counters>,
    rng: Mutex<fastrand::Rng>,
    started: Instant,
    /// Lookup tables from each identifier to the person.
    index: HashMap<String, usize>,
    storms: AtomicBool,
}

/// What [`Sim::set_quota`] and friends change while the simulator runs.
struct Live {
    quota: HashMap<Vendor, Quota>,
    lookup_quota: Quota,
    latency: Duration,
}

/// A running simulator.
pub struct Sim {
    addrs: HashMap<Vendor, SocketAddr>,
    state: Arc<State>,
}

impl Sim {
    /// Start the four vendors with a population of `people`.
    pub async fn start(cfg: Config, people: usize) -> std::io::Result<Sim> {
        let mut index = HashMap::with_capacity(people * 8);
        for i in 0..people {
            index.insert(format!("email:{}", email(i)), i);
            index.insert(format!("rally:{}", rally_id(i)), i);
            index.insert(format!("ext:{}", braze_external(i)), i);
            index.insert(format!("braze:{}", braze_id(i)), i);
            index.insert(format!("phone:{}", phone(i)), i);
            let (l, n) = alias(i);
            index.insert(format!("alias:{l}:{n}"), i);
            index.insert(format!("gpx:{}", gainsight_id(i)), i);
            index.insert(format!("zd:{}", zendesk_id(i)), i);
            index.insert(format!("zx:{}", zendesk_external(i).to_lowercase()), i);
        }
        let life = Vendor::ALL
            .iter()
            .map(|v| (*v, vec![Life::Alive; people]))
            .collect();
        let seed = cfg.seed;
        let live = Mutex::new(Live {
            quota: cfg.quota.clone(),
            lookup_quota: cfg.lookup_quota,
            latency: cfg.latency,
        });
        let state = Arc::new(State {
            cfg,
            live,
            population: people,
            life: Mutex::new(life),
            asked: Mutex::new(HashMap::new()),
            windows: Mutex::new(HashMap::new()),
            braze_extra_gone: Mutex::new(HashMap::new()),
            gone_at: Mutex::new(HashMap::new()),
            bucket: Mutex::new(None),
            jobs: Mutex::new(HashMap::new()),
            next_job: AtomicU64::new(1),
            counters: Vendor::ALL
                .iter()
                .map(|v| (*v, Counters::default()))
                .collect(),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            started: Instant::now(),
            index,
            storms: AtomicBool::new(false),
        });
        let mut addrs = HashMap::new();
        for vendor in Vendor::ALL {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            addrs.insert(vendor, listener.local_addr()?);
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let state = Arc::clone(&state);
                    tokio::spawn(async move {
                        let io = hyper_util::rt::TokioIo::new(stream);
                        let svc = hyper::service::service_fn(move |req| {
                            let state = Arc::clone(&state);
                            async move { serve(state, vendor, req).await }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .keep_alive(true)
                            .serve_connection(io, svc)
                            .await;
                    });
                }
            });
        }
        Ok(Sim { addrs, state })
    }

    /// The base URL purge's `--base-url` takes for `vendor`.
    pub fn url(&self, vendor: Vendor) -> String {
        let a = self.addrs[&vendor];
        match vendor {
            Vendor::Rally => format!("http://{a}/api/public/v1"),
            _ => format!("http://{a}"),
        }
    }

    pub fn counters(&self, vendor: Vendor) -> &Counters {
        &self.state.counters[&vendor]
    }

    /// Each person's state at `vendor`.
    pub fn life(&self, vendor: Vendor) -> Vec<Life> {
        self.state.life.lock().unwrap()[&vendor].clone()
    }

    /// How many times each person was asked to be deleted at `vendor`.
    pub fn asked(&self, vendor: Vendor) -> HashMap<usize, u32> {
        self.state
            .asked
            .lock()
            .unwrap()
            .get(&vendor)
            .cloned()
            .unwrap_or_default()
    }

    pub fn population(&self) -> usize {
        self.state.population
    }

    /// Braze profiles of person `i` not deleted yet (their own and the extra
    /// ones sharing their address).
    pub fn braze_profiles_left(&self, i: usize) -> usize {
        let own = usize::from(self.life(Vendor::Braze)[i] != Life::Gone);
        let gone = self.state.braze_extra_gone.lock().unwrap();
        own + (1..=self.state.extra_of(i))
            .filter(|k| !gone.contains_key(&braze_extra_id(i, *k)))
            .count()
    }

    /// A purge.toml for `purge everywhere` against this simulator: each
    /// vendor's `base-url`, Braze's `lookup-rate` at `lookups_per_min` and
    /// Gainsight's `rate` at `gainsight_per_s` (it sends no rate headers to
    /// learn it from).
    pub fn purge_toml(&self, lookups_per_min: u64, gainsight_per_s: u64) -> String {
        let mut text = String::new();
        for v in Vendor::ALL {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!(
                "[{}]\nbase-url = \"{}\"\n",
                v.command(),
                self.url(v)
            ));
            match v {
                Vendor::Braze => {
                    text.push_str(&format!("lookup-rate = \"{lookups_per_min}/min\"\n"));
                }
                Vendor::Gainsight => text.push_str(&format!("rate = \"{gainsight_per_s}/s\"\n")),
                _ => {}
            }
        }
        text
    }

    /// Zendesk jobs accepted so far.
    pub fn jobs(&self) -> usize {
        self.state.jobs.lock().unwrap().len()
    }

    /// From now on, `vendor`'s quota is `q` (the bench purges fast, then
    /// measures the reads at the quota it means), counted from a fresh window:
    /// what was sent under the old quota does not count against the new one.
    pub fn set_quota(&self, vendor: Vendor, q: Quota) {
        self.state.live.lock().unwrap().quota.insert(vendor, q);
        self.state.windows.lock().unwrap().remove(&(vendor, "api"));
        *self.state.bucket.lock().unwrap() = None;
    }

    /// From now on, Braze's `/users/export/ids` quota is `q` (a fresh window).
    pub fn set_lookup_quota(&self, q: Quota) {
        self.state.live.lock().unwrap().lookup_quota = q;
        self.state
            .windows
            .lock()
            .unwrap()
            .remove(&(Vendor::Braze, "lookup"));
    }

    /// From now on, every answer is delayed by `d`.
    pub fn set_latency(&self, d: Duration) {
        self.state.live.lock().unwrap().latency = d;
    }

    /// Person `i` soft-deleted at Zendesk before purge runs (in the agent
    /// interface, or by an earlier run that stopped before the erasure).
    pub fn zendesk_soft_delete(&self, i: usize) {
        self.state.set_life(Vendor::Zendesk, i, Life::Soft);
    }

    /// Zendesk's own erasure of soft-deleted users ("up to 30 days" after the
    /// soft delete): every `Soft` Zendesk user becomes `Gone` now, as if that
    /// time had passed. Returns how many.
    pub fn zendesk_erase_soft(&self) -> usize {
        let soft: Vec<usize> = self
            .life(Vendor::Zendesk)
            .iter()
            .enumerate()
            .filter(|(_, l)| **l == Life::Soft)
            .map(|(i, _)| i)
            .collect();
        for i in &soft {
            self.state.set_life(Vendor::Zendesk, *i, Life::Gone);
        }
        soft.len()
    }
}

type Answer = Result<Response<Full<Bytes>>, Infallible>;

fn reply(status: u16, body: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        "content-type",
        "application/json; charset=utf-8".parse().unwrap(),
    );
    r
}

fn text(status: u16, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r
}

/// Closed without an answer.
#[derive(Debug)]
struct Dropped;
impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dropped by the simulator")
    }
}
impl std::error::Error for Dropped {}

async fn serve(
    state: Arc<State>,
    vendor: Vendor,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let c = &state.counters[&vendor];
    c.requests.fetch_add(1, Ordering::Relaxed);
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    if vendor == Vendor::Braze && path == "/users/export/ids" {
        c.lookups.fetch_add(1, Ordering::Relaxed);
    }
    let read = is_read(vendor, &method, &path);
    if read {
        c.reads.fetch_add(1, Ordering::Relaxed);
    }
    let headers = req.headers().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let latency = state.live.lock().unwrap().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    // Faults, decided by the seeded generator.
    let (drop, error, slow) = {
        let mut rng = state.rng.lock().unwrap();
        (
            rng.f64() < state.cfg.drop_rate,
            rng.f64() < state.cfg.error_rate,
            rng.f64() < state.cfg.slow_rate,
        )
    };
    if drop {
        c.dropped.fetch_add(1, Ordering::Relaxed);
        return Err(Dropped);
    }
    // Only the credentials the simulator prints (`Vendor::env`) are accepted, so
    // a wrong or missing one can be rehearsed: 401, as the vendor answers.
    let auth_ok = match vendor {
        Vendor::Gainsight => headers
            .get("x-aptrinsic-api-key")
            .is_some_and(|v| v.as_bytes() == SIM_TOKEN.as_bytes()),
        _ => headers.get("authorization").is_some_and(|v| {
            let v = v.to_str().unwrap_or_default();
            let basic = {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .encode(format!("agent@example.com/token:{SIM_TOKEN}"))
            };
            v == format!("Bearer {SIM_TOKEN}") || v == format!("Basic {basic}")
        }),
    };
    if !auth_ok {
        c.unauthorized.fetch_add(1, Ordering::Relaxed);
        return Ok(match vendor {
            Vendor::Zendesk => reply(401, json!({"error": "Couldn't authenticate you"})),
            Vendor::Braze => reply(401, json!({"message": "Invalid API key"})),
            _ => text(401, "Unauthorized"),
        });
    }
    if let Some(every) = state.cfg.storm_every {
        let t = state.started.elapsed().as_secs_f64() % every.as_secs_f64();
        if t < state.cfg.storm_len.as_secs_f64() {
            c.throttled.fetch_add(1, Ordering::Relaxed);
            if read {
                c.reads_throttled.fetch_add(1, Ordering::Relaxed);
            }
            let left = (state.cfg.storm_len.as_secs_f64() - t).ceil().max(1.0);
            let mut r = text(429, "Too Many Requests");
            r.headers_mut()
                .insert("retry-after", format!("{left}").parse().unwrap());
            return Ok(r);
        }
    }
    // Zendesk's erasure quota is PermanentlyDeleteUser's ("You can permanently
    // delete 700 users every 10 minutes", DELETE /api/v2/deleted_users/{id} in
    // vendor-specs/zendesk-support-oas.yaml); ShowDeletedUser (GET) is an
    // ordinary request.
    let erase = vendor == Vendor::Zendesk
        && method == "DELETE"
        && path.starts_with("/api/v2/deleted_users/");
    // Braze's lookups have a quota of their own.
    let lookup = vendor == Vendor::Braze && path == "/users/export/ids";
    let (allowed, limit, remaining, reset_in) = if lookup {
        let q = state.live.lock().unwrap().lookup_quota;
        state.take_window((vendor, "lookup"), q)
    } else {
        state.take(vendor, erase)
    };
    if !allowed {
        c.throttled.fetch_add(1, Ordering::Relaxed);
        if lookup {
            c.lookups_throttled.fetch_add(1, Ordering::Relaxed);
        }
        if read {
            c.reads_throttled.fetch_add(1, Ordering::Relaxed);
        }
        let mut r = match vendor {
            Vendor::Zendesk => reply(
                429,
                json!({"error": "TooManyRequests", "description": "Rate limit exceeded"}),
            ),
            _ => text(429, "Too Many Requests"),
        };
        state.rate_headers(vendor, &mut r, limit, remaining, reset_in);
        if state.cfg.quota_retry_after {
            r.headers_mut().insert(
                "retry-after",
                format!("{}", reset_in.as_secs_f64().ceil().max(1.0))
                    .parse()
                    .unwrap(),
            );
        }
        return Ok(r);
    }
    if error {
        c.faults.fetch_add(1, Ordering::Relaxed);
        let status = [500, 502, 503][(state.rng.lock().unwrap().u32(0..3)) as usize];
        return Ok(text(
            status,
            "<html><body><h1>Server Error</h1></body></html>",
        ));
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut r = match vendor {
        Vendor::Rally => state.rally(&method, &path, &body),
        Vendor::Braze => state.braze(&method, &path, &body),
        Vendor::Gainsight => state.gainsight(&method, &path, &query, &body),
        Vendor::Zendesk => state.zendesk(&method, &path, &query),
    };
    if r.status().as_u16() == 400 {
        c.bad_requests.fetch_add(1, Ordering::Relaxed);
    }
    state.rate_headers(vendor, &mut r, limit, remaining, reset_in);
    if slow {
        c.slow.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(state.cfg.slow).await;
    }
    Ok(r)
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl State {
    /// Count a request against the fixed window; (allowed, limit, remaining, reset in).
    fn take(&self, vendor: Vendor, erase: bool) -> (bool, u64, u64, Duration) {
        let q = if erase {
            self.cfg.erase_quota
        } else {
            match self.live.lock().unwrap().quota.get(&vendor) {
                Some(q) => *q,
                None => return (true, u64::MAX, u64::MAX, Duration::ZERO),
            }
        };
        if vendor == Vendor::Gainsight {
            return self.take_bucket(q);
        }
        self.take_window((vendor, if erase { "erase" } else { "api" }), q)
    }

    /// Count a request against the fixed window `key` of quota `q`.
    fn take_window(&self, key: (Vendor, &'static str), q: Quota) -> (bool, u64, u64, Duration) {
        // Windows are aligned to the Unix clock, as a `Reset` in Unix seconds implies.
        let wsecs = q.window.as_secs_f64();
        let t = unix_now();
        let index = (t / wsecs).floor() as u64;
        let reset_in = Duration::from_secs_f64(((index + 1) as f64 * wsecs - t).max(0.0));
        let mut w = self.windows.lock().unwrap();
        let win = w.entry(key).or_insert(Window { index, count: 0 });
        if win.index != index {
            win.index = index;
            win.count = 0;
        }
        if win.count >= q.limit {
            return (false, q.limit, 0, reset_in);
        }
        win.count += 1;
        (true, q.limit, q.limit - win.count, reset_in)
    }

    /// Gainsight documents no window ("around 200 requests per second"): a token
    /// bucket refilled at the quota, holding a tenth of it.
    fn take_bucket(&self, q: Quota) -> (bool, u64, u64, Duration) {
        let rate = q.limit as f64 / q.window.as_secs_f64();
        let cap = (q.limit as f64 / 10.0).max(1.0);
        let mut b = self.bucket.lock().unwrap();
        let now = Instant::now();
        let (tokens, at) = b.get_or_insert((cap, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(cap);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            (true, u64::MAX, u64::MAX, Duration::ZERO)
        } else {
            (
                false,
                u64::MAX,
                0,
                Duration::from_secs_f64((1.0 - *tokens) / rate),
            )
        }
    }

    fn rate_headers(
        &self,
        vendor: Vendor,
        r: &mut Response<Full<Bytes>>,
        limit: u64,
        remaining: u64,
        reset_in: Duration,
    ) {
        if limit == u64::MAX {
            return;
        }
        let h = r.headers_mut();
        let set = |h: &mut hyper::HeaderMap, k: &'static str, v: String| {
            h.insert(k, v.parse().unwrap());
        };
        match vendor {
            Vendor::Rally | Vendor::Braze => {
                let reset = (unix_now() + reset_in.as_secs_f64()).round() as u64;
                set(h, "x-ratelimit-limit", limit.to_string());
                set(h, "x-ratelimit-remaining", remaining.to_string());
                set(h, "x-ratelimit-reset", reset.to_string());
            }
            // The Users API is a Ticketing API: both header sets, the reset in
            // seconds ("Monitoring the request activity of Ticketing APIs",
            // https://developer.zendesk.com/api-reference/introduction/rate-limits/).
            Vendor::Zendesk => {
                set(h, "x-rate-limit", limit.to_string());
                set(h, "ratelimit-limit", limit.to_string());
                set(h, "x-rate-limit-remaining", remaining.to_string());
                set(h, "ratelimit-remaining", remaining.to_string());
                set(
                    h,
                    "ratelimit-reset",
                    format!("{}", reset_in.as_secs_f64().ceil() as u64),
                );
            }
            Vendor::Gainsight => {}
        }
    }

    fn person(&self, key: &str) -> Option<usize> {
        self.index.get(key).copied()
    }

    /// Mark a person asked-for and set their state; true if they were alive (or soft).
    fn delete(&self, vendor: Vendor, i: usize, to: Life) -> bool {
        *self
            .asked
            .lock()
            .unwrap()
            .entry(vendor)
            .or_default()
            .entry(i)
            .or_default() += 1;
        self.set_life(vendor, i, to)
    }

    /// Set a person's state (never back from `Gone`), noting when they became
    /// `Gone`; true if it changed.
    fn set_life(&self, vendor: Vendor, i: usize, to: Life) -> bool {
        let mut life = self.life.lock().unwrap();
        let slot = &mut life.get_mut(&vendor).unwrap()[i];
        let was = *slot;
        match (was, to) {
            (Life::Gone, _) => false,
            (Life::Soft, Life::Soft) => false,
            _ => {
                *slot = to;
                if to == Life::Gone {
                    self.gone_at
                        .lock()
                        .unwrap()
                        .insert((vendor, i), Instant::now());
                }
                true
            }
        }
    }

    fn state_of(&self, vendor: Vendor, i: usize) -> Life {
        self.life.lock().unwrap()[&vendor][i]
    }

    /// Whether person `i` still shows in `vendor`'s reads: not `Gone`, or gone
    /// less than `delay` ago (the vendors that delete asynchronously).
    fn still_visible(&self, vendor: Vendor, i: usize, delay: Duration) -> bool {
        self.state_of(vendor, i) != Life::Gone
            || self
                .gone_at
                .lock()
                .unwrap()
                .get(&(vendor, i))
                .is_some_and(|t| t.elapsed() < delay)
    }

    /// `POST /people/search` by `peopleIds` ("Or just retrieve additional
    /// metadata about a list of person ids",
    /// https://docs.rallyuxr.com/api-reference/people/search-for-people): the
    /// people still there among those asked for, in the page's shape
    /// (`results[{personId, email, properties, populationIds}]`, `total`,
    /// `pageInfo{hasNextPage, hasPreviousPage, startCursor, endCursor}`). Ids
    /// Rally does not know are simply not in the results (a search). A person
    /// asked for deletion stays until `Config::rally_delete_delay` has passed.
    /// The page shows only `pageInfo.size` in the request (its example: 10, the
    /// default here) and no request cursor, so the simulator serves the first
    /// page only: ask for at most `size` ids at a time. Searching by studies,
    /// segments, panels or `filter` is not simulated (400).
    fn rally_search(&self, body: &Value) -> Response<Full<Bytes>> {
        let Some(ids) = body.get("peopleIds").and_then(Value::as_array) else {
            return reply(
                400,
                json!({"errors": [{"message": "the simulator searches by peopleIds only", "path": ["peopleIds"]}]}),
            );
        };
        let size = match body["pageInfo"].get("size") {
            None => 10,
            Some(v) => match v.as_u64() {
                Some(n) if n > 0 => {
                    (n as usize).min(self.cfg.rally_search_max.unwrap_or(usize::MAX))
                }
                _ => {
                    return reply(
                        400,
                        json!({"errors": [{"message": "Expected positive integer", "path": ["pageInfo", "size"]}]}),
                    );
                }
            },
        };
        let mut found = vec![];
        for (n, v) in ids.iter().enumerate() {
            let Some(id) = v.as_str() else {
                return reply(
                    400,
                    json!({"errors": [{"message": "Expected string", "path": ["peopleIds", n]}]}),
                );
            };
            if let Some(i) = self.person(&format!("rally:{id}"))
                && self.still_visible(Vendor::Rally, i, self.cfg.rally_delete_delay)
                && !found.contains(&i)
            {
                found.push(i);
            }
        }
        let results: Vec<Value> = found
            .iter()
            .take(size)
            .map(|i| json!({"personId": rally_id(*i), "email": email(*i), "properties": [], "populationIds": []}))
            .collect();
        let cursor = |r: Option<&Value>| r.map_or(Value::Null, |r| r["personId"].clone());
        reply(
            200,
            json!({"results": results, "total": found.len(), "pageInfo": {
                "hasNextPage": found.len() > size, "hasPreviousPage": false,
                "startCursor": cursor(results.first()), "endCursor": cursor(results.last())}}),
        )
    }

    fn rally(&self, method: &str, path: &str, body: &Value) -> Response<Full<Bytes>> {
        if method == "POST" && path == "/api/public/v1/people/search" {
            return self.rally_search(body);
        }
        if method != "POST" || path != "/api/public/v1/people/delete" {
            return text(404, "Resource not found");
        }
        let (key, list) = match (body.get("personIds"), body.get("emails")) {
            (Some(Value::Array(a)), None) => ("rally", a),
            (None, Some(Value::Array(a))) => ("email", a),
            _ => {
                return reply(
                    400,
                    json!({"errors": [{"message": "Expected personIds or emails", "path": []}]}),
                );
            }
        };
        let field = if key == "rally" {
            "personIds"
        } else {
            "emails"
        };
        if list.len() > 100 {
            return reply(
                400,
                json!({"errors": [{"message": "Array must contain at most 100 element(s)", "path": [field]}]}),
            );
        }
        let mut people = vec![];
        for (n, v) in list.iter().enumerate() {
            let Some(s) = v.as_str() else {
                return reply(
                    400,
                    json!({"errors": [{"message": "Expected string", "path": [field, n]}]}),
                );
            };
            if key == "email" && !s.contains('@') {
                return reply(
                    400,
                    json!({"errors": [{"message": "Invalid email", "path": [field, n]}]}),
                );
            }
            let lookup = if key == "email" {
                format!("email:{}", s.to_lowercase())
            } else {
                format!("rally:{s}")
            };
            // Rally documents 404 `{Resource} not found` (text/plain) for this
            // call: someone it does not know refuses the whole request.
            let Some(i) = self.person(&lookup) else {
                return text(404, "Person not found");
            };
            people.push(i);
        }
        let count = people
            .into_iter()
            .filter(|i| self.delete(Vendor::Rally, *i, Life::Gone))
            .count();
        reply(
            202,
            json!({"message": "People marked for deletion", "count": count}),
        )
    }

    /// Person `i`'s extra Braze profiles (0 unless `Config::braze_shared`).
    fn extra_of(&self, i: usize) -> usize {
        if self.cfg.braze_shared {
            braze_extra(i)
        } else {
            0
        }
    }

    /// The Braze profiles with person `i`'s address: (braze id, whether
    /// identified, i.e. has an external id). Those deleted less than `delay`
    /// ago count as still there (`Config::braze_delete_delay` for reads,
    /// `Duration::ZERO` for deletions).
    fn braze_profiles_of(&self, i: usize, delay: Duration) -> Vec<(String, bool)> {
        let mut out = vec![];
        if self.still_visible(Vendor::Braze, i, delay) {
            out.push((braze_id(i), true));
        }
        for k in 1..=self.extra_of(i) {
            let id = braze_extra_id(i, k);
            if self.braze_extra_visible(&id, delay) {
                out.push((id, false));
            }
        }
        out
    }

    /// Whether extra profile `id` is not deleted, or was less than `delay` ago.
    fn braze_extra_visible(&self, id: &str, delay: Duration) -> bool {
        self.braze_extra_gone
            .lock()
            .unwrap()
            .get(id)
            .is_none_or(|t| t.elapsed() < delay)
    }

    /// The extra profile a braze id names: (person, k).
    fn braze_extra_of(&self, id: &str) -> Option<(usize, usize)> {
        let (i, k) = id.strip_prefix('b').and_then(|rest| {
            let (n, k) = rest.split_once('-')?;
            Some((n.parse::<usize>().ok()?, k.parse::<usize>().ok()?))
        })?;
        (i < self.population && (1..=self.extra_of(i)).contains(&k)).then_some((i, k))
    }

    /// Delete one Braze profile by braze id (the person's own, or an extra one).
    fn delete_braze_profile(&self, id: &str) {
        if let Some(i) = self.person(&format!("braze:{id}")) {
            self.delete(Vendor::Braze, i, Life::Gone);
            return;
        }
        if let Some((i, _)) = self.braze_extra_of(id) {
            *self
                .asked
                .lock()
                .unwrap()
                .entry(Vendor::Braze)
                .or_default()
                .entry(i)
                .or_default() += 1;
            self.braze_extra_gone
                .lock()
                .unwrap()
                .entry(id.to_string())
                .or_insert_with(Instant::now);
        }
    }

    /// `/users/delete` by e-mail or phone with a `prioritization`: Braze deletes
    /// the one profile the rule picks, none if several match it. The person's own
    /// profile is identified, the extra ones are not.
    fn delete_by_rule(&self, i: usize, rule: &[Value]) {
        let mut candidates = self.braze_profiles_of(i, Duration::ZERO);
        let want = |s: &str| rule.iter().any(|r| r.as_str() == Some(s));
        if want("identified") || want("unidentified") {
            let identified = want("identified");
            let kept: Vec<(String, bool)> = candidates
                .iter()
                .filter(|(_, id)| *id == identified)
                .cloned()
                .collect();
            if !kept.is_empty() {
                candidates = kept;
            }
        }
        if candidates.len() > 1 && want("most_recently_updated") {
            // The simulator's "most recently updated": the last one created.
            candidates = candidates.split_off(candidates.len() - 1);
        }
        if let [(id, _)] = candidates.as_slice() {
            self.delete_braze_profile(id);
        }
    }

    /// `POST /users/export/ids`
    /// (https://www.braze.com/docs/api/endpoints/export/user_data/post_users_identifier/):
    /// "Up to 50 `external_ids` or `user_aliases` can be included in a single
    /// request. Should you want to specify `device_id`, `email_address`, or
    /// `phone`, only one of these identifiers can be included per request", so
    /// `external_ids`, `user_aliases` and `braze_id` (a string) combine, and
    /// `email_address` or `phone` comes alone (`device_id` is not simulated).
    /// `fields_to_export` is required (workspaces onboarded since 2024-08-22).
    /// Answers `users` (the profiles found, with the fields asked for; "may be
    /// empty") and `invalid_user_ids` ("each of the identifiers provided in the
    /// request that did not correspond to a known user": external ids, the
    /// braze id, the address; how an alias would be listed there is not
    /// documented, so unknown aliases are only absent from `users`). A deleted
    /// profile is still found until `Config::braze_delete_delay` has passed.
    fn braze_export(&self, body: &Value) -> Response<Full<Bytes>> {
        let bad = |why: &str| reply(400, json!({"message": "Invalid request", "errors": [why]}));
        let keys = [
            "external_ids",
            "user_aliases",
            "device_id",
            "braze_id",
            "email_address",
            "phone",
        ];
        let present: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| body.get(*k).is_some())
            .collect();
        let single = ["device_id", "email_address", "phone"];
        if present.is_empty() {
            return bad("an identifier is required");
        }
        if present.iter().any(|k| single.contains(k)) && present.len() > 1 {
            return bad("only one of device_id, email_address or phone, and nothing else");
        }
        if present == ["device_id"] {
            return bad("the simulator does not look up by device_id");
        }
        // Required for workspaces onboarded since 2024-08-22.
        let Some(fields) = body["fields_to_export"].as_array() else {
            return bad("fields_to_export is required");
        };
        let fields: Vec<&str> = fields.iter().filter_map(Value::as_str).collect();
        let delay = self.cfg.braze_delete_delay;
        // (person, braze id, identified), in the order found, once each.
        let mut found: Vec<(usize, String, bool)> = vec![];
        let mut invalid: Vec<String> = vec![];
        let add = |found: &mut Vec<(usize, String, bool)>, p: (usize, String, bool)| {
            if !found.iter().any(|(_, id, _)| *id == p.1) {
                found.push(p);
            }
        };
        if let [k @ ("email_address" | "phone")] = present.as_slice() {
            let Some(value) = body[*k].as_str() else {
                return bad(&format!("{k} must be a string"));
            };
            let lookup = match *k {
                "phone" => format!("phone:{value}"),
                _ => format!("email:{}", value.to_lowercase()),
            };
            if let Some(i) = self.person(&lookup) {
                for (id, identified) in self.braze_profiles_of(i, delay) {
                    add(&mut found, (i, id, identified));
                }
            }
            if found.is_empty() {
                invalid.push(value.to_string());
            }
        } else {
            let externals = match body.get("external_ids") {
                None => vec![],
                Some(Value::Array(a)) if a.iter().all(Value::is_string) => a.clone(),
                Some(_) => return bad("external_ids must be an array of strings"),
            };
            let aliases = match body.get("user_aliases") {
                None => vec![],
                Some(Value::Array(a))
                    if a.iter()
                        .all(|v| v["alias_label"].is_string() && v["alias_name"].is_string()) =>
                {
                    a.clone()
                }
                Some(_) => {
                    return bad("user_aliases must be an array of {alias_name, alias_label}");
                }
            };
            if externals.len() + aliases.len() > 50 {
                return bad("max number of external_ids and user_aliases exceeded (50)");
            }
            for e in externals.iter().filter_map(Value::as_str) {
                match self.person(&format!("ext:{e}")) {
                    Some(i) if self.still_visible(Vendor::Braze, i, delay) => {
                        add(&mut found, (i, braze_id(i), true));
                    }
                    _ => invalid.push(e.to_string()),
                }
            }
            for a in &aliases {
                let key = format!(
                    "alias:{}:{}",
                    a["alias_label"].as_str().unwrap_or_default(),
                    a["alias_name"].as_str().unwrap_or_default()
                );
                if let Some(i) = self.person(&key)
                    && self.still_visible(Vendor::Braze, i, delay)
                {
                    add(&mut found, (i, braze_id(i), true));
                }
            }
            if let Some(b) = body.get("braze_id") {
                let Some(b) = b.as_str() else {
                    return bad("braze_id must be a string");
                };
                let hit = match self.person(&format!("braze:{b}")) {
                    Some(i) => self
                        .still_visible(Vendor::Braze, i, delay)
                        .then_some((i, true)),
                    None => self
                        .braze_extra_of(b)
                        .filter(|_| self.braze_extra_visible(b, delay))
                        .map(|(i, _)| (i, false)),
                };
                match hit {
                    Some((i, identified)) => add(&mut found, (i, b.to_string(), identified)),
                    None => invalid.push(b.to_string()),
                }
            }
        }
        let users: Vec<Value> = found
            .iter()
            .map(|(i, id, identified)| {
                let mut all = json!({"braze_id": id, "email": email(*i), "phone": phone(*i)});
                if *identified {
                    let (label, name) = alias(*i);
                    all["external_id"] = json!(braze_external(*i));
                    all["user_aliases"] = json!([{"alias_name": name, "alias_label": label}]);
                }
                let mut u = serde_json::Map::new();
                for f in &fields {
                    if let Some(v) = all.get(*f) {
                        u.insert(f.to_string(), v.clone());
                    }
                }
                Value::Object(u)
            })
            .collect();
        let mut answer = json!({"users": users, "message": "success"});
        if !invalid.is_empty() {
            answer["invalid_user_ids"] = json!(invalid);
        }
        reply(200, answer)
    }

    fn braze(&self, method: &str, path: &str, body: &Value) -> Response<Full<Bytes>> {
        if method == "POST" && path == "/users/export/ids" {
            return self.braze_export(body);
        }
        if method != "POST" || path != "/users/delete" {
            return reply(404, json!({"message": "Not found"}));
        }
        let keys = [
            "external_ids",
            "braze_ids",
            "user_aliases",
            "email_addresses",
            "phone_numbers",
        ];
        let present: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| body.get(*k).is_some())
            .collect();
        if present.len() != 1 {
            return reply(
                400,
                json!({"message": "Invalid request", "errors": ["exactly one of external_ids, braze_ids, user_aliases, email_addresses, phone_numbers is required"]}),
            );
        }
        let key = present[0];
        let Some(list) = body[key].as_array() else {
            return reply(
                400,
                json!({"message": "Invalid request", "errors": [format!("{key} must be an array")]}),
            );
        };
        if list.len() > 50 {
            return reply(
                400,
                json!({"message": "Invalid request", "errors": [format!("max number of {key} exceeded (50)")]}),
            );
        }
        let mut lookups = vec![];
        for v in list {
            let k = match key {
                "external_ids" => v.as_str().map(|s| format!("ext:{s}")),
                "braze_ids" => v.as_str().map(|s| format!("braze:{s}")),
                "user_aliases" => match (v["alias_label"].as_str(), v["alias_name"].as_str()) {
                    (Some(l), Some(n)) => Some(format!("alias:{l}:{n}")),
                    _ => None,
                },
                "email_addresses" if v["prioritization"].is_array() => v["email"]
                    .as_str()
                    .map(|s| format!("email:{}", s.to_lowercase())),
                // Braze's page has `phone_numbers` as an "Array of strings" in
                // its parameter table, and in another version asks a
                // `prioritization` for phone numbers too
                // (https://www.braze.com/docs/api/endpoints/user_data/post_user_delete/):
                // the simulator accepts both shapes. Which profiles a bare
                // number deletes is not documented: here, every one with it
                // (purge never sends phone_numbers; it looks numbers up).
                "phone_numbers" if v["prioritization"].is_array() => {
                    v["phone"].as_str().map(|s| format!("phone:{s}"))
                }
                "phone_numbers" => v.as_str().map(|s| format!("phone:{s}")),
                _ => None,
            };
            match k {
                Some(k) => lookups.push((k, v)),
                None => {
                    return reply(
                        400,
                        json!({"message": "Invalid request", "errors": [format!("malformed entry in {key}: {v}")]}),
                    );
                }
            }
        }
        for (k, v) in &lookups {
            if let Some(id) = k.strip_prefix("braze:") {
                self.delete_braze_profile(id);
            } else if let Some(i) = self.person(k) {
                match key {
                    "phone_numbers" if v.is_string() => {
                        for (id, _) in self.braze_profiles_of(i, Duration::ZERO) {
                            self.delete_braze_profile(&id);
                        }
                    }
                    "email_addresses" | "phone_numbers" => {
                        let rule = v["prioritization"].as_array().cloned().unwrap_or_default();
                        self.delete_by_rule(i, &rule);
                    }
                    _ => {
                        self.delete(Vendor::Braze, i, Life::Gone);
                    }
                }
            }
        }
        // Braze counts identifiers queued, not people found.
        reply(201, json!({"deleted": lookups.len(), "message": "success"}))
    }

    fn gainsight(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: &Value,
    ) -> Response<Full<Bytes>> {
        let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        // Get users, `GET /v1/users?filter=email==X` (repeatable filters are
        // ORed; getUsersUsingGET in vendor-specs/gainsight-px-users-excerpt.yaml):
        // only live users, never soft- or hard-deleted ones.
        if method == "GET" && path == "/v1/users" {
            let emails: Vec<String> = params
                .iter()
                .filter(|(k, _)| k == "filter")
                .filter_map(|(_, v)| v.strip_prefix("email==").map(str::to_lowercase))
                .collect();
            let size: usize = param("pageSize")
                .and_then(|s| s.parse().ok())
                .unwrap_or(25)
                .clamp(1, 1000);
            let from: usize = param("scrollId").and_then(|s| s.parse().ok()).unwrap_or(0);
            // `filter=id==X` too, case-insensitively ("Case sensitivity is not
            // enforced when using filters. For example,
            // .../users/filter=id==nora@example.com; will find a user whose id
            // is Nora@example.com": the spec's Case Sensitivity; the
            // population's identifyIds are lower-case).
            let ids: Vec<String> = params
                .iter()
                .filter(|(k, _)| k == "filter")
                .filter_map(|(_, v)| v.strip_prefix("id==").map(str::to_lowercase))
                .collect();
            let users: Vec<Value> = emails
                .iter()
                .filter_map(|e| self.person(&format!("email:{e}")))
                .chain(ids.iter().filter_map(|i| self.person(&format!("gpx:{i}"))))
                .filter(|i| self.state_of(Vendor::Gainsight, *i) == Life::Alive)
                .map(|i| json!({"identifyId": gainsight_id(i), "email": email(i), "type": "USER"}))
                .collect();
            let page: Vec<Value> = users.iter().skip(from).take(size).cloned().collect();
            return reply(
                200,
                json!({"users": page, "scrollId": (from + size).to_string(), "totalHits": users.len()}),
            );
        }
        // Get user, `GET /v1/users/{identifyId}` ("Retrieves the user with the
        // given id"; 404 "User not found": vendor-specs/gainsight-px-users-excerpt.yaml,
        // operation getUserUsingGET). The id is matched case-sensitively ("Case
        // sensitivity is enforced when making a call to get user/account by id").
        // The 404 body is Gainsight's `externalapierror` (see
        // shared/fixtures/gainsight_px_404_user_not_found.json).
        // A soft-deleted user (`hardDelete=false`): Gainsight documents only that
        // it is "mark[ed] as deleted, which will cause it to be hidden in the
        // application" and revived if the id comes back within 7 days
        // (https://support.gainsight.com/PX/Install_PX/Subscription_Clean_Up);
        // whether GET still returns it is not documented anywhere we found, so
        // the simulator answers 404 for Soft as for Gone (as `GET /v1/users?filter=`
        // already hides both).
        if method == "GET"
            && let Some(seg) = path.strip_prefix("/v1/users/")
            && !seg.is_empty()
            && !seg.contains('/')
        {
            let id = percent_encoding::percent_decode_str(seg)
                .decode_utf8_lossy()
                .into_owned();
            return match self.person(&format!("gpx:{id}")) {
                Some(i) if self.state_of(Vendor::Gainsight, i) == Life::Alive => reply(
                    200,
                    json!({"identifyId": gainsight_id(i), "email": email(i), "type": "USER"}),
                ),
                _ => reply(
                    404,
                    json!({"externalapierror": {"status": "NOT_FOUND", "message": format!("User was not found for parameters {{id={id}}}"), "debugMessage": null, "subErrors": null}}),
                ),
            };
        }
        if method != "DELETE" {
            return reply(
                404,
                json!({"externalapierror": {"status": "NOT_FOUND", "message": "No handler"}}),
            );
        }
        let id = if path == "/v1/users/delete" {
            match body["identifyId"].as_str() {
                Some(s) => s.to_string(),
                None => {
                    return reply(
                        400,
                        json!({"externalapierror": {"status": "BAD_REQUEST", "message": "identifyId is required"}}),
                    );
                }
            }
        } else if let Some(seg) = path.strip_prefix("/v1/users/") {
            percent_encoding::percent_decode_str(seg)
                .decode_utf8_lossy()
                .into_owned()
        } else {
            return reply(
                404,
                json!({"externalapierror": {"status": "NOT_FOUND", "message": "No handler"}}),
            );
        };
        let hard = param("hardDelete") == Some("true");
        match self.person(&format!("gpx:{id}")) {
            Some(i) if self.state_of(Vendor::Gainsight, i) == Life::Alive => {
                self.delete(
                    Vendor::Gainsight,
                    i,
                    if hard { Life::Gone } else { Life::Soft },
                );
                text(204, "")
            }
            found => {
                if let Some(i) = found {
                    *self
                        .asked
                        .lock()
                        .unwrap()
                        .entry(Vendor::Gainsight)
                        .or_default()
                        .entry(i)
                        .or_default() += 1;
                }
                reply(
                    404,
                    json!({"externalapierror": {"status": "NOT_FOUND", "message": format!("User was not found for parameters {{id={id}}}"), "debugMessage": null, "subErrors": null}}),
                )
            }
        }
    }

    /// Person `i`'s near miss (see [`zendesk_near`]): an active end-user.
    fn zendesk_near_user(&self, i: usize, id: u64) -> Value {
        json!({"id": id, "email": format!("near-{}", email(i)), "role": "end-user", "active": true})
    }

    /// A population member's user record as Zendesk shows it (Users JSON format).
    fn zendesk_user(&self, i: usize) -> Value {
        json!({"id": zendesk_id(i), "email": email(i), "external_id": zendesk_external(i),
            "role": "end-user", "active": self.state_of(Vendor::Zendesk, i) == Life::Alive})
    }

    /// A soft-deleted population member as ShowDeletedUser / PermanentlyDeleteUser
    /// show them (`DeletedUserObject`, vendor-specs/zendesk-support-oas.yaml).
    fn zendesk_deleted_user(&self, i: usize) -> Value {
        let id = zendesk_id(i);
        json!({"id": id, "url": format!("https://sim.zendesk.com/api/v2/deleted_users/{id}.json"),
            "name": format!("Person {i}"), "email": email(i), "role": "end-user", "active": false,
            "locale": "en-US", "locale_id": 1, "phone": null, "photo": null, "shared_phone_number": null})
    }

    fn zendesk(&self, method: &str, path: &str, query: &str) -> Response<Full<Bytes>> {
        let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let path = path.trim_end_matches(".json");
        match (method, path) {
            ("DELETE", "/api/v2/users/destroy_many") => {
                let (list, external) = match (param("ids"), param("external_ids")) {
                    (Some(ids), None) => (ids, false),
                    (None, Some(ext)) => (ext, true),
                    _ => {
                        return reply(
                            400,
                            json!({"error": "InvalidValue", "description": "Pass ids or external_ids"}),
                        );
                    }
                };
                if !external && param("brand_id").is_some() {
                    return reply(
                        400,
                        json!({"error": "InvalidValue", "description": "brand_id cannot be combined with ids"}),
                    );
                }
                let values: Vec<String> = list
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                if values.len() > 100 {
                    return reply(
                        400,
                        json!({"error": "TooManyValues", "description": "Maximum 100 users may be deleted per call"}),
                    );
                }
                let mut jobs = self.jobs.lock().unwrap();
                let open = jobs.values().filter(|j| j.results.is_none()).count();
                if open >= self.cfg.max_jobs {
                    let mut r = reply(
                        429,
                        json!({"error": "TooManyJobs", "description": "Number of simultaneous jobs exceeded"}),
                    );
                    r.headers_mut().insert("retry-after", "1".parse().unwrap());
                    return r;
                }
                let items = values
                    .iter()
                    .enumerate()
                    .map(|(n, v)| {
                        let key = if external {
                            format!("zx:{}", v.to_lowercase())
                        } else {
                            format!("zd:{v}")
                        };
                        let person = if external || v.parse::<u64>().is_ok() {
                            self.person(&key)
                        } else {
                            None
                        };
                        (n, person, v.clone(), external)
                    })
                    .collect();
                let id = format!("SIM-{}", self.next_job.fetch_add(1, Ordering::Relaxed));
                jobs.insert(
                    id.clone(),
                    Job {
                        created: Instant::now(),
                        items,
                        results: None,
                    },
                );
                reply(
                    200,
                    json!({"job_status": {"id": id, "url": format!("https://sim.zendesk.com/api/v2/job_statuses/{id}.json"),
                    "total": values.len(), "progress": null, "status": "queued", "message": null, "results": null}}),
                )
            }
            ("GET", p) if p.starts_with("/api/v2/job_statuses/") => {
                let id = p.trim_start_matches("/api/v2/job_statuses/");
                let mut jobs = self.jobs.lock().unwrap();
                let Some(job) = jobs.get_mut(id) else {
                    return reply(
                        404,
                        json!({"error": "RecordNotFound", "description": "Not found"}),
                    );
                };
                let age = job.created.elapsed();
                if age < self.cfg.job_time {
                    let status = if age < self.cfg.job_time / 2 {
                        "queued"
                    } else {
                        "working"
                    };
                    return reply(
                        200,
                        json!({"job_status": {"id": id, "total": job.items.len(), "progress": null, "status": status, "message": null, "results": null}}),
                    );
                }
                if job.results.is_none() {
                    let results = job
                        .items
                        .iter()
                        .map(|(n, person, value, external)| match person {
                            _ if !*external && value == &ZENDESK_OWNER.to_string() => {
                                json!({"index": n, "id": ZENDESK_OWNER, "error": "PermissionDenied", "details": "The account owner cannot be deleted"})
                            }
                            _ if !*external && value.parse::<u64>().is_ok_and(|n| n >= 9_000_000) => {
                                // A near miss deleted: purge took a fuzzy hit for the person.
                                self.counters[&Vendor::Zendesk].wrongly_submitted.fetch_add(1, Ordering::Relaxed);
                                json!({"index": n, "id": value.parse::<u64>().unwrap(), "action": "delete", "status": "Deleted", "success": true})
                            }
                            _ if !*external && ZENDESK_STAFF.iter().any(|(id, _)| &id.to_string() == value) => {
                                json!({"index": n, "id": value.parse::<u64>().unwrap(), "action": "delete", "status": "Deleted", "success": true})
                            }
                            Some(i) if self.state_of(Vendor::Zendesk, *i) == Life::Soft
                                && self.cfg.zendesk_soft_in_job == SoftInJob::Failed => {
                                json!({"index": n, "id": zendesk_id(*i), "error": "UserDeleteFailed", "details": "User is already deleted"})
                            }
                            Some(i) if self.state_of(Vendor::Zendesk, *i) == Life::Alive => {
                                self.delete(Vendor::Zendesk, *i, Life::Soft);
                                if *external {
                                    json!({"index": n, "id": zendesk_id(*i), "external_id": value, "action": "delete", "status": "Deleted", "success": true})
                                } else {
                                    json!({"index": n, "id": zendesk_id(*i), "action": "delete", "status": "Deleted", "success": true})
                                }
                            }
                            _ => json!({"index": n, "id": value, "error": "RecordNotFound", "details": "User not found"}),
                        })
                        .collect();
                    job.results = Some(results);
                }
                let results = job.results.clone().unwrap_or_default();
                reply(
                    200,
                    json!({"job_status": {"id": id, "total": results.len(), "progress": results.len(), "status": "completed",
                    "message": "Completed by the simulator", "results": results}}),
                )
            }
            ("DELETE", p) if p.starts_with("/api/v2/deleted_users/") => {
                let id = p.trim_start_matches("/api/v2/deleted_users/");
                match self.person(&format!("zd:{id}")) {
                    Some(i) if self.state_of(Vendor::Zendesk, i) == Life::Soft => {
                        let user = self.zendesk_deleted_user(i);
                        self.set_life(Vendor::Zendesk, i, Life::Gone);
                        reply(200, json!({ "deleted_user": user }))
                    }
                    _ => reply(
                        404,
                        json!({"error": "RecordNotFound", "description": "Not found"}),
                    ),
                }
            }
            // ShowDeletedUser: "Returns users that have been deleted but not
            // permanently yet" (vendor-specs/zendesk-support-oas.yaml): 200 while
            // Soft; 404 RecordNotFound once permanently deleted or never deleted.
            ("GET", p) if p.starts_with("/api/v2/deleted_users/") => {
                let id = p.trim_start_matches("/api/v2/deleted_users/");
                match self.person(&format!("zd:{id}")) {
                    Some(i) if self.state_of(Vendor::Zendesk, i) == Life::Soft => {
                        reply(200, json!({"deleted_user": self.zendesk_deleted_user(i)}))
                    }
                    _ => reply(
                        404,
                        json!({"error": "RecordNotFound", "description": "Not found"}),
                    ),
                }
            }
            // SearchUsers, offset pagination with a full `next_page` URL.
            ("GET", "/api/v2/users/search") => {
                let q = param("query").unwrap_or_default();
                let person = q
                    .strip_prefix("email:")
                    .and_then(|e| self.person(&format!("email:{}", e.to_lowercase())));
                let near = person.and_then(zendesk_near);
                if let (Some(i), Some(id), None) = (person, near, param("page")) {
                    let next = format!(
                        "https://sim.zendesk.com/api/v2/users/search.json?page=2&query={}",
                        url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
                    );
                    return reply(
                        200,
                        json!({"users": [self.zendesk_near_user(i, id)], "count": 2, "next_page": next}),
                    );
                }
                let users: Vec<Value> = person
                    .filter(|i| self.state_of(Vendor::Zendesk, *i) == Life::Alive)
                    .map(|i| vec![self.zendesk_user(i)])
                    .unwrap_or_default();
                reply(
                    200,
                    json!({"users": users, "count": users.len(), "next_page": null}),
                )
            }
            // ShowCurrentUser: the credential's user, an admin.
            ("GET", "/api/v2/users/me") => reply(
                200,
                json!({"user": {"id": 1, "role": "admin", "email": "agent@example.com"}}),
            ),
            // ShowManyUsers: at most 100 ids or external ids (external ids in
            // any case). It documents no `brand_id`, so the simulator does not
            // honour one: a brand scope sent here changes nothing, as it may
            // not at Zendesk. Staff records (`ZENDESK_STAFF`) are outside the
            // population.
            ("GET", "/api/v2/users/show_many") => {
                let (list, external) = match (param("ids"), param("external_ids")) {
                    (Some(ids), None) => (ids, false),
                    (None, Some(ext)) => (ext, true),
                    _ => {
                        return reply(
                            400,
                            json!({"error": "InvalidValue", "description": "Pass ids or external_ids"}),
                        );
                    }
                };
                let values: Vec<&str> = list.split(',').filter(|s| !s.is_empty()).collect();
                if values.len() > 100 {
                    return reply(
                        400,
                        json!({"error": "TooManyValues", "description": "Maximum 100 users per call"}),
                    );
                }
                // Soft-deleted users show with `active: false`; permanently deleted
                // ones are gone ("deletes all of their information. This
                // information is not recoverable": PermanentlyDeleteUser in
                // vendor-specs/zendesk-support-oas.yaml), so they are not returned.
                let mut users: Vec<Value> = vec![];
                for v in values {
                    if !external
                        && let Some((_, role)) =
                            ZENDESK_STAFF.iter().find(|(id, _)| id.to_string() == v)
                    {
                        users.push(json!({"id": v.parse::<u64>().unwrap(), "role": role, "active": true, "email": format!("staff-{v}@example.com")}));
                        continue;
                    }
                    if let Some(i) = (!external)
                        .then(|| v.parse::<u64>().ok())
                        .flatten()
                        .and_then(|n| n.checked_sub(9_000_000))
                        .map(|i| i as usize)
                        .filter(|i| *i < self.population && zendesk_near(*i).is_some())
                    {
                        users.push(self.zendesk_near_user(i, 9_000_000 + i as u64));
                        continue;
                    }
                    let key = if external {
                        format!("zx:{}", v.to_lowercase())
                    } else {
                        format!("zd:{v}")
                    };
                    match self.person(&key) {
                        Some(i) if self.state_of(Vendor::Zendesk, i) != Life::Gone => {
                            users.push(self.zendesk_user(i));
                        }
                        _ => {}
                    }
                }
                let mut body = json!({"users": users});
                if param("include").is_some_and(|i| i.split(',').any(|x| x == "identities")) {
                    body["identities"] = users
                        .iter()
                        .map(|u| json!({"user_id": u["id"], "type": "email", "value": u["email"], "verified": true, "primary": true}))
                        .collect();
                }
                reply(200, body)
            }
            _ => reply(
                404,
                json!({"error": "InvalidEndpoint", "description": "Not found"}),
            ),
        }
    }
}
