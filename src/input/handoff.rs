//! The pipeline [`super::stream`] reads through, on two threads of its own
//! beside the caller's:
//!
//! 1. the reading thread reads, validates and keys each identifier
//!    ([`super::Accumulator`]), a [`Chunk`] at a time;
//! 2. the dedupe thread ([`dedupe`]) inserts the chunk's keys in the dedupe
//!    tables ([`seen`]), each slot asked for a few keys ahead so that the
//!    tables' cache misses overlap, and marks those read before;
//! 3. the caller's thread ([`hand_to`]) hands each distinct identifier to the
//!    sink (the dry run lists requests, a resumed run checks the report).
//!
//! The three overlap, so a list of ten million takes about as long as its
//! slowest step. Identifiers cross in chunks of up to [`CHUNK`]: their values
//! end to end in one buffer (no allocation an identifier until the sink's),
//! the buffers sent back to the reading thread to be filled again.

use std::sync::mpsc::{Receiver, Sender, SyncSender};

use super::seen::{self, Insert};
use crate::model::{Ident, SourceRef};

/// Identifiers a chunk holds.
const CHUNK: usize = 4096;
/// Chunks queued between two steps: room for one to run ahead of the next
/// while the other two share the second core (16: 0.78 s for ten million,
/// 32: 0.75 s; each chunk about 230 kB of e-mails).
const AHEAD: usize = 32;
/// How many keys ahead of its insert a key's slot is asked for.
const PREFETCH: usize = 16;

/// Valid identifiers in the order read: each value ends at its item's `end`.
#[derive(Default)]
pub struct Chunk {
    text: String,
    items: Vec<Item>,
    /// The dedupe tables are made ready for this many more keys before
    /// these are inserted (a file's judged lines, [`seen::Table::reserve`]).
    reserve: usize,
}

#[derive(Debug, Clone, Copy)]
struct Item {
    key: [u64; 2],
    end: u32,
    source: SourceRef,
    /// Where it was read (an ordinal of every line read); 0 once the dedupe
    /// found it read before.
    ordinal: u32,
}

impl Item {
    fn key(&self) -> u128 {
        (u128::from(self.key[0]) << 64) | u128::from(self.key[1])
    }
}

/// What the dedupe thread found.
#[derive(Debug, Default)]
pub struct Deduped {
    /// Distinct identifiers.
    pub distinct: usize,
    /// Identifiers read before.
    pub duplicates: usize,
    /// The first few of those, each with the ordinal it was first read at.
    pub first: Vec<(SourceRef, u32)>,
}

/// The reading side: fills chunks and sends each once full.
pub struct Chunker {
    full: SyncSender<Chunk>,
    empty: Receiver<Chunk>,
    chunk: Chunk,
}

/// The connected steps: the reading side, the dedupe's ends, the caller's ends.
pub struct Pipeline {
    pub chunker: Chunker,
    pub dedupe: (Receiver<Chunk>, SyncSender<Chunk>),
    pub taker: (Receiver<Chunk>, Sender<Chunk>),
}

/// Three steps connected.
pub fn pipeline() -> Pipeline {
    let (to_dedupe, from_reader) = std::sync::mpsc::sync_channel(AHEAD);
    let (to_sink, from_dedupe) = std::sync::mpsc::sync_channel(AHEAD);
    let (recycle, recycled) = std::sync::mpsc::channel();
    Pipeline {
        chunker: Chunker {
            full: to_dedupe,
            empty: recycled,
            chunk: Chunk::default(),
        },
        dedupe: (from_reader, to_sink),
        taker: (from_dedupe, recycle),
    }
}

impl Chunker {
    /// One more valid identifier, its dedupe key and where it was read;
    /// `false` once the sink wants no more.
    pub fn push(&mut self, value: &str, source: SourceRef, key: u128, ordinal: u32) -> bool {
        let chunk = &mut self.chunk;
        chunk.text.push_str(value);
        chunk.items.push(Item {
            key: [(key >> 64) as u64, key as u64],
            end: u32::try_from(chunk.text.len()).unwrap_or(u32::MAX),
            source,
            ordinal,
        });
        chunk.items.len() < CHUNK || self.send()
    }

    /// Make the dedupe tables ready for `more` keys before the next ones.
    pub fn reserve(&mut self, more: usize) {
        self.chunk.reserve = self.chunk.reserve.saturating_add(more);
    }

    /// Send the chunk so far; `false` once the sink wants no more.
    pub fn send(&mut self) -> bool {
        if self.chunk.items.is_empty() && self.chunk.reserve == 0 {
            return true;
        }
        let next = self.empty.try_recv().unwrap_or_default();
        self.full
            .send(std::mem::replace(&mut self.chunk, next))
            .is_ok()
    }
}

/// The dedupe step: each chunk's keys inserted in order, those read before
/// marked (and the first few noted), the chunk passed on; until the reading
/// side is done or the caller's side wants no more.
pub fn dedupe((from, to): (Receiver<Chunk>, SyncSender<Chunk>), shown: usize) -> Deduped {
    let (mut seen, mut found) = (seen::Seen::default(), Deduped::default());
    for mut chunk in from.iter() {
        if chunk.reserve > 0 {
            seen.reserve(seen.len().saturating_add(chunk.reserve));
            chunk.reserve = 0;
        }
        for item in chunk.items.iter().take(PREFETCH) {
            seen.prefetch(item.key());
        }
        for i in 0..chunk.items.len() {
            if let Some(ahead) = chunk.items.get(i + PREFETCH) {
                seen.prefetch(ahead.key());
            }
            let item = &mut chunk.items[i];
            if let Insert::Seen(first) = seen.insert(item.key(), item.ordinal) {
                found.duplicates += 1;
                if found.first.len() < shown {
                    found.first.push((item.source, first));
                }
                item.ordinal = 0;
            }
        }
        if to.send(chunk).is_err() {
            break;
        }
    }
    found.distinct = seen.len();
    found
}

/// The caller's step: every distinct identifier to `sink`, in the order
/// read, until the chunks end or `sink` answers `false` (the other steps
/// then stop at their next chunk).
pub fn hand_to(
    (from, back): (Receiver<Chunk>, Sender<Chunk>),
    sink: &mut dyn FnMut(Ident) -> bool,
) {
    for mut chunk in from.iter() {
        let mut start = 0;
        for item in &chunk.items {
            let value = &chunk.text[start..item.end as usize];
            start = item.end as usize;
            if item.ordinal != 0
                && !sink(Ident {
                    value: value.to_string(),
                    source: item.source,
                })
            {
                return;
            }
        }
        chunk.text.clear();
        chunk.items.clear();
        let _ = back.send(chunk);
    }
}
