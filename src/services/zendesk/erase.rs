//! Permanent erasure: `DELETE /api/v2/deleted_users/{id}` for each of an
//! identifier's users, on its own lane (700 per 10 minutes).

use super::{Zendesk, error_text};
use crate::services::{Outcome, Response, Status, Step, Work, all};

impl Zendesk {
    /// One user erased for good; on to the next of the identifier's users.
    /// `probe`: some were not confirmed to exist, so a 404 is "not there", and
    /// none erased at all means `not_found`.
    pub(super) fn read_erase(
        &self,
        work: &Work,
        todo: &[String],
        done: &[String],
        probe: bool,
        resp: &Response,
    ) -> Step {
        let Some((current, rest)) = todo.split_first() else {
            return Step::Done(vec![]);
        };
        let mut done = done.to_vec();
        match resp.status {
            200..=299 => done.push(current.clone()),
            // Not among the soft-deleted: never there (probe), or erased already.
            404 if probe => {}
            404 => done.push(current.clone()),
            s => {
                return Step::Done(all(
                    &work.ids,
                    Status::Failed,
                    &format!(
                        "soft-deleted (Zendesk keeps it up to 30 days, then erases it), but the permanent erasure of user {current} failed: HTTP {s}: {}",
                        error_text(resp)
                    ),
                    Some(s),
                ));
            }
        }
        if !rest.is_empty() {
            return Step::Continue {
                done: vec![],
                pending: vec![],
                next: vec![self.erase(work.ids[0].clone(), rest.to_vec(), done, probe)],
            };
        }
        if done.is_empty() {
            return Step::Done(all(
                &work.ids,
                Status::NotFound,
                "no such user (neither active nor soft-deleted)",
                Some(resp.status),
            ));
        }
        let detail = if work.ids[0].value == done.join(",") {
            "permanent".to_string()
        } else {
            format!("permanent; user id {}", done.join(", "))
        };
        Step::Done(vec![
            Outcome::new(work.ids[0].clone(), Status::Deleted, detail)
                .http(resp.status)
                .with_vendor_ids(done),
        ])
    }
}
