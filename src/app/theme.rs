//! Design tokens (colours, sizes), colour maps, and turning arrays into cached textures.

// ndarray views are cheap handles, passed by value as ndarray's own API does.
#![allow(clippy::needless_pass_by_value)]

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use egui::{Color32, ColorImage, TextureHandle, TextureOptions};

use crate::app::storage;
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

/// Side of a tile thumbnail in the left panel, in points.
pub const THUMBNAIL_SIZE: f32 = 28.0;
/// Side of one sample in the dataset grid, in points.
pub const SAMPLE_SIZE: f32 = 64.0;
/// Colour of pixels outside a tile's support when the support view is on.
pub const OUTSIDE_SUPPORT: Color32 = Color32::from_rgb(200, 60, 160);
/// Outline of a pasted tile in the dataset overlay.
pub const PLACEMENT_OUTLINE: Color32 = Color32::from_rgb(255, 170, 0);
/// Colour of error messages.
pub const ERROR: Color32 = Color32::from_rgb(230, 80, 70);
/// Colour of warnings.
pub const WARNING: Color32 = Color32::from_rgb(230, 170, 40);
/// Colour of the constructed network (N1, N2) wherever it is compared with a trained one.
pub const CONSTRUCTED_COLOR: Color32 = Color32::from_rgb(255, 170, 0);
/// Colour of the trained CNN wherever it is compared with the constructed one.
pub const TRAINED_COLOR: Color32 = Color32::from_rgb(90, 160, 230);
/// Legend name of the SGD-trained CNN beside the constructed network.
pub const TRAINED_NAME: &str = "trained CNN";
/// Tint of pixels that raise the attributed class logit (attribution overlays).
pub const ATTRIBUTION_POSITIVE: Color32 = Color32::from_rgb(255, 60, 30);
/// Tint of pixels that lower it.
pub const ATTRIBUTION_NEGATIVE: Color32 = Color32::from_rgb(40, 130, 255);

/// Legend name of a constructed network: `"N1 (constructed)"`.
pub fn constructed_name(network: &str) -> String {
    format!("{network} (constructed)")
}

/// How a pixel value maps to a grey level (CONSTRUCTION.md §1: the paper's toy calls 1 "black").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Rendering {
    /// 1 is drawn white, as Fashion-MNIST shows it.
    #[default]
    OneIsBright,
    /// 1 is drawn black, ink on paper, as the paper's toy example reads.
    OneIsInk,
}

impl Rendering {
    /// The grey level of a value in [0, 1] (values outside are clamped, NaN is drawn as 0).
    pub fn grey(self, value: f32) -> u8 {
        let v = if value.is_nan() { 0.0 } else { value.clamp(0.0, 1.0) };
        let v = match self {
            Self::OneIsBright => v,
            Self::OneIsInk => 1.0 - v,
        };
        (v * 255.0).round() as u8
    }

    /// A short label for menus.
    pub fn label(self) -> &'static str {
        match self {
            Self::OneIsBright => "1 = bright",
            Self::OneIsInk => "1 = black (ink)",
        }
    }
}

/// The UI theme chosen by the user (kept in eframe storage, not with the user's work).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ThemeChoice {
    /// Dark panels.
    #[default]
    Dark,
    /// Light panels.
    Light,
}

impl ThemeChoice {
    /// Applies the theme to the context.
    pub fn apply(self, ctx: &egui::Context) {
        ctx.set_theme(match self {
            Self::Dark => egui::Theme::Dark,
            Self::Light => egui::Theme::Light,
        });
    }
}

/// Colour maps for heat maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMap {
    /// Perceptually uniform, dark blue → yellow (for non-negative maps such as distances).
    Viridis,
    /// Blue → white → red around the middle of the range (for signed maps such as weights).
    Diverging,
}

/// Anchor colours of viridis at 0, 1/8, …, 1 (from matplotlib's table).
const VIRIDIS: [[u8; 3]; 9] = [
    [68, 1, 84],
    [71, 44, 122],
    [59, 81, 139],
    [44, 113, 142],
    [33, 144, 141],
    [39, 173, 129],
    [92, 200, 99],
    [170, 220, 50],
    [253, 231, 37],
];

/// Blue, white and red anchors of the diverging map.
const DIVERGING: [[u8; 3]; 3] = [[59, 76, 192], [242, 242, 242], [180, 4, 38]];

impl ColorMap {
    /// The colour of `t ∈ [0, 1]` (clamped; NaN is drawn as the low end).
    pub fn color(self, t: f32) -> Color32 {
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
        match self {
            Self::Viridis => interpolate(&VIRIDIS, t),
            Self::Diverging => interpolate(&DIVERGING, t),
        }
    }
}

