//! Replays the committed fuzz corpus (`tests/corpus/<target>/`) through the fuzz targets' own checks
//! (`tests/fuzz/harness.rs`), then hand-made hostile inputs: truncations and byte flips of every
//! valid file, 10⁹-pixel IDX headers, gzip and PNG decompression bombs, absurd image headers, huge
//! dimensions (JSON, `.npy`, safetensors), deep nesting, NaN-ish numbers, endless or oversized files
//! on disk, scene files and links asking for huge things (a link bomb, 10,000 classes, giant
//! weights, tensors and pictures), and (with `gui`) hostile persisted sessions.
//!
//! Every input must give `Ok` or a typed error, never a panic; corpus files named `ok-…` must
//! load and `bad-…` must be refused. The bombs run under a counting allocator that asserts the
//! documented memory limits.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};
use tilelab::core::idx::{self, IdxError, MAX_DECOMPRESSED_BYTES};
use tilelab::core::nn::weights_file::{self, WeightsFileError};
use tilelab::core::scene::{self, SceneError};
use tilelab::core::tileset_file::{self, ImportOptions, MAX_IMPORT_ALLOC_BYTES, MAX_IMPORT_SIDE, TileSetFileError};

#[path = "fuzz/harness.rs"]
mod harness;

use harness::{Check, Outcome, TARGETS};

/// Counts the bytes each thread holds, so a test can measure the peak of what one call allocates.
struct CountingAllocator;

thread_local! {
    // `const` and no destructor: usable from inside the allocator on any thread at any time.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    let live = LIVE.get() + delta;
    LIVE.set(live);
    if live > PEAK.get() {
        PEAK.set(live);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; only counters are added.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            count(layout.size() as isize);
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            count(layout.size() as isize);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs `f` and returns its result with the most bytes this thread held at once beyond what it held before.
fn peak_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.get();
    PEAK.set(before);
    let result = f();
    (result, (PEAK.get() - before).max(0) as usize)
}

const MIB: usize = 1 << 20;
/// Most memory the check of one (small) corpus file may take: the largest documented limit (image
/// import: a truncated 8192² PNG gets its 64 MiB buffer) plus room for the check's own copies.
const CORPUS_ALLOCATION_LIMIT: usize = MAX_IMPORT_ALLOC_BYTES as usize + 16 * MIB;
/// Longest the check of one corpus file may take (a hostile file must not freeze the app).
const CORPUS_TIME_LIMIT: Duration = Duration::from_secs(2);

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(target)
}

/// The corpus files of `target`, sorted, with their contents.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus folder is readable").path())
        .filter(|path| path.is_file())
        .map(|path| {
            let name = path.file_name().expect("a file name").to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).expect("corpus file is readable");
            (name, bytes)
        })
        .collect();
    files.sort();
    files
}

/// Runs a check, turning a panic into a test failure message naming the input.
fn run(check: Check, what: &str, bytes: &[u8]) -> Outcome {
    match catch_unwind(AssertUnwindSafe(|| check(bytes))) {
        Ok(outcome) => outcome,
        Err(panic) => {
            let text =
                panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).into()));
            panic!("{what} panicked: {}", text.unwrap_or_default())
        }
    }
}

fn check_of(target: &str) -> Check {
    TARGETS.iter().find(|(name, _)| *name == target).map(|(_, check)| *check).expect("a known target")
}

#[test]
fn every_corpus_file_loads_or_gives_a_typed_error() {
    for (target, check) in TARGETS {
        let files = corpus(target);
        assert!(!files.is_empty(), "tests/corpus/{target} is empty");
        let total: usize = files.iter().map(|(_, bytes)| bytes.len()).sum();
        assert!(files.len() <= 60 && total <= 100 * 1024, "tests/corpus/{target} should stay small");
        let (mut loaded, mut refused) = (0, 0);
        for (name, bytes) in &files {
            let started = Instant::now();
            let (outcome, peak) = peak_allocation(|| run(check, &format!("{target}/{name}"), bytes));
            let elapsed = started.elapsed();
            assert!(elapsed < CORPUS_TIME_LIMIT, "{target}/{name} took {elapsed:?}");
            if elapsed > Duration::from_millis(100) {
                println!("{target}/{name}: {elapsed:?}");
            }
            // Within the limits (a forged length once made a 140-byte `.npy` file ask for 4 GiB).
            assert!(peak <= CORPUS_ALLOCATION_LIMIT, "{target}/{name} allocated {} MiB", peak / MIB);
            if name.starts_with("ok-") {
                assert!(outcome.is_ok(), "{target}/{name} should load: {outcome:?}");
            }
            if name.starts_with("bad-") {
                assert!(outcome.is_err(), "{target}/{name} should be refused: {outcome:?}");
            }
            match outcome {
                Ok(_) => loaded += 1,
                Err(_) => refused += 1,
            }
        }
        assert!(loaded > 0 && refused > 0, "{target}: {loaded} loaded, {refused} refused; the corpus needs both");
    }
}

