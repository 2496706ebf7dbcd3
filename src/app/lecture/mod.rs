//! Lecture mode: a full-screen walk through the construction on the user's own tile set, in nine
//! steps from a tile and its ε to the trained network's invariance, and an optional tenth on the
//! other way to build a CNN without training it, wavelets ([`wavelets`]).
//!
//! This module owns the mode itself: the [`Step`]s and keyboard navigation (what presentation
//! clickers send), entering and leaving (full screen, a zoom that scales everything, an optional
//! high-contrast theme — all restored on leaving), the animation clock, and the presenter aids (a
//! pointer highlight and "save this step as PNG" through egui's screenshot command). The steps are
//! drawn by [`steps`] (tile, template matching, the identity), [`layers`] (N1, N2, the min-network)
//! [`compare`] (trained network, invariance) and [`preferred`] (what a neuron wants to see), from
//! the shared live data in [`data`] and the
//! input image in [`input`]. The page around them is `views::lecture`.

pub mod compare;
pub mod data;
pub mod deep;
pub mod input;
pub mod layers;
pub mod preferred;
pub mod steps;
pub mod wavelets;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::time::Duration;

use egui::{Color32, ColorImage, Key, Modifiers};

use crate::app::command::{Command, Level};
use crate::app::jobs::Job;
use crate::core::tile::TileId;

/// Zoom factor while lecturing (type and images 1.5× larger), unless the lecturer picks another.
pub const DEFAULT_ZOOM: f32 = 1.5;
/// The page every step is laid out for, in points: a 1920×1080 screen at the default zoom. A
/// smaller window draws it at a smaller zoom (see [`fitted_zoom`]), so nothing is cut off.
pub const PAGE: egui::Vec2 = egui::vec2(1280.0, 720.0);
/// Smallest and largest lecture zoom.
pub const ZOOM_RANGE: std::ops::RangeInclusive<f32> = 0.75..=3.0;
/// Repaint interval while an animation plays.
pub const ANIMATION_FRAME: Duration = Duration::from_millis(33);
/// Radius of the pointer highlight, in points.
const POINTER_RADIUS: f32 = 22.0;
/// Seconds the "saved …" note stays after a step was saved as PNG (the last of them fading out).
pub const SAVED_NOTE_SECONDS: f64 = 4.0;

/// The lecture's steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A tile, its support and ε.
    Tile,
    /// The window sliding over an image: `d_T` per window and `φ_T`.
    Matching,
    /// `|y − c| = σ(2y − 2c) − σ(y) + c`, plotted.
    Identity,
    /// N1: 2×2 value/identity filters, one hidden neuron per window, the logit.
    N1,
    /// N2 layer by layer: blocks built from four smaller blocks.
    N2,
    /// Objects with several features and the min-network.
    Objects,
    /// The trained CNN beside the constructed one: filters and selectivity.
    Trained,
    /// What a neuron wants to see: a detector's preferred stimulus beside its tile, and a trained unit's.
    Preferred,
    /// Logit histograms under background perturbation and translation (and small deformations).
    Invariance,
    /// Optional: the wavelet scattering network, and deformations compared across networks.
    Wavelets,
}

impl Step {
    /// Every step, in lecture order.
    pub const ALL: [Self; 10] = [
        Self::Tile,
        Self::Matching,
        Self::Identity,
        Self::N1,
        Self::N2,
        Self::Objects,
        Self::Trained,
        Self::Preferred,
        Self::Invariance,
        Self::Wavelets,
    ];

    /// The step shown at `index` (clamped to the last step).
    pub fn at(index: usize) -> Self {
        Self::ALL[index.min(Self::ALL.len() - 1)]
    }

