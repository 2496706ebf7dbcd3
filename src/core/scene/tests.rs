//! Scenes round-trip byte for byte, report what they do not know, refuse hostile input whole, and
//! fit the link lengths the issue promises.

use ndarray::Array2;
use proptest::prelude::*;

use super::*;
use crate::core::tile::{Feature, Object, Tile};

/// A scene holding its own tiles (two classes of one tile each) and small settings.
fn custom_scene(tiles: Vec<Tile>) -> Scene {
    let classes = tiles
        .into_iter()
        .enumerate()
        .map(|(c, tile)| Object {
            name: format!("class {c}"),
            features: vec![Feature { name: format!("feature {c}"), tiles: vec![tile] }],
        })
        .collect();
    Scene {
        title: "drawn by hand".into(),
        tiles: SceneTiles::Custom(ClassSet { classes }),
        dataset: DatasetSpec { height: 12, width: 12, samples_per_class: 3, ..Scene::default().dataset },
        training: TrainingSettings {
            filters: 2,
            kernel: 3,
            epochs: 2,
            train_per_class: 5,
            ..TrainingSettings::default()
        },
        ..Scene::default()
    }
}

fn trained(scene: &Scene, seed: u64) -> TrainedRun {
    let spec = compute::cnn_spec(scene);
    TrainedRun {
        weights: TrainedWeights::Paper(Cnn::new(spec, seed).unwrap()),
        position: Position { epoch: 1, step: 3, cursor: 4 },
        train_curve: vec![CurvePoint { epoch: 0.5, loss: 0.7, accuracy: 0.5 }],
        test_curve: vec![CurvePoint { epoch: 1.0, loss: 0.6, accuracy: 0.75 }],
    }
}

fn tile_strategy() -> impl Strategy<Value = Tile> {
    (1usize..5, 1usize..5, 0.01f32..50.0).prop_flat_map(|(rows, cols, epsilon)| {
        (proptest::collection::vec(0.0f32..=1.0, rows * cols), proptest::collection::vec(any::<bool>(), rows * cols))
            .prop_map(move |(values, support)| {
                let values = Array2::from_shape_vec((rows, cols), values).unwrap();
                let mut support = Array2::from_shape_vec((rows, cols), support).unwrap();
                support[[0, 0]] = true;
                Tile::new(values, support, epsilon).unwrap()
            })
    })
}

fn background_strategy() -> impl Strategy<Value = Background> {
    prop_oneof![
        Just(Background::Uniform),
        (1usize..8).prop_map(|cell| Background::Smooth { cell }),
        (0.0f32..=1.0).prop_map(Background::Constant),
        (-360.0f32..360.0).prop_map(|angle_degrees| Background::Gradient { angle_degrees }),
        proptest::collection::vec(0.0f32..=1.0, 6)
            .prop_map(|v| Background::Image(Array2::from_shape_vec((2, 3), v).unwrap())),
    ]
}