#[test]
fn every_truncation_of_a_valid_file_is_refused_or_loads() {
    for (target, check) in TARGETS {
        for (name, bytes) in corpus(target).into_iter().filter(|(name, _)| name.starts_with("ok-")) {
            for end in 0..bytes.len() {
                let outcome = run(check, &format!("{target}/{name} cut at {end}"), &bytes[..end]);
                // A cut JSON or IDX file is always incomplete; image decoders may fill in missing rows, and
                // protobuf has no end marker (a cut at a field boundary is a smaller valid message).
                if target != "import_image" && target != "onnx_model" {
                    assert!(outcome.is_err(), "{target}/{name} cut at {end} bytes loaded: {outcome:?}");
                }
            }
        }
    }
}

#[test]
fn every_single_byte_corruption_of_a_valid_file_is_handled() {
    let mut runs = 0;
    for (target, check) in TARGETS {
        for (name, bytes) in corpus(target).into_iter().filter(|(name, _)| name.starts_with("ok-")) {
            for at in 0..bytes.len() {
                for flip in [0x01, 0x80, 0xff] {
                    let mut corrupt = bytes.clone();
                    corrupt[at] ^= flip;
                    // Loaded or refused are both fine; the check itself asserts round trips.
                    let _ = run(check, &format!("{target}/{name} with byte {at} ^ {flip:#x}"), &corrupt);
                    runs += 1;
                }
            }
        }
    }
    assert!(runs > 1000, "only {runs} corruptions tried");
}

fn idx_file(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out.extend(data);
    out
}

#[test]
fn idx_headers_promising_a_billion_pixels_are_refused_without_allocating() {
    let headers: [&[u32]; 4] =
        [&[1, 31_623, 31_623], &[1_000_000_000, 1, 1], &[u32::MAX, u32::MAX, u32::MAX], &[1, 1, 1_000_000_000]];
    for dims in headers {
        let file = idx_file(0x803, dims, &[7; 64]);
        let (result, peak) = peak_allocation(|| idx::read_images(&file));
        assert!(matches!(result, Err(IdxError::LengthMismatch { found: 64, .. })), "{dims:?}: {result:?}");
        assert!(peak < 4096, "{dims:?}: {peak} bytes allocated to refuse a 76-byte file");
    }
    let labels = idx_file(0x801, &[u32::MAX], &[1, 2, 3]);
    assert!(matches!(idx::read_labels(&labels), Err(IdxError::LengthMismatch { found: 3, .. })));
}

/// `prefix` then zeros up to `total` bytes, gzipped (a gzip bomb: about a thousand to one).
fn gzip_bomb(prefix: &[u8], total: usize) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(prefix).expect("writing to memory");
    let chunk = vec![0; MIB];
    let mut written = prefix.len();
    while written < total {
        let n = chunk.len().min(total - written);
        encoder.write_all(&chunk[..n]).expect("writing to memory");
        written += n;
    }
    encoder.finish().expect("writing to memory")
}

#[test]
fn gzip_bomb_stops_at_the_documented_limit() {
    // A valid IDX label header followed by zeros, 1 MiB more than the limit once decompressed.
    let bomb = gzip_bomb(&idx_file(0x801, &[u32::MAX], &[]), MAX_DECOMPRESSED_BYTES + MIB);
    assert!(bomb.len() < MAX_DECOMPRESSED_BYTES / 100, "{} bytes is not a bomb", bomb.len());
    let started = Instant::now();
    let (result, peak) = peak_allocation(|| idx::read_labels(&bomb));
    assert!(matches!(result, Err(IdxError::TooLarge { limit: MAX_DECOMPRESSED_BYTES })), "{result:?}");
    println!("gzip bomb: {} KiB file, peak allocation {} MiB", bomb.len() / 1024, peak / MIB);
    assert!(peak <= MAX_DECOMPRESSED_BYTES + 2 * MIB, "a {}-byte bomb allocated {} MiB", bomb.len(), peak / MIB);
    assert!(started.elapsed() < Duration::from_secs(20));
    // The same bomb as images: refused the same way.
    assert!(matches!(idx::read_images(&bomb), Err(IdxError::TooLarge { .. })));
}

