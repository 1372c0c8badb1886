//! Zendesk jobs: `destroy_many` accepted, polled until it ends, its per-user
//! results read (the owner refused, open tickets said so), a job Zendesk no
//! longer knows re-checked by numeric id.

use serde::Deserialize;
use serde_json::Value;

use super::{SOFT_UNPROVEN, Zendesk, error_text, id_of, unique, users_in, users_of};
use crate::services::{Fatal, Ident, Outcome, Response, Status, Step, Work, all, snippet};

#[derive(Debug, Deserialize)]
struct Envelope {
    job_status: JobStatus,
}

#[derive(Debug, Deserialize)]
pub(super) struct JobStatus {
    id: String,
    status: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    results: Option<Value>,
}

/// What a job said about one submitted user.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Item {
    Deleted,
    NotFound(String),
    Failed(String),
    /// Zendesk will not delete it (the account owner).
    Refused(String),
    Missing,
}

pub(super) fn classify(r: &Value) -> Item {
    let ok = r["success"].as_bool() == Some(true)
        || r["status"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("deleted"));
    if ok && r.get("error").is_none() {
        return Item::Deleted;
    }
    let error = r["error"].as_str().unwrap_or("");
    let details = match &r["details"] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let words = [error, details.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(": ");
    let lower = words.to_ascii_lowercase();
    if lower.contains("not found") || lower.contains("notfound") || lower.contains("does not exist")
    {
        Item::NotFound(snippet(&words))
    } else if lower.contains("owner") {
        // "Administrators can delete all users except the account owner"
        // (`DeleteUser` in the OAS).
        Item::Refused(format!(
            "the account owner: Zendesk never deletes it, and purge does not try again (Zendesk said: {})",
            snippet(&words)
        ))
    } else if lower.contains("ticket") {
        Item::Failed(format!(
            "Zendesk will not delete this user while it has tickets that are not closed (Zendesk said: {}): solve or close them, or make another user their requester, then run purge again",
            snippet(&words)
        ))
    } else if words.is_empty() {
        Item::Failed(format!(
            "job result without success: {}",
            snippet(&r.to_string())
        ))
    } else {
        Item::Failed(snippet(&words))
    }
}

/// Find the result for the user id submitted at `pos`: by `id` (a number, or
/// the id as a string), else by `index` unless that result names another user.
pub(super) fn find<'a>(results: &'a [Value], pos: usize, key: &str) -> Option<&'a Value> {
    let names = |r: &Value| match &r["id"] {
        Value::Number(n) => Some(n.to_string() == key),
        Value::String(s) => Some(s == key),
        _ => None,
    };
    results.iter().find(|r| names(r) == Some(true)).or_else(|| {
        results
            .iter()
            .find(|r| r["index"].as_u64() == Some(pos as u64) && names(r) != Some(false))
    })
}

/// The answer to a submission that created no job: why, for each identifier
/// (`None` for a 2xx, whose job is read next).
fn submit_refused(work: &Work, resp: &Response) -> Option<Step> {
    match resp.status {
        200..=299 => None,
        400 | 422 => Some(Step::Done(all(
            &work.ids,
            Status::Failed,
            &format!(
                "rejected by Zendesk ({}): {}",
                resp.status,
                error_text(resp)
            ),
            Some(resp.status),
        ))),
        404 | 405 => Some(Step::Fatal(Fatal::new(
            resp.status,
            format!(
                "Zendesk answered {} for DELETE /api/v2/users/destroy_many: {} (check --subdomain or --base-url)",
                resp.status,
                error_text(resp)
            ),
        ))),
        s => Some(Step::Done(all(
            &work.ids,
            Status::Failed,
            &format!("HTTP {s}: {}", error_text(resp)),
            Some(s),
        ))),
    }
}

/// Without `--wait`: each identifier `queued` under the job that accepted it.
fn accepted(work: &Work, resp: &Response, job: &JobStatus) -> Vec<Outcome> {
    work.ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            Outcome::new(
                id.clone(),
                Status::Queued,
                format!(
                    "job {} accepted for user id {}",
                    job.id,
                    users_of(&work.targets, i).join(", ")
                ),
            )
            .http(resp.status)
            .job(&job.id)
        })
        .collect()
}