prop_compose! {
    fn scene_strategy()(
        tiles in proptest::collection::vec(tile_strategy(), 2..4),
        background in background_strategy(),
        seeds in any::<(u64, u64, u64)>(),
        learning_rate in 0.001f32..1.0,
        momentum in 0.0f32..0.99,
        epsilon in proptest::option::of(0.01f32..100.0),
        view in 0usize..5,
        lecture in proptest::option::of(1usize..=LECTURE_STEPS),
        with_weights in any::<bool>(),
        n2 in any::<bool>(),
    ) -> Scene {
        let mut scene = custom_scene(tiles);
        scene.dataset.background = background;
        scene.dataset.seed = seeds.0;
        scene.training.seed = seeds.1;
        scene.training.hyper.learning_rate = learning_rate;
        scene.training.hyper.momentum = momentum;
        scene.figure4 = Figure4Settings { tiles: Some(vec![TileId { class: 1, feature: 0, tile: 0 }]), samples: 7, seed: seeds.2, epsilon_override: epsilon, every_offset: n2 };
        scene.view = ViewKind::ALL[view];
        scene.network = if n2 { Which::N2 } else { Which::N1 };
        scene.lecture = lecture.map(|step| LectureStart { step, followed: Some(TileId { class: 0, feature: 0, tile: 0 }) });
        if with_weights {
            scene.trained = Some(trained(&scene, seeds.1));
        }
        scene
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn save_open_resave_is_byte_identical(scene in scene_strategy()) {
        let text = to_json(&scene).unwrap();
        let (opened, warnings) = from_json(&text).unwrap();
        prop_assert!(warnings.is_empty(), "{warnings:?}");
        prop_assert_eq!(&opened, &scene);
        prop_assert_eq!(to_json(&opened).unwrap(), text);
    }

    #[test]
    fn links_round_trip_without_the_weights(scene in scene_strategy()) {
        let (link, left_out) = to_link(&scene).unwrap();
        prop_assert_eq!(left_out.len(), usize::from(scene.trained.is_some()));
        prop_assert!(link.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)), "URL-safe: {link}");
        let (opened, warnings) = from_link(&format!("https://example.org/index.html{}{link}", link::URL_FRAGMENT)).unwrap();
        prop_assert!(warnings.is_empty());
        prop_assert_eq!(opened, Scene { trained: None, ..scene });
    }
}

/// An edit that breaks a scene's JSON in one way.
type Mutation = Box<dyn Fn(&mut serde_json::Value)>;

#[test]
fn files_round_trip_through_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tilelab");
    let mut scene = custom_scene(vec![Tile::filled(2, 2, 1.0, 0.5).unwrap(), Tile::filled(2, 2, 0.0, 0.5).unwrap()]);
    scene.trained = Some(trained(&scene, 3));
    save(&path, &scene).unwrap();
    let (opened, warnings) = open(&path).unwrap();
    assert!(warnings.is_empty());
    assert_eq!(opened, scene);
}

