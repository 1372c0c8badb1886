//! The identifiers read so far, for dedupe, in 12 bytes a slot: no text; and
//! the table it is made of ([`Table`]), which a resumed run's report also uses
//! (`report::Prior`, the whole 128-bit key a slot).
//!
//! Each identifier's key is 128 bits of two hashes (foldhash, each seeded at
//! random for the run, so no list can be made to collide on purpose). 12 bits
//! pick one of 4,096 open-addressing tables (so a table that grows copies
//! 1/4,096 of the whole, and memory never doubles at once), and 64 more are
//! stored: two different identifiers are taken for one only if 76 bits of
//! their keys agree. For n identifiers the chance that any two do is at most
//! n²/2⁷⁷: 7·10⁻¹⁰ for ten million, 7·10⁻⁸ for a hundred million.
//! [`Seen::prefetch`] asks for the slot of a key a few keys ahead of its
//! insert, so their cache misses overlap instead of following one another.
//! Each slot also holds where the identifier was first read (an ordinal of
//! every line read, mapped back to `file:line` by [`super::stream`]).
//! A file's tables are made ready at once for the lines it holds
//! ([`Table::reserve`], all in one allocation), so a list of ten million is
//! not copied table by table as it grows.

use std::hash::BuildHasher;

use foldhash::quality::SeedableRandomState;

const PART_BITS: u32 = 12;
/// Grow a table past this load (of 1,000), by [`GROWTH`] (of 10).
const MAX_LOAD: usize = 850;
const GROWTH: usize = 14;

/// One slot: what is stored of a key ([`Stored`]; all zero: empty) and its value.
#[derive(Debug, Clone, Copy, Default)]
pub struct Slot<K> {
    key: K,
    value: u32,
}

/// What a slot keeps of a 128-bit key: never all zero (that is the empty slot).
pub trait Stored: Copy + Eq + Default {
    fn of(key: u128) -> Self;
    /// 64 bits of the key, where its probe starts.
    fn bits(self) -> u64;
}

/// 64 bits of the key: 12 bytes a slot with the value ([`Seen`]).
impl Stored for [u32; 2] {
    fn of(key: u128) -> Self {
        let k = match key as u64 {
            0 => 1,
            k => k,
        };
        [(k >> 32) as u32, k as u32]
    }
    fn bits(self) -> u64 {
        (u64::from(self[0]) << 32) | u64::from(self[1])
    }
}

/// The whole 128-bit key (an all-zero key kept as 1): 20 bytes a slot.
impl Stored for [u32; 4] {
    fn of(key: u128) -> Self {
        let k = key.max(1);
        [
            (k >> 96) as u32,
            (k >> 64) as u32,
            (k >> 32) as u32,
            k as u32,
        ]
    }
    fn bits(self) -> u64 {
        (u64::from(self[2]) << 32) | u64::from(self[3])
    }
}

/// A set of 128-bit keys with a `u32` each, in 4,096 open-addressing tables
/// (the key's top 12 bits pick one; a table that grows copies 1/4,096 of the whole).
pub struct Table<K> {
    /// The slots of the tables made ready at once ([`Table::reserve`]).
    slab: Vec<Slot<K>>,
    parts: Vec<Part<K>>,
    len: usize,
}

/// The dedupe set: 64 bits of each key and where it was first read.
pub type Seen = Table<[u32; 2]>;

/// The two hashes of a run's keys, seeded at random.
pub struct Keys(SeedableRandomState, SeedableRandomState);

impl Default for Keys {
    fn default() -> Self {
        Keys(SeedableRandomState::random(), SeedableRandomState::random())
    }
}

impl Keys {
    /// The 128-bit key of `bytes` (already normalised for comparison).
    pub fn key(&self, bytes: &[u8]) -> u128 {
        let a = self.0.hash_one(bytes);
        let b = self.1.hash_one(bytes);
        (u128::from(a) << 64) | u128::from(b)
    }
}

/// One of the tables: its slots in the slab ([`Table::reserve`]) until it
/// grows, then its own.
struct Part<K> {
    own: Vec<Slot<K>>,
    /// Where its slots start in the slab, and how many are there.
    at: usize,
    reserved: usize,
    len: usize,
}

impl<K> Default for Part<K> {
    fn default() -> Self {
        Part {
            own: vec![],
            at: 0,
            reserved: 0,
            len: 0,
        }
    }
}

/// What [`Table::insert`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    New,
    /// Read before, first at this ordinal.
    Seen(u32),
}

impl<K> std::fmt::Debug for Table<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table").field("len", &self.len).finish()
    }
}

impl<K: Stored> Default for Table<K> {
    fn default() -> Self {
        Table {
            slab: vec![],
            parts: (0..1usize << PART_BITS).map(|_| Part::default()).collect(),
            len: 0,
        }
    }
}

