//! Ready-made tile sets: the paper's Fashion-MNIST and toy settings, MNIST, and a two-feature example.

use ndarray::{Array2, array};

use super::idx::{BundledSet, LabelledImages, bundled};
use super::tile::{ClassSet, Feature, Object, Tile, single_tile_object};

/// ε of the image presets. An exact paste has distance 0 and gives the logit σ(ε − 0) = ε, while
/// a 28×28 tile against uniform noise or another garment is hundreds of grey levels away: any ε
/// between is exact, and 2 leaves room for a little jitter while staying far from false matches.
pub const IMAGE_EPSILON: f32 = 2.0;

/// ε of the toy squares (the paper's Section 6.1).
pub const TOY_EPSILON: f32 = 0.5;

/// Fashion-MNIST labels of the three classes in [`fashion_three`]: Trouser, Sneaker, Bag.
const FASHION_THREE_LABELS: [u8; 3] = [1, 7, 8];

/// The built-in tile sets by name, as scenes refer to them (`"preset": "fashion_three"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// [`fashion_three`].
    FashionThree,
    /// [`fashion_ten`] with one tile per class.
    FashionTen,
    /// [`mnist_ten`] with one tile per class.
    MnistTen,
    /// [`toy_squares`].
    ToySquares,
    /// [`two_feature_example`].
    TwoFeatures,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Self; 5] =
        [Self::FashionThree, Self::FashionTen, Self::MnistTen, Self::ToySquares, Self::TwoFeatures];

    /// The menu label.
    pub fn label(self) -> &'static str {
        match self {
            Self::FashionThree => "Fashion-MNIST: 3 classes",
            Self::FashionTen => "Fashion-MNIST: 10 classes",
            Self::MnistTen => "MNIST: 10 digits",
            Self::ToySquares => "Toy: black and white squares",
            Self::TwoFeatures => "Two-feature object",
        }
    }

    /// The tile set.
    pub fn classes(self) -> ClassSet {
        match self {
            Self::FashionThree => fashion_three(),
            Self::FashionTen => fashion_ten(1),
            Self::MnistTen => mnist_ten(1),
            Self::ToySquares => toy_squares(),
            Self::TwoFeatures => two_feature_example(),
        }
    }
}

/// Trouser, Sneaker and Bag: one 28×28 tile each, the first bundled image of its class.
pub fn fashion_three() -> ClassSet {
    let data = bundled_data(BundledSet::FashionMnist);
    let names = BundledSet::FashionMnist.class_names();
    let classes = FASHION_THREE_LABELS
        .iter()
        .map(|&label| single_tile_object(names[usize::from(label)], image_tile(&data, label, 0)))
        .collect();
    ClassSet { classes }
}

/// The ten Fashion-MNIST classes, each one feature whose alternatives are the first `tiles_per_class` images.
///
/// `tiles_per_class` is clamped to 1..=200 (the bundled images per class).
pub fn fashion_ten(tiles_per_class: usize) -> ClassSet {
    ten_classes(BundledSet::FashionMnist, tiles_per_class)
}

/// `classes` with every tile's support widened to its whole rectangle, as a tile imported from a
/// picture has it: the zero pixels count too, so N1 and N2 grow (the worst case of issue 21).
pub fn with_full_support(classes: &ClassSet) -> ClassSet {
    let mut classes = classes.clone();
    for tile in classes.classes.iter_mut().flat_map(|o| o.features.iter_mut()).flat_map(|f| f.tiles.iter_mut()) {
        let support = Array2::from_elem(tile.values().dim(), true);
        // The values and ε come from a valid tile and a full support is never empty.
        if let Ok(full) = Tile::new(tile.values().clone(), support, tile.epsilon()) {
            *tile = full;
        }
    }
    classes
}

/// The ten MNIST digits, each one feature whose alternatives are the first `tiles_per_class` images.
///
/// `tiles_per_class` is clamped to 1..=200 (the bundled images per class).
pub fn mnist_ten(tiles_per_class: usize) -> ClassSet {
    ten_classes(BundledSet::Mnist, tiles_per_class)
}

/// The paper's toy (Section 6.1): a 2×2 "black" square of 1s and a 2×2 "white" square of 0s, ε = 0.5.
///
/// Both have full support: without it the white square (all zeros) would have an empty
/// support and match every image.
pub fn toy_squares() -> ClassSet {
    let square = |value| Tile::filled(2, 2, value, TOY_EPSILON).expect("a 2×2 tile with ε > 0 is valid");
    ClassSet { classes: vec![single_tile_object("black", square(1.0)), single_tile_object("white", square(0.0))] }
}

