//! Tests of the figure renderer: outputs are decoded back (PNG) or searched (SVG), helpers are
//! checked against direct formulas, and bad inputs give typed errors instead of panics.

use ndarray::{Array2, array};
use proptest::prelude::*;

use super::charts::{histogram_counts, mean_std, top_clear_of_legend};
use super::heatmap::{NON_FINITE_RGB, color_of, color_range, equal_runs, format_value};
use super::*;

fn histogram_figure(samples: &[f32]) -> Figure {
    let panel = |title: &str, shift: f32| HistogramPanel {
        title: title.into(),
        series: vec![
            SampleSeries { name: "z_tile".into(), samples: samples.to_vec() },
            SampleSeries { name: "z_other".into(), samples: samples.iter().map(|v| v + shift).collect() },
        ],
    };
    let grid = HistogramGrid {
        cols: 2,
        bins: 20,
        x_label: "logit".into(),
        panels: vec![panel("shift, tile 1", 1.0), panel("shift, tile 2", 2.0), panel("noise, tile 1", 3.0)],
    };
    Figure::new("Figure 4 logits", FigureKind::HistogramGrid(grid))
}

fn line_figure() -> Figure {
    let loss = Curve { name: "loss".into(), points: (0..20).map(|i| (i as f32, 1.0 / (1.0 + i as f32))).collect() };
    let accuracy = Curve { name: "accuracy".into(), points: (0..20).map(|i| (i as f32, i as f32 / 20.0)).collect() };
    let chart = LineChart { x_label: "epoch".into(), y_label: "value".into(), curves: vec![loss, accuracy] };
    Figure::new("Training curves", FigureKind::LineChart(chart))
}

fn bar_figure(groups: usize) -> Figure {
    let names: Vec<String> = (0..groups).map(|g| format!("class{g}")).collect();
    let series = |name: &str, sign: f32| BarSeries {
        name: name.into(),
        values: (0..groups).map(|g| sign * (g as f32 - 1.5)).collect(),
    };
    let chart =
        BarChart { y_label: "logit".into(), groups: names, series: vec![series("phi", 1.0), series("N2", -0.5)] };
    Figure::new("Logits per class", FigureKind::BarChart(chart))
}

fn heatmap_figure(values: Array2<f32>, colormap: Colormap, range: Option<(f32, f32)>) -> Figure {
    let panels = vec![
        Heatmap { label: "sample 1: Bag".into(), values: values.clone() },
        Heatmap { label: "sample 2: Shirt".into(), values: values.mapv(|v| 1.0 - v) },
        Heatmap { label: "filter 3".into(), values },
    ];
    let grid = HeatmapGrid { cols: 2, colormap, range, colorbar_label: "value".into(), panels };
    Figure::new("Dataset samples", FigureKind::HeatmapGrid(grid))
}

fn gradient(rows: usize, cols: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |(r, c)| (r * cols + c) as f32 / (rows * cols) as f32)
}

fn all_figures() -> Vec<Figure> {
    vec![
        histogram_figure(&(0..200).map(|i| (i as f32 * 0.37).sin()).collect::<Vec<_>>()),
        line_figure(),
        bar_figure(4),
        heatmap_figure(gradient(8, 8), Colormap::Gray, Some((0.0, 1.0))),
        heatmap_figure(gradient(5, 7).mapv(|v| v - 0.5), Colormap::Diverging, None),
    ]
}

fn decode_png(bytes: &[u8]) -> image::RgbImage {
    image::load_from_memory_with_format(bytes, image::ImageFormat::Png).expect("a valid PNG").to_rgb8()
}

fn svg_text(figure: &Figure) -> String {
    String::from_utf8(render(figure, Format::Svg).expect("renders")).expect("SVG is UTF-8")
}

/// The contents of every `<text>` element, trimmed (plotters may put them on their own line).
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|element| {
            let body = &element[element.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_owned())
        })
        .collect()
}

#[test]
fn png_decodes_at_the_figure_size_and_scales() {
    for figure in all_figures() {
        for scale in [1.0f32, 2.0] {
            let png = render(&figure, Format::Png { scale }).expect("renders");
            let image = decode_png(&png);
            let expected = ((figure.width_px as f32 * scale) as u32, (figure.height_px as f32 * scale) as u32);
            assert_eq!(image.dimensions(), expected, "{} at scale {scale}", figure.title);
            // Something besides the white background was drawn.
            assert!(image.pixels().any(|p| p.0 != [255, 255, 255]), "{} is blank", figure.title);
        }
    }
}

