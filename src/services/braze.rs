//! Braze: `POST /users/delete` with exactly one identifier list, 50 per request.
//! E-mail addresses and phone numbers are looked up first, one a request, with
//! `POST /users/export/ids` on a lane of its own, and every profile found is
//! deleted by `braze_ids`; `--prioritization` keeps Braze's own one-profile rule.
//!
//! Follows <https://www.braze.com/docs/api/endpoints/user_data/post_user_delete/>
//! (`../shared/vendor-docs/001_cb946d354cb67bb2.txt`),
//! <https://www.braze.com/docs/api/endpoints/export/user_data/post_users_identifier/>
//! and <https://www.braze.com/docs/api/api_limits/>
//! (`../shared/vendor-docs/read-endpoints.md`).

use crate::services::spec::Proof;
use crate::services::{NoCheck, SetupError};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{
    Auth, Check, CredentialSpec, Endpoint, Entry, EnvVar, Fatal, Gathering, Ident, Kind, KindSpec,
    LaneSpec, Load, Method, Outcome, Profile, Rate, Request, Response, Service, Setup, Stage,
    Status, Step, ToVerify, Verify, Work, X_RATELIMIT_UNIX, all, endpoint_named, flags_from,
    names_of, secret_from, snippet,
};

/// "Up to 50 `external_ids`, `user_aliases`, `braze_ids`, `email_addresses`, or
/// `phone_numbers` can be included in a single request."
pub const BATCH_LIMIT: usize = 50;
/// 20,000 requests per minute per workspace, shared with other `/users/*` writes.
pub const QUOTA: Rate = Rate::per_minute(20_000);
pub const DEFAULT_CONCURRENCY: usize = 8;

/// `POST /users/export/ids`: "If you onboarded with Braze on or after August 22,
/// 2024, this endpoint has a rate limit of 250 requests per minute"; 2,500 per
/// minute for workspaces onboarded before (API rate limits page). `--lookup-rate`.
pub const LOOKUP_QUOTA: Rate = Rate::per_minute(250);
/// Lookups in flight at most (the endpoint "is slower than other REST API
/// endpoints"; enough to keep 2,500/min or 40/s busy at a few hundred ms each).
pub const LOOKUP_CONCURRENCY: usize = 16;
/// Addresses looked up one after another (the endpoint takes one `email_address`
/// or `phone` a request), then deleted together: small, so deletions follow the
/// lookups closely and an interrupted run has few lookups to redo.
pub const LOOKUP_BATCH: usize = 10;
/// The lane of `/users/export/ids` (index into [`Profile::lanes`]).
const LOOKUP_LANE: usize = 1;

/// Instances and their REST hosts.
pub const INSTANCES: &[(&str, &str)] = &[
    ("us-01", "https://rest.iad-01.braze.com"),
    ("us-02", "https://rest.iad-02.braze.com"),
    ("us-03", "https://rest.iad-03.braze.com"),
    ("us-04", "https://rest.iad-04.braze.com"),
    ("us-05", "https://rest.iad-05.braze.com"),
    ("us-06", "https://rest.iad-06.braze.com"),
    ("us-07", "https://rest.iad-07.braze.com"),
    ("us-08", "https://rest.iad-08.braze.com"),
    ("us-10", "https://rest.us-10.braze.com"),
    ("eu-01", "https://rest.fra-01.braze.eu"),
    ("eu-02", "https://rest.fra-02.braze.eu"),
    ("au-01", "https://rest.au-01.braze.com"),
    ("id-01", "https://rest.id-01.braze.com"),
    ("jp-01", "https://rest.jp-01.braze.com"),
    // Listed among the REST endpoints of Braze's API overview
    // (<https://www.braze.com/docs/api/basics/#endpoints>; `../shared/vendor-docs/read-endpoints.md`).
    ("kr-01", "https://rest.kr-01.braze.com"),
];

/// A Braze user's own id (`braze_id`), a kind only Braze has.
pub const BRAZE_ID: Kind = Kind::new("braze-id");

const KINDS: &[KindSpec] = &[
    KindSpec {
        kind: Kind::ExternalId,
        check: Check::Text,
        headers: &[
            "external_id",
            "externalid",
            "external id",
            "external-id",
            "user_id",
        ],
        pair: None,
    },
    KindSpec {
        kind: BRAZE_ID,
        check: Check::VendorId,
        headers: &["braze_id", "brazeid", "braze id", "braze-id"],
        pair: None,
    },
    KindSpec {
        kind: Kind::Email,
        check: Check::Email,
        headers: &["email", "e-mail", "email_address", "emailaddress", "mail"],
        pair: None,
    },
    KindSpec {
        kind: Kind::Phone,
        check: Check::Phone,
        headers: &["phone", "phone_number", "phonenumber", "mobile", "msisdn"],
        pair: None,
    },
    KindSpec {
        kind: Kind::Alias,
        check: Check::Alias,
        headers: &["alias", "user_alias"],
        pair: Some(("alias_label", "alias_name")),
    },
];

