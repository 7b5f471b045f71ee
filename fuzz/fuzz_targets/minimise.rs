//! The minimiser on arbitrary bytes: it never panics, and what it returns
//! holds only fields the route allows (checked by minimising again: a
//! minimised copy is a fixed point).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for route in common::CATALOG.routes() {
        let once = route.mask.minimise(data);
        let twice = route.mask.minimise(&once.bytes);
        assert_eq!(once.bytes, twice.bytes, "minimising is idempotent");
    }
});
