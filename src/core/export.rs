//! Numerical data out: CSV tables, NPY arrays and figure files, every file written through
//! [`write_atomic`] so a crash leaves the old file or the new one, never a mix.
//!
//! CSV follows RFC 4180 (fields holding `,`, `"`, a line break or edge spaces are quoted, quotes
//! doubled) with `\n` line ends. Floats are written in Rust's shortest round-trip form; NaN is
//! written as `NaN` and infinities as `inf` / `-inf`, which the float parsers of Rust, numpy
//! and pandas all read back. NPY arrays may hold any value, NaN included.
//!
//! One module per thing written, shared by the app's File → Export menu and `tilelab export` /
//! `tilelab activations`, so both write the same bytes:
//! - [`activations`]: every layer's output on one image (CSV, or a folder of NPY files).
//! - [`sparse_json`]: N1/N2 as sparse JSON; [`weights_npy`]: N1/N2 dense and the trained CNN as NPY.
//! - [`tables`]: the tables behind the views (tiles, placements, logits, training curves);
//!   [`view_figures`]: each view's figure and CSV (File → Export and `tilelab figures --scene`).
//! - [`zip`]: a folder export as one ZIP archive (the web build downloads folders this way).
//!
//! A folder export is made as a list of [`NamedFile`]s first and written by [`write_folder`], so
//! the same files can go to disk or into an archive.

pub mod activations;
pub mod sparse_json;
pub mod tables;
pub mod view_figures;
pub mod weights_npy;
pub mod zip;

use std::io::Cursor;
use std::mem::size_of;
use std::path::{Path, PathBuf};

use ndarray::{ArrayBase, ArrayD, Data, Dimension};
use ndarray_npy::npy::header::Header;
use ndarray_npy::{ReadNpyExt, ReadableElement, WritableElement, WriteNpyExt};

use crate::core::atomic::write_atomic;
use crate::core::nn::dense::NnError;
use crate::core::nn::sparse::SparseError;
use crate::core::plot::{Figure, Format, PlotError, render};

/// Largest `.npy` file [`load_npy`] reads, so a wrong path cannot exhaust memory.
pub const MAX_NPY_BYTES: u64 = 1 << 30;