impl<K: Stored> Table<K> {
    fn part(key: u128) -> usize {
        (key >> (128 - PART_BITS)) as usize
    }

    /// The slots of table `p`.
    fn slots(&self, p: usize) -> &[Slot<K>] {
        let part = &self.parts[p];
        if part.own.is_empty() {
            &self.slab[part.at..part.at + part.reserved]
        } else {
            &part.own
        }
    }

    fn slots_mut(&mut self, p: usize) -> &mut [Slot<K>] {
        let Part {
            own, at, reserved, ..
        } = &mut self.parts[p];
        if own.is_empty() {
            &mut self.slab[*at..*at + *reserved]
        } else {
            own
        }
    }

    /// Record `key` with `value`, unless it is there: then its value.
    pub fn insert(&mut self, key: u128, value: u32) -> Insert {
        let (p, stored) = (Self::part(key), K::of(key));
        let (i, found) = self.find(p, stored);
        let slot = &mut self.slots_mut(p)[i];
        if found {
            return Insert::Seen(slot.value);
        }
        *slot = Slot { key: stored, value };
        self.parts[p].len += 1;
        self.len += 1;
        Insert::New
    }

    /// Record `key` with `value`, in place of any value it had.
    pub fn set(&mut self, key: u128, value: u32) {
        if let Insert::Seen(_) = self.insert(key, value) {
            let p = Self::part(key);
            let (i, _) = self.find(p, K::of(key));
            self.slots_mut(p)[i].value = value;
        }
    }

    /// The value of `key`, if it is there.
    pub fn get(&self, key: u128) -> Option<u32> {
        let slots = self.slots(Self::part(key));
        match probe(slots, K::of(key)) {
            (i, true) => Some(slots[i].value),
            _ => None,
        }
    }

    /// Ask the CPU to bring `key`'s home slot into the cache, ahead of its
    /// insert or look-up: the cache misses of a few keys then overlap.
    pub fn prefetch(&self, key: u128) {
        let slots = self.slots(Self::part(key));
        if let Some(slot) = slots.get(home(K::of(key), slots.len())) {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a prefetch is a hint; it reads nothing the program sees.
            unsafe {
                use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
                _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(slot).cast());
            }
            #[cfg(not(target_arch = "x86_64"))]
            std::hint::black_box(slot.value);
        }
    }

    /// Make room for `total` keys in all, so that a list whose size is known
    /// ahead (a file's bytes over its lines' length) is not copied table by
    /// table as it grows. An empty set takes its tables from one allocation
    /// (the slab: no allocator rounds 4,096 of them up one by one).
    pub fn reserve(&mut self, total: usize) {
        let per_part = Self::reserved(total);
        if self.len == 0 && self.slab.is_empty() {
            self.slab = vec![Slot::default(); per_part << PART_BITS];
            for (i, part) in self.parts.iter_mut().enumerate() {
                *part = Part {
                    at: i * per_part,
                    reserved: per_part,
                    ..Part::default()
                };
            }
            return;
        }
        for p in 0..self.parts.len() {
            if self.slots(p).len() < per_part {
                self.resize(p, per_part);
            }
        }
    }

    /// The slots a table is given for `total` keys in all: room for three
    /// standard deviations above its share before it would grow (about 5
    /// tables of the 4,096 will).
    fn reserved(total: usize) -> usize {
        let share = total.div_ceil(1 << PART_BITS);
        (share + 3 * share.isqrt() + 1) * 1000 / MAX_LOAD + 1
    }

    /// Keys recorded.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes this holds on the heap (the regression tests of memory).
    #[cfg(test)]
    pub fn heap_bytes(&self) -> usize {
        let slot = std::mem::size_of::<Slot<K>>();
        self.parts.capacity() * std::mem::size_of::<Part<K>>()
            + self.slab.capacity() * slot
            + self
                .parts
                .iter()
                .map(|p| p.own.capacity() * slot)
                .sum::<usize>()
    }

    /// The slot of table `p` holding `stored` (`true`), or the empty one
    /// where it goes, the table grown first if one more would fill it past
    /// [`MAX_LOAD`].
    fn find(&mut self, p: usize, stored: K) -> (usize, bool) {
        let cap = self.slots(p).len();
        if (self.parts[p].len + 1) * 1000 > cap * MAX_LOAD {
            self.resize(p, (cap * GROWTH / 10).max(8));
        }
        probe(self.slots(p), stored)
    }

    /// Table `p` copied into `cap` slots of its own (more than it holds).
    fn resize(&mut self, p: usize, cap: usize) {
        let mut own = vec![Slot::default(); cap];
        for s in self.slots(p).iter().filter(|s| s.key != K::default()) {
            let mut i = home(s.key, cap);
            while own[i].key != K::default() {
                i = if i + 1 == cap { 0 } else { i + 1 };
            }
            own[i] = *s;
        }
        self.parts[p].own = own;
    }
}

