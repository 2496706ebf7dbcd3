//! Histograms shared by the networks view and the lecture: how many classes make a unit fire.

use egui_plot::{Bar, BarChart, Plot};

use crate::app::theme;
use crate::app::widgets::legend::legend_ui;
use crate::core::selectivity::Selectivity;

/// Percentage of active units firing for n = 1, 2, … classes, both networks side by side.
pub fn selectivity_ui(ui: &mut egui::Ui, name: &str, constructed: &Selectivity, trained: Option<(&str, &Selectivity)>) {
    let bars = |s: &Selectivity, offset: f64| -> Vec<Bar> {
        let active = s.active_units().max(1) as f64;
        s.histogram
            .iter()
            .enumerate()
            .skip(1)
            .map(|(n, &count)| Bar::new(n as f64 + offset, 100.0 * count as f64 / active).width(0.35))
            .collect()
    };
    let constructed_name = theme::constructed_name(name);
    let mut entries = vec![(constructed_name.as_str(), theme::CONSTRUCTED_COLOR)];
    if let Some((trained_name, _)) = trained {
        entries.push((trained_name, theme::TRAINED_COLOR));
    }
    legend_ui(ui, "", &entries);
    Plot::new("selectivity histogram")
        .height(150.0)
        .x_axis_label("classes a unit fires for")
        .y_axis_label("% of active units")
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .include_y(0.0)
        .show(ui, |plot| {
            plot.bar_chart(
                BarChart::new(constructed_name.as_str(), bars(constructed, -0.2)).color(theme::CONSTRUCTED_COLOR),
            );
            if let Some((trained_name, t)) = trained {
                plot.bar_chart(BarChart::new(trained_name, bars(t, 0.2)).color(theme::TRAINED_COLOR));
            }
        });
}
