//! Reading a user's file with a size cap, so a huge file, a device or a growing file cannot exhaust memory.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

/// Why a bounded read failed.
#[derive(Debug, thiserror::Error)]
pub enum BoundedReadError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("the file has at least {size} bytes; at most {limit} are read")]
    TooLarge { size: u64, limit: u64 },
}

/// The file's bytes, refusing more than `limit`: the size is checked first, then at most one byte
/// past the limit is read (a pipe or device reports size 0 and `/dev/zero` never ends).
pub fn read_at_most(path: &Path, limit: u64) -> Result<Vec<u8>, BoundedReadError> {
    let size = fs::metadata(path)?.len();
    if size > limit {
        return Err(BoundedReadError::TooLarge { size, limit });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    fs::File::open(path)?.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(BoundedReadError::TooLarge { size: bytes.len() as u64, limit });
    }
    Ok(bytes)
}

/// [`read_at_most`] for UTF-8 text.
pub fn read_text_at_most(path: &Path, limit: u64) -> Result<String, BoundedReadError> {
    let bytes = read_at_most(path, limit)?;
    String::from_utf8(bytes).map_err(|e| BoundedReadError::Io(io::Error::new(io::ErrorKind::InvalidData, e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_limit_and_refuses_beyond() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"12345").unwrap();
        assert_eq!(read_at_most(&path, 5).unwrap(), b"12345");
        assert!(matches!(read_at_most(&path, 4), Err(BoundedReadError::TooLarge { size: 5, limit: 4 })));
    }

    #[cfg(unix)]
    #[test]
    fn an_endless_device_stops_at_the_limit() {
        let got = read_at_most(Path::new("/dev/zero"), 1024);
        assert!(matches!(got, Err(BoundedReadError::TooLarge { size: 1025, limit: 1024 })));
    }
}