/// Two objects with m = 2 features that share one ("eye") and differ in the other (the mouth),
/// meant for 12×12 images: a class is present only when all its features are.
pub fn two_feature_example() -> ClassSet {
    let eye = Feature { name: "eye".into(), tiles: vec![full_support(array![[1.0, 1.0], [1.0, 1.0]])] };
    let smile = full_support(array![[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0]]);
    let frown = full_support(array![[0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 1.0]]);
    let face = |name: &str, mouth: Tile| Object {
        name: name.into(),
        features: vec![eye.clone(), Feature { name: format!("{name} mouth"), tiles: vec![mouth] }],
    };
    ClassSet { classes: vec![face("smile", smile), face("frown", frown)] }
}

fn full_support(values: Array2<f32>) -> Tile {
    let support = Array2::from_elem(values.dim(), true);
    Tile::new(values, support, TOY_EPSILON).expect("preset tiles hold values in [0, 1]")
}

fn ten_classes(set: BundledSet, tiles_per_class: usize) -> ClassSet {
    let data = bundled_data(set);
    let count = tiles_per_class.clamp(1, 200);
    let classes = set
        .class_names()
        .iter()
        .zip(0u8..)
        .map(|(&name, label)| {
            let tiles = (0..count).map(|n| image_tile(&data, label, n)).collect();
            Object { name: name.into(), features: vec![Feature { name: name.into(), tiles }] }
        })
        .collect();
    ClassSet { classes }
}

/// The embedded data: it is part of the binary and checked by tests, so failing is a build defect.
fn bundled_data(set: BundledSet) -> LabelledImages {
    bundled(set).expect("the bundled IDX data is embedded at build time and tested")
}

/// The `n`-th image of `label` as a tile whose support is its non-zero pixels.
fn image_tile(data: &LabelledImages, label: u8, n: usize) -> Tile {
    let image = data.class_image(label, n).expect("the bundled data holds 200 images of every class");
    Tile::from_values(image, IMAGE_EPSILON).expect("a bundled image is non-blank with values in [0, 1]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate_and_have_the_documented_shape() {
        let three = fashion_three();
        three.validate_for_image(40, 40).unwrap();
        let names: Vec<_> = three.classes.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["Trouser", "Sneaker", "Bag"]);
        let bag = three.tile(crate::core::tile::TileId { class: 2, feature: 0, tile: 0 }).unwrap();
        assert_eq!((bag.rows(), bag.cols(), bag.epsilon()), (28, 28, 2.0));
        let first_bag = bundled(BundledSet::FashionMnist).unwrap().class_image(8, 0).unwrap();
        assert_eq!(bag.values(), &first_bag);
        assert_eq!(bag.support_len(), first_bag.iter().filter(|&&v| v != 0.0).count());

        for (set, k) in [(fashion_ten(3), 3), (mnist_ten(1), 1), (fashion_ten(0), 1), (mnist_ten(999), 200)] {
            set.validate_for_image(28, 28).unwrap();
            assert_eq!(set.len(), 10);
            assert!(set.classes.iter().all(|o| o.features.len() == 1 && o.features[0].tiles.len() == k));
        }
        assert_eq!(fashion_ten(1).classes[9].name, "Ankle boot");
        let full = with_full_support(&fashion_ten(1));
        assert!(full.tiles().all(|(_, t)| t.support_len() == 28 * 28));
        assert_eq!(
            full.tiles().next().map(|(_, t)| t.values()),
            fashion_ten(1).tiles().next().map(|(_, t)| t.values())
        );

        let toy = toy_squares();
        toy.validate_for_image(4, 4).unwrap();
        assert_eq!(toy.tiles().map(|(_, t)| t.support_len()).collect::<Vec<_>>(), [4, 4]);

        let faces = two_feature_example();
        faces.validate_for_image(12, 12).unwrap();
        assert_eq!(faces.max_features(), 2);
    }

    #[test]
    fn preset_datasets_generate() {
        use crate::core::dataset::{DatasetSpec, generate};
        let cases = [
            (fashion_three(), 40),
            (fashion_ten(2), 40),
            (mnist_ten(2), 40),
            (toy_squares(), 4),
            (two_feature_example(), 12),
        ];
        for (classes, side) in cases {
            let spec = DatasetSpec { height: side, width: side, samples_per_class: 5, ..DatasetSpec::default() };
            let data = generate(&classes, &spec).unwrap();
            assert_eq!(data.samples.len(), 5 * classes.len());
        }
    }
}