impl Zendesk {
    pub(super) fn read_submit(&self, work: &Work, resp: &Response) -> Step {
        if let Some(refused) = submit_refused(work, resp) {
            return refused;
        }
        let Ok(Envelope { job_status: job }) = serde_json::from_str::<Envelope>(&resp.body) else {
            return Step::Done(all(
                &work.ids,
                Status::Failed,
                &format!(
                    "HTTP {}: the answer has no job_status, so the outcome is unknown: {}",
                    resp.status,
                    resp.snippet()
                ),
                Some(resp.status),
            ));
        };
        if !self.wait {
            return Step::Done(accepted(work, resp, &job));
        }
        if is_terminal(&job.status) {
            return self.finish_job(work, &job);
        }
        let pending = work
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                Outcome::new(
                    id.clone(),
                    Status::Pending,
                    format!("waiting for job {}", job.id),
                )
                .http(resp.status)
                .job(&job.id)
                .with_vendor_ids(users_of(&work.targets, i))
            })
            .collect();
        Step::Continue {
            done: vec![],
            pending,
            next: vec![self.poll(work, &job.id, 0)],
        }
    }

    pub(super) fn read_poll(&self, work: &Work, job: &str, attempt: u32, resp: &Response) -> Step {
        if resp.status == 404 {
            // The job is gone (Zendesk keeps jobs about an hour): look its users
            // up by numeric id; never submit anything but those ids again.
            let mut w = self.show_many(work.ids.clone(), work.targets.clone(), false);
            w.targets = work.targets.clone();
            return Step::Continue {
                done: vec![],
                pending: vec![],
                next: vec![w],
            };
        }
        if !(200..300).contains(&resp.status) {
            return Step::Done(self.with_job(
                all(
                    &work.ids,
                    Status::Failed,
                    &format!(
                        "polling job {job} failed, so the outcome is unknown: HTTP {}: {}",
                        resp.status,
                        error_text(resp)
                    ),
                    Some(resp.status),
                ),
                job,
            ));
        }
        let Ok(Envelope { job_status: status }) = serde_json::from_str::<Envelope>(&resp.body)
        else {
            // A broken answer is asked again, like a busy server.
            return Step::Continue {
                done: vec![],
                pending: vec![],
                next: vec![self.poll(work, job, attempt + 1)],
            };
        };
        if is_terminal(&status.status) {
            self.finish_job(work, &status)
        } else {
            Step::Continue {
                done: vec![],
                pending: vec![],
                next: vec![self.poll(work, job, attempt + 1)],
            }
        }
    }

    /// The users of a job Zendesk no longer knows, looked up again: the ones
    /// still active are submitted again; the rest were deleted by that job.
    pub(super) fn read_recheck(&self, work: &Work, resp: &Response) -> Step {
        let users = match users_in(resp) {
            Ok((users, _)) => users,
            Err(s) => return self.lookup_failed(work, "GET /api/v2/users/show_many", resp, s),
        };
        let active = |uid: &str| {
            users
                .iter()
                .any(|u| id_of(u).as_deref() == Some(uid) && u["active"].as_bool() != Some(false))
        };
        let mut done = vec![];
        let mut next = vec![];
        let mut again = vec![];
        for (i, ident) in work.ids.iter().enumerate() {
            let mine = users_of(&work.targets, i);
            if mine.iter().any(|u| active(u)) {
                again.extend(mine.into_iter().map(|u| (i, u)));
            } else if self.permanent {
                next.push(self.erase(ident.clone(), mine, vec![], false));
            } else {
                done.push(
                    Outcome::new(
                        ident.clone(),
                        Status::Deleted,
                        format!(
                            "soft; user id {} no longer active (its job had expired when purge asked)",
                            mine.join(", ")
                        ),
                    )
                    .http(resp.status)
                    .with_vendor_ids(mine)
                    .unproven(SOFT_UNPROVEN),
                );
            }
        }
        next.extend(self.submissions(&work.ids, &again));
        Step::Continue {
            done,
            pending: vec![],
            next,
        }
    }

    fn with_job(&self, mut outs: Vec<Outcome>, job: &str) -> Vec<Outcome> {
        for o in &mut outs {
            o.job_id = Some(job.to_string());
        }
        outs
    }

    /// A job that ended: outcomes per identifier, and permanent erasure of its users.
    fn finish_job(&self, work: &Work, job: &JobStatus) -> Step {
        if !job.status.eq_ignore_ascii_case("completed") {
            let why = format!(
                "Zendesk job {} ended {}: {}",
                job.id,
                job.status,
                job.message.as_deref().unwrap_or("no message")
            );
            return Step::Done(
                self.with_job(all(&work.ids, Status::Failed, &why, Some(200)), &job.id),
            );
        }
        let mut done = vec![];
        let mut next = vec![];
        for (i, ident) in work.ids.iter().enumerate() {
            let mine = JobItems::of(self.items_of(work, job, i));
            match self.person_end(ident, mine, &job.id) {
                End::Done(outcome) => done.push(outcome),
                End::Erase(erase) => next.push(erase),
            }
        }
        Step::Continue {
            done,
            pending: vec![],
            next,
        }
    }

    /// What the job's results say of each user of identifier `i`.
    fn items_of(&self, work: &Work, job: &JobStatus, i: usize) -> Vec<(String, Item)> {
        // The user ids submitted, in order (`ids=` lists each once).
        let submitted: Vec<String> = unique(&work.targets)
            .into_iter()
            .filter(|u| !self.is_soft_known(u))
            .collect();
        let item_of = |uid: &str| -> Item {
            if self.is_soft_known(uid) {
                // Soft-deleted before the job, and left out of it.
                return Item::Deleted;
            }
            let pos = submitted.iter().position(|u| u == uid).unwrap_or(0);
            match &job.results {
                Some(Value::Array(results)) => {
                    find(results, pos, uid).map_or(Item::Missing, classify)
                }
                Some(obj @ Value::Object(_)) => classify(obj),
                _ => Item::Missing,
            }
        };
        users_of(&work.targets, i)
            .into_iter()
            .map(|u| {
                let it = item_of(&u);
                (u, it)
            })
            .collect()
    }

    /// A person's end once the job is done: an outcome, or the permanent
    /// erasure of its users that comes next.
    fn person_end(&self, ident: &Ident, mine: JobItems, job: &str) -> End {
        let out = |status, detail: String| {
            Outcome::new(ident.clone(), status, detail)
                .http(200)
                .job(job)
        };
        if !mine.failed.is_empty() {
            return End::Done(out(Status::Failed, mine.failed.join("; ")));
        }
        if !mine.refused.is_empty() {
            return End::Done(out(Status::Refused, mine.refused.join("; ")));
        }
        if self.permanent {
            let probe = !mine.absent.is_empty();
            let todo: Vec<String> = mine.deleted.into_iter().chain(mine.absent).collect();
            return End::Erase(self.erase(ident.clone(), todo, vec![], probe));
        }
        if mine.deleted.is_empty() {
            let d = mine.not_found.unwrap_or_else(|| "no such user".into());
            return End::Done(out(Status::NotFound, d));
        }
        let detail = if ident.value == mine.deleted.join(",") {
            "soft".to_string()
        } else {
            format!("soft; user id {}", mine.deleted.join(", "))
        };
        End::Done(
            out(Status::Deleted, detail)
                .with_vendor_ids(mine.deleted)
                .unproven(SOFT_UNPROVEN),
        )
    }
}

