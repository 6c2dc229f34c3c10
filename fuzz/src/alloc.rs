//! A counting global allocator: how many bytes the current thread holds, and the most it held
//! while a closure ran. Counts are per thread, so tests running in parallel do not see each
//! other's allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting. Install it in a test binary with
/// `#[global_allocator] static ALLOC: CountingAlloc = CountingAlloc;`.
#[derive(Debug)]
pub struct CountingAlloc;

thread_local! {
    /// Bytes this thread allocated and has not freed (negative when it freed another's).
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// The highest `LIVE` since the last reset.
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn add(bytes: usize) {
    // `try_with`: a thread being torn down still allocates, after its locals are gone.
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add_unsigned(bytes);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn sub(bytes: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub_unsigned(bytes)));
}

// SAFETY: every call is forwarded to `System` unchanged; the counters touch only thread-locals
// with const initialisers, which never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size());
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        add(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        sub(layout.size());
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as a copy: both blocks are held for a moment.
        add(new_size);
        sub(layout.size());
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` and returns its result with the most bytes this thread held at once meanwhile,
/// above what it held before (0 when `CountingAlloc` is not the global allocator).
pub fn peak_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(start));
    let out = f();
    let peak = PEAK.with(Cell::get);
    (out, usize::try_from(peak - start).unwrap_or(0))
}

/// Whether `CountingAlloc` is the global allocator of this binary.
pub fn counting() -> bool {
    let (_, peak) = peak_during(|| std::hint::black_box(vec![0u8; 1024]));
    peak >= 1024
}

/// Asserts that running `f` on `input_len` bytes held at most `per_byte` bytes per input byte
/// plus `fixed`: a length field of 2^32-1 in a few bytes must not allocate 4 GiB.
pub fn assert_bounded<R>(
    what: &str,
    input_len: usize,
    per_byte: usize,
    fixed: usize,
    f: impl FnOnce() -> R,
) -> R {
    let (out, peak) = peak_during(f);
    let bound = input_len.saturating_mul(per_byte).saturating_add(fixed);
    assert!(peak <= bound, "{what}: held {peak} bytes for {input_len} input bytes (bound {bound})");
    out
}
