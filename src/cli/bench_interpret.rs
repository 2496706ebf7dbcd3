//! `tilelab bench interpret`: the interpretability methods in the Fashion setting (three classes,
//! 40×40 images), medians over repeats: a preferred stimulus of an N2 detector (target < 1 s) and
//! integrated gradients with 50 steps on one image (target < 0.2 s), beside N1 and the paper's CNN.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::bench_construct::median_ms;
use crate::core::construct::{Constructed, build_n1, build_n2};
use crate::core::interpret::{AscentOptions, Baseline, Method, Model, Unit, UnitGradient, attribute, preferred};
use crate::core::nn::cnn::{Cnn, CnnSpec};
use crate::core::{presets, verify};

const SIDE: usize = 40;

fn detector_unit(built: &Constructed) -> Unit {
    let detector = &built.detectors.tiles[0];
    let index = detector.unit(detector.valid.0 / 2, detector.valid.1 / 2).unwrap_or(detector.first_unit);
    Unit { layer: built.detectors.layer, index }
}

/// Times every method `repeats` times and prints the medians (one JSON object per line with `json`).
pub fn run(repeats: usize, json: bool) -> anyhow::Result<()> {
    let repeats = repeats.max(1);
    let classes = presets::fashion_three();
    let mut rng = ChaCha8Rng::seed_from_u64(40);
    let image = verify::image_with_object(&mut rng, &classes, 0, SIDE, SIDE);
    let n1 = build_n1(&classes, SIDE, SIDE)?;
    let n2 = build_n2(&classes, SIDE, SIDE)?;
    let cnn = Cnn::new(CnnSpec { classes: classes.len(), ..CnnSpec::fashion() }, 1)?;
    let dense = cnn.to_network();
    let trained = Model::Dense { network: &dense, input: (SIDE, SIDE) };
    let ig = Method::IntegratedGradients { steps: 50, baseline: Baseline::Black };
    let options = AscentOptions::default();

    let ascent = |built: &Constructed| -> anyhow::Result<f64> {
        let gradient = UnitGradient::new(Model::Sparse(&built.network), detector_unit(built))?;
        Ok(median_ms(repeats, || preferred(&gradient, &options, &mut |_| {}).map(drop))?)
    };
    let integrated = |model: Model| median_ms(repeats, || attribute(&model, image.view(), 0, ig).map(drop));
    let rows = [
        ("preferred_n2_detector", ascent(&n2)?, "ms, preferred stimulus of an N2 detector, 256 steps (target < 1000)"),
        ("preferred_n1_detector", ascent(&n1)?, "ms, preferred stimulus of an N1 detector, 256 steps"),
        (
            "integrated_gradients_n2",
            integrated(Model::Sparse(&n2.network))?,
            "ms, integrated gradients, 50 steps, N2 (target < 200)",
        ),
        ("integrated_gradients_n1", integrated(Model::Sparse(&n1.network))?, "ms, integrated gradients, 50 steps, N1"),
        ("integrated_gradients_cnn", integrated(trained)?, "ms, integrated gradients, 50 steps, the paper's CNN"),
    ];
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("unknown").to_owned();
    if json {
        println!(
            "{}",
            json!({ "bench": "machine", "load_average_1min": load, "threads": rayon::current_num_threads() })
        );
    } else {
        println!("Fashion setting: 3 classes, {SIDE}×{SIDE} images, median of {repeats}");
        println!("machine load (1 min): {load}, threads: {}", rayon::current_num_threads());
    }
    for (name, value, what) in rows {
        if json {
            println!("{}", json!({ "bench": name, "median_ms": value, "repeats": repeats }));
        } else {
            println!("{name:<28} {value:>10.3}  {what}");
        }
    }
    Ok(())
}