/// A PNG of `width×height` with `depth`-bit colour type `colour` whose rows are all zero, given `rows` of them.
fn png_of_zero_rows(width: u32, height: u32, depth: u8, colour: u8, row_bytes: usize, rows: usize) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: [u8; 4], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(&kind);
        crc.update(data);
        out.extend(kind);
        out.extend(data);
        out.extend(crc.sum().to_be_bytes());
    }
    let mut header = Vec::new();
    header.extend(width.to_be_bytes());
    header.extend(height.to_be_bytes());
    header.extend([depth, colour, 0, 0, 0]);
    let mut zlib = ZlibEncoder::new(Vec::new(), Compression::best());
    let row = vec![0; row_bytes + 1];
    for _ in 0..rows {
        zlib.write_all(&row).expect("writing to memory");
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, *b"IHDR", &header);
    chunk(&mut out, *b"IDAT", &zlib.finish().expect("writing to memory"));
    chunk(&mut out, *b"IEND", &[]);
    out
}

#[test]
fn png_with_absurd_header_dimensions_is_refused_without_allocating() {
    let side = MAX_IMPORT_SIDE;
    let cases = [
        ("100000×100000 grey", png_of_zero_rows(100_000, 100_000, 8, 0, 100_000, 1)),
        ("just over the side limit", png_of_zero_rows(side + 1, 1, 8, 0, side as usize + 1, 1)),
        ("u32::MAX wide", png_of_zero_rows(u32::MAX, 1, 8, 0, 16, 1)),
        // Within the side limit, but 8192² RGBA at 16 bits is 512 MiB: over the allocation limit.
        ("8192² RGBA16", png_of_zero_rows(side, side, 16, 6, side as usize * 8, 1)),
    ];
    for (what, png) in cases {
        let (result, peak) = peak_allocation(|| tileset_file::import_tile_image(&png, &ImportOptions::plain(28, 1.0)));
        assert!(matches!(result, Err(TileSetFileError::Image(_))), "{what}: {result:?}");
        assert!(peak < 4 * MIB, "{what}: {} MiB allocated to refuse it", peak / MIB);
    }
}

