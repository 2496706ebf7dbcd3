//! A folder export as one ZIP archive: every file deflated, named by its path in the folder, with
//! a fixed date (1980-01-01, ZIP's first day) so the same export gives the same bytes. The web
//! build downloads folder exports this way, as one file; any unzip tool, Python's `zipfile` and
//! NumPy's `np.load` of the members read it.
//!
//! The layout is the plain one of the ZIP specification (APPNOTE 6.3): a local header and the
//! data per file, then the central directory, then its end record. No ZIP64: an archive holds at
//! most 65,535 files of under 4 GiB each, which every tilelab export stays far below.

use std::io::Write;

use flate2::Compression;
use flate2::write::DeflateEncoder;

use super::{ExportError, NamedFile};

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_DIRECTORY: u32 = 0x0605_4b50;
/// Version 2.0: the version that introduced deflate.
const VERSION: u16 = 20;
/// General-purpose flag bit 11: names are UTF-8.
const UTF8_NAMES: u16 = 0x0800;
const DEFLATE: u16 = 8;
/// 1980-01-01 in MS-DOS date format (`year−1980 << 9 | month << 5 | day`), time 00:00.
const DOS_DATE: u16 = (1 << 5) | 1;

/// One member as the central directory records it.
struct Entry<'a> {
    name: &'a str,
    crc: u32,
    compressed: u32,
    size: u32,
    offset: u32,
}

/// The files as a ZIP archive, in their order.
pub fn zip(files: &[NamedFile]) -> Result<Vec<u8>, ExportError> {
    let too_large = || ExportError::Zip("more than 65,535 files or 4 GiB: too large for a ZIP archive".to_owned());
    let count = u16::try_from(files.len()).map_err(|_| too_large())?;
    let mut archive = Vec::new();
    let mut entries = Vec::with_capacity(files.len());
    for (name, bytes) in files {
        let deflated = deflate(bytes)?;
        let mut crc = flate2::Crc::new();
        crc.update(bytes);
        let entry = Entry {
            name,
            crc: crc.sum(),
            compressed: u32::try_from(deflated.len()).map_err(|_| too_large())?,
            size: u32::try_from(bytes.len()).map_err(|_| too_large())?,
            offset: u32::try_from(archive.len()).map_err(|_| too_large())?,
        };
        put_u32(&mut archive, LOCAL_HEADER);
        put_u16(&mut archive, VERSION);
        put_common(&mut archive, &entry)?;
        put_u16(&mut archive, 0); // extra field length
        archive.extend_from_slice(name.as_bytes());
        archive.extend_from_slice(&deflated);
        entries.push(entry);
    }
    let directory_start = u32::try_from(archive.len()).map_err(|_| too_large())?;
    for entry in &entries {
        put_u32(&mut archive, CENTRAL_HEADER);
        put_u16(&mut archive, VERSION); // made by
        put_u16(&mut archive, VERSION); // needed to extract
        put_common(&mut archive, entry)?;
        for _ in 0..4 {
            put_u16(&mut archive, 0); // extra, comment, disk, internal attributes
        }
        put_u32(&mut archive, 0); // external attributes
        put_u32(&mut archive, entry.offset);
        archive.extend_from_slice(entry.name.as_bytes());
    }
    let directory_size = u32::try_from(archive.len()).map_err(|_| too_large())? - directory_start;
    put_u32(&mut archive, END_OF_DIRECTORY);
    put_u16(&mut archive, 0); // this disk
    put_u16(&mut archive, 0); // the directory's disk
    put_u16(&mut archive, count);
    put_u16(&mut archive, count);
    put_u32(&mut archive, directory_size);
    put_u32(&mut archive, directory_start);
    put_u16(&mut archive, 0); // comment length
    Ok(archive)
}

