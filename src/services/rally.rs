//! Rally UXR: `POST /people/delete` with `personIds` or `emails`, 100 per request.
//!
//! Follows <https://docs.rallyuxr.com/api-reference/people/delete-people>
//! (`../shared/vendor-docs/000_127e72d26cf600b4.txt`).

use crate::services::NoCheck;
use crate::services::spec::Proof;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;

use super::{
    Auth, Check, CredentialSpec, Endpoint, Entry, EnvVar, Fatal, Ident, Kind, KindSpec, LaneSpec,
    Method, Profile, Request, Response, Service, Setup, Stage, Status, Step, ToVerify, Verify,
    Work, X_RATELIMIT_UNIX, all, secret_from,
};

pub const DEFAULT_BASE_URL: &str = "https://api.rallyuxr.com/api/public/v1";
/// `maxItems: 100` on both `personIds` and `emails`.
pub const BATCH_LIMIT: usize = 100;
/// DESIGN §4: Rally publishes no quota; we follow its headers with this many in flight.
pub const DEFAULT_CONCURRENCY: usize = 4;

const KINDS: &[KindSpec] = &[
    KindSpec {
        kind: Kind::Email,
        check: Check::Email,
        headers: &["email", "e-mail", "email_address", "emailaddress", "mail"],
        pair: None,
    },
    KindSpec {
        kind: Kind::Id,
        check: Check::VendorId,
        headers: &["id", "person_id", "personid", "person id"],
        pair: None,
    },
];

pub struct Rally {
    profile: Profile,
    /// People sent in accepted requests that Rally's `count` did not include.
    uncounted: AtomicU64,
}

impl Rally {
    pub fn new() -> Self {
        Rally {
            profile: Profile {
                vendor: "rally",
                display: "Rally UXR",
                kinds: KINDS,
                lanes: vec![LaneSpec::new(
                    "delete",
                    None,
                    DEFAULT_CONCURRENCY,
                    Some(X_RATELIMIT_UNIX),
                )],
                max_open_jobs: None,
            },
            uncounted: AtomicU64::new(0),
        }
    }
}

/// The variable of Rally's API token.
const TOKEN_VAR: &str = "RALLY_API_TOKEN";

pub const ENTRY: Entry = Entry {
    name: "rally",
    about: "Rally UXR: POST /people/delete (by e-mail or person id), 100 a request",
    credential: CredentialSpec {
        forms: &[&[EnvVar {
            name: TOKEN_VAR,
            note: "",
        }]],
        token_file: TOKEN_VAR,
    },
    after_help: "Defaults: --kind email; no --rate (Rally publishes no quota: its X-RateLimit-* headers are \
followed); --concurrency 4; --max-wait none.",
    kinds: KINDS,
    default_kind: Kind::Email,
    kind_help: "What the identifiers are",
    // The API reference's one server (vendor-docs/000: servers).
    hosts: &["api.rallyuxr.com"],
    init: r#"# kind = "email"                 # the default of both purge everywhere and purge rally; or id (Rally person ids)
# column = "email"               # the CSV column of this vendor's identifiers (default: found by its header)
"#,
    public_flags: &[],
    legend: &[],
    proof: Proof::Identifier,
    flags: |c| c,
    setup: |_, kind| Ok(setup(kind)),
};

/// `purge rally` → the adapter, its endpoint and credential.
pub fn setup(kind: Kind) -> Setup {
    Setup {
        service: Arc::new(Rally::new()),
        kind,
        endpoint: Endpoint::Url(DEFAULT_BASE_URL.to_string()),
        credential: Box::new(|token_file| {
            secret_from(TOKEN_VAR, token_file).map(|s| Auth::Bearer(s).into())
        }),
        missing: None,
    }
}

impl Default for Rally {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(serde::Deserialize)]
struct Accepted {
    count: Option<f64>,
    message: Option<String>,
}

#[derive(serde::Deserialize)]
struct BadRequest {
    errors: Vec<ErrorItem>,
}

