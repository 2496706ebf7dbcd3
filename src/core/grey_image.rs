//! Grey images read from PNG/JPEG files (a dataset background): values in [0, 1], with the
//! decoder's size and memory limits set before anything is decoded.

use std::io::{BufRead, Cursor, Seek};
use std::path::{Path, PathBuf};

use ndarray::Array2;
use thiserror::Error;

/// Largest side of an image decoded from a file (a background or an imported tile).
pub const MAX_IMAGE_SIDE: u32 = 8192;
/// Most bytes a decoder may allocate for one image.
pub const MAX_IMAGE_ALLOC: u64 = 256 * 1024 * 1024;

/// Why an image file could not be read.
#[derive(Debug, Error)]
pub enum GreyImageError {
    #[error("{}: {source}", path.display())]
    Open { path: PathBuf, source: std::io::Error },
    #[error("{}: {source}", path.display())]
    Decode { path: PathBuf, source: image::ImageError },
}

/// Reads an image file as grey values in [0, 1], shaped `(height, width)`.
pub fn load_grey_image(path: &Path) -> Result<Array2<f32>, GreyImageError> {
    let open = |source| GreyImageError::Open { path: path.to_owned(), source };
    let reader = image::ImageReader::open(path).map_err(open)?.with_guessed_format().map_err(open)?;
    grey_values(reader).map_err(|source| GreyImageError::Decode { path: path.to_owned(), source })
}

/// Decodes the bytes of an image file named `name` (a file picked in a browser) as grey values in
/// [0, 1], shaped `(height, width)`, with the same limits as [`load_grey_image`].
pub fn decode_grey_image(bytes: &[u8], name: &str) -> Result<Array2<f32>, GreyImageError> {
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|source| GreyImageError::Open { path: PathBuf::from(name), source })?;
    grey_values(reader).map_err(|source| GreyImageError::Decode { path: PathBuf::from(name), source })
}

/// Decodes with the size and memory limits set first.
fn grey_values<R: BufRead + Seek>(mut reader: image::ImageReader<R>) -> Result<Array2<f32>, image::ImageError> {
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_IMAGE_ALLOC);
    reader.limits(limits);
    let grey = reader.decode()?.into_luma8();
    let (width, height) = (grey.width() as usize, grey.height() as usize);
    let values = grey.into_raw().into_iter().map(|v| f32::from(v) / 255.0).collect();
    // The decoder returns exactly width × height bytes, so the shape always fits.
    Ok(Array2::from_shape_vec((height, width), values).unwrap_or_else(|_| Array2::zeros((0, 0))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_images_load_with_their_shape_and_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.png");
        let image = image::GrayImage::from_fn(3, 2, |x, y| image::Luma([(x * 100 + y * 10) as u8]));
        image.save(&path).unwrap();
        let loaded = load_grey_image(&path).unwrap();
        assert_eq!(loaded.dim(), (2, 3));
        assert!((loaded[[1, 2]] - 210.0 / 255.0).abs() < 1e-6);
        assert!(matches!(load_grey_image(&dir.path().join("missing.png")), Err(GreyImageError::Open { .. })));
        std::fs::write(dir.path().join("bad.png"), b"not a png").unwrap();
        assert!(matches!(load_grey_image(&dir.path().join("bad.png")), Err(GreyImageError::Decode { .. })));
        let picked = decode_grey_image(&std::fs::read(&path).unwrap(), "g.png").unwrap();
        assert_eq!(picked, loaded, "bytes decode as the file does");
        let error = decode_grey_image(b"not a png", "bad.png").unwrap_err();
        assert!(
            matches!(error, GreyImageError::Decode { .. }) && error.to_string().starts_with("bad.png: "),
            "{error}"
        );
    }
}
