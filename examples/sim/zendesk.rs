use super::*;

impl State {
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

impl Sim {
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

/// Zendesk's Users API (Support).
pub struct Zendesk;

#[allow(non_upper_case_globals)]
impl Vendor {
    pub const Zendesk: Vendor = Vendor("zendesk");
}

impl Api for Zendesk {
    fn name(&self) -> &'static str {
        "zendesk"
    }
    fn env(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("ZENDESK_EMAIL", "agent@example.com"),
            ("ZENDESK_API_TOKEN", SIM_TOKEN),
        ]
    }
    fn quota(&self) -> Quota {
        Quota {
            limit: 700,
            window: Duration::from_secs(60),
        }
    }
    fn is_read(&self, method: &str, path: &str) -> bool {
        method == "GET"
            && (path == "/api/v2/users/show_many"
                || path == "/api/v2/users/search"
                || path.starts_with("/api/v2/deleted_users/"))
    }
    /// The erasure quota is PermanentlyDeleteUser's ("You can permanently
    /// delete 700 users every 10 minutes", DELETE /api/v2/deleted_users/{id} in
    /// vendor-specs/zendesk-support-oas.yaml); ShowDeletedUser (GET) is an
    /// ordinary request.
    fn quota_of(&self, method: &str, path: &str) -> &'static str {
        if method == "DELETE" && path.starts_with("/api/v2/deleted_users/") {
            "erase"
        } else {
            "api"
        }
    }
    fn unauthorized(&self) -> Response<Full<Bytes>> {
        reply(401, json!({"error": "Couldn't authenticate you"}))
    }
    fn throttled(&self) -> Response<Full<Bytes>> {
        reply(
            429,
            json!({"error": "TooManyRequests", "description": "Rate limit exceeded"}),
        )
    }
    /// The Users API is a Ticketing API: both header sets, the reset in
    /// seconds ("Monitoring the request activity of Ticketing APIs",
    /// https://developer.zendesk.com/api-reference/introduction/rate-limits/).
    fn rate_headers(
        &self,
        h: &mut hyper::HeaderMap,
        limit: u64,
        remaining: u64,
        reset_in: Duration,
    ) {
        set_header(h, "x-rate-limit", limit.to_string());
        set_header(h, "ratelimit-limit", limit.to_string());
        set_header(h, "x-rate-limit-remaining", remaining.to_string());
        set_header(h, "ratelimit-remaining", remaining.to_string());
        set_header(
            h,
            "ratelimit-reset",
            format!("{}", reset_in.as_secs_f64().ceil() as u64),
        );
    }
    fn answer(&self, state: &State, req: &Asked) -> Response<Full<Bytes>> {
        state.zendesk(req.method, req.path, req.query)
    }
    /// Soft: 1,200 permanent erasures would take 7 minutes at Zendesk's 700
    /// per 10 minutes; that lane is tested in zendesk.rs.
    fn test_toml(&self) -> &'static str {
        "soft = true\n"
    }
    /// Erased for good, so `verify` can find them gone.
    fn verify_toml(&self) -> &'static str {
        ""
    }
    fn erased(&self, sim: &Sim, i: usize) -> bool {
        sim.life(Vendor::Zendesk)[i] == Life::Soft
    }
    /// One search a person, then show_many, destroy_many and polls. Soft:
    /// 10,000 permanent erasures take 2.4 hours at 700 per 10 minutes.
    fn bench(&self) -> BenchPlan {
        BenchPlan {
            quota: Quota {
                limit: 20_000,
                window: Duration::from_secs(60),
            },
            flags: &[("soft", "true")],
            lookups: false,
            kind: "email",
        }
    }
    fn ident(&self, kind: &str, i: usize) -> String {
        match kind {
            "email" => email(i),
            "external-id" => zendesk_external(i),
            _ => zendesk_id(i).to_string(),
        }
    }
    fn conformance(&self) -> Conformance {
        Conformance {
            args: &["zendesk", "--soft"],
            env: &[
                ("ZENDESK_EMAIL", "agent@example.com"),
                ("ZENDESK_API_TOKEN", "conf-zd-token"),
            ],
            // base64("agent@example.com/token:conf-zd-token")
            auth: (
                "authorization",
                "Basic YWdlbnRAZXhhbXBsZS5jb20vdG9rZW46Y29uZi16ZC10b2tlbg==",
            ),
            limit: 100,
            ids: |n| (0..n).map(|i| (1_000_000 + i).to_string()).collect(),
            carried: |r| {
                if r.method != "DELETE" || r.path != "/api/v2/users/destroy_many" {
                    return vec![];
                }
                let ids = query_param(r.query, "ids");
                ids.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            },
            ok: stateless,
            done: "deleted",
            once: false,
        }
    }
}

/// A `job_status` answer.
fn job(id: &str, status: &str, results: Option<Vec<Value>>) -> (u16, Option<Value>) {
    let total = results.as_ref().map_or(0, Vec::len);
    let message = if status == "completed" {
        json!("Completed at 2023-09-18 23:35:58 +0000")
    } else {
        Value::Null
    };
    (
        200,
        Some(json!({"job_status": {
            "id": id, "url": format!("https://acme.zendesk.com/api/v2/job_statuses/{id}.json"),
            "total": total, "progress": total, "status": status,
            "message": message, "results": results}})),
    )
}

/// A stateless Zendesk for the conformance suite: `show_many?ids=` lists each
/// id as an active end-user; the job id names the users it deletes, so a poll
/// answers with their results at once; permanent erasure succeeds.
fn stateless(r: &Asked) -> (u16, Option<Value>) {
    let ids = query_param(r.query, "ids");
    let listed = || ids.split(',').filter_map(|v| v.parse::<u64>().ok());
    if r.path == "/api/v2/users/show_many" && !ids.is_empty() {
        let users: Vec<Value> = listed()
            .map(|id| json!({"id": id, "role": "end-user", "active": true}))
            .collect();
        return (200, Some(json!({"users": users})));
    }
    if r.path == "/api/v2/users/destroy_many" {
        return job(&format!("J-{}", ids.replace(',', "-")), "queued", None);
    }
    if let Some(id) = r.path.strip_prefix("/api/v2/job_statuses/") {
        let results = id
            .trim_start_matches("J-")
            .split('-')
            .map(|i| json!({"id": i.parse::<u64>().unwrap_or(0), "action": "delete", "status": "Deleted", "success": true}))
            .collect();
        return job(id, "completed", Some(results));
    }
    if let Some(id) = r.path.strip_prefix("/api/v2/deleted_users/") {
        return (
            200,
            Some(json!({"deleted_user": {"id": id.parse::<u64>().unwrap_or(0), "active": false}})),
        );
    }
    (
        404,
        Some(json!({"error": "InvalidEndpoint", "description": "Not found"})),
    )
}
