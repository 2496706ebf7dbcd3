//! The live data the lecture steps show: the input image, and (from the app's cache, shared with
//! the networks view) N1 and N2 for the current tile set and image size and their forward passes
//! of the input.

use std::sync::Arc;

use crate::app::cache::{Forward, NetKey, WindowKey, Windows, image_key};
use crate::app::command::Command;
use crate::app::state::AppState;
use crate::core::construct::{Constructed, Which};
use crate::core::nn::sparse::LayerWindow;
use crate::core::tile::TileId;

use super::input::{InputKey, LectureInput};

/// Everything the steps share.
#[derive(Default)]
pub struct LectureData {
    /// The input image (rebuilt when its key changes).
    pub input: Option<LectureInput>,
    /// Why the input could not be made.
    pub input_error: Option<(InputKey, String)>,
    /// Seed of the input (the "new image" button changes it).
    pub seed: u64,
    /// Stamp counter for input images.
    stamps: u64,
    /// Dragging a tile on the input.
    pub drag: super::input::DragState,
}

/// The image size of the dataset settings.
pub fn image_size(app: &AppState) -> (usize, usize) {
    (app.session.dataset.height, app.session.dataset.width)
}

/// The tile the lecture follows: the one picked in the lecture, else the editor's, else the first.
pub fn followed_tile(app: &AppState, picked: Option<TileId>) -> Option<TileId> {
    picked
        .filter(|id| app.classes.tile(*id).is_some())
        .or(app.selected.filter(|id| app.classes.tile(*id).is_some()))
        .or_else(|| app.classes.tiles().next().map(|(id, _)| id))
}

/// The network `which` for the current tile set and image size, from the app's cache (asking
/// for it to be built; `None` meanwhile).
pub fn network(app: &AppState, which: Which, commands: &mut Vec<Command>) -> Option<Arc<Constructed>> {
    commands.push(Command::BuildNetwork(which));
    app.cache.network(which, net_key(app))
}

/// Why `which` could not be built for the current set, if it failed.
pub fn network_error(app: &AppState, which: Which) -> Option<&str> {
    app.cache.network_error(which, net_key(app))
}

fn net_key(app: &AppState) -> NetKey {
    let (height, width) = image_size(app);
    (app.classes_version, height, width)
}

/// Computed parts of layers: the windows asked for and their values, in the same order.
pub struct WindowParts {
    pub windows: Vec<LayerWindow>,
    pub values: Arc<Windows>,
}

impl WindowParts {
    /// Channel `channel` of layer `layer` at `(y, x)`, when a window holds it.
    pub fn value(&self, layer: usize, channel: usize, y: usize, x: usize) -> Option<f32> {
        self.windows.iter().zip(self.values.iter()).filter(|(w, _)| w.layer == layer).find_map(|(w, v)| {
            let index = w.channels.iter().position(|&c| c == channel)?;
            v.at(index, y, x)
        })
    }
}

impl LectureData {
    /// A new stamp for a changed input image.
    pub fn next_stamp(&mut self) -> u64 {
        self.stamps += 1;
        self.stamps
    }

    /// The input for `tile`, rebuilt when the tile set, the tile, the size or the seed changed.
    pub fn ensure_input(&mut self, app: &AppState, tile: TileId) -> Option<&LectureInput> {
        let key = InputKey { version: app.classes_version, tile, size: image_size(app), seed: self.seed };
        let current = self.input.as_ref().is_some_and(|i| i.key == key);
        let failed = self.input_error.as_ref().is_some_and(|(k, _)| *k == key);
        if !current && !failed {
            let stamp = self.next_stamp();
            let made = app
                .session
                .dataset
                .to_spec()
                .and_then(|spec| LectureInput::new(&app.classes, &spec.background, key.clone(), stamp));
            match made {
                Ok(input) => {
                    self.input = Some(input);
                    self.input_error = None;
                }
                Err(error) => {
                    self.input = None;
                    self.input_error = Some((key, error));
                }
            }
        }
        self.input.as_ref()
    }

