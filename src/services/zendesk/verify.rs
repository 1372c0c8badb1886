//! `purge verify` at Zendesk. The report is input, not authority: the user ids
//! it recorded for a person count only once Zendesk confirms they are still
//! the person's (`show_many?ids=&include=identities`, then the same check as
//! `--resume`: [`Zendesk::check`]). Ids that are not the person's are no
//! evidence and the detail says they were dropped; a person left without a
//! confirmed id is looked up again by its identifier, as a fresh run would
//! (the e-mail search, or `show_many?external_ids=`), so a person Zendesk
//! never had is `verified`. A confirmed user still active is `present`; one
//! not active is asked about with `GET /api/v2/deleted_users/{id}`
//! (`ShowDeletedUser`: soft-deleted until Zendesk erases it; 404 once erased).
//! Zendesk's user search is not documented to list soft-deleted users, so a
//! soft-deleted user is found only through the ids the report recorded.

use std::collections::HashMap;

use serde_json::Value;

use super::resume::Check;
use super::{SEARCH, Zendesk, id_of, users_in, users_of};
use crate::services::{Ident, Kind, Outcome, Response, Service, Stage, Status, Step, Work};

impl Zendesk {
    /// `purge verify`'s first read for a batch: the recorded user ids looked
    /// up (a user id identifier is its own), or, with none recorded, the
    /// identifiers looked up as a fresh run would.
    pub(super) fn verify_first(
        &self,
        kind: Kind,
        batch: Vec<Ident>,
        targets: Vec<(usize, String)>,
    ) -> Work {
        let targets = if kind == Kind::Id {
            batch
                .iter()
                .enumerate()
                .map(|(i, id)| (i, id.value.clone()))
                .collect()
        } else {
            targets
        };
        if targets.is_empty() {
            return self.start(kind, batch);
        }
        self.show_many(batch, targets.clone(), true)
            .with_targets(targets)
    }

    /// `purge verify`'s reading of any of its reads.
    pub(super) fn read_verify(&self, kind: Kind, work: &Work, resp: &Response) -> Step {
        let step = match &work.stage {
            Stage::Follow { todo, done, .. } => self.read_deleted_user(work, todo, done, resp),
            Stage::Lookup { at, pages, found }
                if work.request.path_and_query.starts_with(SEARCH) =>
            {
                self.read_search(work, *at, pages, found, resp)
            }
            Stage::Lookup { found, .. } => match users_in(resp) {
                Ok((users, identities)) => {
                    let found = if work.request.path_and_query.contains("external_ids=") {
                        self.external_found(work, &users)
                    } else {
                        found.clone()
                    };
                    self.judge(kind, work, &found, &users, &identities)
                }
                Err(_) => Step::Done(crate::services::verify_unanswered(work, resp)),
            },
            _ => Step::Done(crate::services::verify_unanswered(work, resp)),
        };
        self.settle(step)
    }

    /// The users found for each identifier of `work` (recorded, or found by
    /// the lookup), judged: the person's and active → `present`; the person's
    /// and not active → asked at `deleted_users`; recorded but not confirmed
    /// → dropped, and the person looked up afresh; none → `verified`.
    fn judge(
        &self,
        kind: Kind,
        work: &Work,
        found: &[(usize, String)],
        users: &[Value],
        identities: &[Value],
    ) -> Step {
        let recorded = !work.targets.is_empty();
        let (mut done, mut next, mut afresh) = (vec![], vec![], vec![]);
        for (i, ident) in work.ids.iter().enumerate() {
            let (mut active, mut soft, mut dropped) = (vec![], vec![], vec![]);
            for uid in users_of(found, i) {
                let record = users.iter().find(|u| id_of(u).as_deref() == Some(&uid));
                match (self.check(kind, ident, &uid, users, identities), record) {
                    (Check::Dropped(_), None) => dropped.push(format!(
                        "user {uid} is not listed by Zendesk (erased, or never this account's)"
                    )),
                    (Check::Dropped(why), Some(_)) => dropped.push(why),
                    (_, Some(u)) if u["active"].as_bool() != Some(false) => active.push(uid),
                    _ => soft.push(uid),
                }
            }
            if recorded && !dropped.is_empty() {
                self.note_dropped(ident, &dropped);
            }
            if !active.is_empty() {
                let detail = format!(
                    "GET /api/v2/users/show_many → 200: user {} is active",
                    active.join(", ")
                );
                let ids = active.iter().chain(&soft).cloned().collect();
                done.push(
                    Outcome::new(ident.clone(), Status::Present, detail)
                        .http(200)
                        .with_vendor_ids(ids),
                );
            } else if !soft.is_empty() {
                next.push(self.deleted_user(ident.clone(), soft, vec![]));
            } else if recorded {
                afresh.push(ident.clone());
            } else {
                done.push(
                    Outcome::new(ident.clone(), Status::Verified, none_found(kind)).http(200),
                );
            }
        }
        if !afresh.is_empty() {
            next.push(self.start(kind, afresh));
        }
        Step::Continue {
            done,
            pending: vec![],
            next,
        }
    }

