//! Resolving identifiers to Zendesk user records before anything is deleted:
//! `show_many` by id or by external id (in each brand scope), the e-mail search
//! (every page) and its confirmation against the user's addresses; the role
//! check; submissions by numeric id only.

use serde_json::Value;

use super::{
    BATCH_LIMIT, MAX_SEARCH_PAGES, SEARCH, Zendesk, error_text, has_address, id_of, users_of,
};
use crate::services::{
    Fatal, Ident, Kind, Method, Outcome, Request, Response, Stage, Status, Step, Work, all, snippet,
};

/// The `users` of a lookup answer and its sideloaded `identities`, or the step
/// for an answer that is not one.
pub(super) fn users_in(resp: &Response) -> Result<(Vec<Value>, Vec<Value>), Option<u16>> {
    if resp.status != 200 {
        return Err(Some(resp.status));
    }
    let v = serde_json::from_str::<Value>(&resp.body).map_err(|_| None)?;
    let users = v["users"].as_array().cloned().ok_or(None)?;
    let identities = v["identities"].as_array().cloned().unwrap_or_default();
    Ok((users, identities))
}

impl Zendesk {
    /// A lookup Zendesk did not answer with users: a wrong endpoint stops the
    /// run; anything else fails the identifiers of the work.
    pub(super) fn lookup_failed(
        &self,
        work: &Work,
        what: &str,
        resp: &Response,
        status: Option<u16>,
    ) -> Step {
        match status {
            Some(s @ (404 | 405)) => Step::Fatal(Fatal::new(
                s,
                format!(
                    "Zendesk answered {s} for {what}: {} (check --subdomain or --base-url)",
                    error_text(resp)
                ),
            )),
            Some(s) => Step::Done(all(
                &work.ids,
                Status::Failed,
                &format!(
                    "looking the users up failed, so nothing was deleted: {what}: HTTP {s}: {}",
                    error_text(resp)
                ),
                Some(s),
            )),
            None => Step::Done(all(
                &work.ids,
                Status::Failed,
                &format!(
                    "looking the users up failed, so nothing was deleted: {what} answered without a user list: {}",
                    resp.snippet()
                ),
                Some(resp.status),
            )),
        }
    }

    /// User records found for the identifiers (`found` pairs each identifier
    /// with a user id): keep the ones that really are the identifier, refuse
    /// the protected, and submit the rest by numeric id.
    pub(super) fn decide(
        &self,
        kind: Kind,
        work: &Work,
        found: &[(usize, String)],
        users: &[Value],
        identities: &[Value],
    ) -> Step {
        let mut done = vec![];
        let mut targets = vec![];
        let mut next = vec![];
        for (i, ident) in work.ids.iter().enumerate() {
            let mut mine = vec![];
            let mut soft = vec![];
            let mut refused = vec![];
            for uid in users_of(found, i) {
                let record = users.iter().find(|u| id_of(u).as_deref() == Some(&uid));
                match record {
                    // A search hit is this person only on an exact address.
                    Some(u) if kind == Kind::Email && !has_address(u, identities, &ident.value) => {
                    }
                    Some(u) => match self.protected(u, &uid) {
                        Some(why) => refused.push(why),
                        // Soft-deleted already (`active: false`): what
                        // `destroy_many` does with such a user is not
                        // documented, so it goes straight to the erasure.
                        None if u["active"].as_bool() == Some(false) => soft.push(uid),
                        None => mine.push(uid),
                    },
                    // A user id Zendesk does not list may be soft-deleted: the
                    // job says "not found", and the permanent erasure tells.
                    None if kind == Kind::Id => mine.push(uid),
                    None => {}
                }
            }
            let out =
                |status, detail: String| Outcome::new(ident.clone(), status, detail).http(200);
            if !refused.is_empty() {
                // Nothing of a person is deleted when one of its records is protected.
                done.push(out(Status::Refused, refused.join("; ")));
            } else if mine.is_empty() && soft.is_empty() {
                let why = match kind {
                    Kind::Email => {
                        "no user with this e-mail as primary address or verified identity"
                            .to_string()
                    }
                    Kind::ExternalId => format!("no user with this external id ({})", self.scope()),
                    _ => "no such user".to_string(),
                };
                done.push(out(Status::NotFound, why));
            } else if mine.is_empty() {
                self.already_soft(ident, soft, &mut done, &mut next);
            } else {
                // Some active, some soft-deleted: the job takes the active ones,
                // and the soft-deleted ones are erased with them once it ends.
                self.note_soft(&soft);
                targets.extend(mine.into_iter().chain(soft).map(|u| (i, u)));
            }
        }
        next.extend(self.submissions(&work.ids, &targets));
        Step::Continue {
            done,
            pending: vec![],
            next,
        }
    }

