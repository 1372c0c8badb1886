//! The identifiers read so far, for dedupe, in 12 bytes a slot: no text.
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
//! every line read, mapped back to `file:line` by [`super::Accumulator`]).

use std::hash::BuildHasher;

use foldhash::quality::SeedableRandomState;

const PART_BITS: u32 = 12;
/// Grow a table past this load (of 1,000), by [`GROWTH`] (of 10).
const MAX_LOAD: usize = 850;
const GROWTH: usize = 14;

/// One slot: the stored 64 bits of a key (`[0, 0]`: empty) and where it was first read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Slot {
    key: [u32; 2],
    first: u32,
}

pub struct Seen {
    parts: Vec<Part>,
    len: usize,
}

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

#[derive(Default)]
struct Part {
    slots: Vec<Slot>,
    len: usize,
}

/// What [`Seen::insert`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    New,
    /// Read before, first at this ordinal.
    Seen(u32),
}

impl Default for Seen {
    fn default() -> Self {
        Seen {
            parts: (0..1usize << PART_BITS).map(|_| Part::default()).collect(),
            len: 0,
        }
    }
}

impl Seen {
    /// Record `key`, first read at `first`, unless it was read before.
    pub fn insert(&mut self, key: u128, first: u32) -> Insert {
        let part = (key >> (128 - PART_BITS)) as usize;
        let stored = match key as u64 {
            0 => 1,
            k => k,
        };
        let found = self.parts[part].insert(stored, first);
        if found == Insert::New {
            self.len += 1;
        }
        found
    }

    /// Ask the CPU to bring `key`'s home slot into the cache, ahead of its
    /// insert: the cache misses of a few keys then overlap.
    pub fn prefetch(&self, key: u128) {
        let part = &self.parts[(key >> (128 - PART_BITS)) as usize];
        if let Some(slot) = part.slots.get(Part::home(key as u64, part.slots.len())) {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a prefetch is a hint; it reads nothing the program sees.
            unsafe {
                use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
                _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(slot).cast());
            }
            #[cfg(not(target_arch = "x86_64"))]
            std::hint::black_box(slot.first);
        }
    }

    /// Distinct identifiers recorded.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes this holds on the heap (the regression test of the dry run's memory).
    #[cfg(test)]
    pub fn heap_bytes(&self) -> usize {
        self.parts.capacity() * std::mem::size_of::<Part>()
            + self
                .parts
                .iter()
                .map(|p| p.slots.capacity() * std::mem::size_of::<Slot>())
                .sum::<usize>()
    }
}

impl Part {
    /// Where a stored key's probe starts in a table of `cap` slots.
    fn home(key: u64, cap: usize) -> usize {
        ((u128::from(key) * cap as u128) >> 64) as usize
    }

    fn insert(&mut self, key: u64, first: u32) -> Insert {
        if (self.len + 1) * 1000 > self.slots.len() * MAX_LOAD {
            self.grow();
        }
        let stored = [(key >> 32) as u32, key as u32];
        let cap = self.slots.len();
        let mut i = Self::home(key, cap);
        loop {
            let slot = &mut self.slots[i];
            if slot.key == [0, 0] {
                *slot = Slot { key: stored, first };
                self.len += 1;
                return Insert::New;
            }
            if slot.key == stored {
                return Insert::Seen(slot.first);
            }
            i += 1;
            if i == cap {
                i = 0;
            }
        }
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * GROWTH / 10).max(8);
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); cap]);
        for s in old.into_iter().filter(|s| s.key != [0, 0]) {
            let key = (u64::from(s.key[0]) << 32) | u64::from(s.key[1]);
            let mut i = Self::home(key, cap);
            while self.slots[i].key != [0, 0] {
                i = if i + 1 == cap { 0 } else { i + 1 };
            }
            self.slots[i] = s;
        }
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

    /// The dry run's memory per identifier (issue #24): a slot is 12 bytes, and
    /// a million identifiers take at most 20 bytes each (tables between 61%
    /// and 85% full), the tables' headers included.
    #[test]
    fn a_million_identifiers_take_at_most_20_bytes_each() {
        assert_eq!(std::mem::size_of::<Slot>(), 12);
        let (mut seen, keys) = (Seen::default(), Keys::default());
        for i in 0..1_000_000u32 {
            seen.insert(keys.key(&i.to_le_bytes()), i);
        }
        let per = seen.heap_bytes() as f64 / 1e6;
        assert!(per <= 20.0, "{per} bytes an identifier");
    }
}
