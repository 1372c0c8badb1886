//! Braze: `POST /users/delete` with exactly one identifier list, 50 per request.
//!
//! Follows <https://www.braze.com/docs/api/endpoints/user_data/post_user_delete/>
//! (`../shared/vendor-docs/001_cb946d354cb67bb2.txt`).

use std::sync::Arc;

use serde_json::{Value, json};

use super::{
    Auth, Check, Endpoint, Entry, Fatal, Ident, Kind, KindSpec, LaneSpec, Method, Profile, Rate,
    Request, Response, Service, Setup, Stage, Status, Step, Work, X_RATELIMIT_UNIX, all,
    endpoint_named, flags_from, names_of, secret_from, snippet,
};

/// "Up to 50 `external_ids`, `user_aliases`, `braze_ids`, `email_addresses`, or
/// `phone_numbers` can be included in a single request."
pub const BATCH_LIMIT: usize = 50;
/// 20,000 requests per minute per workspace, shared with other `/users/*` writes.
pub const QUOTA: Rate = Rate::per_minute(20_000);
pub const DEFAULT_CONCURRENCY: usize = 8;
pub const DEFAULT_PRIORITIZATION: &str = "identified,most_recently_updated";

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
        kind: Kind::BrazeId,
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
pub fn instance_url(instance: &str) -> Result<String, String> {
    endpoint_named(INSTANCES, instance, "Braze instance")
}

/// `--prioritization`: at most one of `identified`/`unidentified`, optionally
/// `most_recently_updated`, no repeats.
pub fn parse_prioritization(list: &str) -> Result<Vec<String>, String> {
    let items: Vec<String> = list
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    let bad = |why: &str| {
        Err(format!(
            "--prioritization {list:?}: {why}; use one of identified|unidentified, optionally followed by most_recently_updated"
        ))
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
    prioritization: Vec<String>,
}

impl Braze {
    pub fn new(prioritization: Vec<String>) -> Self {
        Braze {
            profile: Profile {
                vendor: "braze",
                display: "Braze",
                kinds: KINDS,
                lanes: vec![LaneSpec::new(
                    "users/delete",
                    Some(QUOTA),
                    DEFAULT_CONCURRENCY,
                    Some(X_RATELIMIT_UNIX),
                )],
                max_open_jobs: None,
            },
            prioritization,
        }
    }
}

/// `purge braze`'s own flags.
#[derive(Debug, clap::Args)]
pub struct Flags {
    /// What the identifiers are (alias: LABEL:NAME, or CSV columns alias_label and alias_name)
    #[arg(short, long, value_parser = ["external-id", "braze-id", "email", "phone", "alias"], default_value = "external-id")]
    pub kind: String,
    /// Braze instance: us-01…us-08, us-10, eu-01, eu-02, au-01, id-01, jp-01, kr-01
    #[arg(long, value_name = "NAME", env = "BRAZE_INSTANCE")]
    pub instance: Option<String>,
    /// Which user to delete when an e-mail or phone matches several
    /// [default: identified,most_recently_updated]
    #[arg(long, value_name = "LIST")]
    pub prioritization: Option<String>,
}

pub const ENTRY: Entry = Entry {
    name: "braze",
    about: "Braze: POST /users/delete (external id, braze id, e-mail, phone or alias), 50 a request",
    after_help: "Credential: BRAZE_API_KEY (a REST API key with users.delete), or --token-file FILE.\n\
Defaults: --kind external-id; --rate 20000/min (Braze's /users/* quota) and the X-RateLimit-* \
headers it sends; --concurrency 8; --max-wait none (wait as long as Braze asks).",
    flags: <Flags as clap::Args>::augment_args,
    setup: |m| setup(&flags_from(m)?),
};

/// `purge braze` flags → the adapter, its endpoint and credential.
pub fn setup(a: &Flags) -> Result<Setup, String> {
    let kind = Kind::parse(&a.kind).ok_or_else(|| format!("braze has no --kind {}", a.kind))?;
    if a.prioritization.is_some() && !matches!(kind, Kind::Email | Kind::Phone) {
        return Err(format!(
            "--prioritization applies to --kind email or phone, not {kind}"
        ));
    }
    let prioritization = parse_prioritization(
        a.prioritization
            .as_deref()
            .unwrap_or(DEFAULT_PRIORITIZATION),
    )?;
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
        service: Arc::new(Braze::new(prioritization)),
        kind,
        endpoint,
        credential: Box::new(|token_file| {
            secret_from("BRAZE_API_KEY", token_file).map(|s| Auth::Bearer(s).into())
        }),
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

    fn batch_limit(&self, _kind: Kind) -> usize {
        BATCH_LIMIT
    }

    fn start(&self, kind: Kind, batch: Vec<Ident>) -> Work {
        let values = batch.iter().map(|i| i.value.as_str());
        let body = match kind {
            Kind::BrazeId => json!({ "braze_ids": values.collect::<Vec<_>>() }),
            Kind::Email => json!({ "email_addresses": values
                .map(|e| json!({"email": e, "prioritization": self.prioritization}))
                .collect::<Vec<_>>() }),
            Kind::Phone => json!({ "phone_numbers": values
                .map(|p| json!({"phone": p, "prioritization": self.prioritization}))
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

    fn read(&self, _kind: Kind, work: &Work, resp: &Response) -> Step {
        let n = work.ids.len();
        match resp.status {
            200 | 201 => {
                let deleted = serde_json::from_str::<Value>(&resp.body)
                    .ok()
                    .and_then(|v| v["deleted"].as_f64());
                let detail = match deleted {
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
                Step::Done(all(&work.ids, Status::Queued, &detail, Some(resp.status)))
            }
            400 => Step::Split {
                status: 400,
                detail: format!("rejected by Braze (400): {}", error_text(resp)),
                alone: Status::Failed,
            },
            404 | 405 => Step::Fatal(Fatal::new(
                resp.status,
                format!(
                    "Braze answered {} for POST /users/delete: {} (check --instance or --base-url)",
                    resp.status,
                    error_text(resp)
                ),
            )),
            s => Step::Done(all(
                &work.ids,
                Status::Failed,
                &format!("HTTP {s}: {}", error_text(resp)),
                Some(s),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::idents as ids;

    #[test]
    fn bodies_per_kind() {
        let b = Braze::new(parse_prioritization("unidentified").unwrap());
        let body = |k, v: &[&str]| b.start(k, ids(v)).request.body.unwrap();
        assert_eq!(
            body(Kind::ExternalId, &["u1", "u2"]),
            json!({"external_ids": ["u1", "u2"]})
        );
        assert_eq!(body(Kind::BrazeId, &["b1"]), json!({"braze_ids": ["b1"]}));
        assert_eq!(
            body(Kind::Email, &["a@x.io"]),
            json!({"email_addresses": [{"email": "a@x.io", "prioritization": ["unidentified"]}]})
        );
        assert_eq!(
            body(Kind::Phone, &["+15550100199"]),
            json!({"phone_numbers": [{"phone": "+15550100199", "prioritization": ["unidentified"]}]})
        );
        assert_eq!(
            body(Kind::Alias, &["crm:a:b"]),
            json!({"user_aliases": [{"alias_name": "a:b", "alias_label": "crm"}]})
        );
    }

    #[test]
    fn prioritization_rules() {
        assert_eq!(
            parse_prioritization(DEFAULT_PRIORITIZATION).unwrap(),
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
        assert!(e.contains("us-10") && e.contains("eu-01"), "{e}");
    }
}