/// The fields local and central headers share, from the flags to the name's length.
fn put_common(archive: &mut Vec<u8>, entry: &Entry<'_>) -> Result<(), ExportError> {
    put_u16(archive, UTF8_NAMES);
    put_u16(archive, DEFLATE);
    put_u16(archive, 0); // time
    put_u16(archive, DOS_DATE);
    put_u32(archive, entry.crc);
    put_u32(archive, entry.compressed);
    put_u32(archive, entry.size);
    let name_length =
        u16::try_from(entry.name.len()).map_err(|_| ExportError::Zip(format!("{}: name too long", entry.name)))?;
    put_u16(archive, name_length);
    Ok(())
}

fn deflate(bytes: &[u8]) -> Result<Vec<u8>, ExportError> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).and_then(|()| encoder.finish()).map_err(|e| ExportError::Zip(e.to_string()))
}

fn put_u16(archive: &mut Vec<u8>, value: u16) {
    archive.extend_from_slice(&value.to_le_bytes());
}

fn put_u32(archive: &mut Vec<u8>, value: u32) {
    archive.extend_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use proptest::prelude::*;

    use super::*;

    fn u16_at(bytes: &[u8], at: usize) -> usize {
        usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]))
    }

    fn u32_at(bytes: &[u8], at: usize) -> usize {
        u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize
    }

    /// Reads an archive back the way unzip does, independently of the writer: the end record, then
    /// each central directory entry, its local header and its inflated data, checked against the CRC.
    fn unzip(archive: &[u8]) -> Vec<NamedFile> {
        let end = archive.len() - 22;
        assert_eq!(u32_at(archive, end), END_OF_DIRECTORY as usize);
        let (count, directory) = (u16_at(archive, end + 10), u32_at(archive, end + 16));
        assert_eq!(directory + u32_at(archive, end + 12), end, "the directory ends where the end record starts");
        let mut at = directory;
        let mut files = Vec::new();
        for _ in 0..count {
            assert_eq!(u32_at(archive, at), CENTRAL_HEADER as usize);
            assert_eq!(u16_at(archive, at + 10), usize::from(DEFLATE));
            let (crc, compressed, size) =
                (u32_at(archive, at + 16), u32_at(archive, at + 20), u32_at(archive, at + 24));
            let name_length = u16_at(archive, at + 28);
            let name = String::from_utf8(archive[at + 46..at + 46 + name_length].to_vec()).unwrap();
            let local = u32_at(archive, at + 42);
            assert_eq!(u32_at(archive, local), LOCAL_HEADER as usize);
            assert_eq!(u32_at(archive, local + 14), crc, "{name}: the local header agrees");
            let data = local + 30 + u16_at(archive, local + 26) + u16_at(archive, local + 28);
            let mut bytes = Vec::new();
            flate2::read::DeflateDecoder::new(&archive[data..data + compressed]).read_to_end(&mut bytes).unwrap();
            assert_eq!(bytes.len(), size, "{name}");
            let mut check = flate2::Crc::new();
            check.update(&bytes);
            assert_eq!(check.sum() as usize, crc, "{name}");
            files.push((name, bytes));
            at += 46 + name_length;
        }
        files
    }

    #[test]
    fn an_empty_folder_is_just_the_end_record() {
        let archive = zip(&[]).unwrap();
        assert_eq!(archive.len(), 22);
        assert!(unzip(&archive).is_empty());
    }

    #[test]
    fn the_same_files_give_the_same_archive() {
        let files = vec![("a.npy".to_owned(), vec![1, 2, 3]), ("layers/b.json".to_owned(), b"{}".to_vec())];
        assert_eq!(zip(&files).unwrap(), zip(&files).unwrap());
        assert_eq!(&zip(&files).unwrap()[..4], b"PK\x03\x04");
    }

    proptest! {
        #[test]
        fn every_file_reads_back(files in prop::collection::vec(("[a-zé_]{1,12}\\.npy", prop::collection::vec(any::<u8>(), 0..3000)), 0..6)) {
            let archive = zip(&files).unwrap();
            prop_assert_eq!(unzip(&archive), files);
        }
    }
}
