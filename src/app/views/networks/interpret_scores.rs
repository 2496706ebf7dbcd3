//! The interpretability score table of the networks view: both sides' networks scored against the
//! ground truth only tilelab has, on the current dataset's first samples: the share of constructed
//! detectors (and N2 block channels) whose preferred stimulus holds their tile at their window,
//! and per attribution method the pointing game and the mass in window. Computed in the
//! background with progress (`Command::ScoreInterpretation`); the frame draws the table.

use egui::RichText;

use super::attribution::Sides;
use crate::app::cache::{Explained, MAX_SCORE_SAMPLES, MethodScore, NetworkScores, ScoreTable, ScoresKey};
use crate::app::command::Command;
use crate::app::state::AppState;
use crate::app::theme;
use crate::app::widgets::number;

/// What the score section remembers between frames.
#[derive(Debug)]
pub struct ScoresView {
    /// Dataset samples attributed per network and method.
    pub samples: usize,
}

impl Default for ScoresView {
    fn default() -> Self {
        Self { samples: 6 }
    }
}

/// The collapsible score section of the left column.
pub fn section_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    view: &mut ScoresView,
    sides: &Sides,
    commands: &mut Vec<Command>,
) {
    egui::CollapsingHeader::new("Scores against ground truth").id_salt("interpret scores").show(ui, |ui| {
        ui.label(
            "Recovery: preferred stimuli that hold their unit's tile at its window. Pointing game and \
             mass in window: attributions of each sample's class that lie in its pasted windows.",
        );
        let key = ScoresKey {
            constructed: sides.constructed.as_ref().map(Explained::id),
            trained: sides.trained.as_ref().map(Explained::id),
            dataset: app.cache.dataset_generation(),
            samples: view.samples,
        };
        let scores = app.cache.interpret_scores();
        ui.horizontal(|ui| {
            ui.add(number::field(&mut view.samples).range(1..=MAX_SCORE_SAMPLES).prefix("samples "));
            let ready = app.dataset().is_some() && sides.constructed.is_some() && !scores.is_running();
            let networks: Vec<_> = sides.present().into_iter().map(|(_, n)| n.clone()).collect();
            let button = ui.add_enabled(ready, egui::Button::new("Score both networks"));
            if button.on_hover_text("Runs in the background; the table appears when it is done").clicked() {
                commands.push(Command::ScoreInterpretation { key: key.clone(), networks });
            }
        });
        if let Some((_, job)) = scores.running() {
            ui.add(egui::ProgressBar::new(job.shared().progress()).show_percentage().text("scoring…"));
        }
        if let Some(error) = scores.error(&key) {
            ui.colored_label(theme::ERROR, format!("The scores could not be computed: {error}"));
        }
        if let Some((done, table)) = scores.done() {
            if *done != key {
                ui.weak("For an earlier dataset, network or sample count: score again for the current ones.");
            }
            table_ui(ui, table);
        }
    });
}

fn percent(value: f32) -> String {
    format!("{:.0} %", 100.0 * value)
}

fn recovered((recovered, studied): (usize, usize)) -> String {
    format!("{recovered} of {studied}")
}

/// One row group per network: its recovery, then a row per method.
fn table_ui(ui: &mut egui::Ui, table: &ScoreTable) {
    ui.small(format!("{} samples; baseline: mean background (grey {:.2})", table.samples, table.baseline));
    egui::Grid::new("interpret score table").striped(true).show(ui, |ui| {
        ui.label(RichText::new("network / method").strong());
        ui.label(RichText::new("pointing game").strong());
        ui.label(RichText::new("mass in window").strong());
        ui.end_row();
        for network in &table.networks {
            network_rows_ui(ui, network);
        }
    });
}

fn network_rows_ui(ui: &mut egui::Ui, network: &NetworkScores) {
    ui.label(RichText::new(&network.name).strong());
    ui.end_row();
    let recoveries = [("detectors recovered", network.recovery), ("blocks recovered", network.block_recovery)];
    for (what, tally) in recoveries.into_iter().filter_map(|(what, tally)| Some((what, tally?))) {
        ui.label(format!("  {what}"));
        ui.label(recovered(tally));
        ui.end_row();
    }
    for (method, scores) in &network.methods {
        ui.label(format!("  {method}"));
        match scores {
            Ok(MethodScore { pointing_game, mass_in_window }) => {
                ui.label(percent(*pointing_game));
                ui.label(percent(*mass_in_window));
            }
            Err(why) => {
                ui.weak("cannot run").on_hover_text(why.as_str());
            }
        }
        ui.end_row();
    }
}
