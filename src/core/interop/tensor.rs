//! Named constant tensors (weights, pads, axes): what an ONNX graph's initialisers and a
//! safetensors file both hold, kept apart so neither format's module imports the other.

/// The values of a constant tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// float32 values.
    F32(Vec<f32>),
    /// int64 values (shapes, pads, axes).
    I64(Vec<i64>),
}

impl TensorData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::I64(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as little-endian bytes (ONNX `raw_data` and safetensors both use this layout).
    pub fn le_bytes(&self) -> Vec<u8> {
        match self {
            TensorData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
}

/// A named constant tensor in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub dims: Vec<usize>,
    pub data: TensorData,
}
