//! The figure and the CSV of each of the app's views: File → Export → "Figure as…" / "Data as
//! CSV…" and `tilelab figures --scene` both call [`view_figure`] and [`view_csv`], so the app and the
//! command line write the same bytes for the same numbers.

use serde::{Deserialize, Serialize};

use super::tables::{self, CurvePoint};
use super::{ExportError, Table, csv_bytes};
use crate::core::construct::Constructed;
use crate::core::dataset::Dataset;
use crate::core::detect;
use crate::core::experiments::figure4::{self, Classifier, InvarianceResult};
use crate::core::figures;
use crate::core::plot::{BarChart, BarSeries, Curve, Figure, FigureKind, LineChart};
use crate::core::tile::ClassSet;

/// The app's central views, as exports and scenes name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewKind {
    /// The tile editor.
    #[default]
    Tiles,
    /// Generated samples of the valid dataset.
    Dataset,
    /// The constructed networks N1 and N2 (and the trained CNN) on one input.
    Networks,
    /// SGD training curves.
    Training,
    /// Logits under background perturbations and translations (Figure 4).
    Invariance,
}

impl ViewKind {
    /// Every view, in tab order.
    pub const ALL: [Self; 5] = [Self::Tiles, Self::Dataset, Self::Networks, Self::Training, Self::Invariance];

    /// The lower-case name files are named after (`tiles.png`, `networks.csv`, …).
    pub fn file_stem(self) -> &'static str {
        match self {
            Self::Tiles => "tiles",
            Self::Dataset => "dataset",
            Self::Networks => "networks",
            Self::Training => "training",
            Self::Invariance => "invariance",
        }
    }
}