    /// The heading shown on screen.
    pub fn title(self) -> &'static str {
        match self {
            Self::Tile => "A tile, its support and ε",
            Self::Matching => "Template matching: the window slides over the image",
            Self::Identity => "The identity |y − c| = σ(2y − 2c) − σ(y) + c",
            Self::N1 => "N1: 2×2 filters, one hidden neuron per window",
            Self::N2 => "N2: every block is built from four smaller blocks",
            Self::Objects => "Objects with several features: the min-network",
            Self::Trained => "The trained network beside the constructed one",
            Self::Preferred => "What does a neuron want to see?",
            Self::Invariance => "Invariance: logits under background changes and translations",
            Self::Wavelets => "Another way to build a CNN: wavelets",
        }
    }

    /// A file-name-friendly name, used for exported PNGs.
    pub fn slug(self) -> &'static str {
        match self {
            Self::Tile => "tile",
            Self::Matching => "matching",
            Self::Identity => "identity",
            Self::N1 => "n1",
            Self::N2 => "n2",
            Self::Objects => "objects",
            Self::Trained => "trained",
            Self::Preferred => "preferred",
            Self::Invariance => "invariance",
            Self::Wavelets => "wavelets",
        }
    }
}

/// A navigation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// Right arrow, Space, `PageDown`.
    Next,
    /// Left arrow, `PageUp`, `Backspace`.
    Previous,
    /// Home.
    First,
    /// End.
    Last,
}

/// The step index after `nav` from `index` (stays within the steps, no wrap-around).
pub fn navigate(index: usize, nav: Nav) -> usize {
    let last = Step::ALL.len() - 1;
    match nav {
        Nav::Next => (index + 1).min(last),
        Nav::Previous => index.saturating_sub(1).min(last),
        Nav::First => 0,
        Nav::Last => last,
    }
}

/// The keys of the navigation, in the order they are checked.
const NAV_KEYS: [(Key, Nav); 8] = [
    (Key::ArrowRight, Nav::Next),
    (Key::Space, Nav::Next),
    (Key::PageDown, Nav::Next),
    (Key::ArrowLeft, Nav::Previous),
    (Key::PageUp, Nav::Previous),
    (Key::Backspace, Nav::Previous),
    (Key::Home, Nav::First),
    (Key::End, Nav::Last),
];

/// What entering lecture mode changed, so leaving puts it back.
struct Restore {
    zoom: f32,
    fullscreen: bool,
    theme: egui::Theme,
    style: Arc<egui::Style>,
}

/// What a step lets the lecturer change (kept across steps so the story stays on one tile).
#[derive(Debug, Clone, PartialEq)]
pub struct Interaction {
    /// The tile the lecture follows (`None`: the tile selected in the editor).
    pub tile: Option<TileId>,
    /// Step 2: the window `(i, j)` shown (`None`: the best-matching window).
    pub window: Option<(usize, usize)>,
    /// Step 3: the constant `c` of the identity.
    pub c: f32,
    /// Step 6: the second argument `b` of `min(a, b)`.
    pub b: f32,
    /// Step 4: the conv filter of N1 shown.
    pub filter: usize,
    /// Step 5: the N2 layer (block level, 1-based) in focus.
    pub level: usize,
    /// Step 4: the receptive field `(row, col, rows, cols)` of the neuron pointed at (or animated).
    pub field: Option<crate::app::widgets::heatmap::CellRect>,
    /// Step 5: the block pointed at, `(level index, block row, block column)`.
    pub block: Option<(usize, usize, usize)>,
    /// Steps 9 and 10: the amplitude τ of the small deformations, in pixels.
    pub tau: f32,
    /// Step 8: the trained CNN's filter whose unit's preferred stimulus is shown.
    pub preferred_filter: usize,
}

impl Default for Interaction {
    fn default() -> Self {
        Self {
            tile: None,
            window: None,
            c: 0.4,
            b: 1.0,
            filter: 0,
            level: 1,
            field: None,
            block: None,
            tau: 1.0,
            preferred_filter: 0,
        }
    }
}