/// The endpoint of an instance name (`us-01`, `eu-02`, …).
pub fn instance_url(instance: &str) -> Result<String, SetupError> {
    endpoint_named(INSTANCES, "instance", instance, "Braze instance")
}

/// `--prioritization`: at most one of `identified`/`unidentified`, optionally
/// `most_recently_updated`, no repeats.
pub fn parse_prioritization(list: &str) -> Result<Vec<String>, SetupError> {
    let items: Vec<String> = list
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    let bad = |why: &str| {
        Err(SetupError::Value {
            flag: "prioritization",
            value: list.to_string(),
            why: format!(
                "{why}; use one of identified|unidentified, optionally followed by most_recently_updated"
            ),
        })
    };
    if items.is_empty() {
        return bad("empty");
    }
    for (i, it) in items.iter().enumerate() {
        if !matches!(
            it.as_str(),
            "identified" | "unidentified" | "most_recently_updated"
        ) {
            return bad(&format!("{it:?} is not a prioritization value"));
        }
        if items[..i].contains(it) {
            return bad(&format!("{it:?} is repeated"));
        }
    }
    if items.iter().any(|i| i == "identified") && items.iter().any(|i| i == "unidentified") {
        return bad("identified and unidentified cannot both be given");
    }
    Ok(items)
}

pub struct Braze {
    profile: Profile,
    /// `Some`: e-mails and phones go to `/users/delete` as they are, with this
    /// rule (Braze deletes one profile per address at most); `None`: they are
    /// looked up first and every profile found is deleted by `braze_ids`.
    prioritization: Option<Vec<String>>,
    /// The lookups' quota: how long gathering their deletions may take.
    lookup_rate: Rate,
}

impl Braze {
    pub fn new(prioritization: Option<Vec<String>>, lookup_rate: Rate) -> Self {
        Braze {
            profile: Profile {
                vendor: "braze",
                display: "Braze",
                kinds: KINDS,
                lanes: vec![
                    LaneSpec::new(
                        "users/delete",
                        Some(QUOTA),
                        DEFAULT_CONCURRENCY,
                        Some(X_RATELIMIT_UNIX),
                    ),
                    // Its own quota; Braze sends the same X-RateLimit-* headers here.
                    LaneSpec::new(
                        "users/export/ids",
                        Some(lookup_rate),
                        LOOKUP_CONCURRENCY,
                        Some(X_RATELIMIT_UNIX),
                    ),
                ],
                max_open_jobs: None,
            },
            prioritization,
            lookup_rate,
        }
    }

    /// Whether identifiers of `kind` are looked up before they are deleted.
    fn looks_up(&self, kind: Kind) -> bool {
        kind == Kind::Phone || (kind == Kind::Email && self.prioritization.is_none())
    }

    /// Look up `ids[at]`: one address a request ("Should you want to specify
    /// `device_id`, `email_address`, or `phone`, only one of these identifiers can
    /// be included per request"; `fields_to_export` is required for workspaces
    /// onboarded since 2024-08-22, and few fields keep the answer small).
    fn lookup(&self, kind: Kind, ids: Vec<Ident>, at: usize, found: Vec<(usize, String)>) -> Work {
        let value = ids[at].value.as_str();
        let body = match kind {
            Kind::Phone => json!({"phone": value, "fields_to_export": ["braze_id", "phone"]}),
            _ => json!({"email_address": value, "fields_to_export": ["braze_id", "email"]}),
        };
        Work::new(
            ids,
            Request::new(Method::Post, "/users/export/ids")
                .json(body)
                .on_lane(LOOKUP_LANE),
            Stage::Lookup {
                at,
                pages: vec![],
                found,
            },
        )
    }

    /// Delete the profiles found for several addresses: `targets` pairs each
    /// braze id with the index (into `ids`) of its address; at most 50.
    fn delete_profiles(&self, ids: Vec<Ident>, targets: Vec<(usize, String)>) -> Work {
        let list: Vec<&str> = targets.iter().map(|(_, b)| b.as_str()).collect();
        Work::new(
            ids,
            Request::new(Method::Post, "/users/delete").json(json!({ "braze_ids": list })),
            Stage::Delete,
        )
        .with_targets(targets)
    }

    /// One address with more profiles than a request takes: its first 50 of
    /// `todo` now (`targets`), the rest after; `done` were deleted before.
    fn delete_rest(&self, ident: Ident, todo: Vec<String>, done: Vec<String>) -> Work {
        let now: Vec<(usize, String)> = todo
            .iter()
            .take(BATCH_LIMIT)
            .map(|b| (0, b.clone()))
            .collect();
        let mut w = self.delete_profiles(vec![ident], now);
        w.stage = Stage::Follow {
            todo,
            done,
            probe: false,
        };
        w
    }

