//! The hand-off between the thread that reads the input and the caller's:
//! [`super::stream`] reads, validates and deduplicates on a thread of its own
//! while the caller's sink takes the distinct identifiers on its (the dry run
//! lists requests, a resumed run checks the report). On a machine with two
//! cores a list of ten million takes about half the time.
//!
//! Identifiers cross in [`Block`]s of up to [`BLOCK`]: their values end to end
//! in one buffer (no allocation an identifier on the reading side), buffers
//! sent back to be filled again.

use std::sync::mpsc::{Receiver, Sender, SyncSender};

use crate::model::{Ident, SourceRef};

/// Identifiers a block holds.
const BLOCK: usize = 4096;
/// Blocks read ahead of the sink.
const AHEAD: usize = 4;

/// Distinct identifiers, in the order read: each value ends at its offset.
#[derive(Default)]
pub struct Block {
    text: String,
    items: Vec<(u32, SourceRef)>,
}

/// The reading side: fills blocks and sends each once full.
pub struct Batcher {
    full: SyncSender<Block>,
    empty: Receiver<Block>,
    block: Block,
}

/// The sink's side: the filled blocks, and the way back for their buffers.
pub struct Taker {
    full: Receiver<Block>,
    empty: Sender<Block>,
}

/// A connected pair.
pub fn pair() -> (Batcher, Taker) {
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel(AHEAD);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel();
    let batcher = Batcher {
        full: full_tx,
        empty: empty_rx,
        block: Block::default(),
    };
    let taker = Taker {
        full: full_rx,
        empty: empty_tx,
    };
    (batcher, taker)
}

impl Batcher {
    /// One more distinct identifier; `false` once the sink wants no more.
    pub fn push(&mut self, value: &str, source: SourceRef) -> bool {
        self.block.text.push_str(value);
        let end = u32::try_from(self.block.text.len()).unwrap_or(u32::MAX);
        self.block.items.push((end, source));
        self.block.items.len() < BLOCK || self.send()
    }

    /// Send the block so far; `false` once the sink wants no more.
    pub fn send(&mut self) -> bool {
        if self.block.items.is_empty() {
            return true;
        }
        let next = self.empty.try_recv().unwrap_or_default();
        self.full
            .send(std::mem::replace(&mut self.block, next))
            .is_ok()
    }
}

impl Taker {
    /// Hand every identifier to `sink`, in order, until the reading side is
    /// done or `sink` answers `false` (the reading side then stops at its
    /// next block).
    pub fn hand_to(self, sink: &mut dyn FnMut(Ident) -> bool) {
        for mut block in self.full.iter() {
            let mut start = 0;
            for &(end, source) in &block.items {
                let value = block.text[start..end as usize].to_string();
                start = end as usize;
                if !sink(Ident { value, source }) {
                    return;
                }
            }
            block.text.clear();
            block.items.clear();
            let _ = self.empty.send(block);
        }
    }
}