/// What comes of a person once its job is done.
enum End {
    Done(Outcome),
    Erase(Work),
}

/// A person's users sorted by what the job did to them.
#[derive(Default)]
struct JobItems {
    refused: Vec<String>,
    failed: Vec<String>,
    deleted: Vec<String>,
    /// "Not found" may mean soft-deleted already (an earlier, interrupted
    /// run): the permanent erasure tells (404 there: not found).
    absent: Vec<String>,
    /// The first "not found"'s words.
    not_found: Option<String>,
}

impl JobItems {
    fn of(mine: Vec<(String, Item)>) -> JobItems {
        let several = mine.len() > 1;
        let each = |why: &str, u: &str| {
            if several {
                format!("user {u}: {why}")
            } else {
                why.to_string()
            }
        };
        let mut sorted = JobItems::default();
        for (u, it) in mine {
            match it {
                Item::Refused(d) => sorted.refused.push(each(&d, &u)),
                Item::Failed(d) => sorted.failed.push(each(&d, &u)),
                Item::Missing => sorted.failed.push(each("not in job results", &u)),
                Item::Deleted => sorted.deleted.push(u),
                Item::NotFound(d) => {
                    sorted.not_found.get_or_insert(d);
                    sorted.absent.push(u);
                }
            }
        }
        sorted
    }
}

pub(super) fn is_terminal(status: &str) -> bool {
    matches!(
        status.to_ascii_lowercase().as_str(),
        "completed" | "failed" | "killed"
    )
}
