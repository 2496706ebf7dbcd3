//! The central views, one file each: a small per-view state struct plus `ui(ui, app, view_state)`.
//! Views read [`AppState`](super::state::AppState) and push [`Command`](super::command::Command)s;
//! they never change the tile set directly.

pub mod dataset;
pub mod dialogs;
pub mod gallery;
pub mod invariance;
pub mod lecture;
pub mod networks;
pub mod tiles;
pub mod training;
pub mod welcome;

/// The per-view states (what each view remembers between frames that is not the user's work).
#[derive(Default)]
pub struct ViewStates {
    /// Tile editor tools.
    pub tiles: tiles::TilesViewState,
    /// Dataset grid and the opened sample.
    pub dataset: dataset::DatasetViewState,
    /// The gallery window.
    pub gallery: gallery::GalleryState,
    /// The networks view.
    pub networks: networks::NetworksViewState,
    /// The training view.
    pub training: training::TrainingViewState,
    /// The invariance view.
    pub invariance: invariance::InvarianceViewState,
    /// Open dialogs.
    pub dialogs: dialogs::Dialogs,
    /// Lecture mode (F5).
    pub lecture: crate::app::lecture::LectureState,
    /// File → Export: the path window and the running export.
    pub exports: crate::app::export_menu::ExportState,
}

impl ViewStates {
    /// The states at start for the restored `state` (the training view takes a restored run's
    /// settings); the welcome window opens when `welcome` (a first start).
    pub fn starting(state: &crate::app::state::AppState, welcome: bool) -> Self {
        let mut views = Self::default();
        if let Some(job) = &state.training {
            views.training.adopt(job);
        }
        views.dialogs.welcome = welcome;
        views
    }
}
