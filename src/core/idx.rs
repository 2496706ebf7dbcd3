//! The IDX image/label format of MNIST and Fashion-MNIST (gzip or plain), read with size limits,
//! and the bundled 200-per-class subsets embedded in the binary.
//!
//! IDX: two zero bytes, a type byte (`0x08` = unsigned byte), the number of dimensions, one
//! big-endian `u32` per dimension, then the data row-major. Images are `count×rows×cols`,
//! labels are `count`. Every size is checked against the bytes actually present before any
//! allocation, and decompression stops at [`MAX_DECOMPRESSED_BYTES`], so a hostile file costs
//! at most that much memory.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use super::bounded_read::{BoundedReadError, read_at_most};
use ndarray::Array2;
use thiserror::Error;

/// Largest decompressed (or plain) IDX file accepted: the full Fashion-MNIST training images are 47 MB.
pub const MAX_DECOMPRESSED_BYTES: usize = 256 * 1024 * 1024;

/// Magic number of an unsigned-byte image file (`count×rows×cols`).
const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an unsigned-byte label file (`count`).
const LABELS_MAGIC: u32 = 0x0000_0801;
/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Fashion-MNIST class names, by label.
pub const FASHION_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// MNIST class names (the digits), by label.
pub const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Why an IDX file could not be read.
#[derive(Debug, Error)]
pub enum IdxError {
    #[error("not an IDX {kind} file: magic number is {found:#010x}, expected {expected:#010x}")]
    BadMagic { kind: &'static str, found: u32, expected: u32 },
    #[error("the file ends after {found} bytes, before its {expected}-byte header")]
    TruncatedHeader { expected: usize, found: usize },
    #[error("the header promises {expected} data bytes but the file holds {found}")]
    LengthMismatch { expected: u64, found: usize },
    #[error("image size {rows}×{cols} is not allowed (each side must be at least 1)")]
    BadImageSize { rows: usize, cols: usize },
    #[error("the file is larger than {limit} bytes (decompressed), the limit for IDX files")]
    TooLarge { limit: usize },
    #[error("gzip data is damaged: {0}")]
    Gzip(std::io::Error),
    #[error("{images} images but {labels} labels")]
    CountMismatch { images: usize, labels: usize },
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// `len()` grey images of `rows×cols` bytes, stored row-major one after the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Height of every image.
    pub rows: usize,
    /// Width of every image.
    pub cols: usize,
    /// All pixels, image after image, row-major, 0 = black.
    pub pixels: Vec<u8>,
}

impl IdxImages {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / (self.rows * self.cols).max(1)
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Image `i` as `rows×cols` values `pixel / 255` in [0, 1], or `None` past the end.
    pub fn image(&self, i: usize) -> Option<Array2<f32>> {
        let size = self.rows * self.cols;
        let start = i.checked_mul(size)?;
        let bytes = self.pixels.get(start..start.checked_add(size)?)?;
        Some(Array2::from_shape_fn((self.rows, self.cols), |(r, c)| f32::from(bytes[r * self.cols + c]) / 255.0))
    }
}

/// Images with one label each (`images.len() == labels.len()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledImages {
    /// The images.
    pub images: IdxImages,
    /// The label of each image.
    pub labels: Vec<u8>,
}

impl LabelledImages {
    /// Pairs images with labels, refusing different counts.
    pub fn new(images: IdxImages, labels: Vec<u8>) -> Result<Self, IdxError> {
        if images.len() != labels.len() {
            return Err(IdxError::CountMismatch { images: images.len(), labels: labels.len() });
        }
        Ok(Self { images, labels })
    }

    /// Number of labelled images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Indices of the images labelled `class`, in file order.
    pub fn indices_of_class(&self, class: u8) -> impl Iterator<Item = usize> + '_ {
        self.labels.iter().enumerate().filter(move |&(_, &l)| l == class).map(|(i, _)| i)
    }

    /// The `n`-th image (from 0) labelled `class`, or `None` if there are not that many.
    pub fn class_image(&self, class: u8, n: usize) -> Option<Array2<f32>> {
        self.indices_of_class(class).nth(n).and_then(|i| self.images.image(i))
    }
}

