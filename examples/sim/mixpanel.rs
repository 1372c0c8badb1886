//! Mixpanel's GDPR API v3 (deletion tasks), as its official OpenAPI
//! (`openapi/gdpr.openapi.yaml` in mixpanel/docs) and API reference
//! (<https://developer.mixpanel.com/reference/gdpr-api>) describe it. The
//! simulated project's distinct ids are its people's e-mail addresses.

use super::*;

/// The simulated project's token (public: it goes in the query).
pub const MIXPANEL_PROJECT_TOKEN: &str = "sim-project";

/// Mixpanel's GDPR API v3.
pub struct Mixpanel;

#[allow(non_upper_case_globals)]
impl Vendor {
    pub const Mixpanel: Vendor = Vendor("mixpanel");
}

/// A deletion task.
struct Task {
    created: Instant,
    distinct_ids: Vec<String>,
}

/// What the simulated Mixpanel keeps: its tasks, and how long one takes.
#[derive(Default)]
struct Tasks {
    tasks: HashMap<String, Task>,
    /// How long a task stays PENDING then STARTED before SUCCESS (0: done at once).
    takes: Duration,
}

impl Sim {
    /// From now on, Mixpanel's deletion tasks take `d` to reach SUCCESS (the
    /// first half PENDING, then STARTED). Mixpanel: "It may take up to 30 days
    /// to complete a deletion task". The population shows the people gone
    /// at once either way.
    pub fn mixpanel_task_time(&self, d: Duration) {
        self.state
            .own(Vendor::Mixpanel, |t: &mut Tasks| t.takes = d);
    }

    /// Mixpanel tasks created so far.
    pub fn mixpanel_tasks(&self) -> usize {
        self.state
            .own(Vendor::Mixpanel, |t: &mut Tasks| t.tasks.len())
    }
}

/// The OAS's error answer for 401/403 (`{"error", "status": "error"}`).
fn error(status: u16, why: &str) -> Response<Full<Bytes>> {
    reply(status, json!({"error": why, "status": "error"}))
}

impl State {
    /// `POST /data-deletions/v3.0?token=` (create-deletion): 201 `JobCreated`.
    fn mixpanel_create(&self, body: &Value) -> Response<Full<Bytes>> {
        let Some(ids) = body["distinct_ids"].as_array() else {
            // The documents are silent on a request without distinct ids.
            return error(400, "distinct_ids is required");
        };
        if ids.len() > 2000
            || !matches!(
                body["compliance_type"].as_str(),
                None | Some("GDPR") | Some("CCPA")
            )
        {
            // "You can add up to 2000 distinct IDs"; silent on the answer past it.
            return error(400, "invalid request");
        }
        let ids: Vec<String> = ids
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        for id in &ids {
            if let Some(i) = self.person(&format!("email:{id}")) {
                self.delete(Vendor::Mixpanel, i, Life::Gone);
            }
        }
        let n = self.next_job.fetch_add(1, Ordering::Relaxed);
        let task = format!("{n:08x}-sim-4088-af55-c88a6fb4ad4a");
        self.own(Vendor::Mixpanel, |t: &mut Tasks| {
            t.tasks.insert(
                task.clone(),
                Task {
                    created: Instant::now(),
                    distinct_ids: ids,
                },
            )
        });
        reply(201, json!({"status": "ok", "results": {"task_id": task}}))
    }