    /// Every address of `ids` resolved (`found`: index, braze id): a delete
    /// per address, which the engine gathers with other batches' into requests
    /// of 50 braze ids ([`Service::gathering`]), an address never split across
    /// two unless it alone has more than 50 profiles.
    fn deletions(&self, ids: Vec<Ident>, found: &[(usize, String)]) -> Vec<Work> {
        let mut out = vec![];
        for (i, ident) in ids.into_iter().enumerate() {
            let mut mine: Vec<String> = vec![];
            for (_, b) in found.iter().filter(|(k, _)| *k == i) {
                if !mine.contains(b) {
                    mine.push(b.clone());
                }
            }
            if mine.len() > BATCH_LIMIT {
                out.push(self.delete_rest(ident, mine, vec![]));
            } else if !mine.is_empty() {
                let targets = mine.into_iter().map(|b| (0, b)).collect();
                out.push(self.delete_profiles(vec![ident], targets).gathered());
            }
        }
        out
    }
}

/// `purge braze`'s own flags.
#[derive(Debug, clap::Args)]
pub struct Flags {
    /// Braze instance: us-01…us-08, us-10, eu-01, eu-02, au-01, id-01, jp-01, kr-01
    #[arg(
        long,
        value_name = "NAME",
        env = "BRAZE_INSTANCE",
        value_parser = super::closed_set(INSTANCES),
        ignore_case = true,
        hide_possible_values = true
    )]
    pub instance: Option<String>,
    /// E-mail only: skip the lookup and let Braze delete at most one profile per
    /// address, the one this rule picks (none if several match it), e.g.
    /// identified,most_recently_updated
    #[arg(long, value_name = "LIST")]
    pub prioritization: Option<String>,
    /// E-mail or phone: the quota of the lookups (POST /users/export/ids): 250/min for
    /// workspaces onboarded since 2024-08-22, 2500/min before; no effect with
    /// --prioritization [default: 250/min]
    #[arg(long, value_name = "N/min", value_parser = crate::units::parse_rate)]
    pub lookup_rate: Option<Rate>,
}

pub const ENTRY: Entry = Entry {
    name: "braze",
    about: "Braze: POST /users/delete (external id, braze id, e-mail, phone or alias), 50 a request",
    credential: CredentialSpec {
        forms: &[&[EnvVar {
            name: KEY_VAR,
            note: "a REST API key with users.delete, and users.export.ids for -k email and phone",
        }]],
        token_file: KEY_VAR,
    },
    after_help: "\
Defaults: --kind external-id; --rate 20000/min (Braze's /users/* quota) and the X-RateLimit-* \
headers it sends; --concurrency 8; --max-wait none (wait as long as Braze asks).\n\
-k email and -k phone look every profile of an address up first (POST /users/export/ids, one \
address a request, --lookup-rate 250/min, 16 in flight, its X-RateLimit-* headers followed) and \
delete each by braze_id; for e-mails, --prioritization RULE skips the lookup, and Braze then \
deletes at most one profile per address.",
    kinds: KINDS,
    default_kind: Kind::ExternalId,
    kind_help: "What the identifiers are (alias: LABEL:NAME, or CSV columns alias_label and alias_name)",
    // The REST endpoints of [`INSTANCES`] (Braze's "API overview" page).
    hosts: &["rest.*.braze.com", "rest.*.braze.eu"],
    init: r#"# instance = "eu-01"             # your dashboard's: us-01…us-08, us-10, eu-01, eu-02, au-01, id-01, jp-01, kr-01
# kind = "email"                 # purge everywhere's default; purge braze's is external-id; also braze-id, phone, alias
# lookup-rate = "2500/min"       # kind email or phone: lookups of every profile per address (250/min since 2024-08-22, 2,500 before)
# prioritization = "identified,most_recently_updated"   # kind email or phone: no lookup; Braze deletes at most one profile per address
# rate = "10000/min"             # below Braze's 20,000/min if other jobs share the quota
"#,
    public_flags: &[],
    legend: &[
        "queued: Braze accepts deletions asynchronously, and its count is of identifiers it parsed, not of people it found (purge verify asks Braze afterwards).",
    ],
    proof: Proof::Identifier,
    flags: <Flags as clap::Args>::augment_args,
    setup: |m, kind| setup(&flags_from(m)?, kind),
};

/// The variable of Braze's REST API key.
const KEY_VAR: &str = "BRAZE_API_KEY";

