//! A local simulator of every vendor's deletion API on 127.0.0.1, one port
//! each. This file is the engine; each vendor brings its simulated API in its
//! own file (an [`Api`]), listed once in [`APIS`], and [`Vendor::all`] runs them
//! in the order of `purge::services::REGISTRY`.
//!
//! It holds a population of people, so a run's result can be checked (who is
//! gone, who is not, who was asked for twice); enforces a quota per vendor with
//! that vendor's rate headers; and injects latency and faults (5xx, dropped
//! connections, answers slower than the client's timeout, 429 storms).
//!
//! Used by `examples/simulator.rs` (command line), `examples/bench.rs`, and the
//! integration tests (`#[path = "../examples/sim/mod.rs"] mod sim;`).
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
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

mod amplitude;
mod braze;
mod gainsight;
mod mixpanel;
mod rally;
mod zendesk;

/// Every vendor's simulated API, keyed by its registry name: the one list a
/// new vendor is added to (its model lives in its own file here). The order of
/// [`Vendor::all`] is `purge::services::REGISTRY`'s, and a registry entry
/// without a simulated API here fails every suite that runs them all.
const APIS: &[&dyn Api] = &[
    &rally::Rally,
    &braze::Braze,
    &gainsight::Gainsight,
    &zendesk::Zendesk,
    &mixpanel::Mixpanel,
    &amplitude::Amplitude,
];

/// A vendor of the simulator: its registry name.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vendor(&'static str);

impl std::fmt::Debug for Vendor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl Vendor {
    /// Every vendor of `purge::services::REGISTRY`, in its order, each with
    /// its simulated API; panics naming a registry entry that has none.
    pub fn all() -> Vec<Vendor> {
        purge::services::REGISTRY
            .iter()
            .map(|e| Vendor::named(e.name))
            .collect()
    }

    /// The vendor of a registry name; panics if it has no simulated API.
    pub fn named(name: &str) -> Vendor {
        match APIS.iter().find(|a| a.name() == name) {
            Some(a) => Vendor(a.name()),
            None => panic!(
                "purge::services::REGISTRY has {name:?} but the simulator has no API for it: \
                 add examples/sim/<vendor>.rs (an `Api`) and its line in sim::APIS"
            ),
        }
    }

    /// The vendor's simulated API.
    pub fn api(self) -> &'static dyn Api {
        *APIS
            .iter()
            .find(|a| a.name() == self.0)
            .expect("a Vendor is made from APIS")
    }

    /// The `purge` subcommand.
    pub fn command(self) -> &'static str {
        self.0
    }

    /// The credentials purge needs for the simulator (any other is refused).
    pub fn env(self) -> &'static [(&'static str, &'static str)] {
        self.api().env()
    }
}

/// A request as the simulator received it.
pub struct Asked<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a hyper::HeaderMap,
    pub body: &'a Value,
}

/// The identifiers a conformance check's request carried, and the vendor's
/// success answer to any of its requests (status, JSON body or none).
pub type Carried = fn(&Asked) -> Vec<String>;
pub type Answers = fn(&Asked) -> (u16, Option<Value>);

/// What the conformance suite (`tests/conformance.rs`) needs of a vendor.
#[derive(Clone, Copy)]
pub struct Conformance {
    /// Subcommand and vendor options (the harness adds `--base-url`).
    pub args: &'static [&'static str],
    /// Credential environment.
    pub env: &'static [(&'static str, &'static str)],
    /// The auth header every request must carry.
    pub auth: (&'static str, &'static str),
    pub limit: usize,
    pub ids: fn(usize) -> Vec<String>,
    /// The identifiers a delete request carried (empty: not a delete).
    pub carried: Carried,
    /// The vendor's success answer to any of its requests.
    pub ok: Answers,
    /// The final outcome of a success.
    pub done: &'static str,
    /// Whether its delete is not idempotent (creates a vendor task): sent
    /// again only after an answer that says it was not processed (429, 503).
    pub once: bool,
}