#[test]
fn svg_is_an_svg_document_with_the_texts() {
    for figure in all_figures() {
        let svg = svg_text(&figure);
        assert!(svg.trim_start().starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains(&figure.title), "title of {}", figure.title);
        assert!(svg.contains(FONT_FAMILY), "the embedded family is named");
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    }
    let histogram = svg_text(&all_figures()[0]);
    assert!(histogram.contains("shift, tile 2") && histogram.contains("z_other"));
    assert!(histogram.contains('±'), "mean ± std is printed");
    assert!(svg_text(&line_figure()).contains("accuracy"));
}

#[test]
fn a_curve_of_one_point_is_drawn() {
    // Per-layer charts: the paper's network has one hidden layer, the deep one two.
    let with_single = |points: Vec<(f32, f32)>| {
        let deep = Curve { name: "deep".into(), points: vec![(1.0, 2.5), (2.0, 1.5)] };
        let paper = Curve { name: "paper".into(), points };
        let chart = LineChart { x_label: "layer".into(), y_label: "classes".into(), curves: vec![deep, paper] };
        let png = render(&Figure::new("per layer", FigureKind::LineChart(chart)), Format::Png { scale: 1.0 }).unwrap();
        let (r, g, b) = series_rgb(1);
        decode_png(&png).pixels().filter(|p| p.0 == [r, g, b]).count()
    };
    // The legend's sample line is the same in both: the difference is the point itself.
    let (drawn, legend_only) = (with_single(vec![(1.0, 2.9)]), with_single(Vec::new()));
    assert!(drawn >= legend_only + 30, "{drawn} pixels of the paper's colour, {legend_only} from its legend alone");
}

#[test]
fn legend_prints_mean_and_std_of_each_series() {
    let samples = vec![1.0, 2.0, 3.0, 4.0];
    let svg = svg_text(&histogram_figure(&samples));
    // mean 2.5, population std √1.25 ≈ 1.118; the second series is shifted by 1 (first panel).
    assert!(svg.contains("z_tile: 2.500 ± 1.118"), "{svg}");
    assert!(svg.contains("z_other: 3.500 ± 1.118"));
}

#[test]
fn bar_labels_name_every_group() {
    for groups in [1, 2, 3, 10, 17, 25] {
        let texts = svg_texts(&svg_text(&bar_figure(groups)));
        for g in 0..groups {
            let name = format!("class{g}");
            assert_eq!(texts.iter().filter(|t| **t == name).count(), 1, "{name} of {groups} in {texts:?}");
        }
    }
}

#[test]
fn histogram_counts_match_direct_binning() {
    let samples = [0.0, 0.1, 0.25, 0.5, 0.99, 1.0, f32::NAN, 2.0, -1.0];
    // Bins [0, .25), [.25, .5), [.5, .75), [.75, 1]; out-of-range and NaN are dropped.
    assert_eq!(histogram_counts(&samples, 0.0, 1.0, 4), vec![2, 1, 1, 2]);
}

#[test]
fn mean_std_matches_the_formula_and_skips_non_finite() {
    let (mean, std) = mean_std(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0, f32::NAN, f32::INFINITY]).expect("finite");
    assert!((mean - 5.0).abs() < 1e-12 && (std - 2.0).abs() < 1e-12);
    assert_eq!(mean_std(&[f32::NAN]), None);
}

#[test]
fn colormaps_hit_their_end_points_and_clamp() {
    let unit = (0.0, 1.0);
    assert_eq!(color_of(0.0, Colormap::Gray, unit), (0, 0, 0));
    assert_eq!(color_of(1.0, Colormap::Gray, unit), (255, 255, 255));
    assert_eq!(color_of(7.0, Colormap::Gray, unit), (255, 255, 255));
    assert_eq!(color_of(-7.0, Colormap::Gray, unit), (0, 0, 0));
    let signed = (-2.0, 2.0);
    assert_eq!(color_of(-2.0, Colormap::Diverging, signed), (59, 76, 192));
    assert_eq!(color_of(0.0, Colormap::Diverging, signed), (247, 247, 247));
    assert_eq!(color_of(2.0, Colormap::Diverging, signed), (180, 4, 38));
    assert_eq!(color_of(f32::NAN, Colormap::Gray, unit), NON_FINITE_RGB);
}

