//! Amplitude's User Privacy API (v1), as
//! <https://amplitude.com/docs/apis/analytics/user-privacy> describes it: one
//! project, whose deletion requests join its deletion job for a day, listed by
//! day. The simulated project's user ids are its people's e-mail addresses;
//! person N's amplitude id is [`amplitude_id`]`(N)`.

use super::*;

/// Who the simulator's printed purge.toml names as having asked.
pub const AMPLITUDE_REQUESTER: &str = "dpo@example.com";
/// The simulated project's API key (with [`SIM_TOKEN`] as its secret key).
pub const AMPLITUDE_API_KEY: &str = "sim-api-key";

/// Amplitude's User Privacy API.
pub struct Amplitude;

#[allow(non_upper_case_globals)]
impl Vendor {
    pub const Amplitude: Vendor = Vendor("amplitude");
}

/// Person `i`'s amplitude id (12 digits, as in Amplitude's examples).
pub fn amplitude_id(i: usize) -> u64 {
    300_000_000_000 + i as u64
}

/// A deletion job: the day it is scheduled for, when it was opened, and its
/// entries (amplitude id, requester, the day it was requested).
struct Job {
    day: String,
    opened: Instant,
    entries: Vec<(u64, String, String)>,
}

/// What the simulated Amplitude keeps: its jobs, and how long one takes.
#[derive(Default)]
struct Jobs {
    jobs: Vec<Job>,
    /// How long a job stays `staging` then `submitted` before `done` (0: done at once).
    takes: Duration,
}

impl Jobs {
    fn status(&self, job: &Job) -> &'static str {
        let age = job.opened.elapsed();
        if age >= self.takes {
            "done"
        } else if age < self.takes / 2 {
            "staging"
        } else {
            "submitted"
        }
    }
}

impl Sim {
    /// From now on, Amplitude's deletion jobs take `d` to be `done` (the
    /// first half `staging`, then `submitted`). The population shows the
    /// people gone at once either way.
    pub fn amplitude_job_time(&self, d: Duration) {
        self.state
            .own(Vendor::Amplitude, |j: &mut Jobs| j.takes = d);
    }

    /// Person `i`'s amplitude id.
    pub fn amplitude_id(&self, i: usize) -> u64 {
        amplitude_id(i)
    }

    /// Amplitude deletion jobs opened so far.
    pub fn amplitude_jobs(&self) -> usize {
        self.state
            .own(Vendor::Amplitude, |j: &mut Jobs| j.jobs.len())
    }
}

/// The day `days` from now, as Amplitude writes days.
fn day_in(days: u64) -> String {
    let t = SystemTime::now() + Duration::from_secs(days * 86_400);
    humantime::format_rfc3339(t).to_string()[..10].to_string()
}

/// A boolean parameter: the strings `True`/`False` (any case). A report on
/// Amplitude's docs (amplitude-dev-center issue 696) quotes the API refusing a
/// JSON boolean: "ignore_invalid_id can only be 'True' or 'False'".
fn flag(body: &Value, name: &str) -> Result<bool, String> {
    match &body[name] {
        Value::Null => Ok(false),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(format!("{name} can only be 'True' or 'False'")),
    }
}

impl State {
    /// The person an id of the request names: a user id is an e-mail of the
    /// population, an amplitude id a number of [`amplitude_id`]'s range.
    fn amplitude_person(&self, v: &Value, by_user: bool) -> Option<usize> {
        if by_user {
            return self.person(&format!("email:{}", v.as_str()?));
        }
        let n = v.as_u64().or_else(|| v.as_str()?.parse().ok())?;
        let i = n.checked_sub(amplitude_id(0))? as usize;
        (i < self.population).then_some(i)
    }