/// Why a view has nothing to export.
#[derive(Debug, thiserror::Error)]
pub enum ViewExportError {
    /// The view's numbers do not exist yet (the message says what to do).
    #[error("{0}")]
    Missing(&'static str),
    /// The table or a network failed.
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// What the Dataset view shows before its dataset exists.
pub const NO_DATASET: &str = "the dataset has not been generated yet";
/// What the Networks view shows before it has an input.
pub const NO_INPUT: &str = "no input yet: generate the dataset first (Dataset view)";
/// What the Training view shows before a run.
pub const NO_TRAINING: &str = "no training run yet";
/// What the Invariance view shows before its study.
pub const NO_INVARIANCE: &str = "the Invariance view has no numbers yet: open it and wait for its histograms";

/// The numbers the views show, each present once computed.
#[derive(Clone, Copy)]
pub struct ViewNumbers<'a> {
    /// The tile set.
    pub classes: &'a ClassSet,
    /// The generated dataset.
    pub dataset: Option<&'a Dataset>,
    /// The Networks view's logits per network on its input (see [`input_logits`]).
    pub logits: Option<&'a [(String, Vec<f32>)]>,
    /// Training curves for the training and the test set.
    pub curves: Option<(&'a [CurvePoint], &'a [CurvePoint])>,
    /// The Figure 4 study and the name of the network compared with N1.
    pub invariance: Option<(&'a InvarianceResult, &'a str)>,
}

/// The logits of direct φ, N1, N2 and (if there is one) the trained CNN on `image`: the Networks
/// view's bar chart.
pub fn input_logits(
    classes: &ClassSet,
    image: ndarray::ArrayView2<f32>,
    n1: &Constructed,
    n2: &Constructed,
    trained: Option<Classifier<'_>>,
) -> Result<Vec<(String, Vec<f32>)>, ExportError> {
    let mut series = vec![("direct φ".to_owned(), detect::logits(classes, image))];
    series.push(("N1".to_owned(), n1.logits(image)?));
    series.push(("N2".to_owned(), n2.logits(image)?));
    if let Some(trained) = trained {
        let logits = trained.logits(image).map_err(|e| ExportError::Classifier(Box::new(e)))?;
        series.push(("trained".to_owned(), logits));
    }
    Ok(series)
}

/// The class names, in label order.
pub fn class_names(classes: &ClassSet) -> Vec<String> {
    classes.classes.iter().map(|o| o.name.clone()).collect()
}

/// The view as a figure.
pub fn view_figure(view: ViewKind, numbers: &ViewNumbers<'_>) -> Result<Figure, ViewExportError> {
    match view {
        ViewKind::Tiles => Ok(figures::tiles_figure(numbers.classes)),
        ViewKind::Dataset => {
            let dataset = numbers.dataset.ok_or(ViewExportError::Missing(NO_DATASET))?;
            Ok(figures::samples_figure(numbers.classes, dataset))
        }
        ViewKind::Networks => {
            let series = numbers.logits.ok_or(ViewExportError::Missing(NO_INPUT))?;
            let chart = BarChart {
                y_label: "logit".to_owned(),
                groups: class_names(numbers.classes),
                series: series
                    .iter()
                    .map(|(name, values)| BarSeries { name: name.clone(), values: values.clone() })
                    .collect(),
            };
            Ok(Figure::new("Logits on the networks view's input", FigureKind::BarChart(chart)))
        }
        ViewKind::Training => {
            let (train, test) = numbers.curves.ok_or(ViewExportError::Missing(NO_TRAINING))?;
            Ok(training_figure(train, test))
        }
        ViewKind::Invariance => {
            let (result, compared) = numbers.invariance.ok_or(ViewExportError::Missing(NO_INVARIANCE))?;
            Ok(figure4::comparison_figure(result, compared))
        }
    }
}

fn training_figure(train: &[CurvePoint], test: &[CurvePoint]) -> Figure {
    let curve = |name: &str, points: &[CurvePoint], pick: fn(&CurvePoint) -> f32| Curve {
        name: name.to_owned(),
        points: points.iter().map(|p| (p.epoch, pick(p))).collect(),
    };
    let chart = LineChart {
        x_label: "epoch".to_owned(),
        y_label: "loss / accuracy".to_owned(),
        curves: vec![
            curve("train loss", train, |p| p.loss),
            curve("test loss", test, |p| p.loss),
            curve("train accuracy", train, |p| p.accuracy),
            curve("test accuracy", test, |p| p.accuracy),
        ],
    };
    Figure::new("Training curves", FigureKind::LineChart(chart))
}

/// The numbers behind the view, as CSV bytes.
pub fn view_csv(view: ViewKind, numbers: &ViewNumbers<'_>) -> Result<Vec<u8>, ViewExportError> {
    let csv = |table: Result<Table, ExportError>| Ok(csv_bytes(&table?)?);
    match view {
        ViewKind::Tiles => csv(tables::tiles(numbers.classes)),
        ViewKind::Dataset => {
            let dataset = numbers.dataset.ok_or(ViewExportError::Missing(NO_DATASET))?;
            csv(tables::placements(numbers.classes, dataset))
        }
        ViewKind::Networks => {
            let series = numbers.logits.ok_or(ViewExportError::Missing(NO_INPUT))?;
            csv(tables::logits(&class_names(numbers.classes), series))
        }
        ViewKind::Training => {
            let (train, test) = numbers.curves.ok_or(ViewExportError::Missing(NO_TRAINING))?;
            csv(tables::curves(train, test))
        }
        ViewKind::Invariance => {
            let (result, _) = numbers.invariance.ok_or(ViewExportError::Missing(NO_INVARIANCE))?;
            Ok(figure4::to_csv(result).into_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::presets;

    fn numbers(classes: &ClassSet) -> ViewNumbers<'_> {
        ViewNumbers { classes, dataset: None, logits: None, curves: None, invariance: None }
    }

    #[test]
    fn views_without_their_numbers_say_what_is_missing() {
        let classes = presets::toy_squares();
        for (view, want) in [
            (ViewKind::Dataset, NO_DATASET),
            (ViewKind::Networks, NO_INPUT),
            (ViewKind::Training, NO_TRAINING),
            (ViewKind::Invariance, NO_INVARIANCE),
        ] {
            let error = view_csv(view, &numbers(&classes)).unwrap_err();
            assert_eq!(error.to_string(), want, "{view:?}");
            assert!(view_figure(view, &numbers(&classes)).is_err());
        }
    }

    #[test]
    fn the_tiles_view_lists_every_pixel() {
        let classes = presets::toy_squares();
        let csv = String::from_utf8(view_csv(ViewKind::Tiles, &numbers(&classes)).unwrap()).unwrap();
        // Header plus four pixels of each 2×2 square.
        assert_eq!(csv.lines().count(), 1 + 8);
    }

    #[test]
    fn the_networks_view_has_one_series_per_network() {
        let classes = presets::toy_squares();
        let (n1, n2) = (
            crate::core::construct::Which::N1.build(&classes, 4, 4).unwrap(),
            crate::core::construct::Which::N2.build(&classes, 4, 4).unwrap(),
        );
        let image = ndarray::Array2::from_elem((4, 4), 1.0_f32);
        let series = input_logits(&classes, image.view(), &n1, &n2, None).unwrap();
        let names: Vec<_> = series.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["direct φ", "N1", "N2"]);
        assert!((series[0].1[0] - series[1].1[0]).abs() < 1e-4, "N1 equals the direct φ");
    }
}
