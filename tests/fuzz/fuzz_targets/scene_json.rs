//! Fuzz target `scene_json`: raw bytes as a scene file, checked by `tilelab_fuzz::scene_json` (see harness.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // A typed error is a fine answer; only a panic or a failed round trip is a finding.
    let _ = tilelab_fuzz::scene_json(data);
});
