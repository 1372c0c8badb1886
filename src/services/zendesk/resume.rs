//! Resuming a recorded job: the report is input, not authority. The user ids a
//! `pending` line recorded are looked up (`show_many?ids=&include=identities`)
//! before anything is done with them; only users Zendesk confirms are still
//! the person's, and that the role check allows as on a fresh run, are
//! followed through the job. Ids that are not the person's are dropped (a
//! `pending` note says so in the report), and a person left without any is
//! looked up again by its identifier, as on a fresh run.

use serde_json::Value;

use super::{Zendesk, has_address, id_of, unique, users_in, users_of};
use crate::services::{
    Ident, Kind, Method, Outcome, Request, Response, Service, Stage, Status, Step, Work,
};

/// What the lookup said about one recorded user id of a person.
pub(super) enum Check {
    /// The person's, and deletable: followed through the job.
    Mine,
    /// The person's, but protected (a role a fresh run refuses).
    Refused(String),
    /// Not the person's, or not confirmable: dropped, with why.
    Dropped(String),
}

impl Zendesk {
    /// The confirmation of a resumed job's recorded users; `page` carries the
    /// job to poll once they are confirmed.
    pub(super) fn confirm(
        &self,
        ids: Vec<Ident>,
        targets: Vec<(usize, String)>,
        job: &str,
    ) -> Work {
        Work::new(
            ids,
            Request::new(
                Method::Get,
                format!(
                    "/api/v2/users/show_many?ids={}&include=identities",
                    unique(&targets).join(",")
                ),
            ),
            Stage::Lookup {
                at: 0,
                pages: vec![job.to_string()],
                found: targets.clone(),
            },
        )
        .with_targets(targets)
    }

    /// Whether recorded user `uid` is still the person `ident` of kind `kind`.
    pub(super) fn check(
        &self,
        kind: Kind,
        ident: &Ident,
        uid: &str,
        users: &[Value],
        identities: &[Value],
    ) -> Check {
        let record = users.iter().find(|u| id_of(u).as_deref() == Some(uid));
        let mine = match (record, kind) {
            (_, Kind::Id) => uid == ident.value,
            (Some(u), Kind::Email) => has_address(u, identities, &ident.value),
            // External ids are matched in any case, as Zendesk treats them
            // (`read_external`).
            (Some(u), _) => u["external_id"]
                .as_str()
                .is_some_and(|x| x.to_lowercase() == ident.value.to_lowercase()),
            // Not active at Zendesk: its record cannot show whose it is.
            (None, _) => {
                return Check::Dropped(format!(
                    "user {uid} is not active at Zendesk, so it cannot be confirmed as this person's"
                ));
            }
        };
        if !mine {
            return Check::Dropped(format!(
                "user {uid} is not this person's at Zendesk (its {} is not the identifier)",
                match kind {
                    Kind::Email => "primary e-mail or a verified identity",
                    Kind::Id => "id",
                    _ => "external id",
                }
            ));
        }
        match record.and_then(|u| self.protected(u, uid)) {
            Some(why) => Check::Refused(why),
            None => Check::Mine,
        }
    }

    /// The recorded users looked up: the confirmed ones go on to the job's
    /// poll, the protected are refused, a person with none is resolved afresh.
    pub(super) fn read_confirm(&self, kind: Kind, work: &Work, job: &str, resp: &Response) -> Step {
        let (users, identities) = match users_in(resp) {
            Ok(u) => u,
            Err(s) => return self.lookup_failed(work, "GET /api/v2/users/show_many", resp, s),
        };
        let mut done = vec![];
        let mut notes = vec![];
        let mut follow: Vec<Ident> = vec![];
        let mut targets = vec![];
        let mut afresh = vec![];
        for (i, ident) in work.ids.iter().enumerate() {
            let mut mine = vec![];
            let mut refused = vec![];
            let mut dropped = vec![];
            for uid in users_of(&work.targets, i) {
                match self.check(kind, ident, &uid, &users, &identities) {
                    Check::Mine => mine.push(uid),
                    Check::Refused(why) => refused.push(why),
                    Check::Dropped(why) => dropped.push(why),
                }
            }
            if !dropped.is_empty() {
                notes.push(
                    Outcome::new(
                        ident.clone(),
                        Status::Pending,
                        format!(
                            "resumed job {job}: the report's user ids were checked with Zendesk first: {}; dropped, not acted on",
                            dropped.join("; ")
                        ),
                    )
                    .http(resp.status),
                );
            }
            if !refused.is_empty() {
                done.push(
                    Outcome::new(ident.clone(), Status::Refused, refused.join("; ")).http(200),
                );
            } else if mine.is_empty() {
                afresh.push(ident.clone());
            } else {
                let at = follow.len();
                follow.push(ident.clone());
                targets.extend(mine.into_iter().map(|u| (at, u)));
            }
        }
        let mut next = vec![];
        if !follow.is_empty() {
            let base = Work::new(follow, Request::new(Method::Get, "/"), Stage::Delete)
                .with_targets(targets);
            let mut poll = self.poll(&base, job, 0);
            poll.delay = std::time::Duration::ZERO;
            next.push(poll);
        }
        if !afresh.is_empty() {
            next.push(self.start(kind, afresh));
        }
        Step::Continue {
            done,
            pending: notes,
            next,
        }
    }
}