    /// `GET /data-deletions/v3.0/{tracking_id}` (get-deletion): 200
    /// `CheckDeletionResponse`; a task it does not know is `NOT_FOUND` ("The
    /// deletion task cannot be found").
    fn mixpanel_status(&self, task: &str) -> Response<Full<Bytes>> {
        let found = self.own(Vendor::Mixpanel, |t: &mut Tasks| {
            t.tasks.get(task).map(|k| {
                let age = k.created.elapsed();
                let status = if age >= t.takes {
                    "SUCCESS"
                } else if age < t.takes / 2 {
                    "PENDING"
                } else {
                    "STARTED"
                };
                (status, k.distinct_ids.clone())
            })
        });
        match found {
            Some((status, ids)) => reply(
                200,
                json!({"status": "ok", "results": {
                    "tracking_id": task, "status": status,
                    "requesting_user": "owner@example.com", "compliance_type": "GDPR",
                    "project_id": 1978118, "date_requested": "2026-12-02T04:28:55",
                    "distinct_ids": ids}}),
            ),
            None => reply(
                200,
                json!({"status": "ok", "results": {"status": "NOT_FOUND"}}),
            ),
        }
    }

    fn mixpanel(&self, req: &Asked) -> Response<Full<Bytes>> {
        if query_param(req.query, "token") != MIXPANEL_PROJECT_TOKEN {
            // 401 is documented for both calls; its words here are the simulator's.
            return error(401, "project token missing or not this project's");
        }
        let path = req.path.trim_end_matches('/');
        match (
            req.method,
            path.strip_prefix("/api/app/data-deletions/v3.0"),
        ) {
            ("POST", Some("")) => self.mixpanel_create(req.body),
            ("GET", Some(rest)) if rest.len() > 1 => self.mixpanel_status(&rest[1..]),
            _ => text(404, "Not Found"),
        }
    }
}

impl Api for Mixpanel {
    fn name(&self) -> &'static str {
        "mixpanel"
    }
    fn env(&self) -> &'static [(&'static str, &'static str)] {
        &[("MIXPANEL_GDPR_TOKEN", SIM_TOKEN)]
    }
    fn base_path(&self) -> &'static str {
        "/api/app"
    }
    /// "a rate limit of 1 request per second for GDPR APIs"; no rate headers.
    fn quota(&self) -> Quota {
        Quota {
            limit: 1,
            window: Duration::from_secs(1),
        }
    }
    fn is_read(&self, method: &str, path: &str) -> bool {
        method == "GET" && path.starts_with("/api/app/data-deletions/v3.0/")
    }
    fn unauthorized(&self) -> Response<Full<Bytes>> {
        error(401, "Unauthorized")
    }
    fn answer(&self, state: &State, req: &Asked) -> Response<Full<Bytes>> {
        state.mixpanel(req)
    }
    /// `purge everywhere` leaves Mixpanel out unless its table names the kind.
    fn test_toml(&self) -> &'static str {
        "kind = \"distinct-id\"\nproject-token = \"sim-project\"\n"
    }
    fn sim_args(&self) -> &'static [&'static str] {
        &["--project-token", MIXPANEL_PROJECT_TOKEN]
    }
    fn ident(&self, _kind: &str, i: usize) -> String {
        email(i)
    }
    fn sim_toml(&self, _lookups_per_min: u64, _per_s: u64) -> String {
        self.test_toml().to_string()
    }
    /// 1,999 distinct ids a task, 1 request/s.
    fn bench(&self) -> BenchPlan {
        BenchPlan {
            quota: self.quota(),
            flags: &[("project-token", "sim-project")],
            lookups: false,
            kind: "distinct-id",
        }
    }
    fn conformance(&self) -> Conformance {
        Conformance {
            args: &["mixpanel", "--project-token", "conf-project"],
            env: &[("MIXPANEL_GDPR_TOKEN", "conf-mp-token")],
            auth: ("authorization", "Bearer conf-mp-token"),
            limit: 1999,
            ids: |n| (0..n).map(|i| format!("user-{i}")).collect(),
            carried: |r| {
                if r.method == "POST" && r.path == "/data-deletions/v3.0" {
                    body_strings(r.body, "distinct_ids")
                } else {
                    vec![]
                }
            },
            ok: |r| {
                (
                    201,
                    Some(
                        json!({"status": "ok", "results": {"task_id": format!("task-{}", body_strings(r.body, "distinct_ids").len())}}),
                    ),
                )
            },
            done: "queued",
            once: true,
        }
    }
}
