//! The dry run's memory per identifier (issue #24), counted, not timed: this
//! test binary's allocator counts the bytes live at the peak while the input
//! is streamed as `purge <vendor> --dry-run` streams it (each identifier handed
//! on and dropped once its request is listed). The identifiers' text is not
//! kept, only a 12-byte dedupe slot each (the tables made ready for the
//! file's lines at once); the chunks in flight between the reading, dedupe
//! and listing threads (at most 32 queued between two of them, about 15 MB)
//! do not grow with the list.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use purge::input::{self, InputSpec};
use purge::services::{Check, Kind, KindSpec};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; only the
// live byte count is kept beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// The bytes live at the peak while `n` identifiers are streamed.
fn peak_streaming(n: usize) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("people.txt");
    let text: String = (0..n).map(|i| format!("user{i}@example.com\n")).collect();
    std::fs::write(&path, text).unwrap();
    let spec = InputSpec {
        positional: vec![],
        files: vec![path],
        column: None,
        ref_column: None,
        format: None,
        kind: KindSpec {
            kind: Kind::Email,
            check: Check::Email,
            headers: &["email"],
            pair: None,
        },
        stdin: None,
    };
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let mut handed = 0usize;
    let loaded = input::stream(&spec, &mut |ident| {
        handed += 1;
        drop(ident);
        true
    })
    .unwrap();
    assert_eq!((handed, loaded.distinct), (n, n));
    PEAK.load(Ordering::Relaxed) - before
}

/// Each identifier more costs at most 24 bytes at the peak (the slope between
/// a quarter of a million and a million), and what does not grow with the
/// list (the chunks in flight between the threads) is at most 16 MB.
#[test]
fn streaming_a_list_keeps_at_most_24_bytes_an_identifier() {
    let (small, large) = (250_000, 1_000_000);
    let (a, b) = (peak_streaming(small), peak_streaming(large));
    let per = (b - a) as f64 / (large - small) as f64;
    let fixed = b as f64 - per * large as f64;
    eprintln!(
        "{per:.1} bytes an identifier at the peak, and {:.1} MB",
        fixed / 1e6
    );
    // A kept identifier alone (its String and Ident) would be over 50 bytes.
    assert!(per <= 24.0, "{per:.1} bytes an identifier at the peak");
    assert!(fixed <= 16e6, "{:.1} MB whatever the length", fixed / 1e6);
}