/// `purge braze` flags → the adapter, its endpoint and credential.
pub fn setup(a: &Flags, kind: Kind) -> Result<Setup, SetupError> {
    let by_address = matches!(kind, Kind::Email | Kind::Phone);
    // Braze's page contradicts itself on phone numbers: its parameter table
    // has `phone_numbers` as an "Array of strings" and defines `prioritization`
    // for e-mails only ("Deleting users by email"), while another version of
    // the same page asks a `prioritization` for "an email address or phone
    // number" (https://www.braze.com/docs/api/endpoints/user_data/post_user_delete/;
    // vendor-docs/001_cb946d354cb67bb2.txt has the first). Which profiles a
    // phone number deletes is thus not documented: phone numbers are always
    // looked up, and their profiles deleted by braze_id.
    if a.prioritization.is_some() && kind != Kind::Email {
        return Err(SetupError::NotForKind {
            flag: "prioritization",
            kind,
            applies: "email only (Braze documents prioritization for e-mail addresses; its phone_numbers is an array of strings with no rule for which profiles a number deletes)",
            then: if kind == Kind::Phone {
                ": without --prioritization every profile of a phone number is looked up and deleted by braze_id"
            } else {
                ""
            },
        });
    }
    // With --prioritization nothing is looked up, and --lookup-rate has no
    // effect (a purge.toml may well set both).
    if a.lookup_rate.is_some() && !by_address {
        return Err(SetupError::NotForKind {
            flag: "lookup-rate",
            kind,
            applies: "email or phone (their lookups)",
            then: "",
        });
    }
    let prioritization = a
        .prioritization
        .as_deref()
        .map(parse_prioritization)
        .transpose()?;
    let endpoint = match a.instance.as_deref() {
        Some(i) => Endpoint::Url(instance_url(i)?),
        None => Endpoint::Missing {
            placeholder: "https://rest.INSTANCE.braze.com",
            why: format!(
                "say which Braze instance: --instance NAME or BRAZE_INSTANCE ({}), or --base-url URL",
                names_of(INSTANCES)
            ),
        },
    };
    Ok(Setup {
        service: Arc::new(Braze::new(
            prioritization,
            a.lookup_rate.unwrap_or(LOOKUP_QUOTA),
        )),
        kind,
        endpoint,
        credential: Box::new(|token_file| {
            secret_from(KEY_VAR, token_file).map(|s| Auth::Bearer(s).into())
        }),
        missing: None,
    })
}

/// The vendor's words from an error body: `{"message": …, "errors": […]}` or text.
fn error_text(resp: &Response) -> String {
    match serde_json::from_str::<Value>(&resp.body) {
        Ok(v) if v.get("message").is_some() || v.get("errors").is_some() => {
            let mut parts = vec![];
            if let Some(m) = v["message"].as_str() {
                parts.push(m.to_string());
            }
            if let Some(errs) = v["errors"].as_array() {
                parts.extend(errs.iter().map(|e| match e {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                }));
            }
            snippet(&parts.join("; "))
        }
        _ => resp.snippet(),
    }
}

impl Service for Braze {
    fn profile(&self) -> &Profile {
        &self.profile
    }

    fn batch_limit(&self, kind: Kind) -> usize {
        if self.looks_up(kind) {
            LOOKUP_BATCH
        } else {
            BATCH_LIMIT
        }
    }

    fn start(&self, kind: Kind, batch: Vec<Ident>) -> Work {
        if self.looks_up(kind) {
            return self.lookup(kind, batch, 0, vec![]);
        }
        let values = batch.iter().map(|i| i.value.as_str());
        let rule = self.prioritization.clone().unwrap_or_default();
        let body = match kind {
            BRAZE_ID => json!({ "braze_ids": values.collect::<Vec<_>>() }),
            // "If an `email` is specified as an identifier, an additional
            // `prioritization` value is required in the identifier"
            // (post_user_delete, "Deleting users by email"):
            // `{"email": …, "prioritization": […]}` as in its example. Phone
            // numbers are always looked up (see `setup`).
            Kind::Email => json!({ "email_addresses": values
                .map(|e| json!({"email": e, "prioritization": rule}))
                .collect::<Vec<_>>() }),
            Kind::Alias => json!({ "user_aliases": values
                .map(|a| {
                    let (label, name) = a.split_once(':').unwrap_or(("", a));
                    json!({"alias_name": name, "alias_label": label})
                })
                .collect::<Vec<_>>() }),
            _ => json!({ "external_ids": values.collect::<Vec<_>>() }),
        };
        Work::new(
            batch,
            Request::new(Method::Post, "/users/delete").json(body),
            Stage::Delete,
        )
    }

    fn read(&self, kind: Kind, work: &Work, resp: &Response) -> Step {
        match &work.stage {
            Stage::Lookup { at, found, .. } => self.read_lookup(kind, work, *at, found, resp),
            Stage::Follow { todo, done, .. } => self.read_profiles(work, todo, done, resp),
            _ if !work.targets.is_empty() => self.read_profiles(work, &[], &[], resp),
            _ => self.read_delete(kind, work, resp),
        }
    }

    /// E-mail and phone runs look profiles up anyway: one lookup of an
    /// address no one has (`example.invalid` is reserved) proves the key is
    /// accepted and has `users.export.ids`.
    fn preflight(&self, kind: Kind) -> Option<Request> {
        self.looks_up(kind).then(|| {
            let probe = crate::model::probe_ident("purge-preflight@example.invalid");
            self.lookup(Kind::Email, vec![probe], 0, vec![]).request
        })
    }

