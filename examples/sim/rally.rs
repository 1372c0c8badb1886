use super::*;

impl State {
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
}

/// Rally UXR's People API.
pub struct Rally;

#[allow(non_upper_case_globals)]
impl Vendor {
    pub const Rally: Vendor = Vendor("rally");
}

impl Api for Rally {
    fn name(&self) -> &'static str {
        "rally"
    }
    fn env(&self) -> &'static [(&'static str, &'static str)] {
        &[("RALLY_API_TOKEN", SIM_TOKEN)]
    }
    fn base_path(&self) -> &'static str {
        "/api/public/v1"
    }
    fn quota(&self) -> Quota {
        Quota {
            limit: 100,
            window: Duration::from_secs(1),
        }
    }
    fn is_read(&self, method: &str, path: &str) -> bool {
        method == "POST" && path == "/api/public/v1/people/search"
    }
    fn rate_headers(
        &self,
        h: &mut hyper::HeaderMap,
        limit: u64,
        remaining: u64,
        reset_in: Duration,
    ) {
        x_ratelimit_headers(h, limit, remaining, reset_in);
    }
    fn answer(&self, state: &State, req: &Asked) -> Response<Full<Bytes>> {
        state.rally(req.method, req.path, req.body)
    }
    /// Rally e-mails cannot be asked about (unverifiable, not an exception).
    fn verified_by_email(&self) -> &'static str {
        "unverifiable"
    }
    /// 10,000 e-mails are 100 requests of 100.
    fn bench(&self) -> BenchPlan {
        BenchPlan {
            quota: Quota {
                limit: 3,
                window: Duration::from_secs(1),
            },
            flags: &[],
            lookups: false,
            kind: "email",
        }
    }
    fn ident(&self, kind: &str, i: usize) -> String {
        match kind {
            "id" => rally_id(i),
            _ => email(i),
        }
    }
    fn conformance(&self) -> Conformance {
        Conformance {
            args: &["rally"],
            env: &[("RALLY_API_TOKEN", "conf-rally-token")],
            auth: ("authorization", "Bearer conf-rally-token"),
            limit: 100,
            ids: |n| (0..n).map(|i| format!("user{i}@example.com")).collect(),
            carried: |r| {
                if r.method == "POST" && r.path == "/people/delete" {
                    body_strings(r.body, "emails")
                } else {
                    vec![]
                }
            },
            ok: |r| {
                let count = body_strings(r.body, "emails").len();
                (
                    202,
                    Some(json!({"message": "People marked for deletion", "count": count})),
                )
            },
            done: "queued",
            once: false,
        }
    }
}
