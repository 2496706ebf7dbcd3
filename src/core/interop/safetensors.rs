//! The safetensors format, written and read by hand: an 8-byte little-endian header length, a
//! JSON header `{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {…}}`
//! padded with spaces to a multiple of 8 bytes, then the raw little-endian data.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::InteropError;
use super::tensor::{NamedTensor, TensorData};

/// Largest header accepted when reading (the format's own reference implementation uses 100 MB).
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Why a safetensors file cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SafetensorsError {
    #[error("the file is shorter than its header says")]
    Truncated,
    #[error("the header is {0} bytes, more than the limit of {MAX_HEADER_BYTES}")]
    HeaderTooLarge(u64),
    #[error("the header is not valid: {0}")]
    BadHeader(String),
}

/// The file's bytes for `tensors` (in the given order) with string `metadata`.
pub fn to_bytes(tensors: &[NamedTensor], metadata: &[(String, String)]) -> Result<Vec<u8>, InteropError> {
    let mut header = Map::new();
    let mut data = Vec::new();
    for tensor in tensors {
        let dtype = match tensor.data {
            TensorData::F32(_) => "F32",
            TensorData::I64(_) => "I64",
        };
        let begin = data.len();
        data.extend(tensor.data.le_bytes());
        header.insert(
            tensor.name.clone(),
            json!({ "dtype": dtype, "shape": tensor.dims, "data_offsets": [begin, data.len()] }),
        );
    }
    let metadata: BTreeMap<&str, &str> = metadata.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    header.insert("__metadata__".into(), json!(metadata));
    let mut header_bytes = serde_json::to_vec(&Value::Object(header))?;
    // Spaces keep the data 8-byte aligned, as the reference writer does.
    header_bytes.resize(header_bytes.len().div_ceil(8) * 8, b' ');
    let mut bytes = Vec::with_capacity(8 + header_bytes.len() + data.len());
    bytes.extend((header_bytes.len() as u64).to_le_bytes());
    bytes.extend(header_bytes);
    bytes.extend(data);
    Ok(bytes)
}

/// Reads every F32/I64 tensor and the metadata back; offsets and sizes are checked against the data.
pub fn from_bytes(bytes: &[u8]) -> Result<(Vec<NamedTensor>, BTreeMap<String, String>), SafetensorsError> {
    let bad = |m: &str| SafetensorsError::BadHeader(m.to_owned());
    let length_bytes: [u8; 8] = bytes.get(..8).and_then(|b| b.try_into().ok()).ok_or(SafetensorsError::Truncated)?;
    let header_len = u64::from_le_bytes(length_bytes);
    if header_len > MAX_HEADER_BYTES {
        return Err(SafetensorsError::HeaderTooLarge(header_len));
    }
    let header_end = 8 + header_len as usize;
    let header = bytes.get(8..header_end).ok_or(SafetensorsError::Truncated)?;
    let data = &bytes[header_end..];
    let header: Map<String, Value> =
        serde_json::from_slice(header).map_err(|e| SafetensorsError::BadHeader(e.to_string()))?;
    let mut tensors = Vec::new();
    let mut metadata = BTreeMap::new();
    for (name, entry) in header {
        if name == "__metadata__" {
            for (k, v) in entry.as_object().ok_or_else(|| bad("__metadata__ is not an object"))? {
                metadata
                    .insert(k.clone(), v.as_str().ok_or_else(|| bad("metadata values must be strings"))?.to_owned());
            }
            continue;
        }
        tensors.push(read_tensor(name, &entry, data)?);
    }
    Ok((tensors, metadata))
}

fn read_tensor(name: String, entry: &Value, data: &[u8]) -> Result<NamedTensor, SafetensorsError> {
    let bad = |m: String| SafetensorsError::BadHeader(format!("tensor '{name}': {m}"));
    let dims: Vec<usize> = entry["shape"]
        .as_array()
        .ok_or_else(|| bad("no shape".into()))?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize))
        .collect::<Option<_>>()
        .ok_or_else(|| bad("shape entries must be non-negative integers".into()))?;
    let offsets = entry["data_offsets"].as_array().ok_or_else(|| bad("no data_offsets".into()))?;
    let (Some(begin), Some(end)) = (offsets.first().and_then(Value::as_u64), offsets.get(1).and_then(Value::as_u64))
    else {
        return Err(bad("data_offsets must be two integers".into()));
    };
    let count =
        dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(|| bad("shape overflows".into()))?;
    let raw = data.get(begin as usize..end as usize).ok_or(SafetensorsError::Truncated)?;
    let dtype = entry["dtype"].as_str().unwrap_or("");
    let size = match dtype {
        "F32" => 4,
        "I64" => 8,
        other => return Err(bad(format!("dtype '{other}' is not supported (F32, I64)"))),
    };
    if Some(raw.len()) != count.checked_mul(size) {
        return Err(bad(format!("{} bytes for shape {dims:?}", raw.len())));
    }
    let data = if size == 4 {
        TensorData::F32(raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    } else {
        TensorData::I64(
            raw.chunks_exact(8).map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect(),
        )
    };
    Ok(NamedTensor { name, dims, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_names_shapes_values_and_metadata() {
        let tensors = vec![
            NamedTensor {
                name: "layer1.weight".into(),
                dims: vec![2, 1, 1, 3],
                data: TensorData::F32(vec![1.5, -2.0, 0.0, 3.25, 1e-7, -0.0]),
            },
            NamedTensor { name: "pads".into(), dims: vec![2], data: TensorData::I64(vec![0, -7]) },
            NamedTensor { name: "empty".into(), dims: vec![0], data: TensorData::F32(vec![]) },
        ];
        let metadata = vec![("tilelab.network".to_owned(), "n2".to_owned())];
        let bytes = to_bytes(&tensors, &metadata).unwrap();
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        assert_eq!(header_len % 8, 0, "data stays aligned");
        let (mut back, meta) = from_bytes(&bytes).unwrap();
        back.sort_by(|a, b| a.name.cmp(&b.name));
        let mut want = tensors.clone();
        want.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(back, want);
        assert_eq!(meta["tilelab.network"], "n2");
    }

    #[test]
    fn malformed_files_are_refused() {
        let tensors = vec![NamedTensor { name: "w".into(), dims: vec![3], data: TensorData::F32(vec![1.0, 2.0, 3.0]) }];
        let bytes = to_bytes(&tensors, &[]).unwrap();
        assert_eq!(from_bytes(&bytes[..bytes.len() - 1]), Err(SafetensorsError::Truncated));
        assert_eq!(from_bytes(&bytes[..5]), Err(SafetensorsError::Truncated));
        let mut huge = bytes.clone();
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(from_bytes(&huge), Err(SafetensorsError::HeaderTooLarge(_))));
        let forged = br#"{"w":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,4]}}"#;
        let mut file = (forged.len() as u64).to_le_bytes().to_vec();
        file.extend(forged);
        file.extend([0; 4]);
        assert!(matches!(from_bytes(&file), Err(SafetensorsError::BadHeader(_))));
    }
}