#[test]
fn automatic_colour_range_is_symmetric_when_diverging() {
    let values = array![[-1.0, 0.5], [3.0, f32::NAN]];
    let grid = |colormap| HeatmapGrid {
        cols: 1,
        colormap,
        range: None,
        colorbar_label: String::new(),
        panels: vec![Heatmap { label: "a".into(), values: values.clone() }],
    };
    assert_eq!(color_range(&grid(Colormap::Diverging)), (-3.0, 3.0));
    assert_eq!(color_range(&grid(Colormap::Gray)), (-1.0, 3.0));
}

#[test]
fn tick_labels_switch_to_scientific_for_extreme_magnitudes() {
    assert_eq!(format_value(0.0), "0.000");
    assert_eq!(format_value(-1.5), "-1.500");
    assert_eq!(format_value(123_456.0), "1.23e5");
    assert_eq!(format_value(0.000_25), "2.50e-4");
}

#[test]
fn non_finite_heat_cells_are_magenta_and_noted() {
    let mut values = gradient(6, 6);
    values[[2, 3]] = f32::NAN;
    values[[4, 1]] = f32::INFINITY;
    let figure = heatmap_figure(values, Colormap::Gray, Some((0.0, 1.0)));
    assert_eq!(non_finite_values(&figure), 6, "two cells in each of three panels");
    let image = decode_png(&render(&figure, Format::Png { scale: 1.0 }).expect("renders"));
    let (r, g, b) = NON_FINITE_RGB;
    assert!(image.pixels().any(|p| p.0 == [r, g, b]));
    assert!(svg_text(&figure).contains("6 non-finite value(s) drawn in magenta"));
    let clean = heatmap_figure(gradient(6, 6), Colormap::Gray, Some((0.0, 1.0)));
    let image = decode_png(&render(&clean, Format::Png { scale: 1.0 }).expect("renders"));
    assert!(!image.pixels().any(|p| p.0 == [r, g, b]));
}

#[test]
fn nan_samples_are_skipped_and_reported() {
    let figure = histogram_figure(&[0.5, f32::NAN, 1.5, f32::NEG_INFINITY]);
    let svg = svg_text(&figure);
    assert!(svg.contains("12 non-finite value(s) skipped"), "2 × 2 series × 3 panels");
    assert!(svg.contains("z_tile: 1.000 ± 0.500"));
    let all_nan = histogram_figure(&[f32::NAN; 5]);
    assert!(svg_text(&all_nan).contains("no finite data"));
}

/// Whether an error is of the expected kind.
type ErrorCheck = fn(&PlotError) -> bool;

#[test]
fn empty_or_inconsistent_figures_are_clean_errors() {
    let empty_grid = HistogramGrid { cols: 2, bins: 10, x_label: String::new(), panels: vec![] };
    let cases: Vec<(Figure, ErrorCheck)> = vec![
        (Figure::new("a", FigureKind::HistogramGrid(empty_grid.clone())), |e| matches!(e, PlotError::Empty(_))),
        (
            Figure::new(
                "b",
                FigureKind::LineChart(LineChart {
                    x_label: String::new(),
                    y_label: String::new(),
                    curves: vec![Curve { name: "c".into(), points: vec![(f32::NAN, 1.0), (1.0, f32::INFINITY)] }],
                }),
            ),
            |e| matches!(e, PlotError::Empty(_)),
        ),
        (
            Figure::new(
                "c",
                FigureKind::BarChart(BarChart {
                    y_label: String::new(),
                    groups: vec!["x".into(), "y".into()],
                    series: vec![BarSeries { name: "s".into(), values: vec![1.0] }],
                }),
            ),
            |e| matches!(e, PlotError::Invalid(_)),
        ),
        (
            Figure::new(
                "d",
                FigureKind::HistogramGrid(HistogramGrid {
                    bins: 0,
                    panels: vec![HistogramPanel { title: "p".into(), series: vec![] }],
                    ..empty_grid
                }),
            ),
            |e| matches!(e, PlotError::Invalid(_)),
        ),
        (heatmap_figure(gradient(2, 2), Colormap::Gray, Some((1.0, 1.0))), |e| matches!(e, PlotError::Invalid(_))),
        (line_figure().with_size(10, 500), |e| matches!(e, PlotError::BadSize { .. })),
    ];
    for (figure, expected) in cases {
        for format in [Format::Svg, Format::Png { scale: 1.0 }] {
            let error = render(&figure, format).expect_err(&figure.title);
            assert!(expected(&error), "{}: {error}", figure.title);
        }
    }
}