#[test]
fn the_edited_architecture_round_trips_and_older_scenes_open_as_the_papers() {
    let mut scene = Scene::default();
    let mut layers = Layers::deep();
    layers.hidden = Some(32);
    scene.training.layers = Some(layers);
    let text = to_json(&scene).unwrap();
    let (opened, warnings) = from_json(&text).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(opened, scene);
    // A scene written before the editor existed has no `layers`: it opens as the paper's network.
    let mut older = default_value();
    assert!(older["training"].get("layers").is_none());
    older["training"]["filters"] = 7.into();
    let (opened, warnings) = from_json(&older.to_string()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!((opened.training.layers, opened.training.filters), (None, 7));
    let mut broken = serde_json::from_str::<serde_json::Value>(&text).unwrap();
    broken["training"]["layers"]["blocks"] = serde_json::json!([]);
    assert!(from_json(&broken.to_string()).is_err(), "no blocks is refused");
}

#[test]
fn deep_and_n2_shaped_runs_round_trip_and_are_checked_against_the_settings() {
    use crate::core::nn::n2_shaped::{Init, N2Shaped, ShapedSettings, Wiring};
    let tiles = vec![Tile::filled(2, 2, 1.0, 0.5).unwrap(), Tile::filled(2, 2, 0.0, 0.5).unwrap()];
    let mut deep = custom_scene(tiles);
    let layers = Layers::deep();
    deep.training.layers = Some(layers);
    let net = DeepNet::new(layers.arch(12, 12, 2), 4).unwrap();
    deep.trained = Some(TrainedRun { weights: TrainedWeights::Deep(net), ..trained(&deep, 1) });
    let mut shaped = Scene { training: TrainingSettings { layers: None, ..deep.training }, ..deep.clone() };
    let settings = ShapedSettings { wiring: Wiring::Sparse, init: Init::N2 };
    shaped.training.n2_shaped = Some(settings);
    let classes = shaped.tiles.classes();
    let n2_shaped = N2Shaped::new(&classes, (12, 12), settings.wiring, settings.init, 1).unwrap();
    let parameters = n2_shaped.parameters().to_vec();
    shaped.trained = Some(TrainedRun { weights: TrainedWeights::Shaped(parameters), ..trained(&deep, 1) });
    for scene in [&deep, &shaped] {
        let text = to_json(scene).unwrap();
        let (opened, warnings) = from_json(&text).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(&opened, scene);
    }
    // The network compared is the one the weights make (N2's shape rebuilt with them).
    let compared = compute::compared_as_opened(&shaped).unwrap();
    assert!(matches!(&compared, compute::Compared::TrainedShaped(net) if *net == n2_shaped));

    // Weights of another kind than the settings make are refused, saying so.
    let other = Scene { training: shaped.training, ..deep.clone() };
    let error = from_json(&to_json(&other).unwrap()).unwrap_err().to_string();
    assert!(error.contains("a network of convolution blocks, but the training settings make another"), "{error}");
    let mut both = serde_json::from_str::<serde_json::Value>(&to_json(&deep).unwrap()).unwrap();
    both["trained"]["n2_shaped_parameters"] = serde_json::json!([0.5]);
    let error = from_json(&both.to_string()).unwrap_err().to_string();
    assert!(error.contains("exactly one of"), "{error}");
}

/// The default scene's JSON as a `serde_json::Value`, to edit.
fn default_value() -> serde_json::Value {
    serde_json::from_str(&to_json(&Scene::default()).unwrap()).unwrap()
}

#[test]
fn unknown_fields_are_reported_not_dropped_silently() {
    let mut value = default_value();
    value["colour_scheme"] = "dark".into();
    value["training"]["dropout"] = 0.5.into();
    let (scene, warnings) = from_json(&value.to_string()).unwrap();
    assert_eq!(scene, Scene::default());
    let text: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(text, ["unknown field 'colour_scheme' ignored", "unknown field 'training.dropout' ignored"]);
}

#[test]
fn a_newer_version_loads_what_it_knows_and_says_so() {
    let mut value = default_value();
    value["version"] = 2.into();
    value["annotations"] = serde_json::json!([{"text": "look here"}]);
    let (scene, warnings) = from_json(&value.to_string()).unwrap();
    assert_eq!(scene, Scene::default());
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].0.contains("newer tilelab (version 2"));
    assert!(warnings[1].0.contains("'annotations'"));
}

/// Every hostile edit is refused with a message naming the problem.
#[test]
fn hostile_scenes_are_refused_whole() {
    let many_classes: Vec<serde_json::Value> = (0..10_000)
        .map(|c| serde_json::json!({"name": format!("c{c}"), "features": [{"name": "f", "tiles": [{"rows": 1, "cols": 1, "values": [1.0], "epsilon": 0.5}]}]}))
        .collect();
    let cases: Vec<(&str, Mutation, &str)> = vec![
        ("wrong format", Box::new(|v| v["format"] = "tilelab-tileset".into()), "not a tilelab scene"),
        ("version 0", Box::new(|v| v["version"] = 0.into()), "version 0 is not supported"),
        ("huge images", Box::new(|v| v["dataset"]["height"] = 1_000_000.into()), "image size"),
        ("NaN-like jitter", Box::new(|v| v["dataset"]["jitter"] = 5.into()), "jitter"),
        ("zero filters", Box::new(|v| v["training"]["filters"] = 0.into()), "filters is 0"),
        ("negative rate", Box::new(|v| v["training"]["learning_rate"] = (-1.0).into()), "learning rate"),
        ("lecture step 99", Box::new(|v| v["lecture"] = serde_json::json!({"step": 99})), "step 99"),
        ("missing tile", Box::new(|v| v["figure4"]["tiles"] = serde_json::json!([[7, 0, 0]])), "no tile [7, 0, 0]"),
        (
            "10,000 classes",
            Box::new(move |v| {
                v["tiles"] = serde_json::json!({"tileset": {"format": "tilelab-tileset", "version": 1, "classes": many_classes.clone()}});
            }),
            "10000 classes",
        ),
        (
            "huge embedded weights",
            Box::new(|v| {
                let architecture =
                    serde_json::json!({"height": 40, "width": 40, "kernel": 5, "filters": 100_000, "classes": 3});
                v["trained"] = serde_json::json!({"weights": {"format": "tilelab-cnn-weights", "version": 1, "architecture": architecture,
                    "conv_weight": [], "conv_bias": [], "fc_weight": [], "fc_bias": []}});
            }),
            "filters",
        ),
        (
            "a model that is not ONNX",
            Box::new(|v| v["model"] = serde_json::json!({"name": "x.onnx", "onnx_base64": "AAECAwQF"})),
            "ONNX model",
        ),
    ];
    for (what, edit, expected) in cases {
        let mut value = default_value();
        edit(&mut value);
        let error = from_json(&value.to_string()).expect_err(what).to_string();
        assert!(error.contains(expected), "{what}: {error}");
    }
}