    /// `POST /api/2/deletions/users`: the people join the open job (a new one,
    /// scheduled a day later than the last, once the last is no longer
    /// `staging`); the answer names the job's day and status, and each person
    /// asked for.
    fn amplitude_create(&self, body: &Value) -> Response<Full<Bytes>> {
        let (ignore, mapped) = match (
            flag(body, "ignore_invalid_id"),
            flag(body, "include_mapped_user_ids"),
        ) {
            (Ok(i), Ok(m)) => (i, m),
            (Err(why), _) | (_, Err(why)) => return text(400, &why),
        };
        let requester = body["requester"].as_str().unwrap_or_default().to_string();
        let asked: Vec<(Value, bool)> = ["user_ids", "amplitude_ids"]
            .iter()
            .flat_map(|f| {
                body[*f]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |v| (v, *f == "user_ids"))
            })
            .collect();
        if asked.is_empty() || asked.len() > 100 {
            // "up to 100"; the page is silent on the answer past it.
            return text(400, "Bad Request");
        }
        let found: Vec<(&Value, bool, Option<usize>)> = asked
            .iter()
            .map(|(v, u)| (v, *u, self.amplitude_person(v, *u)))
            .collect();
        let invalid: Vec<Value> = found
            .iter()
            .filter(|f| f.2.is_none())
            .map(|f| f.0.clone())
            .collect();
        if !invalid.is_empty() && !ignore {
            // "the API returns a 400 error, and it doesn't mark any users in the request for deletion".
            return text(400, "Bad Request: users not found in the project");
        }
        let today = day_in(0);
        let mut named = vec![];
        for (v, by_user, i) in &found {
            let Some(i) = *i else { continue };
            self.delete(Vendor::Amplitude, i, Life::Gone);
            let mut entry = json!({"amplitude_id": amplitude_id(i), "requester": requester, "requested_on_day": today});
            if *by_user && mapped {
                entry["user_id"] = (*v).clone();
            }
            named.push((amplitude_id(i), entry));
        }
        let (day, status) = self.own(Vendor::Amplitude, |j: &mut Jobs| {
            let open = j
                .jobs
                .last()
                .is_some_and(|last| j.status(last) == "staging");
            if !open {
                let day = day_in(10 + j.jobs.len() as u64);
                j.jobs.push(Job {
                    day,
                    opened: Instant::now(),
                    entries: vec![],
                });
            }
            let last = j.jobs.len() - 1;
            j.jobs[last].entries.extend(
                named
                    .iter()
                    .map(|(a, _)| (*a, requester.clone(), today.clone())),
            );
            (j.jobs[last].day.clone(), j.status(&j.jobs[last]))
        });
        let mut answer = json!({
            "day": day,
            "status": status,
            "amplitude_ids": named.into_iter().map(|(_, e)| e).collect::<Vec<_>>(),
        });
        if ignore {
            answer["invalid_ids"] = json!(invalid);
        }
        reply(200, answer)
    }

    /// `GET /api/2/deletions/users?start_day=&end_day=`: the jobs scheduled in
    /// the range, as the page's example shows them (no `user_id` in entries).
    fn amplitude_jobs(&self, query: &str) -> Response<Full<Bytes>> {
        let (start, end) = (
            query_param(query, "start_day"),
            query_param(query, "end_day"),
        );
        let day = |d: &str| d.len() == 10 && d.as_bytes()[4] == b'-' && d.as_bytes()[7] == b'-';
        if !day(&start) || !day(&end) || end < start {
            // Both "Required. YYYY-MM-DD format"; the page is silent on the answer otherwise.
            return text(400, "Bad Request");
        }
        let jobs = self.own(Vendor::Amplitude, |j: &mut Jobs| {
            j.jobs
                .iter()
                .filter(|job| job.day >= start && job.day <= end)
                .map(|job| {
                    json!({"day": job.day, "status": j.status(job), "amplitude_ids":
                        job.entries.iter().map(|(a, r, d)| json!({"amplitude_id": a, "requester": r, "requested_on_day": d})).collect::<Vec<_>>()})
                })
                .collect::<Vec<_>>()
        });
        reply(200, json!(jobs))
    }
}