/// Lecture mode's state (not persisted: a lecture starts fresh each time the app starts).
// Independent on/off switches of the presentation: a bool each is the plain model.
#[allow(clippy::struct_excessive_bools)]
pub struct LectureState {
    /// True while lecture mode is on.
    pub active: bool,
    /// Index of the current step in [`Step::ALL`].
    pub step: usize,
    /// Zoom factor while lecturing.
    pub zoom: f32,
    /// High-contrast colours (for washed-out projectors).
    pub high_contrast: bool,
    /// Draw a highlight around the pointer.
    pub pointer: bool,
    /// The animation runs (windows slide, layers advance).
    pub playing: bool,
    /// Folder the "save as PNG" button writes into.
    pub export_dir: PathBuf,
    /// Draw the pointer highlight into "save step as PNG" too (off: the step's content only).
    pub pointer_in_png: bool,
    /// The last PNG written (checked by tests).
    pub last_export: Option<PathBuf>,
    /// The "saved …" note: its text, when it appeared and on which step (it fades, and goes on leaving the step).
    saved_note: Option<(String, f64, usize)>,
    /// The step's area (title and content, without the top bar) in pixels, as drawn in the last frame.
    page_pixels: Option<egui::Rect>,
    /// What the lecturer changed inside the steps.
    pub interaction: Interaction,
    /// Input image, networks and measurements the steps show.
    pub data: data::LectureData,
    restore: Option<Restore>,
    animation_origin: f64,
    screenshot: Option<(PathBuf, Receiver<Arc<ColorImage>>)>,
    export_job: Option<Job<PathBuf>>,
}

impl Default for LectureState {
    fn default() -> Self {
        Self {
            active: false,
            step: 0,
            zoom: DEFAULT_ZOOM,
            high_contrast: false,
            pointer: true,
            playing: false,
            export_dir: default_export_dir(),
            pointer_in_png: false,
            last_export: None,
            saved_note: None,
            page_pixels: None,
            interaction: Interaction::default(),
            data: data::LectureData::default(),
            restore: None,
            animation_origin: 0.0,
            screenshot: None,
            export_job: None,
        }
    }
}

/// `~/Pictures/tilelab-lecture` when there is a home folder, else the current folder.
fn default_export_dir() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map_or_else(|| PathBuf::from("."), |home| PathBuf::from(home).join("Pictures").join("tilelab-lecture"))
}

impl LectureState {
    /// The current step.
    pub fn current(&self) -> Step {
        Step::at(self.step)
    }

    /// Turns lecture mode on at step `step`: full screen, the lecture zoom, high contrast if chosen.
    pub fn enter(&mut self, ctx: &egui::Context, step: usize) {
        if !self.active {
            let theme = ctx.theme();
            self.restore = Some(Restore {
                zoom: ctx.zoom_factor(),
                fullscreen: ctx.input(|i| i.viewport().fullscreen.unwrap_or(false)),
                theme,
                style: ctx.style_of(theme),
            });
        }
        self.active = true;
        self.step = step.min(Step::ALL.len() - 1);
        self.set_zoom(ctx, self.zoom);
        self.apply_contrast(ctx);
        ctx.send_viewport_cmd(egui::ViewportCommand::Fullscreen(true));
        self.restart_animation(ctx);
        self.log_step();
    }

    /// Leaves lecture mode, restoring the zoom, the full-screen state and the theme.
    pub fn leave(&mut self, ctx: &egui::Context) {
        self.active = false;
        self.playing = false;
        self.saved_note = None;
        if let Some(restore) = self.restore.take() {
            ctx.set_zoom_factor(restore.zoom);
            ctx.set_style_of(restore.theme, restore.style);
            ctx.send_viewport_cmd(egui::ViewportCommand::Fullscreen(restore.fullscreen));
        }
    }

    /// Sets the lecture zoom (clamped to [`ZOOM_RANGE`]) and applies it, fitted to the window, while lecturing.
    pub fn set_zoom(&mut self, ctx: &egui::Context, zoom: f32) {
        let zoom = if zoom.is_finite() { zoom.clamp(*ZOOM_RANGE.start(), *ZOOM_RANGE.end()) } else { DEFAULT_ZOOM };
        self.zoom = zoom;
        self.fit_to_window(ctx);
    }

