//! The fuzz suite: proptest over valid and mutated inputs for every parser that faces
//! untrusted bytes. `PROPTEST_CASES` sets the cases per property (`ci/fuzz.sh` raises it);
//! each property's default is small enough for `cargo test`. Shrunk failures are kept in
//! `tests/it/*.proptest-regressions` and replayed first.

use faultline_fuzz::alloc::CountingAlloc;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

mod config;
mod frames;
mod grpc;
mod hpack;
mod scenario;
mod transcript;

#[test]
fn the_allocator_counts() {
    assert!(faultline_fuzz::alloc::counting());
    let (_, held) = faultline_fuzz::alloc::peak_during(|| std::hint::black_box(vec![0u8; 1 << 20]).len());
    assert!((1 << 20..(1 << 20) + 4096).contains(&held), "{held}");
}
