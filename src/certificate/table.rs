//! What the certificate keeps of a report, compactly: one entry an
//! identifier (its last line), in one vector, found through a map of 64 bits
//! of its key; evidence strings once each, named by a `u32`.
//!
//! At a million people this is 96 bytes an identifier plus about 27 in the
//! index, and the vendor ids' text where a line has them (issue #24: the
//! certificate of 1,000,000 people in ≤ 256 MB), where a map of whole keys to
//! whole lines took about 320.

use std::collections::HashMap;
use std::rc::Rc;

use crate::model::Status;

/// (vendor index, kind index, SHA-256 of the identifier).
pub type Key = (u16, u16, [u8; 32]);

type Fast<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Evidence strings (details, times, job ids), one copy each, counted: a
/// string no kept line uses any more is dropped and its id used again, so
/// what is kept follows the identifiers, not the lines read. `0` is the
/// empty string.
pub struct Strings {
    ids: Fast<Rc<str>, u32>,
    /// Each id's string and how many kept lines use it.
    list: Vec<(Rc<str>, u32)>,
    free: Vec<u32>,
}

impl Default for Strings {
    fn default() -> Self {
        let empty: Rc<str> = Rc::from("");
        let mut ids = Fast::default();
        ids.insert(Rc::clone(&empty), 0);
        Strings {
            ids,
            list: vec![(empty, 0)],
            free: vec![],
        }
    }
}

impl Strings {
    /// The id of `s`, kept once, for one more user: [`Self::release`] it when
    /// the line that holds it is replaced.
    pub fn id(&mut self, s: &str) -> u32 {
        if let Some(id) = self.ids.get(s).copied() {
            if id != 0 {
                self.list[id as usize].1 += 1;
            }
            return id;
        }
        let r: Rc<str> = Rc::from(s);
        let id = match self.free.pop() {
            Some(id) => {
                self.list[id as usize] = (Rc::clone(&r), 1);
                id
            }
            None => {
                let id = u32::try_from(self.list.len()).expect("fewer than 4 billion strings");
                self.list.push((Rc::clone(&r), 1));
                id
            }
        };
        self.ids.insert(r, id);
        id
    }

    /// One user of `id` fewer; the string goes when it has none.
    pub fn release(&mut self, id: u32) {
        let empty = Rc::clone(&self.list[0].0);
        let Some((text, users)) = self.list.get_mut(id as usize).filter(|_| id != 0) else {
            return;
        };
        *users -= 1;
        if *users == 0 {
            self.ids.remove(&**text);
            *text = empty;
            self.free.push(id);
        }
    }

    pub fn get(&self, id: u32) -> &str {
        &self.list[id as usize].0
    }

    /// Distinct strings kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.ids.len() - 1
    }
}

/// The last line of one identifier, as the certificate shows it.
pub struct Last {
    pub status: Status,
    /// The last purge outcome (not a verification), kept beside the verification.
    pub purge: Option<Status>,
    pub http_status: Option<u16>,
    /// 1-based line of the report.
    pub line: u32,
    /// [`Strings`] ids: the time, the evidence (already concealed unless
    /// `--show-ids`), the job id (`0`: none) and why the final outcome does
    /// not prove the person erased (`unproven`; `0`: it does).
    pub at: u32,
    pub detail: u32,
    pub job_id: u32,
    pub unproven: u32,
    /// The vendor ids, concealed unless `--show-ids`, joined by `, `.
    pub vendor_ids: Option<Box<str>>,
    /// What fewer lines have; boxed so the others pay 8 bytes for it.
    pub more: Option<Box<More>>,
}

/// The rarer, per-person texts of a line.
#[derive(Default)]
pub struct More {
    /// The request reference (`ref`), concealed unless `--show-ids`.
    pub reference: Option<Box<str>>,
    /// The identifier in clear (kept only with `--show-ids`, when a line had it).
    pub clear: Option<Box<str>>,
}

