//! `purge verify` at Zendesk: `show_many?ids=` (an active user is still
//! there), then `GET /api/v2/deleted_users/{id}` for the others
//! (`ShowDeletedUser`: soft-deleted until Zendesk erases it; 404 once erased).

use super::{Zendesk, id_of, users_in, users_of};
use crate::services::{Outcome, Response, Stage, Status, Step, Work};

impl Zendesk {
    /// `purge verify`'s reading: `show_many`, then `deleted_users/{id}` per user.
    pub(super) fn read_verify(&self, work: &Work, resp: &Response) -> Step {
        match &work.stage {
            Stage::Follow { todo, done, .. } => {
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
                        let mut done = done.clone();
                        done.push(current.clone());
                        if rest.is_empty() {
                            Step::Done(vec![
                                Outcome::new(
                                    ident,
                                    Status::Verified,
                                    "GET /api/v2/users/show_many → not active; GET /api/v2/deleted_users/{id} → 404",
                                )
                                .http(404)
                                .with_vendor_ids(done),
                            ])
                        } else {
                            Step::Continue {
                                done: vec![],
                                pending: vec![],
                                next: vec![self.deleted_user(ident, rest.to_vec(), done)],
                            }
                        }
                    }
                    _ => Step::Done(crate::services::verify_unanswered(work, resp)),
                }
            }
            _ => {
                let users = match users_in(resp) {
                    Ok((users, _)) => users,
                    Err(_) => return Step::Done(crate::services::verify_unanswered(work, resp)),
                };
                let mut done = vec![];
                let mut next = vec![];
                for (i, ident) in work.ids.iter().enumerate() {
                    let mine = users_of(&work.targets, i);
                    let active: Vec<&String> = mine
                        .iter()
                        .filter(|uid| {
                            users.iter().any(|u| {
                                id_of(u).as_deref() == Some(uid.as_str())
                                    && u["active"].as_bool() != Some(false)
                            })
                        })
                        .collect();
                    if !active.is_empty() {
                        done.push(
                            Outcome::new(
                                ident.clone(),
                                Status::Present,
                                format!(
                                    "GET /api/v2/users/show_many → 200: user {} is active",
                                    active
                                        .iter()
                                        .map(|s| s.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            )
                            .http(200)
                            .with_vendor_ids(mine.clone()),
                        );
                    } else if mine.is_empty() {
                        done.push(
                            Outcome::new(
                                ident.clone(),
                                Status::Unverifiable,
                                "the report holds no Zendesk user id for it",
                            )
                            .http(200),
                        );
                    } else {
                        next.push(self.deleted_user(ident.clone(), mine, vec![]));
                    }
                }
                Step::Continue {
                    done,
                    pending: vec![],
                    next,
                }
            }
        }
    }
}