#[test]
fn links_that_do_not_decode_say_so() {
    let cases = [
        ("", "starts with '1.'"),
        ("2.abc", "starts with '1.'"),
        ("1.***", "not base64url"),
        ("1.AAAA", "does not unpack"),
    ];
    for (text, expected) in cases {
        let error = from_link(text).expect_err(text).to_string();
        assert!(error.contains(expected), "{text}: {error}");
    }
}

#[test]
fn a_decompression_bomb_is_refused_at_the_cap() {
    use std::io::Write;
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&vec![b' '; 16 << 20]).unwrap();
    let bomb = format!(
        "{}{}",
        link::PREFIX,
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, encoder.finish().unwrap())
    );
    assert!(bomb.len() < link::MAX_LINK_CHARS, "the bomb fits in a link: {} characters", bomb.len());
    assert!(matches!(from_link(&bomb), Err(SceneError::LinkTooLarge { .. })));
}

#[test]
fn a_preset_scene_without_weights_fits_in_2000_characters() {
    for preset in Preset::ALL {
        let mut scene = Scene {
            tiles: SceneTiles::Preset(preset),
            title: "A preset with every setting".into(),
            ..Scene::default()
        };
        scene.lecture = Some(LectureStart { step: 4, followed: Some(TileId { class: 1, feature: 0, tile: 0 }) });
        let (link, _) = to_link(&scene).unwrap();
        assert!(link.len() <= 2000, "{preset:?}: {} characters", link.len());
    }
}

/// A 28×28 tile painted with a brush: a ring of ink, soft edges, the rest blank.
fn hand_drawn_tile() -> Tile {
    let values = Array2::from_shape_fn((28, 28), |(r, c)| {
        let distance = ((r as f32 - 13.5).powi(2) + (c as f32 - 13.5).powi(2)).sqrt();
        match (distance - 8.0).abs() {
            d if d < 1.5 => 1.0,
            d if d < 2.5 => 0.5,
            _ => 0.0,
        }
    });
    Tile::from_values(values, 2.0).unwrap()
}

#[test]
fn a_scene_with_a_hand_drawn_28_by_28_tile_fits_in_4000_characters() {
    let mut scene = custom_scene(vec![hand_drawn_tile(), Tile::filled(28, 28, 1.0, 2.0).unwrap()]);
    scene.dataset = DatasetSpec { height: 40, width: 40, ..scene.dataset };
    scene.trained = Some(trained(&scene, 1));
    let (link, left_out) = to_link(&scene).unwrap();
    assert!(link.len() <= 4000, "{} characters", link.len());
    assert!(left_out[0].0.contains("not in the link"), "weights never travel in links");
}

#[test]
fn a_scene_too_big_for_a_link_says_so() {
    // Sixteen 64×64 tiles of random greys do not compress below the link limit.
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut noise = || Tile::from_values(Array2::from_shape_fn((64, 64), |_| rng.random::<f32>()), 2.0).unwrap();
    let mut scene = custom_scene((0..16).map(|_| noise()).collect());
    scene.dataset = DatasetSpec { height: 64, width: 64, samples_per_class: 1, ..scene.dataset };
    let error = to_link(&scene).unwrap_err().to_string();
    assert!(error.contains("too big for a link"), "{error}");
}