/// The data sets embedded in the binary (200 images per class, labels 0..9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum BundledSet {
    /// Fashion-MNIST (Zalando), the paper's data.
    FashionMnist,
    /// MNIST handwritten digits.
    Mnist,
}

impl BundledSet {
    /// Class names by label.
    pub fn class_names(self) -> [&'static str; 10] {
        match self {
            Self::FashionMnist => FASHION_CLASSES,
            Self::Mnist => MNIST_CLASSES,
        }
    }
}

/// The bundled subset, decoded (embedded with `include_bytes!`, so it works from any folder).
pub fn bundled(set: BundledSet) -> Result<LabelledImages, IdxError> {
    let (images, labels): (&[u8], &[u8]) = match set {
        BundledSet::FashionMnist => (
            include_bytes!("../../assets/data/fashion-mnist-subset-images-idx3-ubyte.gz"),
            include_bytes!("../../assets/data/fashion-mnist-subset-labels-idx1-ubyte.gz"),
        ),
        BundledSet::Mnist => (
            include_bytes!("../../assets/data/mnist-subset-images-idx3-ubyte.gz"),
            include_bytes!("../../assets/data/mnist-subset-labels-idx1-ubyte.gz"),
        ),
    };
    LabelledImages::new(read_images(images)?, read_labels(labels)?)
}

/// Parses an image file (`magic 0x803`, `count×rows×cols` bytes), gzip or plain.
pub fn read_images(bytes: &[u8]) -> Result<IdxImages, IdxError> {
    read_images_limited(bytes, MAX_DECOMPRESSED_BYTES)
}

/// Parses a label file (`magic 0x801`, `count` bytes), gzip or plain.
pub fn read_labels(bytes: &[u8]) -> Result<Vec<u8>, IdxError> {
    read_labels_limited(bytes, MAX_DECOMPRESSED_BYTES)
}

/// Reads and parses an image file from disk.
pub fn load_images(path: &Path) -> Result<IdxImages, IdxError> {
    read_images(&read_file(path)?)
}

/// Reads and parses a label file from disk.
pub fn load_labels(path: &Path) -> Result<Vec<u8>, IdxError> {
    read_labels(&read_file(path)?)
}

/// Reads an image file and its label file and pairs them.
pub fn load_labelled(images: &Path, labels: &Path) -> Result<LabelledImages, IdxError> {
    LabelledImages::new(load_images(images)?, load_labels(labels)?)
}

fn read_images_limited(bytes: &[u8], limit: usize) -> Result<IdxImages, IdxError> {
    let data = decompress(bytes, limit)?;
    let dims = header(&data, "image", IMAGES_MAGIC, 3)?;
    let (count, rows, cols) = (dims[0], dims[1], dims[2]);
    if rows == 0 || cols == 0 {
        return Err(IdxError::BadImageSize { rows, cols });
    }
    check_body(&data, 16, &[count, rows, cols])?;
    Ok(IdxImages { rows, cols, pixels: without_header(data, 16) })
}

fn read_labels_limited(bytes: &[u8], limit: usize) -> Result<Vec<u8>, IdxError> {
    let data = decompress(bytes, limit)?;
    let dims = header(&data, "label", LABELS_MAGIC, 1)?;
    check_body(&data, 8, &dims)?;
    Ok(without_header(data, 8))
}

/// The data after the header, reusing the decompressed buffer rather than copying up to the limit again.
fn without_header(data: std::borrow::Cow<'_, [u8]>, header_len: usize) -> Vec<u8> {
    let mut bytes = data.into_owned();
    bytes.drain(..header_len);
    bytes
}

/// Reads a file whose size is first checked against the limit (an IDX file never grows when gzipped).
fn read_file(path: &Path) -> Result<Vec<u8>, IdxError> {
    read_at_most(path, MAX_DECOMPRESSED_BYTES as u64).map_err(|error| match error {
        BoundedReadError::Io(source) => IdxError::Io { path: path.to_owned(), source },
        BoundedReadError::TooLarge { .. } => IdxError::TooLarge { limit: MAX_DECOMPRESSED_BYTES },
    })
}

