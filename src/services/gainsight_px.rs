//! Gainsight PX: `DELETE /v1/users/{identifyId}?hardDelete=true`, one person a
//! request; e-mails are first resolved with `GET /v1/users?filter=email==X`.
//!
//! Follows <https://px-apidocs.gainsight.com/> (operations `deleteUserUsingDELETE_1`,
//! `deleteUserUsingDELETE`, `getUsersUsingGET`; `../shared/vendor-docs/002_91d57e6c48b2db74.txt`
//! and `../shared/vendor-specs/gainsight-px-users-excerpt.yaml`).

use crate::services::spec::Proof;
use crate::services::{NoCheck, SetupError};
use std::sync::Arc;

use serde_json::{Value, json};

use super::{
    Auth, Check, CredentialSpec, Endpoint, Entry, EnvVar, Ident, Kind, KindSpec, LaneSpec, Method,
    Profile, Rate, Request, Response, Service, Setup, Stage, Status, Step, ToVerify, Verify, Work,
    all, encode_query, endpoint_named, flags_from, secret_from, snippet,
};

/// "around 200 requests per second and 1 Million requests per day".
pub const QUOTA: Rate = Rate::per_second(200);
/// One person a request, so the run is latency-bound: 32 in flight reach 200/s
/// up to 160 ms of server latency.
pub const DEFAULT_CONCURRENCY: usize = 32;
/// E-mails resolved per lookup request (repeated `filter` parameters OR together).
pub const LOOKUP_BATCH: usize = 50;
/// The API's largest `pageSize`.
pub const MAX_PAGE_SIZE: usize = 1000;
/// More user records than this to delete: contact Gainsight PX support first
/// (see `scale_note`).
pub const SUPPORT_ABOVE: usize = 1000;
pub const API_KEY_HEADER: &str = "x-aptrinsic-api-key";

pub const REGIONS: &[(&str, &str)] = &[
    ("us", "https://api.aptrinsic.com"),
    ("eu", "https://api-eu.aptrinsic.com"),
    ("us2", "https://api-us2.aptrinsic.com"),
];

const KINDS: &[KindSpec] = &[
    KindSpec {
        kind: Kind::Id,
        check: Check::Text,
        headers: &[
            "identifyid",
            "identify_id",
            "identify id",
            "id",
            "user_id",
            "userid",
        ],
        pair: None,
    },
    KindSpec {
        kind: Kind::Email,
        check: Check::Email,
        headers: &["email", "e-mail", "email_address", "emailaddress", "mail"],
        pair: None,
    },
];

pub struct GainsightPx {
    profile: Profile,
    hard: bool,
}

impl GainsightPx {
    pub fn new(hard: bool) -> Self {
        GainsightPx {
            profile: Profile {
                vendor: "gainsight-px",
                display: "Gainsight PX",
                kinds: KINDS,
                // No rate headers are documented; 429 and Retry-After still work.
                lanes: vec![LaneSpec::new(
                    "users",
                    Some(QUOTA),
                    DEFAULT_CONCURRENCY,
                    None,
                )],
                max_open_jobs: None,
            },
            hard,
        }
    }

    fn mode(&self) -> &'static str {
        if self.hard { "permanent" } else { "soft" }
    }

    /// The delete call for one identifyId: in the path when it is made only of
    /// unreserved characters (letters, digits, `-._~`, and `@+`, which servers
    /// read back the same), else in the body of `DELETE /v1/users/delete`, so no
    /// server or proxy can decode an encoded segment into another user's id.
    fn delete_request(&self, identify_id: &str) -> Request {
        let hard = if self.hard { "true" } else { "false" };
        if !in_path(identify_id) {
            Request::new(
                Method::Delete,
                format!("/v1/users/delete?hardDelete={hard}"),
            )
            .json(json!({ "identifyId": identify_id }))
        } else {
            Request::at(Method::Delete, "/v1/users/{id}", &[identify_id])
                .query(&format!("hardDelete={hard}"))
        }
    }

    fn lookup_request(&self, batch: &[Ident], cursor: Option<&str>) -> Request {
        let mut q: Vec<String> = batch
            .iter()
            .map(|i| format!("filter={}", encode_query(&format!("email=={}", i.value))))
            .collect();
        q.push(format!("pageSize={}", page_size(batch.len())));
        if let Some(c) = cursor {
            q.push(format!("scrollId={}", encode_query(c)));
        }
        Request::new(Method::Get, format!("/v1/users?{}", q.join("&")))
    }
}