/// Where a stored key's probe starts in a table of `cap` slots.
fn home<K: Stored>(key: K, cap: usize) -> usize {
    ((u128::from(key.bits()) * cap as u128) >> 64) as usize
}

/// The slot holding `stored` (`true`), or the empty one where it would go.
/// A table is never full (at most [`MAX_LOAD`]): the probe ends at an empty
/// slot; a table of no slots holds nothing.
fn probe<K: Stored>(slots: &[Slot<K>], stored: K) -> (usize, bool) {
    let cap = slots.len();
    if cap == 0 {
        return (0, false);
    }
    let mut i = home(stored, cap);
    loop {
        let key = slots[i].key;
        if key == stored {
            return (i, true);
        }
        if key == K::default() {
            return (i, false);
        }
        i = if i + 1 == cap { 0 } else { i + 1 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_new_once_then_seen_with_where_it_was_first() {
        let (mut seen, keys) = (Seen::default(), Keys::default());
        let n = 200_000u32;
        for i in 0..n {
            let k = keys.key(format!("user{i}@example.com").as_bytes());
            assert_eq!(seen.insert(k, i), Insert::New, "{i}");
        }
        for i in (0..n).step_by(7) {
            let k = keys.key(format!("user{i}@example.com").as_bytes());
            assert_eq!(seen.insert(k, n + i), Insert::Seen(i));
        }
        assert_eq!(seen.len(), n as usize);
    }

    /// The resumed report's table: the whole key is kept (two keys apart only
    /// in the bits `Seen` drops stay two), `set` overrides, `get` reads.
    #[test]
    fn a_table_of_whole_keys_sets_and_gets() {
        let mut t = Table::<[u32; 4]>::default();
        let (a, b) = (7u128 << 64 | 5, 9u128 << 64 | 5);
        assert_eq!(t.get(a), None);
        t.set(a, 1);
        t.set(b, 2);
        t.set(a, 3);
        assert_eq!((t.get(a), t.get(b), t.len()), (Some(3), Some(2), 2));
        assert_eq!(t.insert(b, 4), Insert::Seen(2));
        assert_eq!(t.get(0), None);
        t.set(0, 5);
        assert_eq!(t.get(0), Some(5));
    }

    /// A table reserved for n keys takes them without growing (no table is
    /// copied but for a few of the 4,096 by chance), in at most 20 bytes each.
    #[test]
    fn a_reserved_table_takes_its_keys_without_growing() {
        let (mut seen, keys) = (Seen::default(), Keys::default());
        let n = 300_000u32;
        seen.reserve(n as usize);
        let (reserved, bytes) = (Seen::reserved(n as usize), seen.heap_bytes());
        assert!((0..1 << PART_BITS).all(|p| seen.slots(p).len() == reserved));
        assert_eq!(seen.slab.len(), reserved << PART_BITS);
        for i in 0..n {
            seen.insert(keys.key(&i.to_le_bytes()), i);
        }
        let grown = seen.parts.iter().filter(|p| !p.own.is_empty());
        assert!(grown.count() <= 20);
        assert!(bytes as f64 / f64::from(n) <= 20.0, "{bytes}");
    }

    /// Tables reserved too small grow out of the slab into their own slots,
    /// and a set reserved again once it holds keys grows each table: no key
    /// or value is lost either way.
    #[test]
    fn a_table_reserved_too_small_grows_and_keeps_every_key() {
        let (mut t, keys) = (Table::<[u32; 4]>::default(), Keys::default());
        t.reserve(1_000);
        let n = 100_000u32;
        for i in 0..n {
            assert_eq!(t.insert(keys.key(&i.to_le_bytes()), i), Insert::New);
        }
        assert!(t.parts.iter().all(|p| !p.own.is_empty()));
        t.reserve(400_000);
        for i in 0..n {
            assert_eq!(t.get(keys.key(&i.to_le_bytes())), Some(i), "{i}");
        }
        assert_eq!(t.len(), n as usize);
    }

    /// The dry run's memory per identifier (issue #24): a slot is 12 bytes, and
    /// a million identifiers take at most 20 bytes each (tables between 61%
    /// and 85% full), the tables' headers included.
    #[test]
    fn a_million_identifiers_take_at_most_20_bytes_each() {
        assert_eq!(std::mem::size_of::<Slot<[u32; 2]>>(), 12);
        assert_eq!(std::mem::size_of::<Slot<[u32; 4]>>(), 20);
        let (mut seen, keys) = (Seen::default(), Keys::default());
        for i in 0..1_000_000u32 {
            seen.insert(keys.key(&i.to_le_bytes()), i);
        }
        let per = seen.heap_bytes() as f64 / 1e6;
        assert!(per <= 20.0, "{per} bytes an identifier");
    }
}