    /// `GET /api/v2/deleted_users/{id}` answered for the first of `todo`.
    fn read_deleted_user(
        &self,
        work: &Work,
        todo: &[String],
        done: &[String],
        resp: &Response,
    ) -> Step {
        let Some((current, rest)) = todo.split_first() else {
            return Step::Done(vec![]);
        };
        let ident = work.ids[0].clone();
        match resp.status {
            200 => Step::Done(vec![
                Outcome::new(
                    ident,
                    Status::Present,
                    format!(
                        "soft-deleted, erased by Zendesk within 30 days: GET /api/v2/deleted_users/{{id}} → 200 for user {current}"
                    ),
                )
                .http(200)
                .with_vendor_ids(vec![current.clone()]),
            ]),
            404 => {
                let mut done = done.to_vec();
                done.push(current.clone());
                if rest.is_empty() {
                    return Step::Done(vec![
                        Outcome::new(
                            ident,
                            Status::Verified,
                            "GET /api/v2/users/show_many → not active; GET /api/v2/deleted_users/{id} → 404",
                        )
                        .http(404)
                        .with_vendor_ids(done),
                    ]);
                }
                Step::Continue {
                    done: vec![],
                    pending: vec![],
                    next: vec![self.deleted_user(ident, rest.to_vec(), done)],
                }
            }
            _ => Step::Done(crate::services::verify_unanswered(work, resp)),
        }
    }

    /// Remember why a person's recorded user ids were dropped, for the detail
    /// of its verification (written once the person is settled).
    fn note_dropped(&self, ident: &Ident, dropped: &[String]) {
        let mut notes = self.verify_notes.lock().unwrap_or_else(|e| e.into_inner());
        notes.insert(
            ident.value.clone(),
            format!(
                "the report's user ids were checked with Zendesk first: {}; dropped, no evidence, so the person was looked up again by its identifier",
                dropped.join("; ")
            ),
        );
    }

    /// A step's outcomes as verification outcomes: the lookup's `not_found`
    /// is `verified`, its `failed` is `unverifiable`; each with the note of
    /// the recorded ids dropped for the person, if any.
    fn settle(&self, step: Step) -> Step {
        let mut notes = self.verify_notes.lock().unwrap_or_else(|e| e.into_inner());
        let mut settle = |outcomes: Vec<Outcome>| -> Vec<Outcome> {
            outcomes
                .into_iter()
                .map(|o| settled(o, &mut notes))
                .collect()
        };
        match step {
            Step::Done(done) => Step::Done(settle(done)),
            Step::Continue {
                done,
                pending,
                next,
            } => Step::Continue {
                done: settle(done),
                pending,
                next,
            },
            other => other,
        }
    }
}

/// One outcome of a verification read, settled (see [`Zendesk::settle`]).
fn settled(mut o: Outcome, notes: &mut HashMap<String, String>) -> Outcome {
    match o.status {
        Status::NotFound => {
            o.status = Status::Verified;
            o.detail = format!("looked up by the identifier: {}", o.detail);
        }
        Status::Failed => o.status = Status::Unverifiable,
        _ => {}
    }
    if let Some(note) = notes.remove(&o.ident.value) {
        o.detail = format!("{}; {note}", o.detail);
    }
    o
}

/// The detail of a person the lookup by identifier did not find.
fn none_found(kind: Kind) -> &'static str {
    match kind {
        Kind::Email => {
            "looked up by the identifier: no user with this e-mail as primary address or verified identity"
        }
        Kind::ExternalId => "looked up by the identifier: no user with this external id",
        _ => "looked up by the identifier: no such user",
    }
}