/// Whether an identifyId can travel as a path segment: only unreserved
/// characters (letters, digits, `-._~`, and `@+`, which servers read back the
/// same), and not `.` or `..`. Any other goes in a body or a filter, so no
/// server or proxy can decode an encoded segment into another user's id.
fn in_path(identify_id: &str) -> bool {
    identify_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~@+".contains(&b))
        && identify_id != "."
        && identify_id != ".."
}

/// The most pages of one lookup purge reads. Gainsight documents no cap on a
/// scroll ("Scroll until the returned result list is less than the requested
/// size. Do not depend on the scrollId becoming null": Page Handling,
/// <https://px-apidocs.gainsight.com/>), so a server that keeps answering full
/// pages would be followed for ever: 100 pages of as many users as e-mails
/// asked is 100 users an e-mail, past any one person's records.
pub const MAX_LOOKUP_PAGES: usize = 100;

/// Why the scroll that named `cursor` after `pages` is not followed: a
/// `scrollId` named before, or more pages than [`MAX_LOOKUP_PAGES`].
/// A lookup answered other than 200: the batch is split on a 400 (one bad
/// address refuses them all), else every identifier fails with the status.
fn lookup_refused(work: &Work, resp: &Response) -> Step {
    match resp.status {
        400 => Step::Split {
            status: 400,
            detail: format!(
                "lookup rejected by Gainsight PX (400): {}",
                error_text(resp)
            ),
            alone: Status::Failed,
        },
        s => Step::Done(all(
            &work.ids,
            Status::Failed,
            &format!("lookup failed: HTTP {s}: {}", error_text(resp)),
            Some(s),
        )),
    }
}

fn endless_scroll(pages: &[String], cursor: &str) -> Option<String> {
    if pages.iter().any(|p| p == cursor) {
        return Some(format!(
            "the e-mail lookup (GET /v1/users?filter=email==…) named a scrollId it had named before ({}), so its pages would never end: nothing was deleted for these e-mails; look the users up and delete them by identifyId",
            snippet(cursor)
        ));
    }
    (pages.len() + 1 >= MAX_LOOKUP_PAGES).then(|| format!(
        "the e-mail lookup (GET /v1/users?filter=email==…) still answered full pages after {MAX_LOOKUP_PAGES} (a scroll Gainsight documents no end for): nothing was deleted for these e-mails; look the users up and delete them by identifyId"
    ))
}

/// One page holds as many users as e-mails were asked: usually all of them in
/// one page; a short page ends the scroll.
fn page_size(emails: usize) -> usize {
    emails.clamp(1, MAX_PAGE_SIZE)
}

/// `purge gainsight-px`'s own flags.
#[derive(Debug, clap::Args)]
pub struct Flags {
    /// Data center: us (api.aptrinsic.com), eu (api-eu.aptrinsic.com), us2 (api-us2.aptrinsic.com)
    #[arg(
        long,
        value_name = "REGION",
        env = "GAINSIGHT_PX_REGION",
        default_value = "us",
        value_parser = super::closed_set(REGIONS),
        ignore_case = true,
        hide_possible_values = true
    )]
    pub region: String,
    /// Reversible delete (hardDelete=false): revived if the id comes back within 7 days
    #[arg(long)]
    pub soft: bool,
}

pub const ENTRY: Entry = Entry {
    name: "gainsight-px",
    about: "Gainsight PX: DELETE /v1/users/{identifyId}, one person a request (e-mails looked up first)",
    credential: CredentialSpec {
        forms: &[&[EnvVar {
            name: KEY_VAR,
            note: "sent as X-APTRINSIC-API-KEY",
        }]],
        token_file: KEY_VAR,
    },
    after_help: "Defaults: --kind id; --rate 200/s (Gainsight's documented ~200 req/s; it sends no rate headers, \
so purge slows down on its 429s); --concurrency 32; --max-wait none.",
    kinds: KINDS,
    default_kind: Kind::Id,
    kind_help: "What the identifiers are: the identifyId, or an e-mail to look up first",
    // The regions of [`REGIONS`], as Gainsight PX's REST API page lists them.
    hosts: &[
        "api.aptrinsic.com",
        "api-eu.aptrinsic.com",
        "api-us2.aptrinsic.com",
    ],
    init: r#"# region = "eu"                  # us (the default), eu or us2
# kind = "email"                 # purge everywhere's default; purge gainsight-px's is id (the identifyId)
# soft = false                   # true: reversible delete (revived if the id comes back within 7 days)
"#,
    public_flags: &[],
    legend: &[],
    proof: Proof::Identifier,
    flags: <Flags as clap::Args>::augment_args,
    setup: |m, kind| setup(&flags_from(m)?, kind),
};