#[test]
fn png_decompression_bomb_stays_within_the_import_limit() {
    // 8192² grey zeros: 64 MiB of pixels from a file of about 64 KiB, just inside the limits.
    let side = MAX_IMPORT_SIDE;
    let png = png_of_zero_rows(side, side, 8, 0, side as usize, side as usize);
    assert!(png.len() < 200 * 1024, "{} bytes", png.len());
    let started = Instant::now();
    let (result, peak) = peak_allocation(|| tileset_file::import_tile_image(&png, &ImportOptions::plain(28, 1.0)));
    // All black: decoded and shrunk, then refused for its empty support.
    assert!(matches!(result, Err(TileSetFileError::Tile { .. })), "{result:?}");
    println!("PNG bomb: {} KiB file, peak allocation {} MiB", png.len() / 1024, peak / MIB);
    let limit = MAX_IMPORT_ALLOC_BYTES as usize;
    assert!(peak <= limit + 16 * MIB, "peak {} MiB, the documented limit is {} MiB", peak / MIB, limit / MIB);
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn jpeg_with_absurd_header_dimensions_is_refused() {
    let valid = corpus("import_image").into_iter().find(|(name, _)| name == "ok-grey-9x7.jpg").expect("seed").1;
    let sof = valid.windows(2).position(|w| w == [0xff, 0xc0]).expect("a baseline JPEG has SOF0");
    for (height, width) in [(65_535u16, 65_535u16), (1, 65_535), (0, 0), (65_535, 0)] {
        let mut jpeg = valid.clone();
        jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
        jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
        let (result, peak) =
            peak_allocation(|| run(check_of("import_image"), &format!("JPEG {height}×{width}"), &jpeg));
        assert!(result.is_err(), "{height}×{width}: {result:?}");
        assert!(peak < 4 * MIB, "{height}×{width}: {} MiB allocated", peak / MIB);
    }
}

const TILESET_HEAD: &str =
    r#"{"format":"tilelab-tileset","version":1,"classes":[{"name":"a","features":[{"name":"f","tiles":["#;

fn tileset_with_tile(tile: &str) -> String {
    format!("{TILESET_HEAD}{tile}]}}]}}]}}")
}

fn toy_weights(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let seed = corpus("weights_json").into_iter().find(|(name, _)| name == "ok-toy-1-filter.json").expect("seed");
    let mut value: serde_json::Value = serde_json::from_slice(&seed.1).expect("the seed is JSON");
    edit(&mut value);
    value.to_string()
}

#[test]
fn huge_dimensions_are_refused_without_allocating() {
    let tiles = [
        r#"{"rows":1000000000,"cols":1000000000,"values":[1],"epsilon":1}"#,
        r#"{"rows":18446744073709551615,"cols":18446744073709551615,"values":[1],"epsilon":1}"#,
        r#"{"rows":65,"cols":1,"values":[1],"epsilon":1}"#,
        r#"{"rows":64,"cols":64,"values":[1],"epsilon":1}"#,
        r#"{"rows":18446744073709551616,"cols":1,"values":[1],"epsilon":1}"#,
        r#"{"rows":-1,"cols":1,"values":[1],"epsilon":1}"#,
    ];
    for tile in tiles {
        let text = tileset_with_tile(tile);
        let (outcome, peak) = peak_allocation(|| run(check_of("tileset_json"), tile, text.as_bytes()));
        assert!(outcome.is_err(), "{tile}: {outcome:?}");
        assert!(peak < MIB, "{tile}: {peak} bytes");
    }
    let architectures = [
        serde_json::json!({"height": 512, "width": 512, "kernel": 1, "filters": 256, "classes": 1024}),
        serde_json::json!({"height": u64::MAX, "width": u64::MAX, "kernel": 1, "filters": u64::MAX, "classes": u64::MAX}),
        serde_json::json!({"height": 4, "width": 4, "kernel": 5, "filters": 1, "classes": 2}),
        serde_json::json!({"height": 4, "width": 4, "kernel": 2, "filters": 0, "classes": 2}),
        serde_json::json!({"height": 4, "width": 4, "kernel": 2, "filters": 1, "classes": 1}),
    ];
    for architecture in architectures {
        let text = toy_weights(|v| v["architecture"] = architecture.clone());
        let (outcome, peak) = peak_allocation(|| run(check_of("weights_json"), &text, text.as_bytes()));
        assert!(outcome.is_err(), "{architecture}: {outcome:?}");
        assert!(peak < MIB, "{architecture}: {peak} bytes");
    }
    let shapes = ["(1000000000, 1000000000)", "(18446744073709551615, 2)", "(4611686018427387904,)"];
    for shape in shapes {
        let mut npy = npy_v2(&format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}"));
        npy.extend([0; 16]);
        let (outcome, peak) = peak_allocation(|| run(check_of("npy"), shape, &npy));
        assert!(outcome.is_err(), "npy {shape}: {outcome:?}");
        assert!(peak < MIB, "npy {shape}: {peak} bytes");
    }
    for shape in ["[4611686018427387904, 4]", "[1000000000, 1000000000]", "[18446744073709551615]"] {
        let header = format!(r#"{{"x":{{"dtype":"F32","shape":{shape},"data_offsets":[0,16]}}}}"#);
        let mut file = safetensors_with_header(&header);
        file.extend([0; 16]);
        let (outcome, peak) = peak_allocation(|| run(check_of("safetensors"), shape, &file));
        assert!(outcome.is_err(), "safetensors {shape}: {outcome:?}");
        assert!(peak < MIB, "safetensors {shape}: {peak} bytes");
    }
}

#[test]
fn constructed_networks_beyond_memory_are_refused_before_allocating() {
    use tilelab::core::construct::{ConstructError, Which, build_n2};
    use tilelab::core::presets;
    use tilelab::core::tile::{ClassSet, Tile, single_tile_object};

    let ten = presets::with_full_support(&presets::fashion_ten(1));
    // N1 on the Dataset view's largest images, and both networks on absurd ones.
    let sizes = [
        (Which::N1, 256, 256),
        (Which::N1, 1 << 40, 1 << 40),
        (Which::N2, 1 << 40, 1 << 40),
        (Which::N2, 1 << 20, 1 << 20),
    ];
    for (which, height, width) in sizes {
        let (outcome, peak) = peak_allocation(|| which.build(&ten, height, width));
        let Err(error) = outcome else { panic!("{} on {height}×{width} was built", which.name()) };
        assert!(matches!(error, ConstructError::TooLarge { .. }), "{error}");
        assert!(error.to_string().contains("MAX_WEIGHTS"), "the message names the limit: {error}");
        assert!(peak < MIB, "{} on {height}×{width}: {peak} bytes", which.name());
    }
    // Thousands of 32×32 tiles: N2's channels grow with the tiles' blocks, refused by their bound.
    let tile = Tile::filled(32, 32, 0.5, 1.0).expect("a valid tile");
    let many = ClassSet { classes: (0..2000).map(|i| single_tile_object(&format!("t{i}"), tile.clone())).collect() };
    let (outcome, peak) = peak_allocation(|| build_n2(&many, 40, 40));
    let error = outcome.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("MAX_N2_CHANNELS"), "{error}");
    assert!(peak < MIB, "2000 tiles: {peak} bytes");
}

/// An `.npy` file, format version 2 (32-bit header length), with this header and no data.
fn npy_v2(header: &str) -> Vec<u8> {
    let mut header = header.to_owned();
    while !(12 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x02\x00".to_vec();
    out.extend((header.len() as u32).to_le_bytes());
    out.extend(header.as_bytes());
    out
}

/// A safetensors file with this JSON header and no data.
fn safetensors_with_header(header: &str) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header.as_bytes());
    out
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let objects = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
    // The builders make valid files when nothing is nested.
    let flat = npy_v2("{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }");
    assert!(run(check_of("npy"), "flat npy", &flat).is_ok());
    assert!(run(check_of("safetensors"), "flat safetensors", &safetensors_with_header("{}")).is_ok());
    for n in [129, 100_000] {
        let nested_shape = format!("{}{}", "(".repeat(n), ")".repeat(n));
        let inputs: [(&str, Vec<u8>); 8] = [
            ("tileset_json", format!(r#"{{"format":"tilelab-tileset","version":1,"classes":{}}}"#, deep(n)).into()),
            (
                "tileset_json",
                tileset_with_tile(&format!(r#"{{"rows":1,"cols":1,"values":{},"epsilon":1}}"#, deep(n))).into(),
            ),
            ("tileset_json", format!(r#"{{"format":{},"version":1}}"#, objects(n)).into()),
            (
                "weights_json",
                toy_weights(|_| ()).replacen(r#""conv_bias":[0.1]"#, &format!(r#""conv_bias":{}"#, deep(n)), 1).into(),
            ),
            (
                "weights_json",
                format!(r#"{{"format":"tilelab-cnn-weights","version":1,"architecture":{}}}"#, objects(n)).into(),
            ),
            ("weights_json", deep(n).into()),
            ("npy", npy_v2(&format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {nested_shape}, }}"))),
            ("safetensors", safetensors_with_header(&format!(r#"{{"x":{}}}"#, deep(n)))),
        ];
        for (target, bytes) in inputs {
            let outcome = run(check_of(target), &format!("{target} nested {n} deep"), &bytes);
            assert!(outcome.is_err(), "{target} nested {n} deep loaded");
        }
    }
}

#[test]
fn nan_ish_numbers_are_refused_or_loaded_exactly() {
    // (number, whether a 1×1 tile with this value (ε 1) must load).
    let values = [
        ("NaN", false),
        ("Infinity", false),
        ("-Infinity", false),
        ("1e999", false),
        ("1e40", false),
        ("-1e-50", false), // -0 after rounding: in range, but then the support is empty
        ("1e-50", false),
        ("-0.0", false),
        ("0x1", false),
        ("1.0000001", false),
        ("1e-45", true),
        ("0.99999999999", true),
        ("1", true),
    ];
    for (number, loads) in values {
        let text = tileset_with_tile(&format!(r#"{{"rows":1,"cols":1,"values":[{number}],"epsilon":1}}"#));
        let outcome = run(check_of("tileset_json"), number, text.as_bytes());
        assert_eq!(outcome.is_ok(), loads, "value {number}: {outcome:?}");
    }
    for epsilon in ["NaN", "1e999", "1e39", "0", "-0.0", "1e-50", "-1"] {
        let text = tileset_with_tile(&format!(r#"{{"rows":1,"cols":1,"values":[1],"epsilon":{epsilon}}}"#));
        assert!(run(check_of("tileset_json"), epsilon, text.as_bytes()).is_err(), "ε {epsilon} loaded");
    }
    for weight in ["1e39", "-1e39", "1e999", "NaN", "null", "\"1\""] {
        let text = toy_weights(|_| ()).replacen(r#""conv_bias":[0.1]"#, &format!(r#""conv_bias":[{weight}]"#), 1);
        assert!(run(check_of("weights_json"), weight, text.as_bytes()).is_err(), "weight {weight} loaded");
    }
    let tiny = toy_weights(|_| ()).replacen(r#""conv_bias":[0.1]"#, r#""conv_bias":[1e-45]"#, 1);
    assert!(run(check_of("weights_json"), "1e-45", tiny.as_bytes()).is_ok(), "a subnormal weight is a weight");
}

#[test]
fn oversized_and_endless_files_on_disk_are_refused() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let sparse = |name: &str, size: u64| {
        let path = dir.path().join(name);
        std::fs::File::create(&path).and_then(|f| f.set_len(size)).expect("a sparse file");
        path
    };
    let tileset = sparse("set.json", tileset_file::MAX_FILE_BYTES + 1);
    assert!(matches!(tileset_file::load(&tileset), Err(TileSetFileError::TooLarge { .. })));
    let weights = sparse("net.json", weights_file::MAX_FILE_BYTES + 1);
    assert!(matches!(weights_file::load(&weights), Err(WeightsFileError::TooLarge(_))));
    let images = sparse("images", MAX_DECOMPRESSED_BYTES as u64 + 1);
    assert!(matches!(idx::load_images(&images), Err(IdxError::TooLarge { .. })));
    // A device reports size 0 and never ends: reading stops one byte past the limit.
    let endless = Path::new("/dev/zero");
    if endless.exists() {
        assert!(matches!(tileset_file::load(endless), Err(TileSetFileError::TooLarge { .. })));
        assert!(matches!(idx::load_labels(endless), Err(IdxError::TooLarge { .. })));
        assert!(matches!(weights_file::load(endless), Err(WeightsFileError::TooLarge(_))));
    }
    assert!(matches!(tileset_file::load(dir.path()), Err(TileSetFileError::Io { .. })), "a folder is no file");
}

/// A link whose deflate stream unpacks to 16 MiB of blanks: refused at the link's unpacking limit.
#[test]
fn scene_link_bomb_stops_at_the_documented_limit() {
    use base64::Engine as _;
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(&vec![b' '; 16 * MIB]).expect("deflate into memory");
    let packed = encoder.finish().expect("deflate into memory");
    let link = format!("{}{}", scene::link::PREFIX, base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(packed));
    let (result, peak) = peak_allocation(|| scene::from_link(&link));
    println!("scene link bomb: {} characters, peak allocation {} KiB", link.len(), peak / 1024);
    assert!(matches!(result, Err(SceneError::LinkTooLarge { .. })), "{result:?}");
    assert!(peak <= scene::link::MAX_UNPACKED_BYTES + 2 * MIB, "the bomb allocated {} MiB", peak / MIB);
}

/// Scenes that ask for a lot — 10,000 classes, a CNN of 10⁹ weights, a gigapixel background, an
/// ONNX tensor of 2⁶² elements — are refused before anything that size is allocated.
#[test]
fn scenes_asking_for_huge_things_are_refused_without_allocating() {
    use base64::Engine as _;
    let toy = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes/paper-toy.tilelab"))
        .expect("the bundled toy scene");
    let base: serde_json::Value = serde_json::from_str(&toy).expect("JSON");
    let tile = serde_json::json!({"rows": 1, "cols": 1, "values": [1.0], "epsilon": 0.5});
    let classes: Vec<_> = (0..10_000)
        .map(|c| serde_json::json!({"name": format!("c{c}"), "features": [{"name": "f", "tiles": [tile]}]}))
        .collect();
    let architecture = serde_json::json!({"height": 512, "width": 512, "kernel": 1, "filters": 256, "classes": 1024});
    // An ONNX initializer claiming 2³¹ × 2³¹ floats (field 5 of the graph, dims 2³¹ twice, no data).
    let onnx = base64::engine::general_purpose::STANDARD.encode([
        0x3a, 0x10, 0x2a, 0x0e, 0x08, 0x80, 0x80, 0x80, 0x80, 0x08, 0x08, 0x80, 0x80, 0x80, 0x80, 0x08, 0x10, 0x01,
    ]);
    let edits: [(&str, serde_json::Value, &str); 4] = [
        (
            "tiles",
            serde_json::json!({"tileset": {"format": "tilelab-tileset", "version": 1, "classes": classes}}),
            "10000 classes",
        ),
        (
            "trained",
            serde_json::json!({"weights": {"format": "tilelab-cnn-weights", "version": 1, "architecture": architecture,
                "conv_weight": [], "conv_bias": [], "fc_weight": [], "fc_bias": []}}),
            "weights",
        ),
        ("model", serde_json::json!({"name": "huge.onnx", "onnx_base64": onnx}), "ONNX model"),
        (
            "dataset",
            serde_json::json!({"height": 4, "width": 4, "samples_per_class": 1, "seed": 1,
            "background": {"kind": "image", "rows": 1_000_000, "cols": 1_000_000, "values": []}}),
            "background picture",
        ),
    ];
    for (field, value, expected) in edits {
        let mut scene_json = base.clone();
        scene_json[field] = value;
        let text = scene_json.to_string();
        let (result, peak) = peak_allocation(|| scene::from_json(&text));
        let error = result.expect_err(field).to_string();
        assert!(error.contains(expected), "{field}: {error}");
        // The input's own JSON tree (10,000 classes: about 10 MiB) is the most it may take.
        assert!(peak <= 10 * text.len() + MIB, "{field}: {} MiB for a {}-byte scene", peak / MIB, text.len());
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("huge.tilelab");
    std::fs::File::create(&path).and_then(|f| f.set_len(scene::MAX_FILE_BYTES + 1)).expect("a sparse file");
    assert!(matches!(scene::open(&path), Err(SceneError::TooLarge { .. })));
}

/// The persisted session (`session.json` in the data dir) is a loader too; the app is behind `gui`.
#[cfg(feature = "gui")]
mod session {
    use tilelab::app::settings::BackgroundChoice;
    use tilelab::app::state::{AppState, SESSION_FILE, Session, save_work};
    use tilelab::core::presets;

    const HOSTILE: [&str; 12] = [
        "",
        "{",
        "[]",
        "null",
        r#"{"view":"Nowhere"}"#,
        r#"{"selected":[18446744073709551615,0,0]}"#,
        r#"{"dataset":{"height":18446744073709551615,"width":1000000000,"samples_per_class":18446744073709551615}}"#,
        r#"{"dataset":{"jitter":1e40,"background":{"Constant":{"value":-1e40}}}}"#,
        r#"{"dataset":{"background":{"Smooth":{"cell":0}}}}"#,
        r#"{"dataset":{"background":{"ImageFile":{"path":"/dev/zero"}}}}"#,
        r#"{"tileset_path":"\u0000/../../etc/passwd","unsaved":true}"#,
        r#"{"view":"Training","rendering":"nonsense","unknown":[[[[[[[[[[1]]]]]]]]]]}"#,
    ];

    #[test]
    fn hostile_sessions_never_cost_the_tile_set() {
        let set = presets::fashion_ten(1);
        for text in HOSTILE {
            let dir = tempfile::tempdir().expect("a temporary folder");
            save_work(dir.path(), &Session::default(), &set).expect("the work saves");
            std::fs::write(dir.path().join(SESSION_FILE), text).expect("the session is written");
            let mut state = AppState::restore(Some(dir.path().to_owned()));
            // The session is only settings: whatever it holds, the autosaved tile set comes back.
            assert!(state.classes == set, "{text}: the work was not restored");
            assert!(state.selected.is_none_or(|id| state.classes.tile(id).is_some()), "{text}");
            // Absurd settings are refused when used, not when restored.
            if !matches!(state.session.dataset.background, BackgroundChoice::ImageFile { .. }) {
                let spec = state.session.dataset.to_spec().expect("no file to read");
                let _ = spec.validate(&state.classes);
            }
            // What the app autosaves from a restored session must restore again, work included
            // (a non-finite float, saved as `null`, once made the next start drop the tile set).
            state.autosave_now();
            let again = AppState::restore(Some(dir.path().to_owned()));
            assert!(again.classes == set, "{text}: the work was lost at the second start");
        }
    }
}