    /// Applies the lecture zoom, reduced where the window is too small for the [`PAGE`] (called
    /// every frame, so resizing the window or moving to a projector refits the page).
    pub fn fit_to_window(&self, ctx: &egui::Context) {
        if !self.active {
            return;
        }
        let window = ctx.content_rect().size() * ctx.zoom_factor();
        let zoom = fitted_zoom(self.zoom, window);
        if (ctx.zoom_factor() - zoom).abs() > 1e-3 {
            ctx.set_zoom_factor(zoom);
        }
    }

    /// Applies the lecture's style while lecturing: no text style under the body size, and the
    /// high-contrast visuals if chosen.
    pub fn apply_contrast(&self, ctx: &egui::Context) {
        let Some(restore) = &self.restore else { return };
        let mut style = (*restore.style).clone();
        raise_small_text(&mut style);
        if self.high_contrast {
            style.visuals = high_contrast_visuals();
        }
        ctx.set_style_of(restore.theme, style);
    }

    /// Moves to another step (the animation restarts there).
    pub fn go(&mut self, ctx: &egui::Context, nav: Nav) {
        let next = navigate(self.step, nav);
        if next != self.step {
            self.step = next;
            self.saved_note = None;
            self.restart_animation(ctx);
            self.log_step();
        }
    }

    /// Says which step shows (the web build's console; the browser test follows the keys with it).
    fn log_step(&self) {
        log::info!("lecture step {} of {}: {}", self.step + 1, Step::ALL.len(), Step::at(self.step).title());
    }

    /// Seconds since the animation started, while it plays (steps derive their frame from it).
    pub fn animation_seconds(&self, ctx: &egui::Context) -> Option<f64> {
        if !self.playing {
            return None;
        }
        ctx.request_repaint_after(ANIMATION_FRAME);
        Some((ctx.input(|i| i.time) - self.animation_origin).max(0.0))
    }

    /// Play or pause.
    pub fn toggle_play(&mut self, ctx: &egui::Context) {
        self.playing = !self.playing;
        self.restart_animation(ctx);
    }

    fn restart_animation(&mut self, ctx: &egui::Context) {
        self.animation_origin = ctx.input(|i| i.time);
    }

    /// Remembers where the step was drawn this frame (`page` in points), for "save step as PNG".
    pub fn set_page_rect(&mut self, ctx: &egui::Context, page: egui::Rect) {
        self.page_pixels = Some(page * ctx.pixels_per_point());
    }

    /// True while the pointer highlight should be drawn (it is left out of a PNG being taken, unless asked for).
    pub fn shows_pointer(&self) -> bool {
        self.pointer && (self.pointer_in_png || self.screenshot.is_none())
    }

    /// The "saved …" note and its opacity (1 → 0 over the last second), while it is due on this step.
    pub fn saved_note(&self, ctx: &egui::Context) -> Option<(&str, f32)> {
        let (text, at, step) = self.saved_note.as_ref()?;
        let age = ctx.input(|i| i.time) - at;
        if *step != self.step || age >= SAVED_NOTE_SECONDS {
            return None;
        }
        ctx.request_repaint_after(ANIMATION_FRAME);
        Some((text, ((SAVED_NOTE_SECONDS - age) as f32).clamp(0.0, 1.0)))
    }

    /// Asks egui for a screenshot of this frame; the step's area is written as `lecture-<n>-<step>.png`.
    pub fn request_png(&mut self, ctx: &egui::Context) {
        let step = self.current();
        let path = self.export_dir.join(format!("lecture-{}-{}.png", self.step + 1, step.slug()));
        let (sender, receiver) = channel();
        let repaint = ctx.clone();
        ctx.request_screenshot(move |image| {
            // The lecture may have been left meanwhile: then nobody listens.
            let _ = sender.send(image);
            repaint.request_repaint();
        });
        self.screenshot = Some((path, receiver));
    }

    /// True while a screenshot is awaited or being written.
    pub fn is_exporting(&self) -> bool {
        self.screenshot.is_some() || self.export_job.is_some()
    }