/// The variable of Gainsight PX's API key.
const KEY_VAR: &str = "GAINSIGHT_PX_API_KEY";

/// `purge gainsight-px` flags → the adapter, its endpoint and credential.
pub fn setup(a: &Flags, kind: Kind) -> Result<Setup, SetupError> {
    let base = endpoint_named(REGIONS, "region", &a.region, "Gainsight PX region")?;
    Ok(Setup {
        service: Arc::new(GainsightPx::new(!a.soft)),
        kind,
        endpoint: Endpoint::Url(base),
        credential: Box::new(|token_file| {
            secret_from(KEY_VAR, token_file).map(|s| Auth::Header(API_KEY_HEADER, s).into())
        }),
        missing: None,
    })
}

/// The vendor's words from an error body (`externalapierror.message`, `message`) or text.
fn error_text(resp: &Response) -> String {
    let v: Option<Value> = serde_json::from_str(&resp.body).ok();
    let msg = v.as_ref().and_then(|v| {
        v["externalapierror"]["message"]
            .as_str()
            .or(v["message"].as_str())
            .or(v["error"].as_str())
            .map(str::to_string)
    });
    msg.map_or_else(|| resp.snippet(), |m| snippet(&m))
}

/// One page of a users lookup.
struct Page {
    /// (lower-case e-mail, identifyId) of each user on the page.
    users: Vec<(String, String)>,
    /// How many users the page held (with or without an e-mail).
    count: usize,
    scroll: Option<String>,
}

fn page_users(body: &str) -> Option<Page> {
    let v: Value = serde_json::from_str(body).ok()?;
    let users = v["users"].as_array()?;
    let pairs = users
        .iter()
        .filter_map(|u| {
            let email = u["email"].as_str()?;
            let id = u["identifyId"].as_str().or(u["id"].as_str())?;
            Some((email.to_lowercase(), id.to_string()))
        })
        .collect();
    Some(Page {
        users: pairs,
        count: users.len(),
        scroll: v["scrollId"].as_str().map(str::to_string),
    })
}

impl Service for GainsightPx {
    fn profile(&self) -> &Profile {
        &self.profile
    }

    fn dry_run_follows(&self, kind: Kind, count: usize) -> Option<String> {
        (kind == Kind::Email).then(|| {
            let lookups = count.div_ceil(LOOKUP_BATCH);
            format!(
                "{lookups} lookup{} (GET /v1/users?filter=email==…, {LOOKUP_BATCH} addresses each, paged), then one DELETE \
                 per user found (an address no user has is tried as an identifyId: one DELETE); the deletions are known \
                 only after the lookups",
                if lookups == 1 { "" } else { "s" }
            )
        })
    }

    fn batch_limit(&self, kind: Kind) -> usize {
        match kind {
            Kind::Email => LOOKUP_BATCH,
            _ => 1,
        }
    }

    fn start(&self, kind: Kind, batch: Vec<Ident>) -> Work {
        match kind {
            Kind::Email => {
                let request = self.lookup_request(&batch, None);
                Work::new(
                    batch,
                    request,
                    Stage::Lookup {
                        at: 0,
                        pages: vec![],
                        found: vec![],
                    },
                )
            }
            _ => {
                let request = self.delete_request(&batch[0].value);
                Work::new(batch, request, Stage::Delete)
            }
        }
    }

    fn read(&self, _kind: Kind, work: &Work, resp: &Response) -> Step {
        match &work.stage {
            Stage::Lookup { pages, found, .. } => self.read_lookup(work, pages, found, resp),
            Stage::Follow { todo, done, probe } => self.read_follow(work, todo, done, *probe, resp),
            _ => self.read_delete(work, resp),
        }
    }