/// Piecewise-linear interpolation between equally spaced anchors.
fn interpolate(anchors: &[[u8; 3]], t: f32) -> Color32 {
    let scaled = t * (anchors.len() - 1) as f32;
    let low = (scaled.floor() as usize).min(anchors.len() - 2);
    let frac = scaled - low as f32;
    let mix = |a: u8, b: u8| (f32::from(a) + (f32::from(b) - f32::from(a)) * frac).round() as u8;
    let (a, b) = (anchors[low], anchors[low + 1]);
    Color32::from_rgb(mix(a[0], b[0]), mix(a[1], b[1]), mix(a[2], b[2]))
}

/// A grey image of `values` (H×W) under the rendering convention.
pub fn grey_image(values: ArrayView2<f32>, rendering: Rendering) -> ColorImage {
    let (rows, cols) = values.dim();
    ColorImage::from_gray_iter([cols, rows], values.iter().map(|&v| rendering.grey(v)))
}

/// A tile drawn in grey, with pixels outside the support tinted when `show_support` is on.
pub fn tile_image(
    values: ArrayView2<f32>,
    support: ArrayView2<bool>,
    rendering: Rendering,
    show_support: bool,
) -> ColorImage {
    let (rows, cols) = values.dim();
    let pixels = values
        .iter()
        .zip(support.iter())
        .map(|(&v, &inside)| {
            let g = rendering.grey(v);
            if show_support && !inside { outside_support(g) } else { Color32::from_gray(g) }
        })
        .collect();
    ColorImage::new([cols, rows], pixels)
}

/// A heat map of `values` scaled from `low` to `high`.
pub fn heat_image(values: ArrayView2<f32>, map: ColorMap, low: f32, high: f32) -> ColorImage {
    let (rows, cols) = values.dim();
    let span = if high > low { high - low } else { 1.0 };
    ColorImage::new([cols, rows], values.iter().map(|&v| map.color((v - low) / span)).collect())
}

/// Half-and-half mix of two colours.
/// The on-screen size of a `(rows, cols)` image scaled to fit a `side`×`side` box, keeping its
/// aspect ratio (a 64×40 sample is drawn narrower, not squashed).
pub fn fit_within((rows, cols): (usize, usize), side: f32) -> egui::Vec2 {
    let longest = rows.max(cols).max(1) as f32;
    egui::Vec2::new(cols as f32, rows as f32) * (side / longest)
}

/// How a pixel of grey level `grey` outside the support is drawn (tinted magenta).
pub fn outside_support(grey: u8) -> Color32 {
    blend(Color32::from_gray(grey), OUTSIDE_SUPPORT)
}

fn blend(a: Color32, b: Color32) -> Color32 {
    let mix = u8::midpoint;
    Color32::from_rgb(mix(a.r(), b.r()), mix(a.g(), b.g()), mix(a.b(), b.b()))
}

/// A hash of an array's contents, to know when its texture must be re-uploaded.
pub fn content_hash(values: ArrayView2<f32>, extra: u64) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    values.dim().hash(&mut hasher);
    for v in values {
        v.to_bits().hash(&mut hasher);
    }
    extra.hash(&mut hasher);
    hasher.finish()
}

/// Textures uploaded from arrays, keyed by name and re-uploaded only when their stamp changes.
#[derive(Default)]
pub struct TextureCache {
    entries: HashMap<String, CachedTexture>,
}

struct CachedTexture {
    stamp: u64,
    last_pass: u64,
    handle: TextureHandle,
}

/// Textures unused for this many passes are freed.
const EVICT_AFTER_PASSES: u64 = 300;

impl TextureCache {
    /// The texture named `key`; `make` runs only when the key is new or its `stamp` changed.
    pub fn get(
        &mut self,
        ctx: &egui::Context,
        key: &str,
        stamp: u64,
        make: impl FnOnce() -> ColorImage,
    ) -> TextureHandle {
        let pass = ctx.cumulative_pass_nr();
        if let Some(entry) = self.entries.get_mut(key) {
            if entry.stamp != stamp {
                entry.handle.set(make(), TextureOptions::NEAREST);
                entry.stamp = stamp;
            }
            entry.last_pass = pass;
            return entry.handle.clone();
        }
        let handle = ctx.load_texture(key, make(), TextureOptions::NEAREST);
        self.entries.insert(key.to_owned(), CachedTexture { stamp, last_pass: pass, handle: handle.clone() });
        handle
    }

    /// Frees textures that were not drawn recently.
    pub fn evict_unused(&mut self, ctx: &egui::Context) {
        let pass = ctx.cumulative_pass_nr();
        self.entries.retain(|_, e| pass.saturating_sub(e.last_pass) < EVICT_AFTER_PASSES);
    }

