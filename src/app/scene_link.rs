//! Opening a scene link (`index.html#scene=…` in the web build): the tile set, dataset and training
//! settings, view and lecture step it holds replace the current ones. A link that does not open
//! says why and leaves the default scene.

use crate::core::dataset::{Background, DatasetSpec};
use crate::core::export::views::ViewKind;
use crate::core::scene::{self, Scene};

use super::TilelabApp;
use super::ids::View;
use super::settings::{BackgroundChoice, DatasetSettings};
use super::training_job::{Limits, TrainingConfig};

impl TilelabApp {
    /// Opens the scene `link` holds (the text after `#scene=`); a bad link is logged as an error.
    pub fn open_scene_link(&mut self, ctx: &egui::Context, link: &str) {
        match scene::from_link(link) {
            Ok((scene, warnings)) => {
                self.apply_scene(ctx, &scene);
                for warning in warnings {
                    self.state.warn(format!("the scene link: {warning}"));
                }
                self.state.info(format!("opened the scene link: {}", scene.title));
            }
            Err(error) => {
                self.state.error(format!("the scene link does not open ({error}); showing the default scene"))
            }
        }
    }

    fn apply_scene(&mut self, ctx: &egui::Context, scene: &Scene) {
        let state = &mut self.state;
        state.classes = scene.tiles.classes();
        state.selected = super::command::first_id(&state.classes);
        state.session.dataset = dataset_settings(&scene.dataset);
        state.session.view = view(scene.view);
        state.classes_changed();
        let training = &scene.training;
        self.views.training.config = TrainingConfig {
            filters: training.filters,
            kernel: training.kernel,
            hyper: training.hyper,
            train_per_class: training.train_per_class,
            test_per_class: training.test_per_class,
            seed: training.seed,
        };
        self.views.training.limits = Limits { epochs: training.epochs, target_accuracy: training.target_accuracy };
        if let Some(lecture) = scene.lecture {
            self.views.lecture.enter(ctx, lecture.step);
        }
    }
}

/// The dataset view's settings for a scene's dataset (a picture background, which a link never
/// holds, falls back to uniform noise).
fn dataset_settings(spec: &DatasetSpec) -> DatasetSettings {
    let background = match &spec.background {
        Background::Uniform | Background::Image(_) => BackgroundChoice::Uniform,
        Background::Smooth { cell } => BackgroundChoice::Smooth { cell: *cell },
        Background::Constant(value) => BackgroundChoice::Constant { value: *value },
        Background::Gradient { angle_degrees } => BackgroundChoice::Gradient { angle_degrees: *angle_degrees },
    };
    DatasetSettings {
        height: spec.height,
        width: spec.width,
        samples_per_class: spec.samples_per_class,
        background,
        jitter: spec.jitter,
        seed: spec.seed,
    }
}

fn view(kind: ViewKind) -> View {
    match kind {
        ViewKind::Tiles => View::Tiles,
        ViewKind::Dataset => View::Dataset,
        ViewKind::Networks => View::Networks,
        ViewKind::Training => View::Training,
        ViewKind::Invariance => View::Invariance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_opens_its_scene_and_a_bad_link_keeps_the_default() {
        let ctx = egui::Context::default();
        let dir = tempfile::tempdir().unwrap();
        let scene = Scene {
            title: "ten digits".to_owned(),
            tiles: scene::SceneTiles::Preset(crate::core::presets::Preset::MnistTen),
            view: ViewKind::Training,
            ..Scene::default()
        };
        let (link, _) = scene::to_link(&scene).unwrap();
        let mut app = TilelabApp::new_for_tests(dir.path().to_owned());
        app.open_scene_link(&ctx, &link);
        assert_eq!((app.state.classes.len(), app.state.session.view), (10, View::Training));
        assert_eq!(app.state.last_message().map(|e| e.text.as_str()), Some("opened the scene link: ten digits"));

        let mut app = TilelabApp::new_for_tests(dir.path().to_owned());
        app.open_scene_link(&ctx, "not-a-link");
        assert_eq!((app.state.classes.len(), app.state.session.view), (3, View::Tiles));
        assert!(app.state.last_message().is_some_and(|e| e.text.starts_with("the scene link does not open")));
    }
}