/// A vendor's part of the bench's `purge everywhere` scenario: about half a
/// minute for 10,000 e-mails alone.
pub struct BenchPlan {
    /// Its quota there.
    pub quota: Quota,
    /// Its flags besides `-k email`: (flag, value), the same on `purge VENDOR`'s
    /// command line and as the key of its purge.toml table (`true`: a switch).
    pub flags: &'static [(&'static str, &'static str)],
    /// Whether its lookups ([`Config::lookup_quota`], 300/s there) bound it,
    /// rather than its quota.
    pub lookups: bool,
    /// The kind the e-mail list is given as: `email`, or (a vendor that
    /// cannot look people up by e-mail) the kind whose values the simulated
    /// vendor knows as e-mail addresses.
    pub kind: &'static str,
}

/// A vendor's simulated API: what the simulator's engine (quota, faults,
/// population) asks of each vendor. One per file of this folder.
pub trait Api: Sync {
    /// Its name in `purge::services::REGISTRY` (the subcommand).
    fn name(&self) -> &'static str;
    /// The credentials purge needs for the simulator (any other is refused).
    fn env(&self) -> &'static [(&'static str, &'static str)];
    /// What `--base-url` adds to `http://127.0.0.1:PORT`.
    fn base_path(&self) -> &'static str {
        ""
    }
    /// Its default quota.
    fn quota(&self) -> Quota;
    /// Whether a request reads people (see [`is_read`]).
    fn is_read(&self, method: &str, path: &str) -> bool;
    /// Which quota a request counts against: `api`, or `lookup` / `erase`
    /// ([`Config::lookup_quota`], [`Config::erase_quota`]).
    fn quota_of(&self, method: &str, path: &str) -> &'static str {
        let _ = (method, path);
        "api"
    }
    /// Whether its quota is a token bucket (no documented window) rather than
    /// a fixed window with rate headers.
    fn bucket(&self) -> bool {
        false
    }
    /// Whether a request carries the credential [`Api::env`] names.
    /// Default: `Bearer` the simulator's token, or `Basic` Zendesk's form of it.
    fn authorized(&self, headers: &hyper::HeaderMap) -> bool {
        headers.get("authorization").is_some_and(|v| {
            let v = v.to_str().unwrap_or_default();
            let basic = {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .encode(format!("agent@example.com/token:{SIM_TOKEN}"))
            };
            v == format!("Bearer {SIM_TOKEN}") || v == format!("Basic {basic}")
        })
    }
    /// Its answer to a refused credential.
    fn unauthorized(&self) -> Response<Full<Bytes>> {
        text(401, "Unauthorized")
    }
    /// Its answer past its quota (rate headers are added by [`Api::rate_headers`]).
    fn throttled(&self) -> Response<Full<Bytes>> {
        text(429, "Too Many Requests")
    }
    /// Its documented rate headers, if any.
    fn rate_headers(
        &self,
        h: &mut hyper::HeaderMap,
        limit: u64,
        remaining: u64,
        reset_in: Duration,
    ) {
        let _ = (h, limit, remaining, reset_in);
    }
    /// Its answer to a request within quota.
    fn answer(&self, state: &State, req: &Asked) -> Response<Full<Bytes>>;
    /// What its table of a test's purge.toml holds besides `base-url` and `rate`.
    fn test_toml(&self) -> &'static str {
        ""
    }
    /// Whether person `i` is erased as a run with [`Api::test_toml`] erases
    /// (default: [`Life::Gone`]).
    fn erased(&self, sim: &Sim, i: usize) -> bool {
        sim.life(Vendor(self.name()))[i] == Life::Gone
    }
    /// The flags `purge VENDOR` needs against the simulator besides
    /// `--base-url` and the credential (an account the requests name).
    fn sim_args(&self) -> &'static [&'static str] {
        &[]
    }
    /// Person `i`'s identifier of `kind` (`email`: their address).
    fn ident(&self, kind: &str, i: usize) -> String;
    /// Its conformance case.
    fn conformance(&self) -> Conformance;
    /// Whether person `i`, not asked for, is as the simulator started them.
    fn untouched(&self, sim: &Sim, i: usize) -> bool {
        sim.life(Vendor(self.name()))[i] == Life::Alive
    }
    /// Its part of the bench's `purge everywhere` scenario (examples/bench.rs).
    fn bench(&self) -> BenchPlan;
    /// Whether each person is asked for once (Braze: once per profile).
    fn asked_once(&self) -> bool {
        true
    }
    /// The most people one request's worth in flight on its lanes holds: who
    /// may be asked twice when a run is killed and resumed.
    fn in_flight(&self) -> usize {
        4 * self.conformance().limit
    }
    /// What its table of `purge everywhere --verify`'s purge.toml holds
    /// besides `base-url` and `rate` (default: [`Api::test_toml`]).
    fn verify_toml(&self) -> &'static str {
        self.test_toml()
    }
    /// The outcome `purge everywhere --verify` gives people erased by e-mail.
    fn verified_by_email(&self) -> &'static str {
        "verified"
    }
    /// What its table of the simulator's printed purge.toml ([`Sim::purge_toml`])
    /// holds besides `base-url`: the rates it keeps that the vendor sends no
    /// headers for (`lookups_per_min`: Braze's lookups; `per_s`: the quota).
    fn sim_toml(&self, lookups_per_min: u64, per_s: u64) -> String {
        let _ = (lookups_per_min, per_s);
        String::new()
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
    /// Vendors whose quota is kept as a clock-aligned fixed window though their
    /// API's is a token bucket ([`Api::bucket`]): the other common shape of a
    /// limit, met by a vendor that says nothing of either (no rate headers).
    pub windowed: HashSet<Vendor>,
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
            quota: Vendor::all()
                .into_iter()
                .map(|v| (v, v.api().quota()))
                .collect(),
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
            windowed: HashSet::new(),
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
    vendor.api().is_read(method, path.trim_end_matches(".json"))
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

pub struct State {
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
    bucket: Mutex<HashMap<Vendor, (f64, Instant)>>,
    jobs: Mutex<HashMap<String, Job>>,
    next_job: AtomicU64,
    counters: HashMap<Vendor, Counters>,
    rng: Mutex<fastrand::Rng>,
    started: Instant,
    /// Lookup tables from each identifier to the person.
    index: HashMap<String, usize>,
    storms: AtomicBool,
    /// What each vendor's simulated API keeps of its own (see [`State::own`]).
    own: Mutex<HashMap<Vendor, Box<dyn std::any::Any + Send>>>,
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
        let life = Vendor::all()
            .into_iter()
            .map(|v| (v, vec![Life::Alive; people]))
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
            bucket: Mutex::new(HashMap::new()),
            jobs: Mutex::new(HashMap::new()),
            next_job: AtomicU64::new(1),
            counters: Vendor::all()
                .into_iter()
                .map(|v| (v, Counters::default()))
                .collect(),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            started: Instant::now(),
            index,
            storms: AtomicBool::new(false),
            own: Mutex::new(HashMap::new()),
        });
        let mut addrs = HashMap::new();
        for vendor in Vendor::all() {
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
        format!("http://{}{}", self.addrs[&vendor], vendor.api().base_path())
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

    /// A purge.toml for `purge everywhere` against this simulator: each
    /// vendor's `base-url`, Braze's `lookup-rate` at `lookups_per_min` and
    /// Gainsight's `rate` at `gainsight_per_s` (it sends no rate headers to
    /// learn it from).
    pub fn purge_toml(&self, lookups_per_min: u64, gainsight_per_s: u64) -> String {
        let mut text = String::new();
        for v in Vendor::all() {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!(
                "[{}]\nbase-url = \"{}\"\n",
                v.command(),
                self.url(v)
            ));
            text.push_str(&v.api().sim_toml(lookups_per_min, gainsight_per_s));
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
        self.state.bucket.lock().unwrap().remove(&vendor);
    }

    /// From now on, the lookup quota ([`Config::lookup_quota`]: Braze's
    /// `/users/export/ids`) is `q` (a fresh window).
    pub fn set_lookup_quota(&self, q: Quota) {
        self.state.live.lock().unwrap().lookup_quota = q;
        self.state
            .windows
            .lock()
            .unwrap()
            .retain(|(_, quota), _| *quota != "lookup");
    }

    /// From now on, every answer is delayed by `d`.
    pub fn set_latency(&self, d: Duration) {
        self.state.live.lock().unwrap().latency = d;
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
    let api = vendor.api();
    // A vendor's lookups may have a quota of their own (Braze's `/users/export/ids`).
    let quota = api.quota_of(&method, &path);
    if quota == "lookup" {
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
    if !api.authorized(&headers) {
        c.unauthorized.fetch_add(1, Ordering::Relaxed);
        return Ok(api.unauthorized());
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
    let (allowed, limit, remaining, reset_in) = state.take(vendor, quota);
    if !allowed {
        c.throttled.fetch_add(1, Ordering::Relaxed);
        if quota == "lookup" {
            c.lookups_throttled.fetch_add(1, Ordering::Relaxed);
        }
        if read {
            c.reads_throttled.fetch_add(1, Ordering::Relaxed);
        }
        let mut r = api.throttled();
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
    let asked = Asked {
        method: &method,
        path: &path,
        query: &query,
        headers: &headers,
        body: &body,
    };
    let mut r = api.answer(&state, &asked);
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

/// Sets a header of a simulated answer.
fn set_header(h: &mut hyper::HeaderMap, k: &'static str, v: String) {
    h.insert(k, v.parse().unwrap());
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl State {
    /// Count a request against the fixed window; (allowed, limit, remaining, reset in).
    /// `quota` is what [`Api::quota_of`] named: `api`, `lookup` or `erase`.
    fn take(&self, vendor: Vendor, quota: &'static str) -> (bool, u64, u64, Duration) {
        let q = match quota {
            "erase" => self.cfg.erase_quota,
            "lookup" => self.live.lock().unwrap().lookup_quota,
            _ => match self.live.lock().unwrap().quota.get(&vendor) {
                Some(q) => *q,
                None => return (true, u64::MAX, u64::MAX, Duration::ZERO),
            },
        };
        if quota == "api" && vendor.api().bucket() && !self.cfg.windowed.contains(&vendor) {
            return self.take_bucket(vendor, q);
        }
        self.take_window((vendor, quota), q)
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
    fn take_bucket(&self, vendor: Vendor, q: Quota) -> (bool, u64, u64, Duration) {
        let rate = q.limit as f64 / q.window.as_secs_f64();
        let cap = (q.limit as f64 / 10.0).max(1.0);
        let mut b = self.bucket.lock().unwrap();
        let now = Instant::now();
        let (tokens, at) = b.entry(vendor).or_insert((cap, now));
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
        vendor
            .api()
            .rate_headers(r.headers_mut(), limit, remaining, reset_in);
    }

    /// What `vendor`'s simulated API keeps of its own (its tasks, its
    /// knobs), made with `T::default()` at first use, given to `f`.
    fn own<T: Default + Send + 'static, R>(
        &self,
        vendor: Vendor,
        f: impl FnOnce(&mut T) -> R,
    ) -> R {
        let mut own = self.own.lock().unwrap();
        let slot = own.entry(vendor).or_insert_with(|| Box::new(T::default()));
        f(slot
            .downcast_mut::<T>()
            .expect("a vendor's own state is of one type"))
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
}

/// A query parameter of a request ("" when absent).
pub fn query_param(query: &str, key: &str) -> String {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The strings of a JSON array field of a request body (numbers as written).
pub fn body_strings(body: &Value, field: &str) -> Vec<String> {
    body[field]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The `X-RateLimit-*` headers Rally and Braze send, the reset in Unix seconds.
fn x_ratelimit_headers(h: &mut hyper::HeaderMap, limit: u64, remaining: u64, reset_in: Duration) {
    let reset = (unix_now() + reset_in.as_secs_f64()).round() as u64;
    set_header(h, "x-ratelimit-limit", limit.to_string());
    set_header(h, "x-ratelimit-remaining", remaining.to_string());
    set_header(h, "x-ratelimit-reset", reset.to_string());
}