    /// Number of textures held (for tests and the about box).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no texture is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The pixels of `image` inside `rect` (in pixels; the part outside the image is left out).
pub fn crop(image: &ColorImage, rect: egui::Rect) -> ColorImage {
    let [width, height] = image.size;
    let clamp = |v: f32, high: usize| (v.round().max(0.0) as usize).min(high);
    let (x0, y0) = (clamp(rect.min.x, width), clamp(rect.min.y, height));
    let (x1, y1) = (clamp(rect.max.x, width).max(x0), clamp(rect.max.y, height).max(y0));
    image.region_by_pixels([x0, y0], [x1 - x0, y1 - y0])
}

/// Encodes a screenshot as PNG and writes it atomically (creating the folder).
pub fn write_png(path: &std::path::Path, image: &ColorImage) -> Result<(), String> {
    let [width, height] = image.size;
    let rgba: Vec<u8> = image.pixels.iter().flat_map(Color32::to_srgba_unmultiplied).collect();
    let buffer = image::RgbaImage::from_raw(width as u32, height as u32, rgba)
        .ok_or_else(|| "the screenshot has an inconsistent size".to_owned())?;
    let mut bytes = Vec::new();
    buffer
        .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
        .map_err(|e| format!("PNG encoding failed: {e}"))?;
    // A page has no folders: there the file is downloaded under its name.
    if let Some(dir) = path.parent().filter(|d| storage::FILE_PATHS && !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    storage::write_user_file(path, &bytes).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn thumbnails_keep_the_aspect_ratio() {
        let cases =
            [((28, 28), (64.0, 64.0)), ((64, 40), (40.0, 64.0)), ((64, 256), (64.0, 16.0)), ((0, 0), (0.0, 0.0))];
        for (dim, (width, height)) in cases {
            assert_eq!(fit_within(dim, 64.0), egui::Vec2::new(width, height), "{dim:?}");
        }
    }

    #[test]
    fn rendering_conventions_are_opposite() {
        let cases = [(0.0, 0, 255), (1.0, 255, 0), (0.5, 128, 128), (2.0, 255, 0), (f32::NAN, 0, 255)];
        for (value, bright, ink) in cases {
            assert_eq!(Rendering::OneIsBright.grey(value), bright, "{value}");
            assert_eq!(Rendering::OneIsInk.grey(value), ink, "{value}");
        }
    }

    #[test]
    fn color_maps_hit_their_anchors() {
        assert_eq!(ColorMap::Viridis.color(0.0), Color32::from_rgb(68, 1, 84));
        assert_eq!(ColorMap::Viridis.color(1.0), Color32::from_rgb(253, 231, 37));
        assert_eq!(ColorMap::Viridis.color(0.5), Color32::from_rgb(33, 144, 141));
        assert_eq!(ColorMap::Diverging.color(0.5), Color32::from_rgb(242, 242, 242));
        assert_eq!(ColorMap::Diverging.color(-3.0), Color32::from_rgb(59, 76, 192));
    }

    #[test]
    fn images_have_array_shape_and_support_tint() {
        let values = array![[0.0, 1.0, 0.5], [1.0, 0.0, 0.0]];
        let support = array![[true, true, false], [true, true, true]];
        let image = tile_image(values.view(), support.view(), Rendering::OneIsBright, true);
        assert_eq!(image.size, [3, 2]);
        assert_eq!(image.pixels[1], Color32::WHITE);
        assert_ne!(image.pixels[2], Color32::from_gray(128), "outside the support is tinted");
        let plain = tile_image(values.view(), support.view(), Rendering::OneIsBright, false);
        assert_eq!(plain.pixels[2], Color32::from_gray(128));
        assert_eq!(heat_image(values.view(), ColorMap::Viridis, 0.0, 1.0).pixels[1], ColorMap::Viridis.color(1.0));
    }

    #[test]
    fn content_hash_sees_every_pixel() {
        let a = array![[0.0_f32, 1.0], [0.5, 0.25]];
        let mut b = a.clone();
        b[[1, 1]] = 0.26;
        assert_ne!(content_hash(a.view(), 0), content_hash(b.view(), 0));
        assert_ne!(content_hash(a.view(), 0), content_hash(a.view(), 1));
        assert_eq!(content_hash(a.view(), 7), content_hash(a.clone().view(), 7));
    }

    #[test]
    fn screenshots_are_written_as_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("step.png");
        let image = ColorImage::new([3, 2], vec![Color32::RED; 6]);
        write_png(&path, &image).unwrap();
        let decoded = image::open(&path).unwrap().to_rgba8();
        assert_eq!(decoded.dimensions(), (3, 2));
        assert_eq!(decoded.get_pixel(2, 1).0, [255, 0, 0, 255]);
        let bad = ColorImage { size: [4, 4], ..image };
        assert!(write_png(&dir.path().join("bad.png"), &bad).is_err());
    }

    #[test]
    fn crops_keep_the_pixels_inside_the_rect() {
        let pixels = (0..12).map(Color32::from_gray).collect();
        let image = ColorImage::new([4, 3], pixels);
        let part = crop(&image, egui::Rect::from_min_max(egui::pos2(1.0, 1.0), egui::pos2(3.0, 3.0)));
        assert_eq!(part.size, [2, 2]);
        assert_eq!(part.pixels, [5, 6, 9, 10].map(Color32::from_gray));
        let beyond = crop(&image, egui::Rect::from_min_max(egui::pos2(-5.0, 2.0), egui::pos2(50.0, 50.0)));
        assert_eq!(beyond.size, [4, 1], "the part outside the image is left out");
    }
}