    /// Collects the screenshot (asking for it to be saved) and the outcome of its save.
    pub fn poll_export(&mut self, ctx: &egui::Context, commands: &mut Vec<Command>) {
        if let Some((path, receiver)) = &self.screenshot {
            match receiver.try_recv() {
                Ok(image) => {
                    commands.push(Command::SaveLectureStep { path: path.clone(), image, page: self.page_pixels });
                    self.screenshot = None;
                }
                Err(TryRecvError::Disconnected) => {
                    commands.push(Command::Log(Level::Error, "the screenshot could not be taken".to_owned()));
                    self.screenshot = None;
                }
                Err(TryRecvError::Empty) => {}
            }
        }
        let Some(job) = &mut self.export_job else { return };
        let Some(result) = job.poll() else { return };
        self.export_job = None;
        match result {
            Ok(path) => {
                commands.push(Command::Log(Level::Info, format!("saved {}", path.display())));
                self.saved_note = Some((format!("saved {}", path.display()), ctx.input(|i| i.time), self.step));
                self.last_export = Some(path);
            }
            Err(error) => commands.push(Command::Log(Level::Error, format!("could not save the step: {error}"))),
        }
    }

    /// Waits for `job`, the save of the step's screenshot.
    pub fn saving(&mut self, job: Job<PathBuf>) {
        self.export_job = Some(job);
    }
}

/// The zoom the page is drawn at in a window of `window` native points: the lecturer's `zoom`,
/// reduced to fit the [`PAGE`] (never below the smallest zoom: a smaller window scrolls).
pub fn fitted_zoom(zoom: f32, window: egui::Vec2) -> f32 {
    let fit = (window.x / PAGE.x).min(window.y / PAGE.y);
    if fit.is_finite() { zoom.min(fit).max(*ZOOM_RANGE.start()) } else { zoom }
}

/// Raises every text style smaller than the body text (captions, monospace) to the body size: on
/// a projector the body text is the smallest that reads from the back of the room.
fn raise_small_text(style: &mut egui::Style) {
    let body = egui::TextStyle::Body.resolve(style).size;
    for font in style.text_styles.values_mut() {
        font.size = font.size.max(body);
    }
}

/// Black background, white text, thick white outlines: readable on a washed-out projector.
pub fn high_contrast_visuals() -> egui::Visuals {
    let mut visuals = egui::Visuals::dark();
    visuals.override_text_color = Some(Color32::WHITE);
    visuals.panel_fill = Color32::BLACK;
    visuals.window_fill = Color32::BLACK;
    visuals.extreme_bg_color = Color32::BLACK;
    visuals.faint_bg_color = Color32::from_gray(20);
    let stroke = egui::Stroke::new(1.5, Color32::WHITE);
    for widget in [
        &mut visuals.widgets.noninteractive,
        &mut visuals.widgets.inactive,
        &mut visuals.widgets.hovered,
        &mut visuals.widgets.active,
    ] {
        widget.fg_stroke = stroke;
    }
    visuals.widgets.inactive.bg_stroke = egui::Stroke::new(1.0, Color32::WHITE);
    visuals.widgets.noninteractive.bg_stroke = egui::Stroke::new(1.0, Color32::from_gray(200));
    visuals.selection.bg_fill = Color32::from_rgb(0, 90, 200);
    visuals.selection.stroke = stroke;
    visuals
}

/// The keys of lecture mode: F5 enters (Shift+F5 resumes at the last step); while lecturing,
/// →/Space/PageDown and ←/PageUp/Backspace step, Home/End jump, P plays/pauses, Esc leaves.
/// Consumed before any widget sees them, so a focused widget cannot swallow the clicker.
pub fn handle_keys(ctx: &egui::Context, lecture: &mut LectureState) {
    if !lecture.active {
        if ctx.input_mut(|i| i.consume_key(Modifiers::SHIFT, Key::F5)) {
            lecture.enter(ctx, lecture.step);
        } else if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::F5)) {
            lecture.enter(ctx, 0);
        }
        return;
    }
    if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Escape)) {
        lecture.leave(ctx);
        return;
    }
    for (key, nav) in NAV_KEYS {
        if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, key)) {
            lecture.go(ctx, nav);
        }
    }
    if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::P)) {
        lecture.toggle_play(ctx);
    }
}