    /// `-k email` reads users anyway: one lookup of an address no one has
    /// (`example.invalid` is reserved) proves the key is accepted.
    fn preflight(&self, kind: Kind) -> Option<Request> {
        (kind == Kind::Email).then(|| {
            let probe = crate::model::probe_ident("purge-preflight@example.invalid");
            self.lookup_request(&[probe], None)
        })
    }

    /// "To delete all users or to delete more than 1000 user records from
    /// your subscription, contact the Gainsight PX Support team at
    /// pxsupport@gainsight.com" (Subscription Clean Up,
    /// <https://support.gainsight.com/PX/Install_PX/Subscription_Clean_Up>).
    /// For e-mails, `count` is of people; each may be several user records.
    fn scale_note(&self, _kind: Kind, count: usize) -> Option<String> {
        (count > SUPPORT_ABOVE).then(|| {
            format!(
                "{count} people: Gainsight PX asks that deleting more than {SUPPORT_ABOVE} user records be arranged with its support (pxsupport@gainsight.com; \"Subscription Clean Up\", support.gainsight.com) before it is run"
            )
        })
    }

    fn erasure_note(&self) -> Option<String> {
        (!self.hard).then(|| {
            "soft delete (--soft): Gainsight PX revives these people, with their history, if the same id is created or updated within 7 days".to_string()
        })
    }

    fn verifier(&self) -> Option<&dyn Verify> {
        Some(self)
    }
}