#[derive(serde::Deserialize)]
struct ErrorItem {
    message: String,
    #[serde(default)]
    path: Vec<serde_json::Value>,
}

/// Rally's documented 404 body for this call: text/plain `'{Resource} not
/// found'` (delete-people, `responses.404`), the resource named in the
/// template's place (`Person not found`). Any such name is recognised, except
/// words that name the request rather than a record (`Route not found`: a
/// wrong base URL); an empty, HTML or JSON 404 is not about the people either.
fn is_resource_not_found(body: &str) -> bool {
    let lower = body.trim().to_ascii_lowercase();
    let Some(resource) = lower.strip_suffix(" not found") else {
        return false;
    };
    let words: Vec<&str> = resource.split(' ').collect();
    !resource.is_empty()
        && words.len() <= 3
        && words.iter().all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|c| c.is_ascii_alphabetic() || c == b'_' || c == b'-')
        })
        && !words.iter().any(|w| {
            [
                "route", "endpoint", "path", "page", "url", "api", "resource",
            ]
            .contains(w)
        })
}

/// The vendor's words from an error body: `{"errors":[{message,path}]}` or plain text.
fn error_text(resp: &Response) -> String {
    match serde_json::from_str::<BadRequest>(&resp.body) {
        Ok(b) if !b.errors.is_empty() => super::snippet(
            &b.errors
                .iter()
                .map(|e| {
                    let path: Vec<String> = e
                        .path
                        .iter()
                        .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_string))
                        .collect();
                    if path.is_empty() {
                        e.message.clone()
                    } else {
                        format!("{} ({})", e.message, path.join("."))
                    }
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        _ => resp.snippet(),
    }
}

impl Service for Rally {
    fn profile(&self) -> &Profile {
        &self.profile
    }

    fn batch_limit(&self, _kind: Kind) -> usize {
        BATCH_LIMIT
    }

    fn start(&self, kind: Kind, batch: Vec<Ident>) -> Work {
        let values: Vec<&str> = batch.iter().map(|i| i.value.as_str()).collect();
        let body = match kind {
            Kind::Id => json!({ "personIds": values }),
            _ => json!({ "emails": values }),
        };
        let request = Request::new(Method::Post, "/people/delete").json(body);
        Work::new(batch, request, Stage::Delete)
    }

    fn run_notes(&self) -> Vec<String> {
        match self.uncounted.load(Ordering::Relaxed) {
            0 => vec![],
            n => vec![format!(
                "Rally did not count {n} of the people it accepted (its `count` was below the request's size, and it does not say whom): every line of those requests is `queued` but marked unconfirmed, and the certificate lists them as not proven"
            )],
        }
    }

    fn read(&self, _kind: Kind, work: &Work, resp: &Response) -> Step {
        let n = work.ids.len();
        match resp.status {
            200..=299 => {
                let accepted: Option<Accepted> = serde_json::from_str(&resp.body).ok();
                let count = accepted.as_ref().and_then(|a| a.count);
                let (detail, unproven) = match count {
                    // "Count of people marked for deletion" is all the page
                    // says: not who was not counted, nor that sending them
                    // again is safe. Every line of the request says so.
                    Some(c) if c < n as f64 => {
                        let short = (n as f64 - c.max(0.0)).round() as u64;
                        self.uncounted.fetch_add(short, Ordering::Relaxed);
                        (
                            format!(
                                "accepted for deletion; Rally counted {c} of {n} in this request"
                            ),
                            Some(format!(
                                "accepted but unconfirmed: Rally's count of people marked for deletion was {c} of the {n} in this request, and it does not say which were not counted"
                            )),
                        )
                    }
                    Some(_) => ("accepted for deletion".to_string(), None),
                    None => (
                        format!(
                            "accepted for deletion (HTTP {}; unexpected body: {})",
                            resp.status,
                            accepted
                                .and_then(|a| a.message)
                                .unwrap_or_else(|| resp.snippet())
                        ),
                        Some("accepted but unconfirmed: Rally's answer had no count of people marked for deletion".to_string()),
                    ),
                };
                let mut out = all(&work.ids, Status::Queued, &detail, Some(resp.status));
                if let Some(why) = unproven {
                    out = out.into_iter().map(|o| o.unproven(why.clone())).collect();
                }
                Step::Done(out)
            }
            400 => Step::Split {
                status: 400,
                detail: format!("rejected by Rally (400): {}", error_text(resp)),
                alone: Status::Failed,
            },
            // "404 Not Found … text/plain '{Resource} not found'": Rally does not
            // know someone in the batch (the request is refused whole). Halve it
            // to find them; any other 404 (HTML, empty: a wrong base URL) stops.
            404 if is_resource_not_found(&resp.body) => Step::Split {
                status: 404,
                detail: format!("Rally does not know this person ({})", resp.snippet()),
                alone: Status::NotFound,
            },
            404 | 405 => Step::Fatal(Fatal::new(
                resp.status,
                format!(
                    "Rally answered {} for POST /people/delete: {} (check --base-url)",
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

    fn verifier(&self) -> Option<&dyn Verify> {
        Some(self)
    }
}

impl Verify for Rally {
    fn verify_batch_limit(&self, _kind: Kind) -> usize {
        BATCH_LIMIT
    }
    /// `POST /people/search` with `peopleIds` ("retrieve additional metadata
    /// about a list of person ids",
    /// <https://docs.rallyuxr.com/api-reference/people/search-for-people>): the
    /// people still there come back.
    ///
    /// E-mails stay `unverifiable`. What Rally's API reference allows (#20):
    /// - "Search for people" (the page above) says "You can filter by studies,
    ///   segments, and panels. Or just retrieve additional metadata about a
    ///   list of person ids". Its `filter.filters[]` example is only a
    ///   `customProperty` filter (`propertyGroup` `CUSTOM_PROPERTY`, `operator`
    ///   `IS`); `PERSON` appears only under `sort` (`propertyName` `NAME` or
    ///   `PERSON_ID`), and `EMAIL` only in `attachProperties` (what to return,
    ///   not a filter). The page is silent on filtering people by e-mail: no
    ///   e-mail filter is shown, nor ruled out.
    /// - "Get a person's opted out status by ID or email"
    ///   (<https://docs.rallyuxr.com/api-reference/people/get-a-persons-opted-out-status-by-id-or-email>),
    ///   `GET /people/{personIdOrEmail}/opted-out`, does look a person up by
    ///   e-mail: "The id or email of the person. The id is the internal id of
    ///   the person or if the email passed is valid then it will be used for
    ///   lookup"; its only documented answer is 200, "The person"
    ///   (`personId`, `email`, `isOptedOut`). So a 200 there would prove the
    ///   person present, but the page does not say what an e-mail with no
    ///   person gets (no 404 is documented), so it cannot prove one gone.
    /// - `GET /users?email=` filters workspace users (researchers), not people.
    ///
    /// Hence the error below: its "no exact e-mail lookup" means none whose
    /// "not found" answer is documented.
    fn verify_start(&self, kind: Kind, check: ToVerify) -> Result<Work, NoCheck> {
        let batch = check.ids;
        if kind != Kind::Id {
            return Err(NoCheck::Kind {
                kind,
                why: "Rally documents no e-mail lookup of people whose answer for a missing person is known (POST /people/search filters by studies, segments, panels, custom properties or person ids; GET /people/{email}/opted-out documents only a 200): purge with -k id to be able to verify",
            });
        }
        let ids: Vec<&str> = batch.iter().map(|i| i.value.as_str()).collect();
        let body = json!({"peopleIds": ids, "pageInfo": {"size": ids.len()}});
        Ok(Work::new(
            batch,
            Request::new(Method::Post, "/people/search").json(body),
            Stage::Check,
        ))
    }
    /// The people listed are still there. Those not listed are gone only if
    /// the answer was the whole result: a `pageInfo.hasNextPage`, or a `total`
    /// above what is listed, leaves them `unverifiable` (the page documents no
    /// cursor to ask for the next page with).
    fn verify_read(&self, _kind: Kind, work: &Work, resp: &Response) -> Step {
        let page = (resp.status == 200)
            .then(|| serde_json::from_str::<serde_json::Value>(&resp.body).ok())
            .flatten();
        let found = page.as_ref().and_then(|v| {
            v["results"].as_array().map(|r| {
                r.iter()
                    .filter_map(|p| p["personId"].as_str().map(str::to_string))
                    .collect::<Vec<_>>()
            })
        });
        let (Some(page), Some(found)) = (page, found) else {
            return Step::Done(crate::services::verify_unanswered(work, resp));
        };
        let listed = page["results"].as_array().map_or(0, Vec::len) as u64;
        let more = page["pageInfo"]["hasNextPage"].as_bool() == Some(true)
            || page["total"].as_u64().is_some_and(|t| t > listed);
        Step::Done(
            work.ids
                .iter()
                .map(|id| {
                    let (status, detail) = if found.contains(&id.value) {
                        (
                            Status::Present,
                            "POST /people/search (peopleIds) → 200: the person is still listed"
                                .to_string(),
                        )
                    } else if more {
                        (
                            Status::Unverifiable,
                            format!(
                                "POST /people/search (peopleIds) → 200 listed {listed} of {} (more pages), and not this person: Rally documents no way to ask for the next page; run purge verify again",
                                page["total"].as_u64().map_or("more".to_string(), |t| t.to_string())
                            ),
                        )
                    } else {
                        (
                            Status::Verified,
                            "POST /people/search (peopleIds) → 200: not listed".to_string(),
                        )
                    };
                    super::Outcome::new(id.clone(), status, detail).http(200)
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::idents as ids;

    #[test]
    fn builds_bodies_per_kind() {
        let r = Rally::new();
        let w = r.start(Kind::Email, ids(&["a@x.io", "b@x.io"]));
        assert_eq!(w.request.method, Method::Post);
        assert_eq!(w.request.path_and_query, "/people/delete");
        assert_eq!(
            w.request.body,
            Some(json!({"emails": ["a@x.io", "b@x.io"]}))
        );
        let w = r.start(Kind::Id, ids(&["cm0b4eokq000vbbsimwelll3u"]));
        assert_eq!(
            w.request.body,
            Some(json!({"personIds": ["cm0b4eokq000vbbsimwelll3u"]}))
        );
    }

    #[test]
    fn accepted_maps_to_queued_and_notes_short_count() {
        let r = Rally::new();
        let w = r.start(Kind::Email, ids(&["a@x.io", "b@x.io"]));
        let resp = Response {
            status: 202,
            body: r#"{"message":"ok","count":1}"#.into(),
        };
        let Step::Done(out) = r.read(Kind::Email, &w, &resp) else {
            panic!("expected Done")
        };
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|o| o.status == Status::Queued));
        assert!(
            out[0].detail.contains("counted 1 of 2"),
            "{}",
            out[0].detail
        );
        r.read(Kind::Email, &w, &resp);
        let notes = r.run_notes();
        assert!(
            notes[0].contains("did not count 2 of the people"),
            "{notes:?}"
        );
    }

    #[test]
    fn bad_request_splits_with_vendor_message() {
        let r = Rally::new();
        let w = r.start(Kind::Email, ids(&["a@x.io"]));
        let resp = Response {
            status: 400,
            body: r#"{"errors":[{"message":"Invalid email","path":["emails",0]}]}"#.into(),
        };
        match r.read(Kind::Email, &w, &resp) {
            Step::Split { status, detail, .. } => {
                assert_eq!(status, 400);
                assert!(detail.contains("Invalid email (emails.0)"), "{detail}");
            }
            other => panic!("expected Split, got {other:?}"),
        }
    }
}
