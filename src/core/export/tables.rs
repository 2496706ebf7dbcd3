//! The tables behind the app's views, as [`Table`]s for CSV: the tiles' pixels, the dataset's
//! placements, logits per class and network, and training curves.

use super::{CsvValue, ExportError, Table};
use crate::core::dataset::Dataset;
use crate::core::tile::ClassSet;

/// One point of a training curve: epoch (fractional within an epoch), loss, accuracy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    /// Epochs done.
    pub epoch: f32,
    /// Mean cross-entropy.
    pub loss: f32,
    /// Fraction classified correctly.
    pub accuracy: f32,
}

/// One row per tile pixel: where it is, its value, whether it is in the support, and ε.
pub fn tiles(classes: &ClassSet) -> Result<Table, ExportError> {
    let mut table = Table::new(["class", "feature", "tile", "row", "col", "value", "in_support", "epsilon"]);
    for (id, tile) in classes.tiles() {
        for ((row, col), &value) in tile.values().indexed_iter() {
            let support = i64::from(tile.support()[[row, col]]);
            let class = CsvValue::Text(classes.classes[id.class].name.clone());
            let cells = vec![
                class,
                id.feature.into(),
                id.tile.into(),
                row.into(),
                col.into(),
                value.into(),
                support.into(),
                tile.epsilon().into(),
            ];
            table.push_row(cells)?;
        }
    }
    Ok(table)
}

/// One row per pasted tile of every sample.
pub fn placements(classes: &ClassSet, dataset: &Dataset) -> Result<Table, ExportError> {
    let mut table = Table::new(["sample", "label", "class", "feature", "tile", "row", "col", "rows", "cols"]);
    for (index, sample) in dataset.samples.iter().enumerate() {
        let name = classes.classes.get(sample.label).map_or_else(String::new, |o| o.name.clone());
        for p in &sample.placements {
            let cells = vec![
                index.into(),
                sample.label.into(),
                CsvValue::Text(name.clone()),
                p.tile.feature.into(),
                p.tile.tile.into(),
                p.row.into(),
                p.col.into(),
                p.rows.into(),
                p.cols.into(),
            ];
            table.push_row(cells)?;
        }
    }
    Ok(table)
}

/// One row per class, one column per named series of logits (`NaN` where a series is short).
pub fn logits(class_names: &[String], series: &[(String, Vec<f32>)]) -> Result<Table, ExportError> {
    let mut header = vec!["class".to_owned()];
    header.extend(series.iter().map(|(name, _)| name.clone()));
    let mut table = Table::new(header);
    for (c, name) in class_names.iter().enumerate() {
        let mut row = vec![CsvValue::Text(name.clone())];
        row.extend(series.iter().map(|(_, v)| CsvValue::Float(v.get(c).copied().unwrap_or(f32::NAN))));
        table.push_row(row)?;
    }
    Ok(table)
}

/// `set,epoch,loss,accuracy` rows: the training curve, then the test curve.
pub fn curves(train: &[CurvePoint], test: &[CurvePoint]) -> Result<Table, ExportError> {
    let mut table = Table::new(["set", "epoch", "loss", "accuracy"]);
    for (set, points) in [("train", train), ("test", test)] {
        for p in points {
            table.push_row(vec![set.into(), p.epoch.into(), p.loss.into(), p.accuracy.into()])?;
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::dataset::{DatasetSpec, generate};
    use crate::core::export::csv_bytes;
    use crate::core::presets;

    fn text(table: &Table) -> String {
        String::from_utf8(csv_bytes(table).unwrap()).unwrap()
    }

    #[test]
    fn tiles_list_every_pixel_of_every_tile() {
        let classes = presets::toy_squares();
        let table = tiles(&classes).unwrap();
        let pixels: usize = classes.tiles().map(|(_, t)| t.values().len()).sum();
        assert_eq!(table.rows.len(), pixels);
        let (_, first) = classes.tiles().next().unwrap();
        let expected = [
            CsvValue::Text(classes.classes[0].name.clone()),
            CsvValue::Int(0),
            CsvValue::Int(0),
            CsvValue::Int(0),
            CsvValue::Int(0),
            CsvValue::Float(first.values()[[0, 0]]),
            CsvValue::Int(i64::from(first.support()[[0, 0]])),
            CsvValue::Float(first.epsilon()),
        ];
        assert_eq!(table.rows[0], expected);
    }

    #[test]
    fn placements_are_where_the_dataset_pasted() {
        let classes = presets::toy_squares();
        let spec = DatasetSpec { height: 8, width: 8, samples_per_class: 2, ..DatasetSpec::default() };
        let dataset = generate(&classes, &spec).unwrap();
        let table = placements(&classes, &dataset).unwrap();
        let pasted: usize = dataset.samples.iter().map(|s| s.placements.len()).sum();
        assert_eq!(table.rows.len(), pasted);
        let (sample, p) = (&dataset.samples[0], &dataset.samples[0].placements[0]);
        assert_eq!(table.rows[0][1], CsvValue::Int(sample.label as i64));
        assert_eq!(table.rows[0][5..7], [CsvValue::Int(p.row as i64), CsvValue::Int(p.col as i64)]);
    }

    #[test]
    fn logits_and_curves_as_csv() {
        let names = vec!["a".to_owned(), "b".to_owned()];
        let series = vec![("N2".to_owned(), vec![1.5, -2.0]), ("short".to_owned(), vec![3.0])];
        assert_eq!(text(&logits(&names, &series).unwrap()), "class,N2,short\na,1.5,3\nb,-2,NaN\n");
        let point = |epoch, loss, accuracy| CurvePoint { epoch, loss, accuracy };
        let table = curves(&[point(0.5, 1.0, 0.25)], &[point(1.0, 0.5, 0.75)]).unwrap();
        assert_eq!(text(&table), "set,epoch,loss,accuracy\ntrain,0.5,1,0.25\ntest,1,0.5,0.75\n");
    }
}
