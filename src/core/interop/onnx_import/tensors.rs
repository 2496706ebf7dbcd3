//! Initialisers and constants decoded into values: inline data (`raw_data` or the typed fields)
//! or external data beside the model, every size checked before anything is read.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path};

use ndarray::{ArrayD, IxDyn};

use super::ImportError;
use crate::core::interop::ops::{MAX_TENSOR_ELEMENTS, Value, check_shape};
use crate::core::interop::proto::{
    DATA_LOCATION_EXTERNAL, DATA_TYPE_DOUBLE, DATA_TYPE_FLOAT, DATA_TYPE_INT32, DATA_TYPE_INT64, TensorProto,
};

/// The tensor's dimensions, checked against the rank and element limits.
pub(super) fn tensor_dims(tensor: &TensorProto, name: &str) -> Result<(Vec<usize>, usize), ImportError> {
    let bad = |reason: String| ImportError::Tensor { name: name.to_owned(), reason };
    let dims: Vec<usize> = tensor
        .dims
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<_, _>>()
        .map_err(|_| bad(format!("negative dimension in {:?}", tensor.dims)))?;
    check_shape(&dims).map_err(|e| bad(e.to_string()))?;
    let count = dims.iter().product();
    Ok((dims, count))
}

/// Decodes an initialiser (inline or external) into a value.
pub(super) fn tensor_value(tensor: &TensorProto, folder: Option<&Path>) -> Result<Value, ImportError> {
    let name = tensor.name.clone().unwrap_or_default();
    let bad = |reason: String| ImportError::Tensor { name: name.clone(), reason };
    let (dims, count) = tensor_dims(tensor, &name)?;
    let data_type = tensor.data_type.unwrap_or(0);
    let width = match data_type {
        DATA_TYPE_FLOAT | DATA_TYPE_INT32 => 4,
        DATA_TYPE_INT64 | DATA_TYPE_DOUBLE => 8,
        other => return Err(bad(format!("data type {other} is not supported (float32, float64, int32, int64)"))),
    };
    let raw = if tensor.data_location == Some(DATA_LOCATION_EXTERNAL) {
        Some(external_bytes(tensor, &name, folder, count * width)?)
    } else {
        tensor.raw_data.clone()
    };
    let shape = IxDyn(&dims);
    let wrong_length = |got: usize| bad(format!("holds {got} values for shape {dims:?}"));
    let value = match (data_type, raw) {
        (_, Some(raw)) if raw.len() != count * width => return Err(wrong_length(raw.len() / width)),
        (DATA_TYPE_FLOAT, Some(raw)) => Value::F32(from_vec(
            shape,
            raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        )),
        (DATA_TYPE_DOUBLE, Some(raw)) => Value::F32(from_vec(
            shape,
            raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32).collect(),
        )),
        (DATA_TYPE_INT32, Some(raw)) => Value::I64(from_vec(
            shape,
            raw.chunks_exact(4).map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect(),
        )),
        (DATA_TYPE_INT64, Some(raw)) => Value::I64(from_vec(
            shape,
            raw.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect(),
        )),
        (DATA_TYPE_FLOAT, None) if tensor.float_data.len() == count => {
            Value::F32(from_vec(shape, tensor.float_data.clone()))
        }
        (DATA_TYPE_DOUBLE, None) if tensor.double_data.len() == count => {
            Value::F32(from_vec(shape, tensor.double_data.iter().map(|&v| v as f32).collect()))
        }
        (DATA_TYPE_INT32, None) if tensor.int32_data.len() == count => {
            Value::I64(from_vec(shape, tensor.int32_data.iter().map(|&v| i64::from(v)).collect()))
        }
        (DATA_TYPE_INT64, None) if tensor.int64_data.len() == count => {
            Value::I64(from_vec(shape, tensor.int64_data.clone()))
        }
        _ => {
            let got = tensor
                .float_data
                .len()
                .max(tensor.int32_data.len())
                .max(tensor.int64_data.len())
                .max(tensor.double_data.len());
            return Err(wrong_length(got));
        }
    };
    Ok(value)
}

/// `ArrayD::from_shape_vec` for data whose length was checked against the shape.
fn from_vec<T: Clone + Default>(shape: IxDyn, data: Vec<T>) -> ArrayD<T> {
    ArrayD::from_shape_vec(shape.clone(), data).unwrap_or_else(|_| ArrayD::from_elem(shape, T::default()))
}

/// The bytes of an external tensor: `location` relative to the model's folder and inside it,
/// `offset`/`length` inside the file, `length` equal to what the shape needs.
fn external_bytes(
    tensor: &TensorProto,
    name: &str,
    folder: Option<&Path>,
    needed: usize,
) -> Result<Vec<u8>, ImportError> {
    let bad = |reason: String| ImportError::ExternalData { name: name.to_owned(), reason };
    let field =
        |key: &str| tensor.external_data.iter().find(|e| e.key.as_deref() == Some(key)).and_then(|e| e.value.clone());
    let folder =
        folder.ok_or_else(|| bad("the model was not read from a file, so external data cannot be found".into()))?;
    let location = field("location").ok_or_else(|| bad("no location".into()))?;
    let relative = Path::new(&location);
    if relative.components().any(|c| !matches!(c, Component::Normal(_))) || location.is_empty() {
        return Err(bad(format!(
            "the path '{location}' leaves the model's folder (only plain relative paths are allowed)"
        )));
    }
    let path = folder.join(relative);
    let io = |e: std::io::Error| bad(format!("{}: {e}", path.display()));
    let (real_folder, real_path) = (folder.canonicalize().map_err(io)?, path.canonicalize().map_err(io)?);
    if !real_path.starts_with(&real_folder) {
        return Err(bad(format!("'{location}' resolves outside the model's folder")));
    }
    let number = |key: &str| {
        field(key).map(|v| v.parse::<u64>().map_err(|_| bad(format!("{key} '{v}' is not a number")))).transpose()
    };
    let offset = number("offset")?.unwrap_or(0);
    let length = number("length")?.unwrap_or(needed as u64);
    if length != needed as u64 {
        return Err(bad(format!("length {length} bytes, but the shape needs {needed}")));
    }
    let mut file = std::fs::File::open(&real_path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if offset.checked_add(length).is_none_or(|end| end > size) {
        return Err(bad(format!(
            "bytes {offset}..{} lie beyond the end of the {size}-byte file",
            offset.saturating_add(length)
        )));
    }
    debug_assert!(needed <= MAX_TENSOR_ELEMENTS * 8);
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut bytes = vec![0u8; needed];
    file.read_exact(&mut bytes).map_err(io)?;
    Ok(bytes)
}