#[test]
fn bad_scales_are_refused_before_allocating() {
    for scale in [0.0, -1.0, f32::NAN, f32::INFINITY, 9.0] {
        assert!(matches!(render(&line_figure(), Format::Png { scale }), Err(PlotError::BadScale(_))));
    }
    let big = line_figure().with_size(MAX_SIDE_PX, 600);
    assert!(matches!(render(&big, Format::Png { scale: 2.0 }), Err(PlotError::BadSize { .. })));
}

#[test]
fn empty_arrays_and_constant_data_still_render() {
    let figure = heatmap_figure(Array2::zeros((0, 3)), Colormap::Diverging, None);
    assert!(svg_text(&figure).contains("empty"));
    let constant = histogram_figure(&[2.0; 10]);
    assert!(render(&constant, Format::Png { scale: 1.0 }).is_ok());
    let flat = LineChart {
        x_label: String::new(),
        y_label: String::new(),
        curves: vec![Curve { name: "c".into(), points: vec![(1.0, 1.0)] }],
    };
    assert!(render(&Figure::new("one point", FigureKind::LineChart(flat)), Format::Svg).is_ok());
}

#[test]
fn equal_runs_examples() {
    assert_eq!(equal_runs::<u8>(&[]), vec![]);
    assert_eq!(equal_runs(&[1, 1, 2, 2, 2, 1]), vec![(0, 2), (2, 5), (5, 6)]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn equal_runs_partition_into_maximal_runs(items in prop::collection::vec(0u8..3, 0..40)) {
        let runs = equal_runs(&items);
        let mut next = 0;
        for (k, &(start, end)) in runs.iter().enumerate() {
            prop_assert_eq!(start, next);
            prop_assert!(end > start);
            prop_assert!(items[start..end].iter().all(|v| *v == items[start]));
            if k > 0 {
                prop_assert_ne!(items[start - 1], items[start]);
            }
            next = end;
        }
        prop_assert_eq!(next, items.len());
    }

    #[test]
    fn histogram_counts_keep_every_finite_sample_in_range(
        samples in prop::collection::vec(prop_oneof![-10.0f32..10.0, Just(f32::NAN), Just(f32::INFINITY)], 0..200),
        bins in 1usize..50,
    ) {
        let counts = histogram_counts(&samples, -10.0, 10.0, bins);
        let finite = samples.iter().filter(|v| v.is_finite()).count();
        prop_assert_eq!(counts.iter().sum::<u32>() as usize, finite);
    }

    #[test]
    fn any_samples_render_without_panic(
        samples in prop::collection::vec(prop_oneof![any::<f32>(), Just(f32::NAN), -1e30f32..1e30], 0..60),
    ) {
        let figure = histogram_figure(&samples);
        prop_assert!(render(&figure, Format::Svg).is_ok());
    }
}

#[test]
fn the_tallest_bar_stays_below_the_bar_chart_legend() {
    for (series, plot_height, s) in [(1, 420.0, 1.0), (4, 420.0, 1.0), (4, 840.0, 2.0), (3, 200.0, 1.0)] {
        let (bottom, highest) = (-1.0, 5.0);
        let top = top_clear_of_legend(bottom, highest, series, plot_height, s);
        // Pixels below the plot's top edge: of the tallest bar's top, and of the legend box's bottom.
        let bar_top_px = (top - highest) / (top - bottom) * plot_height;
        let legend_px = series as f64 * LABEL_PX * 1.6 * s + 4.0 * 6.0 * s;
        assert!(
            bar_top_px >= legend_px,
            "{series} series, {plot_height} px: bar at {bar_top_px}, legend to {legend_px}"
        );
    }
}