/// The plain bytes: gunzipped if the gzip magic is present, reading at most `limit` bytes.
fn decompress(bytes: &[u8], limit: usize) -> Result<std::borrow::Cow<'_, [u8]>, IdxError> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        if bytes.len() > limit {
            return Err(IdxError::TooLarge { limit });
        }
        return Ok(bytes.into());
    }
    let mut decoder = GzDecoder::new(bytes);
    let mut chunk = vec![0; 64 * 1024];
    let mut out = Vec::new();
    loop {
        let n = match decoder.read(&mut chunk) {
            Ok(0) => return Ok(out.into()),
            Ok(n) => n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(IdxError::Gzip(error)),
        };
        // A gzip bomb stops here, before holding more than the limit.
        if out.len() + n > limit {
            return Err(IdxError::TooLarge { limit });
        }
        // Doubling, capped at the limit: `read_to_end` would double a full buffer past it (measured
        // 512 MiB for a bomb against a 256 MiB limit).
        if out.len() + n > out.capacity() {
            let target = (out.capacity() * 2).max(out.len() + n).min(limit);
            out.reserve_exact(target - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// Checks the magic number and returns the `ndims` dimensions.
fn header(data: &[u8], kind: &'static str, magic: u32, ndims: usize) -> Result<Vec<usize>, IdxError> {
    let header_len = 4 + 4 * ndims;
    if data.len() < 4 {
        return Err(IdxError::TruncatedHeader { expected: header_len, found: data.len() });
    }
    let found = be_u32(&data[0..4]);
    if found != magic {
        return Err(IdxError::BadMagic { kind, found, expected: magic });
    }
    if data.len() < header_len {
        return Err(IdxError::TruncatedHeader { expected: header_len, found: data.len() });
    }
    Ok((0..ndims).map(|d| be_u32(&data[4 + 4 * d..8 + 4 * d]) as usize).collect())
}

/// Checks that the data after the header is as long as the product of the dimensions.
fn check_body(data: &[u8], header_len: usize, dims: &[usize]) -> Result<(), IdxError> {
    // u64 cannot overflow: three u32 factors fit in 96 bits, so saturate instead of wrapping.
    let expected = dims.iter().fold(1u64, |acc, &d| acc.saturating_mul(d as u64));
    let found = data.len() - header_len;
    if expected != found as u64 {
        return Err(IdxError::LengthMismatch { expected, found });
    }
    Ok(())
}

fn be_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

#[cfg(test)]
// Exact float comparisons are intended: pixel/255 of 255 is exactly 1.
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = magic.to_be_bytes().to_vec();
        for d in dims {
            out.extend(d.to_be_bytes());
        }
        out.extend(data);
        out
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn plain_and_gzip_give_the_same_images() {
        let pixels: Vec<u8> = (0..2 * 3 * 2).map(|v| v * 20).collect();
        let plain = idx(IMAGES_MAGIC, &[2, 3, 2], &pixels);
        let a = read_images(&plain).unwrap();
        assert_eq!(a, read_images(&gzip(&plain)).unwrap());
        assert_eq!((a.len(), a.rows, a.cols), (2, 3, 2));
        let second = a.image(1).unwrap();
        assert_eq!(second.dim(), (3, 2));
        assert!((second[[2, 1]] - 220.0 / 255.0).abs() < 1e-7);
        assert!(a.image(2).is_none());
    }

    #[test]
    fn labels_round_trip() {
        let plain = idx(LABELS_MAGIC, &[4], &[3, 1, 4, 1]);
        assert_eq!(read_labels(&plain).unwrap(), vec![3, 1, 4, 1]);
        assert_eq!(read_labels(&gzip(&plain)).unwrap(), vec![3, 1, 4, 1]);
    }

    #[test]
    fn malformed_files_give_typed_errors() {
        let images = idx(IMAGES_MAGIC, &[2, 2, 2], &[0; 8]);
        assert!(matches!(read_images(&images[..10]), Err(IdxError::TruncatedHeader { expected: 16, found: 10 })));
        assert!(matches!(read_images(&images[..15 + 4]), Err(IdxError::LengthMismatch { expected: 8, found: 3 })));
        assert!(matches!(read_images(&[]), Err(IdxError::TruncatedHeader { .. })));
        assert!(matches!(read_labels(&images), Err(IdxError::BadMagic { found: 0x803, .. })));
        assert!(matches!(read_images(&idx(IMAGES_MAGIC, &[1, 0, 5], &[])), Err(IdxError::BadImageSize { .. })));
        let mut extra = images.clone();
        extra.push(0);
        assert!(matches!(read_images(&extra), Err(IdxError::LengthMismatch { expected: 8, found: 9 })));
        assert!(matches!(read_images(&[0x1f, 0x8b, 1, 2, 3]), Err(IdxError::Gzip(_))));
        let labels = vec![0; 3];
        assert!(matches!(
            LabelledImages::new(read_images(&images).unwrap(), labels),
            Err(IdxError::CountMismatch { images: 2, labels: 3 })
        ));
    }

    #[test]
    fn huge_header_is_refused_without_allocating() {
        // 4·10⁹ images of 65535² pixels: the check compares against the 4 bytes present.
        let hostile = idx(IMAGES_MAGIC, &[u32::MAX, 65_535, 65_535], &[1, 2, 3, 4]);
        match read_images(&hostile) {
            Err(IdxError::LengthMismatch { expected, found: 4 }) => assert!(expected > u64::from(u32::MAX)),
            other => panic!("expected a length mismatch, got {other:?}"),
        }
    }

    #[test]
    fn gzip_bomb_stops_at_the_limit() {
        let big = idx(LABELS_MAGIC, &[20_000], &vec![0; 20_000]);
        let bomb = gzip(&big);
        assert!(matches!(read_labels_limited(&bomb, 1000), Err(IdxError::TooLarge { limit: 1000 })));
        assert!(matches!(read_labels_limited(&big, 1000), Err(IdxError::TooLarge { limit: 1000 })));
        assert_eq!(read_labels_limited(&bomb, big.len()).unwrap().len(), 20_000);
    }

    #[test]
    fn full_size_fashion_file_is_accepted() {
        // The original training file: 60 000 images of 28×28 (47 MB), well inside the limit.
        let plain = idx(IMAGES_MAGIC, &[60_000, 28, 28], &vec![7; 60_000 * 784]);
        let images = read_images(&plain).unwrap();
        assert_eq!(images.len(), 60_000);
        assert!((images.image(59_999).unwrap()[[27, 27]] - 7.0 / 255.0).abs() < 1e-7);
    }

    #[test]
    fn files_load_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let (images, labels) = (dir.path().join("i.gz"), dir.path().join("l"));
        std::fs::write(&images, gzip(&idx(IMAGES_MAGIC, &[1, 1, 2], &[0, 255]))).unwrap();
        std::fs::write(&labels, idx(LABELS_MAGIC, &[1], &[5])).unwrap();
        let set = load_labelled(&images, &labels).unwrap();
        assert_eq!(set.class_image(5, 0).unwrap()[[0, 1]], 1.0);
        assert!(matches!(load_labels(&dir.path().join("missing")), Err(IdxError::Io { .. })));
    }

    #[test]
    fn bundled_sets_have_200_images_per_class() {
        for set in [BundledSet::FashionMnist, BundledSet::Mnist] {
            let data = bundled(set).unwrap();
            assert_eq!((data.len(), data.images.rows, data.images.cols), (2000, 28, 28));
            for class in 0..10 {
                assert_eq!(data.indices_of_class(class).count(), 200, "{set:?} class {class}");
                let image = data.class_image(class, 199).unwrap();
                assert!(image.iter().any(|&v| v > 0.0) && image.iter().all(|v| (0.0..=1.0).contains(v)));
            }
            assert!(data.class_image(0, 200).is_none());
        }
        assert_eq!(FASHION_CLASSES[8], "Bag");
    }
}