impl Verify for GainsightPx {
    /// `GET /v1/users/{identifyId}` ("Get user", `getUserUsingGET` in
    /// `../shared/vendor-specs/gainsight-px-users-excerpt.yaml`: 404 when the
    /// user does not exist); for e-mails, `GET /v1/users?filter=email==X` (the
    /// exact-match filter of the same page) finds no user.
    fn verify_start(&self, kind: Kind, check: ToVerify) -> Result<Work, NoCheck> {
        let batch = check.ids;
        let request = match kind {
            Kind::Email => self.lookup_request(&batch, None),
            _ if in_path(&batch[0].value) => {
                Request::at(Method::Get, "/v1/users/{id}", &[&batch[0].value])
            }
            // Deleted with the body form: asked with the filter, never in a
            // path a server could decode into another id ("Case sensitivity
            // is not enforced when using filters. For example,
            // .../users/filter=id==nora@example.com; will find a user whose id
            // is Nora@example.com": Case Sensitivity, <https://px-apidocs.gainsight.com/>).
            _ => {
                let id = &batch[0].value;
                if id.contains(';') {
                    return Err(NoCheck::Identifier(
                        "this identifyId has a `;`, which separates the terms of Gainsight's filter, and characters that keep it out of GET /v1/users/{identifyId}: Gainsight PX offers no way to ask about it",
                    ));
                }
                Request::new(
                    Method::Get,
                    format!(
                        "/v1/users?filter={}&pageSize={MAX_PAGE_SIZE}",
                        encode_query(&format!("id=={id}"))
                    ),
                )
            }
        };
        Ok(Work::new(batch, request, Stage::Check))
    }
    fn verify_read(&self, kind: Kind, work: &Work, resp: &Response) -> Step {
        let id = &work.ids[0];
        let out = |status, detail: String| {
            Step::Done(vec![
                super::Outcome::new(id.clone(), status, detail).http(resp.status),
            ])
        };
        match (kind, resp.status) {
            (Kind::Email, 200) => match page_users(&resp.body) {
                Some(page) => {
                    let mine: Vec<&String> = page
                        .users
                        .iter()
                        .filter(|(e, _)| e.eq_ignore_ascii_case(&id.value))
                        .map(|(_, i)| i)
                        .collect();
                    if mine.is_empty() {
                        out(
                            Status::Verified,
                            "GET /v1/users?filter=email==… → 200, no user with this e-mail".into(),
                        )
                    } else {
                        out(
                            Status::Present,
                            format!(
                                "GET /v1/users?filter=email==… → 200: {} user{} with this e-mail (identifyId {})",
                                mine.len(),
                                if mine.len() == 1 { "" } else { "s" },
                                mine.iter()
                                    .map(|s| s.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        )
                    }
                }
                None => Step::Done(crate::services::verify_unanswered(work, resp)),
            },
            (Kind::Email, _) => Step::Done(crate::services::verify_unanswered(work, resp)),
            (_, 200) if work.request.path_and_query.starts_with("/v1/users?") => {
                self.verify_by_filter(work, resp)
            }
            _ if work.request.path_and_query.starts_with("/v1/users?") => {
                Step::Done(crate::services::verify_unanswered(work, resp))
            }
            (_, 404) => out(Status::Verified, "GET /v1/users/{identifyId} → 404".into()),
            (_, 200) => out(
                Status::Present,
                "GET /v1/users/{identifyId} → 200: the user exists".into(),
            ),
            _ => Step::Done(crate::services::verify_unanswered(work, resp)),
        }
    }
}

impl GainsightPx {
    /// The answer to `GET /v1/users?filter=id==X`: the filter ignores case,
    /// and ids are matched exactly ("Case sensitivity is enforced when making
    /// a call to get user/account by id"). A user on the page that is not X in
    /// any case means the filter was not applied: nothing can be told.
    fn verify_by_filter(&self, work: &Work, resp: &Response) -> Step {
        let id = &work.ids[0];
        let ids: Option<Vec<String>> =
            serde_json::from_str::<Value>(&resp.body)
                .ok()
                .and_then(|v| {
                    v["users"].as_array().map(|users| {
                        users
                            .iter()
                            .map(|u| {
                                u["identifyId"]
                                    .as_str()
                                    .or(u["id"].as_str())
                                    .unwrap_or_default()
                                    .to_string()
                            })
                            .collect()
                    })
                });
        let Some(ids) = ids.filter(|ids| {
            ids.iter()
                .all(|i| i.to_lowercase() == id.value.to_lowercase())
        }) else {
            return Step::Done(crate::services::verify_unanswered(work, resp));
        };
        let (status, detail) = if ids.contains(&id.value) {
            (
                Status::Present,
                "GET /v1/users?filter=id==… → 200: the user exists",
            )
        } else {
            (
                Status::Verified,
                "GET /v1/users?filter=id==… → 200, no user with this identifyId",
            )
        };
        Step::Done(vec![
            super::Outcome::new(id.clone(), status, detail).http(200),
        ])
    }

    fn read_delete(&self, work: &Work, resp: &Response) -> Step {
        match resp.status {
            200 | 204 => Step::Done(all(
                &work.ids,
                Status::Deleted,
                self.mode(),
                Some(resp.status),
            )),
            404 => Step::Done(all(
                &work.ids,
                Status::NotFound,
                &format!("no such user: {}", error_text(resp)),
                Some(404),
            )),
            400 => Step::Split {
                status: 400,
                detail: format!("rejected by Gainsight PX (400): {}", error_text(resp)),
                alone: Status::Failed,
            },
            s => Step::Done(all(
                &work.ids,
                Status::Failed,
                &format!("HTTP {s}: {}", error_text(resp)),
                Some(s),
            )),
        }
    }

    fn read_lookup(
        &self,
        work: &Work,
        pages: &[String],
        found: &[(usize, String)],
        resp: &Response,
    ) -> Step {
        if resp.status != 200 {
            return lookup_refused(work, resp);
        }
        let Some(Page {
            users: pairs,
            count,
            scroll,
        }) = page_users(&resp.body)
        else {
            return Step::Done(all(
                &work.ids,
                Status::Failed,
                &format!("lookup answer is not a users page: {}", resp.snippet()),
                Some(200),
            ));
        };
        let mut found = found.to_vec();
        for (email, id) in pairs {
            let asked = work
                .ids
                .iter()
                .position(|i| i.value.to_lowercase() == email);
            if let Some(i) = asked
                && !found.iter().any(|(_, f)| *f == id)
            {
                found.push((i, id));
            }
        }
        if count >= page_size(work.ids.len())
            && let Some(cursor) = scroll.filter(|s| !s.is_empty())
        {
            return self.next_page(work, pages, cursor, found);
        }
        Step::Continue {
            done: vec![],
            pending: vec![],
            next: self.deletions(work, &found),
        }
    }

    /// The lookup's next page, after `cursor` (unless the scroll is endless).
    fn next_page(
        &self,
        work: &Work,
        pages: &[String],
        cursor: String,
        found: Vec<(usize, String)>,
    ) -> Step {
        if let Some(why) = endless_scroll(pages, &cursor) {
            return Step::Done(all(&work.ids, Status::Failed, &why, Some(200)));
        }
        let request = self.lookup_request(&work.ids, Some(&cursor));
        let mut pages = pages.to_vec();
        pages.push(cursor);
        let next = Work::new(
            work.ids.clone(),
            request,
            Stage::Lookup {
                at: 0,
                pages,
                found,
            },
        );
        Step::Continue {
            done: vec![],
            pending: vec![],
            next: vec![next],
        }
    }

    /// Once the lookup is complete: for each e-mail, the deletion of the
    /// users found for it, one after the other.
    fn deletions(&self, work: &Work, found: &[(usize, String)]) -> Vec<Work> {
        let mut next = vec![];
        for (i, ident) in work.ids.iter().enumerate() {
            let ids: Vec<String> = found
                .iter()
                .filter(|(k, _)| *k == i)
                .map(|(_, id)| id.clone())
                .collect();
            // No user has this e-mail: identifyIds are often e-mail addresses in
            // Gainsight, so the address is tried as one (a 404 then: not found).
            let probe = ids.is_empty();
            let ids = if probe {
                vec![ident.value.clone()]
            } else {
                ids
            };
            let request = self.delete_request(&ids[0]);
            next.push(Work::new(
                vec![ident.clone()],
                request,
                Stage::Follow {
                    todo: ids,
                    done: vec![],
                    probe,
                },
            ));
        }
        next
    }

    /// One of the users an e-mail resolved to was deleted (or was already gone):
    /// go on with the next, or finish the e-mail.
    fn read_follow(
        &self,
        work: &Work,
        todo: &[String],
        done: &[String],
        probe: bool,
        resp: &Response,
    ) -> Step {
        let (current, rest) = match todo.split_first() {
            Some((c, r)) => (c.clone(), r.to_vec()),
            None => return Step::Done(vec![]),
        };
        let mut done = done.to_vec();
        match resp.status {
            404 if probe => {
                return Step::Done(all(
                    &work.ids,
                    Status::NotFound,
                    "no user with this e-mail, nor with it as identifyId",
                    Some(404),
                ));
            }
            200 | 204 | 404 => done.push(current),
            s => {
                let detail = format!(
                    "HTTP {s} deleting identifyId {current}: {}{}",
                    error_text(resp),
                    if done.is_empty() {
                        String::new()
                    } else {
                        format!(" (already deleted: {})", done.join(", "))
                    }
                );
                return Step::Done(all(&work.ids, Status::Failed, &detail, Some(s)));
            }
        }
        if let Some(next_id) = rest.first() {
            let request = self.delete_request(next_id);
            let next = Work::new(
                work.ids.clone(),
                request,
                Stage::Follow {
                    todo: rest,
                    done,
                    probe: false,
                },
            );
            return Step::Continue {
                done: vec![],
                pending: vec![],
                next: vec![next],
            };
        }
        let detail = format!("{}; identifyId {}", self.mode(), done.join(", "));
        Step::Done(all(&work.ids, Status::Deleted, &detail, Some(resp.status)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::idents;

    fn id(v: &str) -> Vec<Ident> {
        idents(&[v])
    }

    #[test]
    fn ids_travel_in_the_path_or_the_body() {
        let g = GainsightPx::new(true);
        let r = g.start(Kind::Id, id("a b@x+y%z/é")).request;
        assert_eq!(r.path_and_query, "/v1/users/delete?hardDelete=true");
        assert_eq!(r.body, Some(json!({"identifyId": "a b@x+y%z/é"})));
        // A space, `%` or a non-ASCII letter: the body form too.
        let r = g.start(Kind::Id, id("a b@x+y%zé")).request;
        assert_eq!(r.path_and_query, "/v1/users/delete?hardDelete=true");
        assert_eq!(r.body, Some(json!({"identifyId": "a b@x+y%zé"})));
        // Unreserved characters (and @ +) travel in the path, encoded.
        let r = g.start(Kind::Id, id("Ann.B-1_~x@y+z")).request;
        assert_eq!(
            r.path_and_query,
            "/v1/users/Ann.B-1_~x%40y%2Bz?hardDelete=true"
        );
        assert_eq!(r.body, None);
        assert_eq!(
            g.start(Kind::Id, id("..")).request.path_and_query,
            "/v1/users/delete?hardDelete=true"
        );
        let soft = GainsightPx::new(false);
        assert!(
            soft.start(Kind::Id, id("u1"))
                .request
                .path_and_query
                .ends_with("hardDelete=false")
        );
    }
}
