//! Gathering: follow-up work an adapter marks [`Work::gather`] (deletions by
//! the vendor ids its lookups found) is held here and sent in fuller requests,
//! up to the vendor's limit of targets a request, none held longer than its
//! interval. A piece of work is never split: a person's targets stay in one
//! request, so each person's line names the request that acted on them.

use tokio::time::Instant;

use crate::services::{Gathering, Ident, Service, Work};

pub struct Pool {
    spec: Gathering,
    held: Vec<Work>,
    /// Targets of `held`.
    targets: usize,
    /// When the oldest piece held must go.
    due: Option<Instant>,
}

impl Pool {
    pub fn new(spec: Gathering) -> Self {
        Pool {
            spec,
            held: vec![],
            targets: 0,
            due: None,
        }
    }

    /// Take `work` in; the groups now ready to go (the pool as it was, when
    /// `work` would take it past the limit; the pool with `work`, when full).
    pub fn add(&mut self, work: Work) -> Vec<Vec<Work>> {
        let mut ready = vec![];
        let n = work.targets.len();
        if self.targets + n > self.spec.limit && !self.held.is_empty() {
            ready.push(self.take());
        }
        self.targets += n;
        self.held.push(work);
        self.due
            .get_or_insert_with(|| Instant::now() + self.spec.within);
        if self.targets >= self.spec.limit {
            ready.push(self.take());
        }
        ready
    }

    /// When the oldest piece held is due (nothing held: `None`).
    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Everything held, emptying the pool.
    pub fn take(&mut self) -> Vec<Work> {
        self.targets = 0;
        self.due = None;
        std::mem::take(&mut self.held)
    }
}

/// One request for a group of gathered work (the adapter builds it from their
/// identifiers and targets), or the pieces as they are when it cannot.
pub fn combine(vendor: &dyn Service, kind: crate::services::Kind, group: Vec<Work>) -> Vec<Work> {
    if group.len() < 2 {
        return group;
    }
    let mut ids: Vec<Ident> = vec![];
    let mut targets: Vec<(usize, String)> = vec![];
    for w in &group {
        let base = ids.len();
        ids.extend(w.ids.iter().cloned());
        targets.extend(w.targets.iter().map(|(i, t)| (base + i, t.clone())));
    }
    match vendor.combine(kind, ids, targets) {
        Some(one) => vec![one],
        None => group,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::services::{Method, Request, Stage, idents};

    fn piece(name: &str, targets: usize) -> Work {
        let t = (0..targets).map(|k| (0, format!("{name}-{k}"))).collect();
        Work::new(
            idents(&[name]),
            Request::new(Method::Post, "/d"),
            Stage::Delete,
        )
        .with_targets(t)
        .gathered()
    }

    #[tokio::test(start_paused = true)]
    async fn pieces_are_held_until_full_and_never_split() {
        let mut pool = Pool::new(Gathering {
            limit: 5,
            within: Duration::from_secs(3),
        });
        assert!(pool.add(piece("a", 2)).is_empty());
        assert_eq!(pool.due(), Some(Instant::now() + Duration::from_secs(3)));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(pool.add(piece("b", 2)).is_empty());
        // Due from the oldest piece, not the newest.
        assert_eq!(pool.due(), Some(Instant::now() + Duration::from_secs(2)));
        // c's 2 would make 6: a and b go, c waits.
        let ready = pool.add(piece("c", 2));
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].len(), 2);
        // c and d make 5: full, they go at once.
        let ready = pool.add(piece("d", 3));
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].len(), 2);
        assert!(pool.is_empty() && pool.due().is_none());
    }
}