    fn erasure_note(&self) -> Option<String> {
        self.prioritization.as_ref().map(|rule| {
            format!(
                "--prioritization {}: no lookup; Braze deletes at most one profile per address, the one the rule picks, and none if several match it (without --prioritization every profile of an address is looked up and deleted)",
                rule.join(",")
            )
        })
    }

    fn dry_run_follows(&self, kind: Kind, count: usize) -> Option<String> {
        self.looks_up(kind).then(|| {
            format!(
                "{count} lookup{} (POST /users/export/ids, one an address, in turn within each batch of {LOOKUP_BATCH}), \
                 then POST /users/delete with the braze_ids of every profile found, {BATCH_LIMIT} a request \
                 (at least {} for these {count} if each has a profile). The deletions are known only after the lookups",
                if count == 1 { "" } else { "s" },
                count.div_ceil(BATCH_LIMIT)
            )
        })
    }

    /// The deletions after lookups, gathered up to 50 braze ids a request
    /// ("Up to 50 … `braze_ids` … can be included in a single request",
    /// post_user_delete), each held at most as long as the lookups, at their
    /// quota, take to find 50 addresses (12 s at 250/min, 1.2 s at 2,500/min;
    /// between 1 and 15 s): fuller requests without holding a finished lookup long.
    fn gathering(&self, kind: Kind) -> Option<Gathering> {
        let rate = self.lookup_rate;
        let fill = rate
            .per
            .mul_f64(BATCH_LIMIT as f64 / f64::from(rate.count.max(1)));
        self.looks_up(kind).then_some(Gathering {
            limit: BATCH_LIMIT,
            within: fill.clamp(Duration::from_secs(1), Duration::from_secs(15)),
        })
    }

    fn combine(&self, _kind: Kind, ids: Vec<Ident>, targets: Vec<(usize, String)>) -> Option<Work> {
        Some(self.delete_profiles(ids, targets))
    }

    fn load(&self, kind: Kind, count: usize) -> Vec<Load> {
        if self.looks_up(kind) {
            vec![Load {
                lane: LOOKUP_LANE,
                requests: count as u64,
                what: "lookups",
            }]
        } else {
            vec![]
        }
    }

    fn verifier(&self) -> Option<&dyn Verify> {
        Some(self)
    }
}

impl Verify for Braze {
    fn verify_batch_limit(&self, kind: Kind) -> usize {
        match kind {
            Kind::ExternalId => BATCH_LIMIT,
            // "only one of these identifiers can be included per request"
            _ => 1,
        }
    }
    /// `POST /users/export/ids` on its own lane and quota (the lookups' page,
    /// <https://www.braze.com/docs/api/endpoints/export/user_data/post_users_identifier/>):
    /// a profile it returns still exists. Braze deletes asynchronously, so a
    /// profile may be returned for a while after a successful delete
    /// (`purge verify --wait` asks again).
    fn verify_start(&self, kind: Kind, check: ToVerify) -> Result<Work, NoCheck> {
        let batch = check.ids;
        let first = batch[0].value.clone();
        let body = match kind {
            Kind::ExternalId => {
                let ids: Vec<&str> = batch.iter().map(|i| i.value.as_str()).collect();
                json!({"external_ids": ids, "fields_to_export": ["external_id", "braze_id"]})
            }
            BRAZE_ID => json!({"braze_id": first, "fields_to_export": ["braze_id"]}),
            Kind::Phone => json!({"phone": first, "fields_to_export": ["braze_id", "phone"]}),
            Kind::Alias => {
                let (label, name) = first.split_once(':').unwrap_or(("", &first));
                json!({"user_aliases": [{"alias_label": label, "alias_name": name}], "fields_to_export": ["braze_id"]})
            }
            _ => json!({"email_address": first, "fields_to_export": ["braze_id", "email"]}),
        };
        Ok(Work::new(
            batch,
            Request::new(Method::Post, "/users/export/ids")
                .json(body)
                .on_lane(LOOKUP_LANE),
            Stage::Check,
        ))
    }
    fn verify_read(&self, kind: Kind, work: &Work, resp: &Response) -> Step {
        let users = (200..300)
            .contains(&resp.status)
            .then(|| serde_json::from_str::<Value>(&resp.body).ok())
            .flatten()
            .and_then(|v| v["users"].as_array().cloned());
        let Some(users) = users else {
            return Step::Done(crate::services::verify_unanswered(work, resp));
        };
        let outs = work
            .ids
            .iter()
            .map(|id| {
                let present: Vec<String> = users
                    .iter()
                    .filter(|u| match kind {
                        Kind::ExternalId => u["external_id"].as_str() == Some(id.value.as_str()),
                        Kind::Email => u["email"].as_str().is_some_and(|e| same_address(kind, &id.value, e)),
                        Kind::Phone => u["phone"].as_str().is_some_and(|e| same_address(kind, &id.value, e)),
                        // One identifier a request: any profile returned is it.
                        _ => true,
                    })
                    .filter_map(|u| u["braze_id"].as_str().map(str::to_string))
                    .collect();
                if present.is_empty() {
                    Outcome::new(
                        id.clone(),
                        Status::Verified,
                        format!("POST /users/export/ids → {}: no profile", resp.status),
                    )
                } else {
                    Outcome::new(
                        id.clone(),
                        Status::Present,
                        format!(
                            "POST /users/export/ids → {}: {} still there (Braze deletes asynchronously: verify again later, or with --wait)",
                            resp.status,
                            listed(&present)
                        ),
                    )
                    .with_vendor_ids(present)
                }
                .http(resp.status)
            })
            .collect();
        Step::Done(outs)
    }
}