/// PNG pixel multiplier of [`save_figure`]: twice the figure's size, crisp on slides and print.
pub const DEFAULT_PNG_SCALE: f32 = 2.0;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A CSV row does not have one cell per header column.
    #[error("CSV row {row} has {got} cells but the header has {expected} columns")]
    RowLength {
        /// Index of the row (0 = first data row).
        row: usize,
        /// Cells in that row.
        got: usize,
        /// Columns in the header.
        expected: usize,
    },
    /// The NPY encoder or decoder refused the data.
    #[error("NPY: {0}")]
    Npy(String),
    /// An NPY file is larger than [`MAX_NPY_BYTES`].
    #[error("{path}: {size} bytes exceeds the NPY size limit of {MAX_NPY_BYTES} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
    },
    /// The figure could not be rendered.
    #[error("figure: {0}")]
    Plot(#[from] PlotError),
    /// [`save_figure`] needs a `.png` or `.svg` file name.
    #[error("{0}: a figure file must end in .png or .svg")]
    FigureExtension(PathBuf),
    /// A constructed network could not run on the image.
    #[error("the network cannot run: {0}")]
    Network(#[from] SparseError),
    /// The trained CNN could not run on the image.
    #[error("the trained network cannot run: {0}")]
    Cnn(#[from] NnError),
    /// A trained network of another architecture could not run on the image.
    #[error("the trained network cannot run: {0}")]
    Classifier(Box<crate::core::experiments::ExperimentError>),
    /// The network is too large for its dense form.
    #[error("{0}; export the sparse JSON instead")]
    DenseForm(SparseError),
    /// A JSON file could not be encoded.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A folder could not be packed as a ZIP archive.
    #[error("ZIP: {0}")]
    Zip(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// One CSV cell.
#[derive(Clone, Debug, PartialEq)]
pub enum CsvValue {
    /// A float, written in shortest round-trip form (`NaN`, `inf`, `-inf` if not finite).
    Float(f32),
    /// An integer.
    Int(i64),
    /// Text, quoted when needed.
    Text(String),
}

impl From<f32> for CsvValue {
    fn from(value: f32) -> Self {
        Self::Float(value)
    }
}

impl From<i64> for CsvValue {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<usize> for CsvValue {
    fn from(value: usize) -> Self {
        Self::Int(i64::try_from(value).unwrap_or(i64::MAX))
    }
}

impl From<&str> for CsvValue {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl From<String> for CsvValue {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

/// A table: a header and rows with one cell per column.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// Column names.
    pub header: Vec<String>,
    /// Data rows.
    pub rows: Vec<Vec<CsvValue>>,
}

impl Table {
    /// An empty table with these column names.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self { header: header.into_iter().map(Into::into).collect(), rows: Vec::new() }
    }

    /// Appends a row after checking that it has one cell per column.
    pub fn push_row(&mut self, row: Vec<CsvValue>) -> Result<(), ExportError> {
        check_row(self.rows.len(), &row, self.header.len())?;
        self.rows.push(row);
        Ok(())
    }
}

fn check_row(index: usize, row: &[CsvValue], expected: usize) -> Result<(), ExportError> {
    if row.len() == expected { Ok(()) } else { Err(ExportError::RowLength { row: index, got: row.len(), expected }) }
}

/// The table as CSV bytes (UTF-8, `\n` line ends).
pub fn csv_bytes(table: &Table) -> Result<Vec<u8>, ExportError> {
    let mut out = String::new();
    push_line(&mut out, table.header.iter().map(|name| quote(name)));
    for (index, row) in table.rows.iter().enumerate() {
        check_row(index, row, table.header.len())?;
        push_line(&mut out, row.iter().map(format_cell));
    }
    Ok(out.into_bytes())
}

fn push_line(out: &mut String, fields: impl Iterator<Item = String>) {
    let fields: Vec<String> = fields.collect();
    out.push_str(&fields.join(","));
    out.push('\n');
}

fn format_cell(cell: &CsvValue) -> String {
    match cell {
        CsvValue::Float(v) if v.is_nan() => "NaN".to_owned(),
        CsvValue::Float(v) => v.to_string(),
        CsvValue::Int(v) => v.to_string(),
        CsvValue::Text(text) => quote(text),
    }
}

/// RFC 4180 quoting: only when the field would otherwise be misread.
fn quote(field: &str) -> String {
    let needs_quotes = field.contains([',', '"', '\n', '\r']) || field.starts_with(' ') || field.ends_with(' ');
    if needs_quotes { format!("\"{}\"", field.replace('"', "\"\"")) } else { field.to_owned() }
}

/// Writes the table as CSV to `path`, atomically.
pub fn save_csv(path: &Path, table: &Table) -> Result<(), ExportError> {
    write_file(path, &csv_bytes(table)?)
}

/// The array as `.npy` bytes (little-endian, C order), any element type ndarray-npy writes.
pub fn npy_bytes<A, S, D>(array: &ArrayBase<S, D>) -> Result<Vec<u8>, ExportError>
where
    A: WritableElement,
    S: Data<Elem = A>,
    D: Dimension,
{
    let mut bytes = Vec::new();
    array.write_npy(&mut bytes).map_err(|e| ExportError::Npy(e.to_string()))?;
    Ok(bytes)
}

/// Writes the array as `.npy` to `path`, atomically.
pub fn save_npy<A, S, D>(path: &Path, array: &ArrayBase<S, D>) -> Result<(), ExportError>
where
    A: WritableElement,
    S: Data<Elem = A>,
    D: Dimension,
{
    write_file(path, &npy_bytes(array)?)
}

/// Parses `.npy` bytes into an array of any dimension, e.g. `npy_from_bytes::<f32>(&bytes)`.
///
/// The shape in the header is checked against the data length before anything is allocated,
/// so a forged header cannot request gigabytes.
pub fn npy_from_bytes<A: ReadableElement>(bytes: &[u8]) -> Result<ArrayD<A>, ExportError> {
    check_npy_header(bytes)?;
    let mut cursor = Cursor::new(bytes);
    let header = Header::from_reader(&mut cursor).map_err(|e| ExportError::Npy(e.to_string()))?;
    let data_len = bytes.len() as u64 - cursor.position();
    let needed = header
        .shape
        .iter()
        .try_fold(size_of::<A>() as u64, |acc, &n| acc.checked_mul(n as u64))
        .ok_or_else(|| ExportError::Npy(format!("shape {:?} overflows", header.shape)))?;
    if needed > data_len {
        return Err(ExportError::Npy(format!(
            "shape {:?} needs {needed} bytes, the file holds {data_len}",
            header.shape
        )));
    }
    // ndarray also needs the non-zero axes' product to fit in `isize`, even for an empty array
    // (found by fuzzing: shape (0, 2⁶⁴−1, 4) made the reader panic).
    let addressable = header
        .shape
        .iter()
        .filter(|&&n| n != 0)
        .try_fold(size_of::<A>() as u64, |acc, &n| acc.checked_mul(n as u64))
        .is_some_and(|bytes| isize::try_from(bytes).is_ok());
    if !addressable {
        return Err(ExportError::Npy(format!("shape {:?} is too large to address", header.shape)));
    }
    ArrayD::<A>::read_npy(bytes).map_err(|e| ExportError::Npy(e.to_string()))
}

/// Longest `.npy` header accepted: NumPy's own default `max_header_size`.
const MAX_NPY_HEADER_BYTES: u64 = 10_000;

/// Checks the header before the parser sees it: its length must fit in the bytes present (the
/// parser allocates it first; fuzzing found a 140-byte file asking for 4 GiB), stay within
/// [`MAX_NPY_HEADER_BYTES`], and nest no deeper than a dict holding a shape tuple (the parser
/// backtracks on nested brackets: a fuzzed 6 KB header took 0.7 s).
fn check_npy_header(bytes: &[u8]) -> Result<(), ExportError> {
    // Magic (6 bytes), version (2), then a little-endian u16 (version 1) or u32 (2 and 3) length.
    let promised = match bytes.get(6) {
        Some(1) => bytes.get(8..10).map(|b| (10, u64::from(u16::from_le_bytes([b[0], b[1]])))),
        Some(2 | 3) => bytes.get(8..12).map(|b| (12, u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))),
        // Anything else is reported by the parser (bad magic, unknown version, truncated).
        _ => None,
    };
    let Some((start, length)) = promised else { return Ok(()) };
    let bad = |problem: String| Err(ExportError::Npy(problem));
    if start + length > bytes.len() as u64 {
        return bad(format!("the header claims {length} bytes, the file holds {}", bytes.len() as u64 - start));
    }
    if length > MAX_NPY_HEADER_BYTES {
        return bad(format!("the header is {length} bytes, more than {MAX_NPY_HEADER_BYTES}"));
    }
    let mut depth = 0usize;
    for &byte in &bytes[start as usize..(start + length) as usize] {
        match byte {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > 2 {
            return bad("the header nests brackets; a plain array's header is a dict with a shape tuple".into());
        }
    }
    Ok(())
}

/// Reads an `.npy` file of at most [`MAX_NPY_BYTES`] into an array of any dimension.
pub fn load_npy<A: ReadableElement>(path: &Path) -> Result<ArrayD<A>, ExportError> {
    let io_error = |source| ExportError::Io { path: path.to_path_buf(), source };
    let size = std::fs::metadata(path).map_err(io_error)?.len();
    if size > MAX_NPY_BYTES {
        return Err(ExportError::TooLarge { path: path.to_path_buf(), size });
    }
    npy_from_bytes(&std::fs::read(path).map_err(io_error)?)
}

/// Renders the figure to `path` as PNG (at [`DEFAULT_PNG_SCALE`]) or SVG, chosen by the extension.
pub fn save_figure(path: &Path, figure: &Figure) -> Result<(), ExportError> {
    save_figure_scaled(path, figure, DEFAULT_PNG_SCALE)
}

/// Like [`save_figure`] with an explicit PNG pixel multiplier (ignored for SVG).
pub fn save_figure_scaled(path: &Path, figure: &Figure, png_scale: f32) -> Result<(), ExportError> {
    write_file(path, &figure_bytes(path, figure, png_scale)?)
}

/// The figure as the bytes of a file named `name`: PNG (at `png_scale`) or SVG, chosen by the extension.
pub fn figure_bytes(name: &Path, figure: &Figure, png_scale: f32) -> Result<Vec<u8>, ExportError> {
    let extension = name.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let format = match extension.as_deref() {
        Some("png") => Format::Png { scale: png_scale },
        Some("svg") => Format::Svg,
        _ => return Err(ExportError::FigureExtension(name.to_path_buf())),
    };
    Ok(render(figure, format)?)
}

/// A file of a folder export: its name inside the folder and its bytes.
pub type NamedFile = (String, Vec<u8>);

/// Writes `files` into `dir` (created if missing), each atomically; returns their paths in order.
pub fn write_folder(dir: &Path, files: &[NamedFile]) -> Result<Vec<PathBuf>, ExportError> {
    create_folder(dir)?;
    files
        .iter()
        .map(|(name, bytes)| {
            let path = dir.join(name);
            write_file(&path, bytes).map(|()| path)
        })
        .collect()
}

/// Writes `bytes` to `path` atomically.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    write_atomic(path, bytes).map_err(|source| ExportError::Io { path: path.to_path_buf(), source })
}

/// Creates the folder (and its parents) that an export writes its files into.
pub fn create_folder(dir: &Path) -> Result<(), ExportError> {
    std::fs::create_dir_all(dir).map_err(|source| ExportError::Io { path: dir.to_path_buf(), source })
}

/// Pretty-printed JSON bytes, the form every JSON file of an export takes.
fn json_bytes(value: &serde_json::Value) -> Result<Vec<u8>, ExportError> {
    Ok(serde_json::to_vec_pretty(value)?)
}

#[cfg(test)]
mod tests {
    use ndarray::{Array1, Array3, ArrayD, IxDyn, array};
    use proptest::prelude::*;

    use super::*;
    use crate::core::plot::{Curve, FigureKind, LineChart};

    /// A minimal RFC 4180 reader, independent of the writer, to parse the output back.
    fn parse_csv(text: &str) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let mut row = Vec::new();
        let mut field = String::new();
        let mut in_quotes = false;
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match (in_quotes, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                (true, '"') => in_quotes = false,
                (false, '"') => in_quotes = true,
                (false, ',') => row.push(std::mem::take(&mut field)),
                (false, '\n') => {
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                (_, c) => field.push(c),
            }
        }
        assert!(!in_quotes && field.is_empty() && row.is_empty(), "output ends with a complete line");
        rows
    }

    /// Bit-exact equality (so −0 ≠ +0), with every NaN equal to every NaN.
    fn same_float(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    fn sample_table() -> Table {
        let mut table = Table::new(["class", "logit, N2", "count"]);
        table.push_row(vec!["Bag".into(), 1.25f32.into(), 3i64.into()]).expect("3 cells");
        table.push_row(vec!["say \"hi\"\nthere".into(), f32::NAN.into(), (-7i64).into()]).expect("3 cells");
        table.push_row(vec![" edge ".into(), f32::NEG_INFINITY.into(), 0i64.into()]).expect("3 cells");
        table.push_row(vec!["tiny".into(), 1e-7f32.into(), i64::MAX.into()]).expect("3 cells");
        table
    }

    #[test]
    fn csv_round_trips_through_an_independent_parser() {
        let table = sample_table();
        let text = String::from_utf8(csv_bytes(&table).expect("valid")).expect("UTF-8");
        let parsed = parse_csv(&text);
        assert_eq!(parsed[0], table.header);
        assert_eq!(parsed.len(), table.rows.len() + 1);
        for (row, cells) in table.rows.iter().zip(&parsed[1..]) {
            for (cell, text) in row.iter().zip(cells) {
                match cell {
                    CsvValue::Float(v) if v.is_nan() => assert_eq!(text, "NaN"),
                    CsvValue::Float(v) => assert!(same_float(text.parse().expect("float"), *v), "{text}"),
                    CsvValue::Int(v) => assert_eq!(text.parse::<i64>().expect("int"), *v),
                    CsvValue::Text(t) => assert_eq!(text, t),
                }
            }
        }
        assert!(text.contains("\"logit, N2\""), "a comma forces quotes");
        assert!(text.contains("\"say \"\"hi\"\"\nthere\""), "quotes are doubled");
        assert!(text.contains(",-inf,"), "infinities are written as inf");
        assert!(text.starts_with("class,"), "plain fields are not quoted");
    }

    #[test]
    fn rows_of_the_wrong_length_are_refused() {
        let mut table = Table::new(["a", "b"]);
        assert!(matches!(
            table.push_row(vec![1i64.into()]),
            Err(ExportError::RowLength { row: 0, got: 1, expected: 2 })
        ));
        table.rows.push(vec![1i64.into(), 2i64.into(), 3i64.into()]);
        assert!(matches!(csv_bytes(&table), Err(ExportError::RowLength { row: 0, got: 3, expected: 2 })));
    }

    #[test]
    fn npy_round_trips_f32_and_i64_of_any_dimension() {
        let cube = Array3::from_shape_fn((2, 3, 4), |(c, y, x)| c as f32 - y as f32 * 0.5 + x as f32 * 1e-3);
        let mut with_nan = cube.clone();
        with_nan[[1, 2, 3]] = f32::NAN;
        let back: ArrayD<f32> = npy_from_bytes(&npy_bytes(&with_nan).expect("writes")).expect("reads");
        assert_eq!(back.shape(), &[2, 3, 4]);
        assert!(back.iter().zip(with_nan.iter()).all(|(a, b)| same_float(*a, *b)));

        let labels: Array1<i64> = array![3, -1, i64::MIN, 9];
        let back: ArrayD<i64> = npy_from_bytes(&npy_bytes(&labels).expect("writes")).expect("reads");
        assert_eq!(back, labels.into_dyn());

        let scalar = ArrayD::from_elem(IxDyn(&[]), 2.5f32);
        assert_eq!(npy_from_bytes::<f32>(&npy_bytes(&scalar).expect("writes")).expect("reads"), scalar);

        // A transposed (Fortran-ordered) view is written by ndarray-npy in its own order and read back equal.
        let transposed = cube.view().reversed_axes();
        let back: ArrayD<f32> = npy_from_bytes(&npy_bytes(&transposed).expect("writes")).expect("reads");
        assert_eq!(back, transposed.into_dyn());
    }

    #[test]
    fn npy_files_round_trip_and_bad_files_are_errors() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("filters.npy");
        let filters = Array3::from_shape_fn((12, 5, 5), |(f, y, x)| (f * 25 + y * 5 + x) as f32 / 300.0);
        save_npy(&path, &filters).expect("saves");
        let back: ArrayD<f32> = load_npy(&path).expect("loads");
        assert_eq!(back, filters.into_dyn());
        assert!(matches!(load_npy::<i64>(&path), Err(ExportError::Npy(_))), "wrong element type");
        assert!(matches!(load_npy::<f32>(&dir.path().join("missing.npy")), Err(ExportError::Io { .. })));
    }

    /// A version 1.0 `.npy` file with this header dictionary, padded to 64 bytes, then `data`.
    fn npy_with_header(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut header = dict.to_owned();
        while !(10 + header.len() + 1).is_multiple_of(64) {
            header.push(' ');
        }
        header.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    #[test]
    fn forged_npy_headers_do_not_allocate() {
        let data = [0u8; 16];
        let honest = npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", &data);
        assert_eq!(npy_from_bytes::<f32>(&honest).expect("reads").shape(), &[4], "the helper writes valid files");
        let huge = npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4000000000000,), }", &data);
        assert!(matches!(npy_from_bytes::<f32>(&huge), Err(ExportError::Npy(_))));
        let overflow = npy_with_header(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }",
            &data,
        );
        assert!(matches!(npy_from_bytes::<f32>(&overflow), Err(ExportError::Npy(_))));
        assert!(matches!(npy_from_bytes::<f32>(&honest[..honest.len() - 2]), Err(ExportError::Npy(_))));
        assert!(matches!(npy_from_bytes::<f32>(b"not an npy file"), Err(ExportError::Npy(_))));
    }

    fn curve_figure() -> Figure {
        let curve = Curve { name: "loss".into(), points: vec![(0.0, 1.0), (1.0, 0.5), (2.0, 0.3)] };
        let chart = LineChart { x_label: "epoch".into(), y_label: "loss".into(), curves: vec![curve] };
        Figure::new("Loss", FigureKind::LineChart(chart))
    }

    #[test]
    fn save_figure_picks_the_format_from_the_extension() {
        let dir = tempfile::tempdir().expect("temp dir");
        let figure = curve_figure();
        let png = dir.path().join("loss.PNG");
        save_figure(&png, &figure).expect("saves PNG");
        let image = image::open(&png).expect("decodes");
        assert_eq!((image.width(), image.height()), (figure.width_px * 2, figure.height_px * 2));
        let svg = dir.path().join("loss.svg");
        save_figure(&svg, &figure).expect("saves SVG");
        assert!(std::fs::read_to_string(&svg).expect("reads").starts_with("<svg"));
        let other = dir.path().join("loss.pdf");
        assert!(matches!(save_figure(&other, &figure), Err(ExportError::FigureExtension(_))));
        assert!(!other.exists());
    }

    #[test]
    fn failed_saves_keep_the_previous_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("table.csv");
        save_csv(&path, &sample_table()).expect("saves");
        let before = std::fs::read(&path).expect("reads");
        // A table that fails validation never reaches the disk.
        let mut bad = sample_table();
        bad.rows.push(vec![]);
        assert!(save_csv(&path, &bad).is_err());
        // A figure that fails to render never reaches the disk either.
        assert!(save_figure(&dir.path().join("table.svg"), &curve_figure().with_size(1, 1)).is_err());
        assert!(!dir.path().join("table.svg").exists());
        assert_eq!(std::fs::read(&path).expect("reads"), before);
        // A parent that is a file: an I/O error naming the path.
        let inside_file = path.join("x.csv");
        match save_csv(&inside_file, &sample_table()) {
            Err(ExportError::Io { path: reported, .. }) => assert_eq!(reported, inside_file),
            other => panic!("expected an I/O error, got {other:?}"),
        }
    }

    #[cfg(unix)]
    #[test]
    fn read_only_directory_reports_an_error_and_keeps_the_old_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("weights.npy");
        save_npy(&path, &Array1::<f32>::ones(3)).expect("saves");
        let before = std::fs::read(&path).expect("reads");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).expect("chmod");
        // root ignores directory permissions; then the save must succeed completely instead.
        let enforced = std::fs::File::create(dir.path().join("probe")).is_err();
        let result = save_npy(&path, &Array1::<f32>::zeros(5));
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod back");
        let after = std::fs::read(&path).expect("reads");
        if enforced {
            assert!(matches!(result, Err(ExportError::Io { .. })));
            assert_eq!(after, before);
            let leftovers = std::fs::read_dir(dir.path()).expect("lists").count();
            assert_eq!(leftovers, 1, "no temporary left behind");
        } else {
            result.expect("saves when permissions are not enforced");
            assert_eq!(npy_from_bytes::<f32>(&after).expect("reads"), Array1::<f32>::zeros(5).into_dyn());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_text_and_float_round_trip(
            texts in prop::collection::vec(".{0,12}", 1..6),
            floats in prop::collection::vec(any::<f32>(), 1..6),
        ) {
            let mut table = Table::new(["text", "value"]);
            for (text, value) in texts.iter().zip(&floats) {
                table.push_row(vec![text.as_str().into(), (*value).into()]).expect("2 cells");
            }
            let parsed = parse_csv(&String::from_utf8(csv_bytes(&table).expect("valid")).expect("UTF-8"));
            for (row, (text, value)) in parsed[1..].iter().zip(texts.iter().zip(&floats)) {
                prop_assert_eq!(&row[0], text);
                let back: f32 = row[1].parse().expect("float");
                prop_assert!(same_float(back, *value), "{} vs {}", back, value);
            }
        }
    }
}