/// Draws the pointer highlight on top of everything.
pub fn pointer_ui(ctx: &egui::Context) {
    let Some(pos) = ctx.pointer_hover_pos() else { return };
    let painter = ctx.layer_painter(egui::LayerId::new(egui::Order::Tooltip, egui::Id::unique("lecture pointer")));
    painter.circle_filled(pos, POINTER_RADIUS, Color32::from_rgba_unmultiplied(255, 215, 0, 60));
    painter.circle_stroke(pos, POINTER_RADIUS, egui::Stroke::new(2.0, Color32::from_rgb(255, 200, 0)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn navigation_stays_within_the_steps() {
        let last = Step::ALL.len() - 1;
        let cases = [
            (0, Nav::Next, 1),
            (last, Nav::Next, last),
            (0, Nav::Previous, 0),
            (3, Nav::Previous, 2),
            (5, Nav::First, 0),
            (2, Nav::Last, last),
            (99, Nav::Previous, last),
        ];
        for (from, nav, expected) in cases {
            assert_eq!(navigate(from, nav), expected, "{from} {nav:?}");
        }
        assert_eq!(Step::at(99), Step::Wavelets);
    }

    #[test]
    fn steps_have_distinct_titles_and_slugs() {
        let titles: std::collections::HashSet<_> = Step::ALL.iter().map(|s| s.title()).collect();
        let slugs: std::collections::HashSet<_> = Step::ALL.iter().map(|s| s.slug()).collect();
        assert_eq!((titles.len(), slugs.len()), (Step::ALL.len(), Step::ALL.len()));
    }

    #[test]
    fn entering_and_leaving_restores_zoom_and_style() {
        // A zoom change takes effect at the next pass.
        let pass = |ctx: &egui::Context| {
            let _ = ctx.run_ui(egui::RawInput::default(), |_| {});
        };
        let ctx = egui::Context::default();
        ctx.set_zoom_factor(1.25);
        pass(&ctx);
        let before = ctx.style_of(ctx.theme());
        let mut lecture = LectureState { high_contrast: true, ..LectureState::default() };
        lecture.enter(&ctx, 3);
        pass(&ctx);
        assert!(lecture.active);
        assert_eq!(lecture.step, 3);
        assert!((ctx.zoom_factor() - DEFAULT_ZOOM).abs() < 1e-6);
        assert_eq!(ctx.style_of(ctx.theme()).visuals.panel_fill, Color32::BLACK);
        lecture.set_zoom(&ctx, 40.0);
        pass(&ctx);
        assert!((ctx.zoom_factor() - *ZOOM_RANGE.end()).abs() < 1e-6, "the zoom is clamped");
        lecture.leave(&ctx);
        pass(&ctx);
        assert!(!lecture.active);
        assert!((ctx.zoom_factor() - 1.25).abs() < 1e-6);
        assert_eq!(ctx.style_of(ctx.theme()).visuals, before.visuals);
    }

    #[test]
    fn the_page_is_scaled_down_to_fit_the_window() {
        assert!((fitted_zoom(1.5, egui::vec2(1920.0, 1080.0)) - 1.5).abs() < 1e-6);
        assert!((fitted_zoom(1.5, egui::vec2(1280.0, 800.0)) - 1.0).abs() < 1e-6);
        assert!((fitted_zoom(1.5, egui::vec2(1600.0, 1000.0)) - 1.25).abs() < 1e-6);
        assert!((fitted_zoom(1.0, egui::vec2(3840.0, 2160.0)) - 1.0).abs() < 1e-6, "never above the lecturer's size");
        assert!((fitted_zoom(1.5, egui::vec2(300.0, 200.0)) - ZOOM_RANGE.start()).abs() < 1e-6, "then it scrolls");
    }
}