impl Api for Amplitude {
    fn name(&self) -> &'static str {
        "amplitude"
    }
    fn env(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("AMPLITUDE_API_KEY", AMPLITUDE_API_KEY),
            ("AMPLITUDE_SECRET_KEY", SIM_TOKEN),
        ]
    }
    /// "a rate limit of 1 HTTP request per second"; no rate headers, and no
    /// 429 answer documented: the engine's plain 429 past it.
    fn quota(&self) -> Quota {
        Quota {
            limit: 1,
            window: Duration::from_secs(1),
        }
    }
    fn is_read(&self, method: &str, path: &str) -> bool {
        method == "GET" && path == "/api/2/deletions/users"
    }
    /// Basic `API key:secret key`.
    fn authorized(&self, headers: &hyper::HeaderMap) -> bool {
        use base64::Engine as _;
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{AMPLITUDE_API_KEY}:{SIM_TOKEN}"));
        headers
            .get("authorization")
            .is_some_and(|v| v.to_str().unwrap_or_default() == format!("Basic {basic}"))
    }
    fn answer(&self, state: &State, req: &Asked) -> Response<Full<Bytes>> {
        match (req.method, req.path.trim_end_matches('/')) {
            ("POST", "/api/2/deletions/users") => state.amplitude_create(req.body),
            ("GET", "/api/2/deletions/users") => state.amplitude_jobs(req.query),
            _ => text(404, "Not Found"),
        }
    }
    /// `purge everywhere` leaves Amplitude out unless its table names the kind.
    fn test_toml(&self) -> &'static str {
        "kind = \"user-id\"\nrequester = \"dpo@example.com\"\n"
    }
    fn sim_args(&self) -> &'static [&'static str] {
        &["--requester", AMPLITUDE_REQUESTER]
    }
    fn ident(&self, kind: &str, i: usize) -> String {
        match kind {
            "amplitude-id" => amplitude_id(i).to_string(),
            _ => email(i),
        }
    }
    fn sim_toml(&self, _lookups_per_min: u64, _per_s: u64) -> String {
        self.test_toml().to_string()
    }
    /// 100 people a request. Not Amplitude's 1 request/s: the scenario wants
    /// about half a minute for 10,000 people (100 requests), so 4/s there,
    /// and the run told so (`rate`).
    fn bench(&self) -> BenchPlan {
        BenchPlan {
            quota: Quota {
                limit: 4,
                window: Duration::from_secs(1),
            },
            flags: &[("requester", AMPLITUDE_REQUESTER), ("rate", "4/s")],
            lookups: false,
            kind: "user-id",
        }
    }
    fn conformance(&self) -> Conformance {
        Conformance {
            args: &["amplitude", "--requester", "conf@example.com"],
            env: &[
                ("AMPLITUDE_API_KEY", "conf-key"),
                ("AMPLITUDE_SECRET_KEY", "conf-secret"),
            ],
            // base64("conf-key:conf-secret")
            auth: ("authorization", "Basic Y29uZi1rZXk6Y29uZi1zZWNyZXQ="),
            limit: 100,
            ids: |n| (0..n).map(|i| format!("user-{i}")).collect(),
            carried: |r| {
                if r.method == "POST" && r.path == "/api/2/deletions/users" {
                    body_strings(r.body, "user_ids")
                } else {
                    vec![]
                }
            },
            ok: |r| {
                let named: Vec<Value> = body_strings(r.body, "user_ids")
                    .iter()
                    .enumerate()
                    .map(|(n, u)| json!({"amplitude_id": 1000 + n, "user_id": u, "requester": "conf@example.com", "requested_on_day": "2026-12-02"}))
                    .collect();
                (
                    200,
                    Some(
                        json!({"day": "2026-12-14", "status": "staging", "amplitude_ids": named, "invalid_ids": []}),
                    ),
                )
            },
            done: "queued",
            once: true,
        }
    }
}