    /// A person whose users are all soft-deleted already: erased for good at
    /// once (no job), or, without the permanent step, recorded as soft-deleted.
    fn already_soft(
        &self,
        ident: &Ident,
        soft: Vec<String>,
        done: &mut Vec<Outcome>,
        next: &mut Vec<Work>,
    ) {
        if self.permanent && self.wait {
            next.push(self.erase(ident.clone(), soft, vec![], false));
            return;
        }
        done.push(
            Outcome::new(
                ident.clone(),
                Status::Deleted,
                format!(
                    "soft; user id {} was soft-deleted already (Zendesk erases it within 30 days)",
                    soft.join(", ")
                ),
            )
            .http(200)
            .with_vendor_ids(soft)
            .unproven(super::SOFT_UNPROVEN),
        );
    }

    /// External ids looked up: a user whose external id is the identifier in
    /// any case is this person's ("The API treats the id as case insensitive.
    /// Example: \"ian1\" and \"IAN1\" are the same value": `external_id` of the
    /// User schema in the OAS).
    pub(super) fn read_external(&self, kind: Kind, work: &Work, resp: &Response) -> Step {
        let (users, _) = match users_in(resp) {
            Ok(u) => u,
            Err(s) => {
                return self.lookup_failed(
                    work,
                    "GET /api/v2/users/show_many?external_ids=",
                    resp,
                    s,
                );
            }
        };
        let found = self.external_found(work, &users);
        self.decide(kind, work, &found, &users, &[])
    }

    /// The users whose external id is an identifier of `work` (in any case),
    /// each paired with the identifier's index.
    pub(super) fn external_found(&self, work: &Work, users: &[Value]) -> Vec<(usize, String)> {
        let mut found = vec![];
        for (i, ident) in work.ids.iter().enumerate() {
            let want = ident.value.to_lowercase();
            for u in users {
                if u["external_id"].as_str().map(str::to_lowercase) == Some(want.clone())
                    && let Some(id) = id_of(u)
                    && !found.contains(&(i, id.clone()))
                {
                    found.push((i, id));
                }
            }
        }
        found
    }

    /// One page of the search for e-mail `at`: every hit is a candidate, to be
    /// confirmed against the user's addresses once the batch is searched.
    pub(super) fn read_search(
        &self,
        work: &Work,
        at: usize,
        pages: &[String],
        found: &[(usize, String)],
        resp: &Response,
    ) -> Step {
        let (users, next_page) = match users_in(resp) {
            Ok((users, _)) => {
                let next = serde_json::from_str::<Value>(&resp.body)
                    .ok()
                    .and_then(|v| v["next_page"].as_str().map(str::to_string));
                (users, next)
            }
            Err(Some(s @ (404 | 405))) => {
                return self.lookup_failed(work, "GET /api/v2/users/search", resp, Some(s));
            }
            Err(status) => {
                // This e-mail fails; the batch goes on without it.
                let why = match status {
                    Some(s) => format!("user search failed: HTTP {s}: {}", error_text(resp)),
                    None => format!("user search answer is not a user list: {}", resp.snippet()),
                };
                return self.search_failed(work, at, found.to_vec(), why, resp.status);
            }
        };
        let mut found = found.to_vec();
        for u in &users {
            if let Some(id) = id_of(u)
                && !found.contains(&(at, id.clone()))
            {
                found.push((at, id));
            }
        }
        if let Some(next) = next_page {
            return match self.next_search_page(&work.request.path_and_query, pages, &next) {
                Ok(path) => {
                    let mut pages = pages.to_vec();
                    pages.push(path);
                    Step::Continue {
                        done: vec![],
                        pending: vec![],
                        next: vec![self.search(work.ids.clone(), at, pages, found)],
                    }
                }
                Err(why) => self.search_failed(work, at, found, why, resp.status),
            };
        }
        if found.len() > BATCH_LIMIT {
            return self.search_overflow(work, at, found);
        }
        self.search_next(work.ids.clone(), at + 1, found, vec![])
    }