    /// Every layer's output of `which` on the input from the app's cache (the newest finished
    /// pass of this network, so dragging a tile never blanks the view while the next pass runs),
    /// asking for the pass of the current input.
    pub fn forward(&self, app: &AppState, which: Which, commands: &mut Vec<Command>) -> Option<Arc<Forward>> {
        network(app, which, commands)?;
        let input = self.input.as_ref()?;
        let wanted = (net_key(app), image_key(&input.image));
        if app.cache.forward(which).needs(&wanted) {
            commands.push(Command::ForwardPass { which, key: wanted, image: Arc::new(input.image.clone()) });
        }
        app.cache.forward(which).latest(|k| k.0 == wanted.0)
    }

    /// The parts `windows` of `which`'s layers on the input, for layers its forward pass did not
    /// keep (the newest computed for this network and the same channels, possibly of an older
    /// input or place, so a drag never blanks the view), asking for those of the current input.
    pub fn windows(
        &self,
        app: &AppState,
        which: Which,
        windows: Vec<LayerWindow>,
        commands: &mut Vec<Command>,
    ) -> Option<WindowParts> {
        let input = self.input.as_ref()?;
        let net = net_key(app);
        let channels = |windows: &[LayerWindow]| -> Vec<(usize, Vec<usize>)> {
            windows.iter().map(|w| (w.layer, w.channels.clone())).collect()
        };
        let wanted = channels(&windows);
        let key = WindowKey { which, forward: (net, image_key(&input.image)), windows };
        if app.cache.windows().needs(&key) {
            commands.push(Command::LayerWindows { key, image: Arc::new(input.image.clone()) });
        }
        // Not another view's windows (the networks view's page of the same layer).
        let same = |k: &WindowKey| k.which == which && k.forward.0 == net && channels(&k.windows) == wanted;
        let done = app.cache.windows().done().filter(|(k, _)| same(k))?;
        Some(WindowParts { windows: done.0.windows.clone(), values: Arc::clone(&done.1) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_followed_tile_falls_back_to_an_existing_one() {
        let mut app = AppState::new(None);
        let second = TileId { class: 1, feature: 0, tile: 0 };
        assert_eq!(followed_tile(&app, Some(second)), Some(second));
        let missing = TileId { class: 9, feature: 0, tile: 0 };
        assert_eq!(followed_tile(&app, Some(missing)), app.selected);
        app.selected = None;
        assert_eq!(followed_tile(&app, None), Some(TileId { class: 0, feature: 0, tile: 0 }));
    }

    #[test]
    fn networks_and_forward_passes_match_the_direct_logits() {
        let mut app = AppState::new(None);
        let mut data = LectureData::default();
        let tile = followed_tile(&app, None).unwrap();
        assert!(data.ensure_input(&app, tile).is_some());
        let (mut activations, mut commands) = (None, Vec::new());
        for _ in 0..2000 {
            activations = data.forward(&app, Which::N2, &mut commands);
            if activations.is_some() {
                break;
            }
            // What the app does with the frame's commands: the lecture asked for N2, then its pass.
            for command in std::mem::take(&mut commands) {
                match command {
                    Command::BuildNetwork(Which::N2) => {
                        app.cache.build_network(None, &app.classes, Which::N2, net_key(&app));
                    }
                    Command::ForwardPass { which: Which::N2, key, image } => {
                        app.cache.forward_pass(None, &app.classes, Which::N2, key, &image);
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            app.cache.poll();
            std::thread::sleep(Duration::from_millis(5));
        }
        let forward = activations.expect("N2 forward pass finishes");
        let image = &data.input.as_ref().unwrap().image;
        let direct = crate::core::detect::logits(&app.classes, image.view());
        for (n2, phi) in forward.logits().iter().zip(&direct) {
            assert!((n2 - phi).abs() <= 1e-3 * phi.abs().max(1.0), "{n2} vs {phi}");
        }
        assert!(direct[tile.class] > 0.0, "the pasted tile's class fires");
    }
}
