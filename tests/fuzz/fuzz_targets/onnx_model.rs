//! Fuzz target `onnx_model`: raw bytes into the loader checked by `tilelab_fuzz::onnx_model` (see harness.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // A typed error is a fine answer; only a panic or a failed round trip is a finding.
    let _ = tilelab_fuzz::onnx_model(data);
});