impl More {
    /// `None` when it holds nothing.
    pub fn boxed(self) -> Option<Box<More>> {
        (self.reference.is_some() || self.clear.is_some()).then(|| Box::new(self))
    }
}

impl Last {
    pub fn vendor_ids(&self) -> Option<&str> {
        self.vendor_ids.as_deref()
    }
    pub fn reference(&self) -> Option<&str> {
        self.more.as_ref().and_then(|m| m.reference.as_deref())
    }
    pub fn clear(&self) -> Option<&str> {
        self.more.as_ref().and_then(|m| m.clear.as_deref())
    }
}

/// Every identifier's last line, in the order identifiers were first read.
#[derive(Default)]
pub struct Table {
    /// 64 bits of a key → its entry; a second key with the same 64 bits goes to `collided`.
    index: Fast<u64, u32>,
    collided: HashMap<Key, u32>,
    entries: Vec<(Key, Last)>,
}

/// The first 64 bits of the identifier's SHA-256, told apart per vendor and kind.
fn short(key: &Key) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&key.2[..8]);
    u64::from_le_bytes(first) ^ ((u64::from(key.0) << 16) | u64::from(key.1))
}

impl Table {
    fn find(&self, key: &Key) -> Option<u32> {
        let i = *self.index.get(&short(key))?;
        if self.entries[i as usize].0 == *key {
            Some(i)
        } else {
            self.collided.get(key).copied()
        }
    }

    pub fn get_mut(&mut self, key: &Key) -> Option<&mut Last> {
        self.find(key).map(|i| &mut self.entries[i as usize].1)
    }

    /// Keep `last` as `key`'s last line; the line it replaces, if any.
    pub fn insert(&mut self, key: Key, last: Last) -> Option<Last> {
        if let Some(i) = self.find(&key) {
            return Some(std::mem::replace(&mut self.entries[i as usize].1, last));
        }
        let i = u32::try_from(self.entries.len()).expect("fewer than 4 billion identifiers");
        match self.index.entry(short(&key)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(i);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collided.insert(key, i);
            }
        }
        self.entries.push((key, last));
        None
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn entries(&self) -> &[(Key, Last)] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last(line: u32) -> Last {
        Last {
            status: Status::Deleted,
            purge: Some(Status::Deleted),
            http_status: None,
            line,
            at: 0,
            detail: 0,
            job_id: 0,
            unproven: 0,
            vendor_ids: None,
            more: None,
        }
    }

    /// Two keys whose first 64 bits agree stay two entries.
    #[test]
    fn keys_that_share_their_first_64_bits_stay_apart() {
        let mut a = [7u8; 32];
        let mut b = [7u8; 32];
        a[31] = 1;
        b[31] = 2;
        let mut t = Table::default();
        t.insert((0, 0, a), last(1));
        t.insert((0, 0, b), last(2));
        t.insert((1, 0, a), last(3));
        t.insert((0, 0, a), last(4));
        assert_eq!(t.len(), 3);
        assert_eq!(t.get_mut(&(0, 0, a)).unwrap().line, 4);
        assert_eq!(t.get_mut(&(0, 0, b)).unwrap().line, 2);
        assert_eq!(t.get_mut(&(1, 0, a)).unwrap().line, 3);
        assert!(t.get_mut(&(1, 0, b)).is_none());
        assert!(std::mem::size_of::<(Key, Last)>() <= 96);
    }

    /// A string no kept line uses is dropped, and its id serves another.
    #[test]
    fn strings_go_with_their_last_user() {
        let mut s = Strings::default();
        let a = s.id("job-1");
        assert_eq!(s.id("job-1"), a);
        assert_eq!(s.id(""), 0);
        s.release(a);
        assert_eq!(s.get(a), "job-1", "one user left");
        s.release(a);
        assert_eq!(s.len(), 0);
        let b = s.id("job-2");
        assert_eq!((b, s.get(b)), (a, "job-2"));
        assert_eq!(s.id("job-1"), b + 1);
        s.release(0);
        assert_eq!(s.get(0), "");
    }
}
