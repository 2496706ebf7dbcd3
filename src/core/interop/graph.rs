//! A network as a flat list of named ONNX nodes and weights ([`ExportGraph`]), written either as an
//! ONNX model or, the weights alone under the same names, as safetensors.
//!
//! Every model has one input `image`, float32 `[N, 1, H, W]` with a symbolic batch `N`, and lists
//! its hidden layers and the `logits` as graph outputs, each `[N, …]`.

use prost::Message;

use super::InteropError;
use super::proto::{
    AttributeProto, DATA_TYPE_FLOAT, DATA_TYPE_INT64, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto, attribute_type,
};
use super::safetensors;
use super::tensor::{NamedTensor, TensorData};

/// The ONNX operator set the exported models use.
pub const OPSET: i64 = 17;
/// The IR version matching [`OPSET`] (ONNX 1.12).
pub const IR_VERSION: i64 = 8;
/// Name of the model's input.
pub const INPUT_NAME: &str = "image";
/// Name of the model's class-score output.
pub const LOGITS_NAME: &str = "logits";
/// Name of the symbolic batch dimension.
pub const BATCH_DIM: &str = "N";

/// A node attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
}

/// One operator application.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportNode {
    pub op: &'static str,
    pub name: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attributes: Vec<(&'static str, AttrValue)>,
}

/// A graph output: its name and its shape without the batch axis.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphOutput {
    pub name: String,
    pub dims: Vec<usize>,
}

/// A whole exportable network.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExportGraph {
    /// The graph's name (e.g. `tilelab-n2`).
    pub name: String,
    /// Input image size `(H, W)`.
    pub input: (usize, usize),
    pub nodes: Vec<ExportNode>,
    pub weights: Vec<NamedTensor>,
    /// Hidden layers then `logits`, in network order.
    pub outputs: Vec<GraphOutput>,
    /// `metadata_props` of the model (see the README section "Using tilelab with Python").
    pub metadata: Vec<(String, String)>,
}

impl ExportGraph {
    /// An empty graph for `height×width` images.
    pub fn new(name: &str, input: (usize, usize)) -> Self {
        Self { name: name.to_owned(), input, ..Self::default() }
    }

    /// Adds a constant tensor and returns its name.
    pub fn weight(&mut self, name: &str, dims: Vec<usize>, data: TensorData) -> String {
        self.weights.push(NamedTensor { name: name.to_owned(), dims, data });
        name.to_owned()
    }

    /// Adds a node with one output and returns the output's name.
    pub fn node(
        &mut self,
        op: &'static str,
        inputs: &[&str],
        output: &str,
        attributes: Vec<(&'static str, AttrValue)>,
    ) -> String {
        self.nodes.push(ExportNode {
            op,
            name: format!("{output}/{op}"),
            inputs: inputs.iter().map(|&s| s.to_owned()).collect(),
            outputs: vec![output.to_owned()],
            attributes,
        });
        output.to_owned()
    }

    /// Number of values in all weights.
    pub fn parameter_count(&self) -> usize {
        self.weights.iter().map(|w| w.data.len()).sum()
    }

    /// The ONNX model.
    pub fn to_model(&self) -> ModelProto {
        let (height, width) = self.input;
        let input = value_info(INPUT_NAME, &[1, height, width]);
        let graph = GraphProto {
            node: self.nodes.iter().map(node_proto).collect(),
            name: Some(self.name.clone()),
            initializer: self.weights.iter().map(tensor_proto).collect(),
            input: vec![input],
            output: self.outputs.iter().map(|o| value_info(&o.name, &o.dims)).collect(),
            ..GraphProto::default()
        };
        ModelProto {
            ir_version: Some(IR_VERSION),
            producer_name: Some("tilelab".into()),
            producer_version: Some(env!("CARGO_PKG_VERSION").into()),
            graph: Some(graph),
            opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(OPSET) }],
            metadata_props: self
                .metadata
                .iter()
                .map(|(k, v)| StringStringEntryProto { key: Some(k.clone()), value: Some(v.clone()) })
                .collect(),
            ..ModelProto::default()
        }
    }

    /// The ONNX model as protobuf bytes.
    pub fn onnx_bytes(&self) -> Vec<u8> {
        self.to_model().encode_to_vec()
    }

    /// The weights as a safetensors file, under the same names as the ONNX initialisers, with the
    /// same metadata.
    pub fn safetensors_bytes(&self) -> Result<Vec<u8>, InteropError> {
        safetensors::to_bytes(&self.weights, &self.metadata)
    }
}

/// `[N, dims…]` float32 value info.
fn value_info(name: &str, dims: &[usize]) -> ValueInfoProto {
    let batch = Dimension { dim_param: Some(BATCH_DIM.into()), ..Dimension::default() };
    let rest = dims.iter().map(|&d| Dimension { dim_value: Some(d as i64), ..Dimension::default() });
    let shape = TensorShapeProto { dim: std::iter::once(batch).chain(rest).collect() };
    ValueInfoProto {
        name: Some(name.to_owned()),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor { elem_type: Some(DATA_TYPE_FLOAT), shape: Some(shape) }),
        }),
        doc_string: None,
    }
}

fn tensor_proto(tensor: &NamedTensor) -> TensorProto {
    let data_type = match tensor.data {
        TensorData::F32(_) => DATA_TYPE_FLOAT,
        TensorData::I64(_) => DATA_TYPE_INT64,
    };
    TensorProto {
        dims: tensor.dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(data_type),
        name: Some(tensor.name.clone()),
        raw_data: Some(tensor.data.le_bytes()),
        ..TensorProto::default()
    }
}

fn node_proto(node: &ExportNode) -> NodeProto {
    let attribute = node
        .attributes
        .iter()
        .map(|(name, value)| {
            let mut a = AttributeProto { name: Some((*name).to_owned()), ..AttributeProto::default() };
            match value {
                AttrValue::Int(i) => (a.i, a.r#type) = (Some(*i), Some(attribute_type::INT)),
                AttrValue::Ints(v) => (a.ints, a.r#type) = (v.clone(), Some(attribute_type::INTS)),
                AttrValue::Float(f) => (a.f, a.r#type) = (Some(*f), Some(attribute_type::FLOAT)),
            }
            a
        })
        .collect();
    NodeProto {
        input: node.inputs.clone(),
        output: node.outputs.clone(),
        name: Some(node.name.clone()),
        op_type: Some(node.op.to_owned()),
        attribute,
        domain: Some(String::new()),
        doc_string: None,
    }
}
