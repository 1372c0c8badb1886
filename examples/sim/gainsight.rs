use super::*;

impl State {
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
}

/// Gainsight PX's REST API (users).
pub struct Gainsight;

#[allow(non_upper_case_globals)]
impl Vendor {
    pub const Gainsight: Vendor = Vendor("gainsight-px");
}

/// The identifyId a Gainsight PX delete carried, from its path or its body.
fn deleted(r: &Asked) -> Vec<String> {
    if r.method != "DELETE" {
        return vec![];
    }
    if r.path == "/v1/users/delete" {
        return r.body["identifyId"]
            .as_str()
            .map(|v| vec![v.to_string()])
            .unwrap_or_default();
    }
    r.path
        .strip_prefix("/v1/users/")
        .map(|seg| {
            vec![
                percent_encoding::percent_decode_str(seg)
                    .decode_utf8_lossy()
                    .into_owned(),
            ]
        })
        .unwrap_or_default()
}

impl Api for Gainsight {
    fn name(&self) -> &'static str {
        "gainsight-px"
    }
    fn env(&self) -> &'static [(&'static str, &'static str)] {
        &[("GAINSIGHT_PX_API_KEY", SIM_TOKEN)]
    }
    fn quota(&self) -> Quota {
        Quota {
            limit: 200,
            window: Duration::from_secs(1),
        }
    }
    fn is_read(&self, method: &str, path: &str) -> bool {
        method == "GET" && path.starts_with("/v1/users")
    }
    /// Gainsight documents no window: a token bucket, and no rate headers.
    fn bucket(&self) -> bool {
        true
    }
    fn authorized(&self, headers: &hyper::HeaderMap) -> bool {
        headers
            .get("x-aptrinsic-api-key")
            .is_some_and(|v| v.as_bytes() == SIM_TOKEN.as_bytes())
    }
    fn answer(&self, state: &State, req: &Asked) -> Response<Full<Bytes>> {
        state.gainsight(req.method, req.path, req.query, req.body)
    }
    /// 200 lookups of 50 e-mails, then one DELETE a person.
    fn bench(&self) -> BenchPlan {
        BenchPlan {
            quota: Quota {
                limit: 300,
                window: Duration::from_secs(1),
            },
            flags: &[("rate", "300/s")],
            lookups: false,
            kind: "email",
        }
    }
    fn ident(&self, kind: &str, i: usize) -> String {
        match kind {
            "email" => email(i),
            _ => gainsight_id(i),
        }
    }
    /// One person a request, 32 in flight.
    fn in_flight(&self) -> usize {
        32
    }
    fn sim_toml(&self, _lookups_per_min: u64, per_s: u64) -> String {
        format!("rate = \"{per_s}/s\"\n")
    }
    fn conformance(&self) -> Conformance {
        Conformance {
            args: &["gainsight-px"],
            env: &[("GAINSIGHT_PX_API_KEY", "conf-gpx-key")],
            auth: ("x-aptrinsic-api-key", "conf-gpx-key"),
            limit: 1,
            ids: |n| (0..n).map(|i| format!("user-{i}")).collect(),
            carried: deleted,
            ok: |_| (204, None),
            done: "deleted",
            once: false,
        }
    }
}
