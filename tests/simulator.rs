//! The simulator smoke test CI runs (the benchmark itself is too long for CI):
//! purge against the in-process simulator for every vendor, then the population
//! shows exactly the asked people gone.

mod common;
mod simulated;

use simulated::sim;
use simulated::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_vendor_purges_exactly_the_asked_people() {
    let sim = Sim::start(fast(), 600).await.unwrap();
    for (vendor, kind, done, state, extra) in [
        (Vendor::Rally, "email", "queued", Life::Gone, vec![]),
        (Vendor::Braze, "external-id", "queued", Life::Gone, vec![]),
        (Vendor::Gainsight, "id", "deleted", Life::Gone, vec![]),
        (Vendor::Zendesk, "id", "deleted", Life::Gone, vec![]),
    ] {
        let (code, finals, err) = purge(&sim, vendor, kind, 250, &extra).await;
        assert_eq!(code, 0, "{vendor:?}: {err}");
        assert_eq!(
            finals.len(),
            250,
            "{vendor:?}: one final line per identifier"
        );
        assert!(finals.values().all(|o| o == done), "{vendor:?}: {finals:?}");
        assert_exactly(&sim, vendor, 250, state);
    }
    // Already gone: Gainsight and Zendesk say so.
    let (code, finals, err) = purge(&sim, Vendor::Gainsight, "id", 10, &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(finals.values().all(|o| o == "not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_and_other_kinds_reach_the_right_people() {
    let sim = Sim::start(fast(), 300).await.unwrap();
    for (vendor, kind, extra) in [
        (Vendor::Gainsight, "email", vec![]),
        (Vendor::Zendesk, "email", vec![]),
        (Vendor::Braze, "alias", vec![]),
    ] {
        let (code, finals, err) = purge(&sim, vendor, kind, 120, &extra).await;
        assert_eq!(code, 0, "{vendor:?} {kind}: {err}");
        assert_eq!(finals.len(), 120);
        assert_exactly(&sim, vendor, 120, Life::Gone);
    }
    // Every tenth Zendesk search finds a near miss first and the person on its
    // second page: all 12 pages followed, no near miss submitted.
    let z = sim.counters(Vendor::Zendesk);
    assert_eq!(
        z.wrongly_submitted
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert!(z.reads.load(std::sync::atomic::Ordering::Relaxed) >= 120 + 12);
    let (code, _, err) = purge(&sim, Vendor::Zendesk, "external-id", 200, &["--soft"]).await;
    assert_eq!(code, 0, "{err}");
    // The first 120 were erased by e-mail already; the rest are now soft-deleted.
    for (i, l) in sim.life(Vendor::Zendesk).iter().enumerate() {
        let want = if i < 120 {
            Life::Gone
        } else if i < 200 {
            Life::Soft
        } else {
            Life::Alive
        };
        assert_eq!(*l, want, "person {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn braze_addresses_lose_every_profile_sharing_them_and_nobody_else() {
    let mut cfg = fast();
    cfg.lookup_quota = Quota {
        limit: 500,
        window: std::time::Duration::from_secs(1),
    };
    let sim = Sim::start(cfg, 300).await.unwrap();
    let quick = ["--lookup-rate", "200/s"];
    let (code, finals, err) = purge(&sim, Vendor::Braze, "email", 60, &quick).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(finals.len(), 60);
    assert!(finals.values().all(|o| o == "queued"), "{finals:?}");
    // By phone: the first 60 have no profile left.
    let (code, finals, err) = purge(&sim, Vendor::Braze, "phone", 100, &quick).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(finals.values().filter(|o| *o == "not_found").count(), 60);
    assert_eq!(finals.values().filter(|o| *o == "queued").count(), 40);
    for i in 0..sim.population() {
        let left = sim.braze_profiles_left(i);
        if i < 100 {
            assert_eq!(left, 0, "person {i}: every profile deleted");
        } else {
            assert_eq!(
                left,
                1 + sim::braze_extra(i),
                "person {i} was not asked for"
            );
        }
    }
    let c = sim.counters(Vendor::Braze);
    assert_eq!(c.lookups.load(std::sync::atomic::Ordering::Relaxed), 160);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_credential_is_refused_as_the_vendor_would() {
    let sim = Sim::start(fast(), 50).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    for vendor in Vendor::all() {
        let mut env: Vec<(&str, &str)> = vendor.env().to_vec();
        // The right variables, a wrong secret.
        for (k, v) in env.iter_mut() {
            if *k != "ZENDESK_EMAIL" {
                *v = "not-the-sim-token";
            }
        }
        let url = sim.url(vendor);
        let id = vendor.api().ident("default", 1);
        let mut args = vec![vendor.command(), "-y", "--base-url", &url, &id];
        args.extend(vendor.api().sim_args());
        let out = common::run(dir.path(), &args, &env).await;
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{vendor:?}: {err}");
        assert!(err.contains("HTTP 401"), "{vendor:?}: {err}");
        assert!(!err.contains("not-the-sim-token"), "{vendor:?}: {err}");
    }
    // Braze's lookups too.
    let url = sim.url(Vendor::Braze);
    let args = [
        "braze",
        "-y",
        "-k",
        "email",
        "--base-url",
        &url,
        "person1@example.com",
    ];
    let out = common::run(dir.path(), &args, &[("BRAZE_API_KEY", "not-the-sim-token")]).await;
    assert_eq!(out.status.code(), Some(3), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("HTTP 401"));
    let c = sim.counters(Vendor::Braze);
    assert_eq!(c.lookups.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zendesk_staff_are_refused_and_the_owner_is_never_deleted() {
    let sim = Sim::start(fast(), 10).await.unwrap();
    // Person 0 and the simulator's agent (5777), admin (5778) and owner (5779).
    let staff = ["5777", "5778", "5779"];
    let (code, finals, err) = purge(&sim, Vendor::Zendesk, "id", 1, &staff).await;
    assert_eq!(code, 1, "{err}");
    assert_eq!(finals[&sim::zendesk_id(0).to_string()], "deleted");
    assert!(staff.iter().all(|s| finals[*s] == "refused"), "{finals:?}");
    let mut allowed = staff.to_vec();
    allowed.push("--include-staff");
    let (code, finals, err) = purge(&sim, Vendor::Zendesk, "id", 0, &allowed).await;
    assert_eq!(code, 1, "{err}");
    assert_eq!(finals["5777"], "deleted");
    assert_eq!(finals["5778"], "deleted");
    assert_eq!(finals["5779"], "refused", "the account owner");
}

// ---- The vendors' read endpoints (`purge verify`, issue #16) ----

use serde_json::{Value, json};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// One request to the simulator: (status, JSON body or Null). `token`: the
/// credential sent the vendor's way (Bearer, or Gainsight's API-key header).
async fn call(
    vendor: Vendor,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req = client.request(method.parse().unwrap(), url);
    if let Some(t) = token {
        req = match vendor {
            Vendor::Gainsight => req.header("x-aptrinsic-api-key", t),
            _ => req.header("authorization", format!("Bearer {t}")),
        };
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().await.expect("the simulator answers");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get(sim: &Sim, vendor: Vendor, path: &str) -> (u16, Value) {
    let url = format!("{}{path}", sim.url(vendor));
    call(vendor, "GET", &url, Some(sim::SIM_TOKEN), None).await
}

async fn post(sim: &Sim, vendor: Vendor, path: &str, body: Value) -> (u16, Value) {
    let url = format!("{}{path}", sim.url(vendor));
    call(vendor, "POST", &url, Some(sim::SIM_TOKEN), Some(body)).await
}

async fn delete(sim: &Sim, vendor: Vendor, path: &str) -> (u16, Value) {
    let url = format!("{}{path}", sim.url(vendor));
    call(vendor, "DELETE", &url, Some(sim::SIM_TOKEN), None).await
}

/// Poll `probe` until it is true (at most 30 s).
async fn eventually<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !probe().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn braze_export(ids: &[&str]) -> Value {
    json!({"external_ids": ids, "fields_to_export": ["external_id", "braze_id", "email"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gainsight_get_user_answers_until_the_user_is_deleted() {
    let sim = Sim::start(fast(), 10).await.unwrap();
    let v = Vendor::Gainsight;
    let (status, user) = get(&sim, v, "/v1/users/gp-1").await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["identifyId"], "gp-1");
    assert_eq!(user["email"], "person1@example.com");
    // Ids are case-sensitive on get-by-id.
    assert_eq!(get(&sim, v, "/v1/users/GP-1").await.0, 404);
    // Soft (hardDelete=false, the default) and hard deletion: both 404, with
    // Gainsight's body; the e-mail lookup returns neither.
    assert_eq!(delete(&sim, v, "/v1/users/gp-1").await.0, 204);
    assert_eq!(
        delete(&sim, v, "/v1/users/gp-2?hardDelete=true").await.0,
        204
    );
    assert_eq!(sim.life(v)[1], Life::Soft);
    assert_eq!(sim.life(v)[2], Life::Gone);
    // The body of ../shared/fixtures/gainsight_px_404_user_not_found.json.
    let fixture = json!({"externalapierror": {"status": "NOT_FOUND",
        "message": "User was not found for parameters {id=absent-id}",
        "debugMessage": null, "subErrors": null}});
    let (status, body) = get(&sim, v, "/v1/users/absent-id").await;
    assert_eq!(status, 404);
    assert_eq!(body, fixture);
    for id in ["gp-1", "gp-2"] {
        let (status, body) = get(&sim, v, &format!("/v1/users/{id}")).await;
        assert_eq!(status, 404, "{id}: {body}");
        assert_eq!(
            body["externalapierror"]["message"],
            format!("User was not found for parameters {{id={id}}}")
        );
    }
    let (status, list) = get(
        &sim,
        v,
        "/v1/users?filter=email==person1@example.com&filter=email==person2@example.com&filter=email==person3@example.com",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["users"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["users"][0]["identifyId"], "gp-3");
    assert_eq!(sim.counters(v).reads.load(Relaxed), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rally_people_search_answers_until_the_deletion_is_done() {
    let mut cfg = fast();
    cfg.rally_delete_delay = Duration::from_millis(300);
    let sim = Sim::start(cfg, 10).await.unwrap();
    let v = Vendor::Rally;
    let search = |ids: &[&str], size: u64| json!({"peopleIds": ids, "pageInfo": {"size": size}});
    let (status, found) = post(
        &sim,
        v,
        "/people/search",
        search(&["rp0000001", "rp0000002", "rp9999999"], 10),
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["total"], 2);
    assert_eq!(found["pageInfo"]["hasNextPage"], false);
    assert_eq!(found["results"][0]["personId"], "rp0000001");
    assert_eq!(found["results"][0]["email"], "person1@example.com");
    assert_eq!(found["results"][0]["properties"], json!([]));
    assert_eq!(found["results"][1]["populationIds"], json!([]));
    // A page smaller than the answer.
    let (_, page) = post(
        &sim,
        v,
        "/people/search",
        search(&["rp0000001", "rp0000002"], 1),
    )
    .await;
    assert_eq!(page["results"].as_array().unwrap().len(), 1);
    assert_eq!(page["total"], 2);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    // Not a list of ids: refused as Rally refuses a malformed body.
    let (status, _) = post(&sim, v, "/people/search", json!({"peopleIds": [1]})).await;
    assert_eq!(status, 400);

    let (status, body) = post(
        &sim,
        v,
        "/people/delete",
        json!({"personIds": ["rp0000001"]}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        sim.life(v)[1],
        Life::Gone,
        "the population is updated at once"
    );
    // Rally deletes asynchronously: the person goes after `rally_delete_delay`.
    eventually("person 1 leaves Rally's search", || async {
        let (_, found) = post(
            &sim,
            v,
            "/people/search",
            search(&["rp0000001", "rp0000002"], 10),
        )
        .await;
        found["total"] == 1
    })
    .await;
    let (_, found) = post(
        &sim,
        v,
        "/people/search",
        search(&["rp0000001", "rp0000002"], 10),
    )
    .await;
    assert_eq!(found["results"][0]["personId"], "rp0000002");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn braze_export_finds_profiles_by_every_identifier_until_deleted() {
    let sim = Sim::start(fast(), 10).await.unwrap();
    let v = Vendor::Braze;
    let (status, out) = post(
        &sim,
        v,
        "/users/export/ids",
        braze_export(&["ext-1", "ext-2", "nobody"]),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["message"], "success");
    assert_eq!(
        out["users"],
        json!([
            {"external_id": "ext-1", "braze_id": "b0000001", "email": "person1@example.com"},
            {"external_id": "ext-2", "braze_id": "b0000002", "email": "person2@example.com"},
        ])
    );
    assert_eq!(out["invalid_user_ids"], json!(["nobody"]));
    // By alias and braze id (an extra, anonymous profile of person 3), combined.
    let (status, out) = post(
        &sim,
        v,
        "/users/export/ids",
        json!({"user_aliases": [{"alias_label": "crm", "alias_name": "c4"}], "braze_id": "b0000003-1",
            "fields_to_export": ["braze_id", "external_id"]}),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out["users"],
        json!([{"braze_id": "b0000004", "external_id": "ext-4"}, {"braze_id": "b0000003-1"}])
    );
    assert!(out.get("invalid_user_ids").is_none(), "{out}");
    // Braze's rules: e-mail alone; at most 50 external ids and aliases.
    let (status, _) = post(
        &sim,
        v,
        "/users/export/ids",
        json!({"external_ids": ["ext-1"], "email_address": "person1@example.com", "fields_to_export": ["email"]}),
    )
    .await;
    assert_eq!(status, 400);
    let many: Vec<String> = (0..51).map(|i| format!("ext-{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(
        post(&sim, v, "/users/export/ids", braze_export(&many))
            .await
            .0,
        400
    );

    // Deleted (no delay configured): gone at once, by every identifier.
    let (status, _) = post(&sim, v, "/users/delete", json!({"external_ids": ["ext-1"]})).await;
    assert_eq!(status, 201);
    let (_, b) = post(
        &sim,
        v,
        "/users/delete",
        json!({"braze_ids": ["b0000003-1"]}),
    )
    .await;
    assert_eq!(b["message"], "success");
    let (_, out) = post(
        &sim,
        v,
        "/users/export/ids",
        braze_export(&["ext-1", "ext-2"]),
    )
    .await;
    assert_eq!(out["users"].as_array().unwrap().len(), 1, "{out}");
    assert_eq!(out["invalid_user_ids"], json!(["ext-1"]));
    let (_, out) = post(
        &sim,
        v,
        "/users/export/ids",
        json!({"braze_id": "b0000003-1", "fields_to_export": ["braze_id"]}),
    )
    .await;
    assert_eq!(out["users"], json!([]));
    assert_eq!(out["invalid_user_ids"], json!(["b0000003-1"]));
    let (_, out) = post(
        &sim,
        v,
        "/users/export/ids",
        json!({"email_address": "person3@example.com", "fields_to_export": ["braze_id"]}),
    )
    .await;
    assert_eq!(
        out["users"],
        json!([{"braze_id": "b0000003"}]),
        "the extra one is gone"
    );
    let c = sim.counters(v);
    assert_eq!(c.reads.load(Relaxed), 7);
    assert_eq!(c.reads.load(Relaxed), c.lookups.load(Relaxed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn braze_profiles_disappear_after_the_delete_delay() {
    let mut cfg = fast();
    // Long enough that the first export surely comes before it ends.
    cfg.braze_delete_delay = Duration::from_secs(3);
    let sim = Sim::start(cfg, 10).await.unwrap();
    let v = Vendor::Braze;
    let (status, _) = post(&sim, v, "/users/delete", json!({"external_ids": ["ext-5"]})).await;
    assert_eq!(status, 201);
    assert_eq!(
        sim.life(v)[5],
        Life::Gone,
        "the population is updated at once"
    );
    assert_eq!(sim.braze_profiles_left(5), 0);
    let (_, out) = post(&sim, v, "/users/export/ids", braze_export(&["ext-5"])).await;
    assert_eq!(
        out["users"][0]["external_id"], "ext-5",
        "still there: {out}"
    );
    eventually("ext-5 leaves Braze's export", || async {
        let (_, out) = post(&sim, v, "/users/export/ids", braze_export(&["ext-5"])).await;
        out["users"] == json!([]) && out["invalid_user_ids"] == json!(["ext-5"])
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zendesk_deleted_users_show_soft_deleted_users_until_erased() {
    let mut cfg = fast();
    cfg.job_time = Duration::from_millis(50);
    // Only the permanent deletion (DELETE) counts against the erasure quota.
    cfg.erase_quota = Quota {
        limit: 1,
        window: Duration::from_secs(600),
    };
    let sim = Sim::start(cfg, 10).await.unwrap();
    let v = Vendor::Zendesk;
    let not_found = json!({"error": "RecordNotFound", "description": "Not found"});
    let (status, body) = get(&sim, v, "/api/v2/deleted_users/1000001.json").await;
    assert_eq!((status, &body), (404, &not_found), "never deleted");

    let (status, job) = delete(&sim, v, "/api/v2/users/destroy_many.json?ids=1000001").await;
    assert_eq!(status, 200, "{job}");
    let url = format!(
        "/api/v2/job_statuses/{}.json",
        job["job_status"]["id"].as_str().unwrap()
    );
    eventually("the job completes", || async {
        get(&sim, v, &url).await.1["job_status"]["status"] == "completed"
    })
    .await;
    let (status, body) = get(&sim, v, "/api/v2/deleted_users/1000001.json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deleted_user"]["id"], 1000001);
    assert_eq!(body["deleted_user"]["active"], false);
    assert_eq!(body["deleted_user"]["email"], "person1@example.com");
    let (_, many) = get(&sim, v, "/api/v2/users/show_many.json?ids=1000001,1000002").await;
    assert_eq!(many["users"][0]["active"], false, "{many}");
    assert_eq!(many["users"][1]["active"], true);

    let (status, _) = delete(&sim, v, "/api/v2/deleted_users/1000001.json").await;
    assert_eq!(status, 200);
    assert_eq!(sim.life(v)[1], Life::Gone);
    for _ in 0..3 {
        let (status, body) = get(&sim, v, "/api/v2/deleted_users/1000001.json").await;
        assert_eq!((status, &body), (404, &not_found), "erased");
    }
    let (_, many) = get(&sim, v, "/api/v2/users/show_many.json?ids=1000001,1000002").await;
    assert_eq!(many["users"].as_array().unwrap().len(), 1, "{many}");
    assert_eq!(many["users"][0]["id"], 1000002);
    let c = sim.counters(v);
    assert_eq!(c.throttled.load(Relaxed), 0);
    // deleted_users ×5, show_many ×2 (not the job polls).
    assert_eq!(c.reads.load(Relaxed), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_endpoints_refuse_a_missing_or_wrong_credential() {
    let sim = Sim::start(fast(), 10).await.unwrap();
    let reads: [(Vendor, &str, &str, Option<Value>); 4] = [
        (
            Vendor::Rally,
            "POST",
            "/people/search",
            Some(json!({"peopleIds": ["rp0000001"], "pageInfo": {"size": 10}})),
        ),
        (
            Vendor::Braze,
            "POST",
            "/users/export/ids",
            Some(braze_export(&["ext-1"])),
        ),
        (Vendor::Gainsight, "GET", "/v1/users/gp-1", None),
        (
            Vendor::Zendesk,
            "GET",
            "/api/v2/deleted_users/1000001.json",
            None,
        ),
    ];
    for (vendor, method, path, body) in reads {
        let url = format!("{}{path}", sim.url(vendor));
        for token in [None, Some("not-the-sim-token")] {
            let (status, _) = call(vendor, method, &url, token, body.clone()).await;
            assert_eq!(status, 401, "{vendor:?} {path} with {token:?}");
        }
        let c = sim.counters(vendor);
        assert_eq!(c.unauthorized.load(Relaxed), 2, "{vendor:?}");
        assert_eq!(c.reads.load(Relaxed), 2, "{vendor:?}");
    }
    // Nothing was read: person 1 is still there everywhere.
    for vendor in Vendor::all() {
        assert_eq!(sim.life(vendor)[1], Life::Alive);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_verify_sees_every_purged_person_gone_at_the_simulator() {
    let mut cfg = fast();
    cfg.braze_delete_delay = Duration::from_millis(500);
    cfg.rally_delete_delay = Duration::from_millis(500);
    let sim = Sim::start(cfg, 40).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut toml = String::new();
    for v in Vendor::all() {
        toml += &format!(
            "[{}]\nbase-url = \"{}\"\nrate = \"200/s\"\n",
            v.command(),
            sim.url(v)
        );
        if v == Vendor::Braze {
            toml += "lookup-rate = \"200/s\"\n";
        }
    }
    common::write_file(dir.path(), "purge.toml", &toml);
    let env: Vec<(&str, &str)> = Vendor::all()
        .iter()
        .flat_map(|v| v.env().to_vec())
        .collect();
    for (vendor, kind) in [
        (Vendor::Rally, "id"),
        (Vendor::Braze, "external-id"),
        (Vendor::Gainsight, "id"),
        (Vendor::Zendesk, "id"),
    ] {
        let list = ids(vendor, kind, 20);
        let input = common::write_file(dir.path(), "ids.txt", &list.join("\n"));
        let report = format!("{}.jsonl", vendor.command());
        let url = sim.url(vendor);
        let args = [
            vendor.command(),
            "-y",
            "-k",
            kind,
            "-i",
            input.to_str().unwrap(),
            "--base-url",
            &url,
            "--report",
            &report,
            "--rate",
            "200/s",
        ];
        let out = common::run(dir.path(), &args, &env).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{vendor:?}: {}",
            common::stderr(&out)
        );
        let before = sim.counters(vendor).reads.load(Relaxed);
        // Rally and Braze delete asynchronously: --wait asks the present again.
        let args = ["verify", "--report", &report, "--wait", "30s"];
        let out = common::run(dir.path(), &args, &env).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{vendor:?}: {}",
            common::stderr(&out)
        );
        let lines = common::report_lines(&dir.path().join(&report));
        let verified: Vec<&Value> = lines
            .iter()
            .filter(|l| l["outcome"] == "verified")
            .collect();
        assert_eq!(verified.len(), 20, "{vendor:?}: {lines:?}");
        assert!(
            sim.counters(vendor).reads.load(Relaxed) > before,
            "{vendor:?}: verify read"
        );
        assert_exactly(&sim, vendor, 20, Life::Gone);
    }
}

/// Every vendor of the registry brings its simulated API (and with it its
/// conformance case): the simulator, the conformance suite, `everywhere`'s
/// tests and the bench run them all from the registry, and a registry entry
/// without one fails here by name.
#[test]
fn every_registry_entry_has_a_simulated_api() {
    let registry: Vec<&str> = purge::services::REGISTRY.iter().map(|e| e.name).collect();
    let simulated: Vec<&str> = Vendor::all().iter().map(|v| v.command()).collect();
    assert_eq!(simulated, registry);
    for v in Vendor::all() {
        let case = v.api().conformance();
        assert_eq!(
            case.args[0],
            v.command(),
            "{v:?}'s conformance case runs it"
        );
        assert!(!v.env().is_empty(), "{v:?} names its credential");
    }
}
