use super::*;

impl State {
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
}

impl Sim {
    /// Braze profiles of person `i` not deleted yet (their own and the extra
    /// ones sharing their address).
    pub fn braze_profiles_left(&self, i: usize) -> usize {
        let own = usize::from(self.life(Vendor::Braze)[i] != Life::Gone);
        let gone = self.state.braze_extra_gone.lock().unwrap();
        own + (1..=self.state.extra_of(i))
            .filter(|k| !gone.contains_key(&braze_extra_id(i, *k)))
            .count()
    }
}

/// Braze's `/users/*` endpoints.
pub struct Braze;

#[allow(non_upper_case_globals)]
impl Vendor {
    pub const Braze: Vendor = Vendor("braze");
}

impl Api for Braze {
    fn name(&self) -> &'static str {
        "braze"
    }
    fn env(&self) -> &'static [(&'static str, &'static str)] {
        &[("BRAZE_API_KEY", SIM_TOKEN)]
    }
    fn quota(&self) -> Quota {
        Quota {
            limit: 20_000,
            window: Duration::from_secs(60),
        }
    }
    fn is_read(&self, method: &str, path: &str) -> bool {
        method == "POST" && path == "/users/export/ids"
    }
    /// `/users/export/ids` has a quota of its own ([`Config::lookup_quota`]).
    fn quota_of(&self, _method: &str, path: &str) -> &'static str {
        if path == "/users/export/ids" {
            "lookup"
        } else {
            "api"
        }
    }
    fn unauthorized(&self) -> Response<Full<Bytes>> {
        reply(401, json!({"message": "Invalid API key"}))
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
        state.braze(req.method, req.path, req.body)
    }
    fn test_toml(&self) -> &'static str {
        "lookup-rate = \"200/s\"\n"
    }
    /// Every profile of the person's address is gone, and no one else's.
    fn erased(&self, sim: &Sim, i: usize) -> bool {
        sim.braze_profiles_left(i) == 0
    }
    /// Its lookups at 300/s (its real quota: 250 or 2,500 a minute, which
    /// would make 10,000 addresses take 40 or 4 minutes); deletions at 20,000/min.
    fn bench(&self) -> BenchPlan {
        BenchPlan {
            quota: Quota {
                limit: 20_000,
                window: Duration::from_secs(60),
            },
            flags: &[("lookup-rate", "300/s")],
            lookups: true,
            kind: "email",
        }
    }
    /// Its own profile and the extra ones sharing its address are all there.
    fn untouched(&self, sim: &Sim, i: usize) -> bool {
        sim.life(Vendor::Braze)[i] == Life::Alive
            && sim.braze_profiles_left(i) == 1 + braze_extra(i)
    }
    fn ident(&self, kind: &str, i: usize) -> String {
        match kind {
            "email" => email(i),
            "braze-id" => braze_id(i),
            "phone" => phone(i),
            "alias" => format!("{}:{}", alias(i).0, alias(i).1),
            _ => braze_external(i),
        }
    }
    /// Asked once per profile (a person may have several).
    fn asked_once(&self) -> bool {
        false
    }
    fn sim_toml(&self, lookups_per_min: u64, _per_s: u64) -> String {
        format!("lookup-rate = \"{lookups_per_min}/min\"\n")
    }
    fn conformance(&self) -> Conformance {
        Conformance {
            args: &["braze"],
            env: &[("BRAZE_API_KEY", "conf-braze-key")],
            auth: ("authorization", "Bearer conf-braze-key"),
            limit: 50,
            ids: |n| (0..n).map(|i| format!("ext-{i}")).collect(),
            carried: |r| {
                if r.method == "POST" && r.path == "/users/delete" {
                    body_strings(r.body, "external_ids")
                } else {
                    vec![]
                }
            },
            ok: |r| {
                let deleted = body_strings(r.body, "external_ids").len();
                (201, Some(json!({"deleted": deleted, "message": "success"})))
            },
            done: "queued",
            once: false,
        }
    }
}