    /// E-mail `at` fails (`why`); the batch goes on without it.
    fn search_failed(
        &self,
        work: &Work,
        at: usize,
        mut found: Vec<(usize, String)>,
        why: String,
        status: u16,
    ) -> Step {
        let failed = Outcome::new(work.ids[at].clone(), Status::Failed, why).http(status);
        let mut ids = work.ids.clone();
        ids.remove(at);
        found.retain(|(k, _)| *k != at);
        self.search_next(ids, at, found, vec![failed])
    }

    /// More candidates than one confirmation holds: e-mail `at` starts a new
    /// batch (or, alone, fails).
    fn search_overflow(&self, work: &Work, at: usize, mut found: Vec<(usize, String)>) -> Step {
        if at == 0 {
            let failed = Outcome::new(
                work.ids[0].clone(),
                Status::Failed,
                format!(
                    "Zendesk's search returned {} users for this address, more than purge confirms at once ({BATCH_LIMIT}): look them up and erase them with -k id",
                    found.len()
                ),
            )
            .http(200);
            let rest = work.ids[1..].to_vec();
            return self.search_next(rest, 0, vec![], vec![failed]);
        }
        found.retain(|(k, _)| *k < at);
        let (head, tail) = work.ids.split_at(at);
        Step::Continue {
            done: vec![],
            pending: vec![],
            next: vec![
                self.show_many(head.to_vec(), found, true),
                self.search(tail.to_vec(), 0, vec![], vec![]),
            ],
        }
    }

    /// The path of the next page of a user search that Zendesk named in
    /// `next_page`, or why purge does not follow it (the e-mail then fails):
    /// only the path and query are followed, so the request stays on the
    /// account's host; a page named twice, or a page past the documented cap,
    /// would make the search endless. `current` is the page in flight,
    /// `pages` the next pages followed before.
    fn next_search_page(
        &self,
        current: &str,
        pages: &[String],
        next: &str,
    ) -> Result<String, String> {
        let path = match reqwest::Url::parse(next) {
            Ok(u) if u.path().trim_end_matches(".json") == SEARCH => {
                format!("{}?{}", u.path(), u.query().unwrap_or(""))
            }
            _ => {
                return Err(format!(
                    "user search named a next page purge does not follow: {}",
                    snippet(next)
                ));
            }
        };
        if path == current || pages.contains(&path) {
            return Err(format!(
                "Zendesk's user search named a page it had already answered ({}), so its pages would never end: nothing was deleted for this address; look its users up and erase them with -k id",
                snippet(next)
            ));
        }
        if pages.len() + 1 >= MAX_SEARCH_PAGES {
            return Err(format!(
                "Zendesk's user search named more than {MAX_SEARCH_PAGES} pages for this address, past the 10,000 records (100 a page) Zendesk documents as a search's most: nothing was deleted for it; look its users up and erase them with -k id"
            ));
        }
        Ok(path)
    }

    /// Go on with e-mail `at` of `ids`, or confirm the candidates once all are searched.
    fn search_next(
        &self,
        ids: Vec<Ident>,
        at: usize,
        found: Vec<(usize, String)>,
        done: Vec<Outcome>,
    ) -> Step {
        let next = if ids.is_empty() {
            vec![]
        } else if at < ids.len() {
            vec![self.search(ids, at, vec![], found)]
        } else if found.is_empty() {
            let none = Work::new(ids, Request::new(Method::Get, "/"), Stage::Delete);
            let Step::Continue { done: nf, .. } = self.decide(Kind::Email, &none, &[], &[], &[])
            else {
                unreachable!("decide continues")
            };
            return Step::Continue {
                done: done.into_iter().chain(nf).collect(),
                pending: vec![],
                next: vec![],
            };
        } else {
            vec![self.show_many(ids, found, true)]
        };
        Step::Continue {
            done,
            pending: vec![],
            next,
        }
    }
}
