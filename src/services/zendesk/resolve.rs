//! Resolving identifiers to Zendesk user records before anything is deleted:
//! `show_many` by id or by external id (in each brand scope), the e-mail search
//! (every page) and its confirmation against the user's addresses; the role
//! check; submissions by numeric id only.

use serde_json::Value;

use super::{BATCH_LIMIT, SEARCH, Zendesk, error_text, has_address, id_of, users_of};
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
        for (i, ident) in work.ids.iter().enumerate() {
            let mut mine = vec![];
            let mut refused = vec![];
            for uid in users_of(found, i) {
                let record = users.iter().find(|u| id_of(u).as_deref() == Some(&uid));
                match record {
                    // A search hit is this person only on an exact address.
                    Some(u) if kind == Kind::Email && !has_address(u, identities, &ident.value) => {
                    }
                    Some(u) => match self.protected(u, &uid) {
                        Some(why) => refused.push(why),
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
            } else if mine.is_empty() {
                let why = match kind {
                    Kind::Email => {
                        "no user with this e-mail as primary address or verified identity"
                            .to_string()
                    }
                    Kind::ExternalId => format!("no user with this external id ({})", self.scope()),
                    _ => "no such user".to_string(),
                };
                done.push(out(Status::NotFound, why));
            } else {
                targets.extend(mine.into_iter().map(|u| (i, u)));
            }
        }
        Step::Continue {
            done,
            pending: vec![],
            next: self.submissions(&work.ids, &targets),
        }
    }

    /// External ids in brand scope `at`: exact matches are this person's users.
    pub(super) fn read_external(
        &self,
        kind: Kind,
        work: &Work,
        at: usize,
        found: &[(usize, String)],
        resp: &Response,
    ) -> Step {
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
        let mut found = found.to_vec();
        for (i, ident) in work.ids.iter().enumerate() {
            for u in &users {
                if u["external_id"].as_str() == Some(ident.value.as_str())
                    && let Some(id) = id_of(u)
                    && !found.contains(&(i, id.clone()))
                {
                    found.push((i, id));
                }
            }
        }
        if self.brands.len() <= 1 {
            return self.decide(kind, work, &found, &users, &[]);
        }
        let next = if at + 1 < self.brands.len() {
            self.by_external(work.ids.clone(), at + 1, found)
        } else if found.is_empty() {
            return self.decide(kind, work, &[], &[], &[]);
        } else {
            // Every scope searched: the users' records (role) by numeric id.
            self.show_many(work.ids.clone(), found, false)
        };
        Step::Continue {
            done: vec![],
            pending: vec![],
            next: vec![next],
        }
    }

    /// One page of the search for e-mail `at`: every hit is a candidate, to be
    /// confirmed against the user's addresses once the batch is searched.
    pub(super) fn read_search(
        &self,
        work: &Work,
        at: usize,
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
                let failed =
                    Outcome::new(work.ids[at].clone(), Status::Failed, why).http(resp.status);
                let mut ids = work.ids.clone();
                ids.remove(at);
                let found: Vec<(usize, String)> =
                    found.iter().filter(|(k, _)| *k != at).cloned().collect();
                return self.search_next(ids, at, found, vec![failed]);
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
            // Only the path is followed: the request stays on the account's host.
            return match reqwest::Url::parse(&next) {
                Ok(u) if u.path().trim_end_matches(".json") == SEARCH => Step::Continue {
                    done: vec![],
                    pending: vec![],
                    next: vec![self.search(
                        work.ids.clone(),
                        at,
                        Some(format!("{}?{}", u.path(), u.query().unwrap_or(""))),
                        found,
                    )],
                },
                _ => {
                    let failed = Outcome::new(
                        work.ids[at].clone(),
                        Status::Failed,
                        format!(
                            "user search named a next page purge does not follow: {}",
                            snippet(&next)
                        ),
                    )
                    .http(resp.status);
                    let mut ids = work.ids.clone();
                    ids.remove(at);
                    found.retain(|(k, _)| *k != at);
                    self.search_next(ids, at, found, vec![failed])
                }
            };
        }
        if found.len() > BATCH_LIMIT {
            // More candidates than one confirmation holds: this e-mail starts a
            // new batch (or, alone, fails).
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
            return Step::Continue {
                done: vec![],
                pending: vec![],
                next: vec![
                    self.show_many(head.to_vec(), found, true),
                    self.search(tail.to_vec(), 0, None, vec![]),
                ],
            };
        }
        self.search_next(work.ids.clone(), at + 1, found, vec![])
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
            vec![self.search(ids, at, None, found)]
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