/// `404`/`405`: the request went somewhere that is not Braze's REST API.
fn wrong_place(what: &str, resp: &Response) -> Step {
    Step::Fatal(Fatal::new(
        resp.status,
        format!(
            "Braze answered {} for {what}: {} (check --instance or --base-url)",
            resp.status,
            error_text(resp)
        ),
    ))
}

/// Whether a profile's `email` / `phone` is the address looked up: e-mails
/// case-insensitively, phones digit for digit (E.164 with or without its `+`).
fn same_address(kind: Kind, ours: &str, theirs: &str) -> bool {
    match kind {
        Kind::Phone => {
            let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
            !digits(theirs).is_empty() && digits(ours) == digits(theirs)
        }
        _ => ours.to_lowercase() == theirs.trim().to_lowercase(),
    }
}

/// What a lookup's answer says of its address: the braze ids of every
/// profile with exactly that address, or the address's outcome (none found,
/// or the lookup failed: nothing deleted).
fn looked_up(kind: Kind, ident: &Ident, resp: &Response) -> Result<Vec<String>, Box<Outcome>> {
    let s = resp.status;
    if !(200..=299).contains(&s) {
        return Err(Outcome::new(
            ident.clone(),
            Status::Failed,
            format!(
                "lookup failed (POST /users/export/ids), nothing deleted: HTTP {s}: {}",
                error_text(resp)
            ),
        )
        .http(s)
        .into());
    }
    let users = serde_json::from_str::<Value>(&resp.body)
        .ok()
        .and_then(|v| v["users"].as_array().cloned());
    let Some(users) = users else {
        return Err(Outcome::new(
            ident.clone(),
            Status::Failed,
            format!(
                "the lookup's answer (POST /users/export/ids) has no user list, so nothing was deleted: {}",
                resp.snippet()
            ),
        )
        .http(s)
        .into());
    };
    let field = if kind == Kind::Phone {
        "phone"
    } else {
        "email"
    };
    let mut mine: Vec<String> = vec![];
    for u in &users {
        let exact = u[field]
            .as_str()
            .is_some_and(|a| same_address(kind, &ident.value, a));
        if let (true, Some(id)) = (exact, u["braze_id"].as_str())
            && !mine.iter().any(|m| m == id)
        {
            mine.push(id.to_string());
        }
    }
    if mine.is_empty() {
        let what = if kind == Kind::Phone {
            "phone number"
        } else {
            "e-mail address"
        };
        return Err(Outcome::new(
            ident.clone(),
            Status::NotFound,
            format!("no Braze profile with this {what}"),
        )
        .http(s)
        .into());
    }
    Ok(mine)
}

/// `braze_id, …` for a report line.
fn listed(ids: &[String]) -> String {
    let what = if ids.len() == 1 {
        "braze_id"
    } else {
        "braze_ids"
    };
    format!("{what} {}", ids.join(", "))
}

impl Braze {
    /// `/users/delete` by identifiers (every kind but looked-up addresses).
    fn read_delete(&self, kind: Kind, work: &Work, resp: &Response) -> Step {
        let n = work.ids.len();
        match resp.status {
            200..=299 => {
                let mut detail = match deleted_count(resp) {
                    Some(d) if d < n as f64 => {
                        format!("queued for deletion; Braze counted {d} of {n} in this request")
                    }
                    Some(_) => "queued for deletion".to_string(),
                    None => format!(
                        "queued for deletion (HTTP {}; no \"deleted\" count in the answer: {})",
                        resp.status,
                        resp.snippet()
                    ),
                };
                if let (Some(rule), Kind::Email | Kind::Phone) = (&self.prioritization, kind) {
                    detail.push_str(&format!(
                        "; Braze deletes at most one profile per address, chosen by prioritization {} (none if several match it)",
                        rule.join(",")
                    ));
                }
                Step::Done(all(&work.ids, Status::Queued, &detail, Some(resp.status)))
            }
            400 => Step::Split {
                status: 400,
                detail: format!("rejected by Braze (400): {}", error_text(resp)),
                alone: Status::Failed,
            },
            404 | 405 => wrong_place("POST /users/delete", resp),
            s => Step::Done(all(
                &work.ids,
                Status::Failed,
                &format!("HTTP {s}: {}", error_text(resp)),
                Some(s),
            )),
        }
    }

