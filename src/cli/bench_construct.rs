//! `tilelab bench construct`: the direct φ, N1 and N2 in the paper's Fashion setting (ten classes,
//! one 28×28 tile each, 40×40 images), medians over repeats.

use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::core::construct::{build_n1, build_n2};
use crate::core::{detect, presets, verify};

/// Images per timed batch (the "200 images through N1 and N2").
const IMAGES: usize = 200;
/// Image side of the Fashion setting.
const SIDE: usize = 40;

/// Times every part `repeats` times and prints the medians (one JSON object per line with `json`).
pub fn run(repeats: usize, json: bool) -> anyhow::Result<()> {
    let repeats = repeats.max(1);
    let classes = presets::fashion_ten(1);
    let mut rng = ChaCha8Rng::seed_from_u64(40);
    let images: Vec<_> =
        (0..IMAGES).map(|i| verify::image_with_object(&mut rng, &classes, i % classes.len(), SIDE, SIDE)).collect();

    let build_n1_ms = median_ms(repeats, || build_n1(&classes, SIDE, SIDE).map(drop))?;
    let build_n2_ms = median_ms(repeats, || build_n2(&classes, SIDE, SIDE).map(drop))?;
    let n1 = build_n1(&classes, SIDE, SIDE)?;
    let n2 = build_n2(&classes, SIDE, SIDE)?;
    let direct_batch_ms = median_ms(repeats, || {
        detect::logits_batch(&classes, &images);
        Ok::<(), anyhow::Error>(())
    })?;
    let direct_single_ms = median_ms(repeats, || {
        detect::logits(&classes, images[0].view());
        Ok::<(), anyhow::Error>(())
    })?;
    let networks_ms = median_ms(repeats, || {
        n1.network.logits_batch(&images)?;
        n2.network.logits_batch(&images).map(drop)
    })?;
    let n1_ms = median_ms(repeats, || n1.network.logits_batch(&images).map(drop))?;
    let n2_ms = median_ms(repeats, || n2.network.logits_batch(&images).map(drop))?;
    let forward_n2_ms = median_ms(repeats, || n2.network.forward(images[0].view()).map(drop))?;

    let rows = [
        ("build_n1", build_n1_ms, "ms to construct N1"),
        ("build_n2", build_n2_ms, "ms to construct N2"),
        (
            "direct_phi_per_image",
            direct_batch_ms / IMAGES as f64,
            "ms per image, direct φ, 200 images in parallel (target ≤ 0.5)",
        ),
        ("direct_phi_single", direct_single_ms, "ms for one image, direct φ"),
        ("n1_200_images", n1_ms, "ms for 200 images through N1, every layer"),
        ("n2_200_images", n2_ms, "ms for 200 images through N2, every layer"),
        ("n1_n2_200_images", networks_ms, "ms for 200 images through N1 and N2 (target < 1000)"),
        ("n2_forward_all_layers_kept", forward_n2_ms, "ms for one image through N2 keeping every activation"),
    ];
    // Wall times on a shared machine are only meaningful next to its load.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("unknown");
    if json {
        println!(
            "{}",
            json!({ "bench": "machine", "load_average_1min": load, "threads": rayon::current_num_threads() })
        );
    } else {
        println!("Fashion setting: 10 classes × one 28×28 tile, {SIDE}×{SIDE} images, median of {repeats}");
        println!("machine load (1 min): {load}, threads: {}", rayon::current_num_threads());
        print_sizes(&n1, &n2);
    }
    for (name, value, what) in rows {
        if json {
            println!(
                "{}",
                json!({ "bench": name, "median_ms": value, "repeats": repeats, "threads": rayon::current_num_threads() })
            );
        } else {
            println!("{name:<28} {value:>10.3}  {what}");
        }
    }
    Ok(())
}

fn print_sizes(n1: &crate::core::construct::Constructed, n2: &crate::core::construct::Constructed) {
    for (name, net) in [("N1", n1), ("N2", n2)] {
        let layers: Vec<String> = net.network.report().iter().map(|r| format!("{}", r.units)).collect();
        println!("{name} units per layer: {}", layers.join(" / "));
    }
}

/// Median wall time of `f` in milliseconds over `repeats` runs (after one warm-up run).
pub(super) fn median_ms<E>(repeats: usize, mut f: impl FnMut() -> Result<(), E>) -> Result<f64, E> {
    f()?;
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}