    /// One address looked up: not found and failed ones are decided at once
    /// and leave the batch; found ones stay, with their braze ids, until every
    /// address of the batch is looked up and their profiles are deleted. So
    /// work that is never sent (a stopped run) holds only undecided addresses.
    fn read_lookup(
        &self,
        kind: Kind,
        work: &Work,
        at: usize,
        found: &[(usize, String)],
        resp: &Response,
    ) -> Step {
        let ident = &work.ids[at];
        let mut found = found.to_vec();
        let mut done = vec![];
        if matches!(resp.status, 404 | 405) {
            return wrong_place("POST /users/export/ids", resp);
        }
        match looked_up(kind, ident, resp) {
            Ok(mine) => found.extend(mine.into_iter().map(|b| (at, b))),
            Err(outcome) => done.push(*outcome),
        }
        let mut ids = work.ids.clone();
        let next_at = if done.is_empty() {
            at + 1
        } else {
            ids.remove(at);
            at
        };
        let next = if next_at < ids.len() {
            vec![self.lookup(kind, ids, next_at, found)]
        } else {
            self.deletions(ids, &found)
        };
        Step::Continue {
            done,
            pending: vec![],
            next,
        }
    }

    /// `/users/delete` by the braze ids the lookups found: `work.targets` in this
    /// request; for an address with more than 50 profiles, `todo` (this
    /// request's and the rest) and `done` (deleted before).
    fn read_profiles(
        &self,
        work: &Work,
        todo: &[String],
        done: &[String],
        resp: &Response,
    ) -> Step {
        let sent: Vec<String> = work.targets.iter().map(|(_, b)| b.clone()).collect();
        if !(200..=299).contains(&resp.status) {
            if matches!(resp.status, 404 | 405) {
                return wrong_place("POST /users/delete", resp);
            }
            return Step::Done(Self::profiles_failed(work, done, resp));
        }
        let short = match deleted_count(resp) {
            Some(d) if d < sent.len() as f64 => format!(
                "; Braze counted {d} of the {} braze ids in its request",
                sent.len()
            ),
            Some(_) => String::new(),
            None => format!(
                "; no \"deleted\" count in the answer (HTTP {}): {}",
                resp.status,
                resp.snippet()
            ),
        };
        let rest = todo.get(sent.len()..).unwrap_or_default();
        if !rest.is_empty() {
            let mut done = done.to_vec();
            done.extend(sent);
            return Step::Continue {
                done: vec![],
                pending: vec![],
                next: vec![self.delete_rest(work.ids[0].clone(), rest.to_vec(), done)],
            };
        }
        let outs = work
            .ids
            .iter()
            .enumerate()
            .map(|(i, ident)| {
                let mut mine = done.to_vec();
                mine.extend(Self::profiles_of(&work.targets, i));
                Outcome::new(
                    ident.clone(),
                    Status::Queued,
                    format!("queued for deletion: {}{short}", listed(&mine)),
                )
                .http(resp.status)
                .with_vendor_ids(mine)
            })
            .collect();
        Step::Done(outs)
    }

    /// A delete by braze ids refused: each address fails, its line naming
    /// its profiles in the request and those deleted before (`done`).
    fn profiles_failed(work: &Work, done: &[String], resp: &Response) -> Vec<Outcome> {
        let before = if done.is_empty() {
            String::new()
        } else {
            format!(
                "; {} of its profiles were queued for deletion before: {}",
                done.len(),
                listed(done)
            )
        };
        work.ids
            .iter()
            .enumerate()
            .map(|(i, ident)| {
                let mine = Self::profiles_of(&work.targets, i);
                Outcome::new(
                    ident.clone(),
                    Status::Failed,
                    format!(
                        "deleting {} failed: HTTP {}: {}{before}",
                        listed(&mine),
                        resp.status,
                        error_text(resp)
                    ),
                )
                .http(resp.status)
            })
            .collect()
    }

    /// The braze ids of the address at index `i` of a delete request.
    fn profiles_of(targets: &[(usize, String)], i: usize) -> Vec<String> {
        targets
            .iter()
            .filter(|(k, _)| *k == i)
            .map(|(_, b)| b.clone())
            .collect()
    }
}

/// Braze's `deleted`: "number of user IDs queued for deletion".
fn deleted_count(resp: &Response) -> Option<f64> {
    serde_json::from_str::<Value>(&resp.body)
        .ok()
        .and_then(|v| v["deleted"].as_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::idents as ids;

    #[test]
    fn bodies_per_kind() {
        let b = Braze::new(
            Some(parse_prioritization("unidentified").unwrap()),
            LOOKUP_QUOTA,
        );
        let body = |k, v: &[&str]| b.start(k, ids(v)).request.body.unwrap();
        assert_eq!(
            body(Kind::ExternalId, &["u1", "u2"]),
            json!({"external_ids": ["u1", "u2"]})
        );
        assert_eq!(body(BRAZE_ID, &["b1"]), json!({"braze_ids": ["b1"]}));
        assert_eq!(
            body(Kind::Email, &["a@x.io"]),
            json!({"email_addresses": [{"email": "a@x.io", "prioritization": ["unidentified"]}]})
        );
        assert_eq!(
            body(Kind::Alias, &["crm:a:b"]),
            json!({"user_aliases": [{"alias_name": "a:b", "alias_label": "crm"}]})
        );
    }

    #[test]
    fn addresses_are_looked_up_one_a_request_on_their_own_lane() {
        let b = Braze::new(None, LOOKUP_QUOTA);
        assert_eq!(b.batch_limit(Kind::Email), LOOKUP_BATCH);
        assert_eq!(b.batch_limit(Kind::ExternalId), BATCH_LIMIT);
        let w = b.start(Kind::Email, ids(&["a@x.io", "b@x.io"]));
        assert_eq!(w.request.path_and_query, "/users/export/ids");
        assert_eq!(w.request.lane, LOOKUP_LANE);
        assert_eq!(
            w.request.body.unwrap(),
            json!({"email_address": "a@x.io", "fields_to_export": ["braze_id", "email"]})
        );
        let w = b.start(Kind::Phone, ids(&["+15550100199"]));
        assert_eq!(
            w.request.body.unwrap(),
            json!({"phone": "+15550100199", "fields_to_export": ["braze_id", "phone"]})
        );
        assert_eq!(b.profile().lanes[LOOKUP_LANE].rate, Some(LOOKUP_QUOTA));
        assert_eq!(
            b.load(Kind::Email, 10_000),
            [Load {
                lane: LOOKUP_LANE,
                requests: 10_000,
                what: "lookups"
            }]
        );
        assert!(b.load(Kind::ExternalId, 10_000).is_empty());
    }

    #[test]
    fn only_exact_addresses_count() {
        assert!(same_address(Kind::Email, "Ann@X.io", "ann@x.io"));
        assert!(!same_address(Kind::Email, "ann@x.io", "ann+1@x.io"));
        assert!(same_address(Kind::Phone, "+15550100199", "15550100199"));
        assert!(!same_address(Kind::Phone, "+15550100199", "+15550100198"));
        assert!(!same_address(Kind::Phone, "+15550100199", ""));
    }

    #[test]
    fn found_profiles_are_deleted_50_a_request_an_address_kept_whole() {
        let b = Braze::new(None, LOOKUP_QUOTA);
        let addrs = ids(&["a@x.io", "b@x.io", "c@x.io"]);
        let mut found: Vec<(usize, String)> = (0..30).map(|n| (0, format!("a{n}"))).collect();
        found.extend((0..30).map(|n| (1, format!("b{n}"))));
        found.extend((0..120).map(|n| (2, format!("c{n}"))));
        let works = b.deletions(addrs, &found);
        let sizes: Vec<(usize, usize)> = works
            .iter()
            .map(|w| (w.ids.len(), w.targets.len()))
            .collect();
        // One an address, for the engine to gather (a and b will not fit
        // together); c alone takes 3 requests, one after another, ungathered.
        assert_eq!(sizes, [(1, 30), (1, 30), (1, 50)]);
        assert!(works[0].gather && works[1].gather && !works[2].gather);
        assert!(matches!(&works[2].stage, Stage::Follow { todo, .. } if todo.len() == 120));
        assert_eq!(works[2].ids[0].value, "c@x.io");
        let list = works[0].request.body.as_ref().unwrap()["braze_ids"].clone();
        assert_eq!(list.as_array().unwrap().len(), 30);
    }

    #[test]
    fn prioritization_rules() {
        assert_eq!(
            parse_prioritization("identified,most_recently_updated").unwrap(),
            ["identified", "most_recently_updated"]
        );
        assert!(parse_prioritization("identified,unidentified").is_err());
        assert!(parse_prioritization("newest").is_err());
        assert!(parse_prioritization("").is_err());
        assert!(parse_prioritization("most_recently_updated,most_recently_updated").is_err());
    }

    #[test]
    fn instances() {
        assert_eq!(
            instance_url("us-03").unwrap(),
            "https://rest.iad-03.braze.com"
        );
        assert_eq!(
            instance_url("EU-02").unwrap(),
            "https://rest.fra-02.braze.eu"
        );
        assert_eq!(
            instance_url("jp-01").unwrap(),
            "https://rest.jp-01.braze.com"
        );
        assert_eq!(
            instance_url("KR-01").unwrap(),
            "https://rest.kr-01.braze.com"
        );
        let e = instance_url("us-09").unwrap_err();
        assert_eq!(e.flag(), Some("instance"));
        let e = e.to_string();
        assert!(e.contains("us-10") && e.contains("eu-01"), "{e}");
    }
}
