//! Loading an ONNX model and running it in tilelab's own engine: [`OnnxGraph`] takes any inputs the
//! graph accepts (any batch, any channel count) and keeps every intermediate value on request;
//! [`OnnxModel`] is a graph that is an image classifier the app can draw (one grey input
//! `[1, 1, H, W]`, class scores out), run with every value kept so each layer can be shown.
//!
//! Loading checks everything a hostile or truncated file could abuse before allocating: the file
//! size, the node count, every tensor's rank and element count, external-data paths (they must
//! stay inside the model's folder) and their byte ranges, that every value a node reads is
//! defined, and that the graph has no cycle. A dry run on a blank image then checks every shape.
//! Subgraphs (If, Loop) are not parsed at all, and prost's recursion limit bounds message nesting.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, ArrayView2, ArrayView3, IxDyn};
use prost::Message;
use thiserror::Error;

use super::ops::{Attributes, Op, OpError, Value};
use super::proto::{
    DATA_TYPE_DOUBLE, DATA_TYPE_FLOAT, DATA_TYPE_INT32, DATA_TYPE_INT64, ModelProto, NodeProto, ValueInfoProto,
};
use tensors::{tensor_dims, tensor_value};

mod backward;
mod tensors;

/// Largest `.onnx` file read (external data files are bounded per tensor instead).
pub const MAX_MODEL_BYTES: u64 = 256 << 20;
/// Most nodes a graph may have.
pub const MAX_NODES: usize = 10_000;
/// Most values (all tensors together) one run may keep: 32 Mi floats, 128 MiB (N2 at the paper's
/// scale keeps about 4 Mi).
pub const MAX_KEPT_ELEMENTS: usize = 1 << 25;
/// Most values alive at once in a run that keeps only the outputs: 256 Mi floats, 1 GiB.
pub const MAX_LIVE_ELEMENTS: usize = 1 << 28;
/// Most values all initialisers and constants together may hold: 256 Mi, 1 GiB as float32 (VGG-19
/// has 144 Mi); external data is not bounded by the file size, so this is checked before each
/// tensor is read.
pub const MAX_WEIGHT_ELEMENTS: usize = 1 << 28;
/// Largest input image side.
pub const MAX_INPUT_SIDE: usize = 4096;

/// Why a model cannot be loaded or run.
#[derive(Debug, Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the model file is {0} bytes, more than the limit of {MAX_MODEL_BYTES}")]
    FileTooLarge(u64),
    #[error("not a valid ONNX file (protobuf decoding failed): {0}")]
    Decode(String),
    #[error("the model has no graph")]
    NoGraph,
    #[error("the graph has {0} nodes, more than the limit of {MAX_NODES}")]
    TooManyNodes(usize),
    #[error("node '{node}' ({op}): {reason}")]
    Node { node: String, op: String, reason: String },
    /// An operator, or one of its attributes or modes, that tilelab does not run.
    #[error("node '{node}' ({op}): {reason}")]
    Unsupported { node: String, op: String, reason: String },
    #[error("tensor '{name}': {reason}")]
    Tensor { name: String, reason: String },
    #[error("external data of '{name}': {reason}")]
    ExternalData { name: String, reason: String },
    #[error("node '{node}' reads '{value}', which no node, input or initialiser defines")]
    Missing { node: String, value: String },
    #[error("the graph has a cycle through node '{0}'")]
    Cycle(String),
    #[error("the graph's input: {0}")]
    Input(String),
    #[error("input '{name}': {reason}")]
    Feed { name: String, reason: String },
    #[error("the graph's output: {0}")]
    Output(String),
    #[error(
        "the model takes {expected_rows}×{expected_cols} images but this one is {rows}×{cols}: use \
         {expected_rows}×{expected_cols} images (the dataset size), or export the model for {rows}×{cols}"
    )]
    InputSize { expected_rows: usize, expected_cols: usize, rows: usize, cols: usize },
    #[error("the weights hold more than {MAX_WEIGHT_ELEMENTS} values")]
    TooManyWeights,
    #[error("one run would keep more than {MAX_KEPT_ELEMENTS} values")]
    TooManyValues,
    #[error("one run would hold more than {MAX_LIVE_ELEMENTS} values at once")]
    TooManyLiveValues,
}

/// One node of the graph, its operator parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub op_type: String,
    pub op: Op,
    /// Input value names; empty for an omitted optional input.
    pub inputs: Vec<String>,
    /// The first output.
    pub output: String,
    /// Every output the node computes (more than one only for `Split`; Dropout's mask is not computed).
    pub outputs: Vec<String>,
}

/// One value computed during a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Traced {
    /// The value's name in the graph.
    pub name: String,
    /// The node that computed it and its operator.
    pub node: String,
    pub op_type: String,
    /// The tensor (batch axis of size 1 included).
    pub value: ArrayD<f32>,
}

/// Everything one run computed, in execution order, and the class scores.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub values: Vec<Traced>,
    pub logits: Vec<f32>,
}

impl Trace {
    /// The value called `name`, if the run computed it.
    pub fn get(&self, name: &str) -> Option<&ArrayD<f32>> {
        self.values.iter().find(|t| t.name == name).map(|t| &t.value)
    }

    /// Every computed feature map (rank-4 value of batch 1) as `[C, H, W]`, in execution order,
    /// with its traced value (name, node, operator) for labels: what the app draws layer by layer.
    pub fn feature_maps(&self) -> Vec<(&Traced, ArrayView3<'_, f32>)> {
        self.values
            .iter()
            .filter_map(|t| {
                let map = t.value.view().into_dimensionality::<ndarray::Ix4>().ok()?;
                (map.shape()[0] == 1).then(|| (t, map.index_axis_move(ndarray::Axis(0), 0)))
            })
            .collect()
    }
}

/// A graph input: its name, whether it holds integers, and its dimensions (`None` = symbolic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphInput {
    pub name: String,
    pub integer: bool,
    pub dims: Vec<Option<usize>>,
}

/// What one run of a graph computed: the declared outputs, and every float value when asked.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Every float value computed, in execution order (empty unless every value was kept).
    pub values: Vec<Traced>,
    /// The graph's outputs, in declaration order.
    pub outputs: Vec<(String, Value)>,
}

/// A loaded, checked ONNX graph: nodes in execution order, constants folded.
#[derive(Debug, Clone)]
pub struct OnnxGraph {
    inputs: Vec<GraphInput>,
    nodes: Vec<Node>,
    constants: HashMap<String, Value>,
    outputs: Vec<String>,
    metadata: Vec<(String, String)>,
}

impl OnnxGraph {
    /// Reads `path` (and external data beside it) and checks it.
    pub fn load(path: &Path) -> Result<Self, ImportError> {
        let io = |source| ImportError::Io { path: path.to_path_buf(), source };
        let size = std::fs::metadata(path).map_err(io)?.len();
        if size > MAX_MODEL_BYTES {
            return Err(ImportError::FileTooLarge(size));
        }
        let bytes = std::fs::read(path).map_err(io)?;
        let folder = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let folder = if folder.as_os_str().is_empty() { PathBuf::from(".") } else { folder };
        Self::from_bytes(&bytes, Some(&folder))
    }

    /// Parses a graph from memory; `folder` is where external data may be read (none if `None`).
    pub fn from_bytes(bytes: &[u8], folder: Option<&Path>) -> Result<Self, ImportError> {
        if bytes.len() as u64 > MAX_MODEL_BYTES {
            return Err(ImportError::FileTooLarge(bytes.len() as u64));
        }
        let model = ModelProto::decode(bytes).map_err(|e| ImportError::Decode(e.to_string()))?;
        let opset = model
            .opset_import
            .iter()
            .find(|o| matches!(o.domain.as_deref(), None | Some("" | "ai.onnx")))
            .and_then(|o| o.version)
            .unwrap_or(1);
        let graph = model.graph.ok_or(ImportError::NoGraph)?;
        if graph.node.len() > MAX_NODES {
            return Err(ImportError::TooManyNodes(graph.node.len()));
        }
        let mut constants = HashMap::new();
        // All sizes are checked before any tensor is read.
        let mut weights = 0usize;
        for tensor in &graph.initializer {
            weights = weights.saturating_add(tensor_dims(tensor, tensor.name.as_deref().unwrap_or_default())?.1);
        }
        if weights > MAX_WEIGHT_ELEMENTS {
            return Err(ImportError::TooManyWeights);
        }
        for tensor in &graph.initializer {
            constants.insert(tensor.name.clone().unwrap_or_default(), tensor_value(tensor, folder)?);
        }
        let mut nodes = Vec::with_capacity(graph.node.len());
        for proto in &graph.node {
            if let Some((output, value)) = constant_node(proto, folder)? {
                weights = add_weights(weights, &value)?;
                constants.insert(output, value);
            } else {
                nodes.push(parse_node(proto, opset)?);
            }
        }
        let inputs = graph_inputs(&graph.input, &constants)?;
        let input_names: HashSet<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        let outputs: Vec<String> = graph.output.iter().filter_map(|o| o.name.clone()).collect();
        if outputs.is_empty() {
            return Err(ImportError::Output("the graph declares no output".into()));
        }
        let nodes = topological_order(nodes, &constants, &input_names)?;
        let nodes = fold_constants(nodes, &mut constants, weights)?;
        let computed = |name: &String| {
            nodes.iter().any(|n| n.outputs.contains(name))
                || constants.contains_key(name)
                || input_names.contains(name.as_str())
        };
        if let Some(missing) = outputs.iter().find(|o| !computed(o)) {
            return Err(ImportError::Output(format!("'{missing}' is not computed by any node")));
        }
        let metadata = model
            .metadata_props
            .iter()
            .map(|p| (p.key.clone().unwrap_or_default(), p.value.clone().unwrap_or_default()))
            .collect();
        Ok(Self { inputs, nodes, constants, outputs, metadata })
    }

    /// The inputs a run must be given.
    pub fn inputs(&self) -> &[GraphInput] {
        &self.inputs
    }

    /// The nodes in execution order (nodes that only read constants are folded away).
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// A constant (initialiser, Constant node or folded value).
    pub fn constant(&self, name: &str) -> Option<&Value> {
        self.constants.get(name)
    }

    /// The names of the graph outputs as declared.
    pub fn outputs(&self) -> &[String] {
        &self.outputs
    }

    /// The model's `metadata_props`.
    pub fn metadata(&self) -> &[(String, String)] {
        &self.metadata
    }

    /// Runs the graph on `feeds` (one value per input, by name). With `keep_all`, every float value
    /// is returned (at most [`MAX_KEPT_ELEMENTS`] in all); otherwise a value is dropped once its
    /// last reader has run.
    pub fn evaluate(&self, feeds: &HashMap<String, Value>, keep_all: bool) -> Result<Evaluation, ImportError> {
        for input in &self.inputs {
            let value = feeds.get(&input.name).ok_or_else(|| ImportError::Feed {
                name: input.name.clone(),
                reason: "no value was given for it".into(),
            })?;
            check_feed(input, value)?;
        }
        let last_use = self.last_uses();
        let mut live: HashMap<&str, Value> = HashMap::new();
        let mut values = Vec::new();
        let (mut kept, mut alive) = (0usize, 0usize);
        for (step, node) in self.nodes.iter().enumerate() {
            let inputs: Vec<Option<&Value>> = node
                .inputs
                .iter()
                .map(|name| match name.as_str() {
                    "" => None,
                    n => live.get(n).or_else(|| self.constants.get(n)).or_else(|| feeds.get(n)),
                })
                .collect();
            let outputs = node.op.apply_all(&inputs).map_err(|reason| node_error(node, reason.to_string()))?;
            for (name, value) in node.outputs.iter().zip(outputs) {
                if name.is_empty() {
                    continue;
                }
                let size = value.shape().iter().product::<usize>();
                if keep_all {
                    kept = kept.saturating_add(size);
                    if kept > MAX_KEPT_ELEMENTS {
                        return Err(ImportError::TooManyValues);
                    }
                    if let Value::F32(array) = &value {
                        values.push(Traced {
                            name: name.clone(),
                            node: node.name.clone(),
                            op_type: node.op_type.clone(),
                            value: array.clone(),
                        });
                    }
                }
                alive = alive.saturating_add(size);
                if alive > MAX_LIVE_ELEMENTS {
                    return Err(ImportError::TooManyLiveValues);
                }
                live.insert(name, value);
            }
            if !keep_all {
                for name in node.inputs.iter().filter(|n| last_use.get(n.as_str()) == Some(&step)) {
                    if let Some(value) = live.remove(name.as_str()) {
                        alive -= value.shape().iter().product::<usize>();
                    }
                }
            }
        }
        let outputs = self
            .outputs
            .iter()
            .map(|name| {
                let value = live.get(name.as_str()).or_else(|| self.constants.get(name)).or_else(|| feeds.get(name));
                value
                    .cloned()
                    .map(|v| (name.clone(), v))
                    .ok_or_else(|| ImportError::Output(format!("'{name}' was not computed")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Evaluation { values, outputs })
    }

    /// The step after which each computed value is read no more (graph outputs: never).
    fn last_uses(&self) -> HashMap<&str, usize> {
        let mut last = HashMap::new();
        for (step, node) in self.nodes.iter().enumerate() {
            for name in &node.inputs {
                last.insert(name.as_str(), step);
            }
        }
        for output in &self.outputs {
            last.remove(output.as_str());
        }
        last
    }
}

/// Fails unless `value` fits `input`'s element type and its fixed dimensions.
fn check_feed(input: &GraphInput, value: &Value) -> Result<(), ImportError> {
    let bad = |reason: String| ImportError::Feed { name: input.name.clone(), reason };
    if matches!(value, Value::I64(_)) != input.integer {
        let want = if input.integer { "integers" } else { "floats" };
        return Err(bad(format!("the graph takes {want}")));
    }
    let shape = value.shape();
    let fits = shape.len() == input.dims.len() && input.dims.iter().zip(shape).all(|(d, &s)| d.is_none_or(|d| d == s));
    if !fits {
        return Err(bad(format!("the graph takes shape {}, not {shape:?}", show_dims(&input.dims))));
    }
    Ok(())
}

/// Dimensions as `[1, 3, H, W]`-like text (`?` for a symbolic one).
fn show_dims(dims: &[Option<usize>]) -> String {
    let shown: Vec<String> = dims.iter().map(|d| d.map_or_else(|| "?".into(), |v| v.to_string())).collect();
    format!("[{}]", shown.join(", "))
}

fn add_weights(weights: usize, value: &Value) -> Result<usize, ImportError> {
    let weights = weights.saturating_add(value.shape().iter().product());
    if weights > MAX_WEIGHT_ELEMENTS {
        return Err(ImportError::TooManyWeights);
    }
    Ok(weights)
}

/// Runs once, at load, every node that reads only constants (weights made by `ConstantOfShape`,
/// shapes built from constants) and keeps its outputs as constants.
fn fold_constants(
    nodes: Vec<Node>,
    constants: &mut HashMap<String, Value>,
    mut weights: usize,
) -> Result<Vec<Node>, ImportError> {
    let mut remaining = Vec::with_capacity(nodes.len());
    for node in nodes {
        let constant = node.inputs.iter().all(|n| n.is_empty() || constants.contains_key(n));
        if !constant {
            remaining.push(node);
            continue;
        }
        let inputs: Vec<Option<&Value>> =
            node.inputs.iter().map(|n| if n.is_empty() { None } else { constants.get(n) }).collect();
        let outputs = node.op.apply_all(&inputs).map_err(|reason| node_error(&node, reason.to_string()))?;
        for (name, value) in node.outputs.iter().zip(outputs).filter(|(n, _)| !n.is_empty()) {
            weights = add_weights(weights, &value)?;
            constants.insert(name.clone(), value);
        }
    }
    Ok(remaining)
}

/// A loaded, checked ONNX classifier: a graph with one grey image input `[1, 1, H, W]`.
#[derive(Debug, Clone)]
pub struct OnnxModel {
    graph: OnnxGraph,
    input_name: String,
    input_size: (usize, usize),
    output: String,
    classes: usize,
}

impl OnnxModel {
    /// Reads `path` (and external data beside it), checks it and runs it once on a blank image.
    pub fn load(path: &Path) -> Result<Self, ImportError> {
        Self::from_graph(OnnxGraph::load(path)?)
    }

    /// Parses a model from memory; `folder` is where external data may be read (none if `None`).
    pub fn from_bytes(bytes: &[u8], folder: Option<&Path>) -> Result<Self, ImportError> {
        Self::from_graph(OnnxGraph::from_bytes(bytes, folder)?)
    }

    /// Checks that `graph` is a grey image classifier and runs it once on a blank image.
    pub fn from_graph(graph: OnnxGraph) -> Result<Self, ImportError> {
        let (input_name, input_size) = grey_input(graph.inputs())?;
        let output = graph
            .outputs()
            .iter()
            .find(|n| *n == "logits")
            .or_else(|| graph.outputs().first())
            .cloned()
            .ok_or_else(|| ImportError::Output("the graph declares no output".into()))?;
        if !graph.nodes.iter().any(|n| n.outputs.contains(&output)) {
            return Err(ImportError::Output(format!("'{output}' is not computed by any node")));
        }
        let mut loaded = Self { graph, input_name, input_size, output, classes: 0 };
        let blank = ndarray::Array2::zeros(input_size);
        loaded.classes = loaded.run(blank.view())?.logits.len();
        if loaded.classes == 0 {
            return Err(ImportError::Output("the model outputs no class scores".into()));
        }
        Ok(loaded)
    }

    /// The graph underneath.
    pub fn graph(&self) -> &OnnxGraph {
        &self.graph
    }

    /// The image size `(H, W)` the model takes.
    pub fn input_size(&self) -> (usize, usize) {
        self.input_size
    }

    /// Number of class scores.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The nodes in execution order.
    pub fn nodes(&self) -> &[Node] {
        self.graph.nodes()
    }

    /// A constant (initialiser or Constant node), e.g. a convolution's weight for drawing filters.
    pub fn constant(&self, name: &str) -> Option<&Value> {
        self.graph.constant(name)
    }

    /// Each `Conv` node with its constant weight `[M, C, kh, kw]`, in execution order (the filters
    /// the app draws); convolutions whose weight is computed are left out.
    pub fn conv_weights(&self) -> Vec<(&Node, &ArrayD<f32>)> {
        self.nodes()
            .iter()
            .filter(|n| n.op_type == "Conv")
            .filter_map(|n| match n.inputs.get(1).and_then(|w| self.constant(w)) {
                Some(Value::F32(weight)) => Some((n, weight)),
                _ => None,
            })
            .collect()
    }

    /// The names of the graph outputs as declared.
    pub fn graph_outputs(&self) -> &[String] {
        self.graph.outputs()
    }

    /// The name of the output read as class scores (`logits` if declared, else the first output).
    pub fn output_name(&self) -> &str {
        &self.output
    }

    /// The model's `metadata_props`.
    pub fn metadata(&self) -> &[(String, String)] {
        self.graph.metadata()
    }

    /// Runs one `H×W` image (grey levels in [0, 1]) and keeps every computed value.
    #[allow(clippy::needless_pass_by_value)] // views are passed by value throughout the crate
    pub fn run(&self, image: ArrayView2<f32>) -> Result<Trace, ImportError> {
        let (rows, cols) = image.dim();
        if (rows, cols) != self.input_size {
            let (expected_rows, expected_cols) = self.input_size;
            return Err(ImportError::InputSize { expected_rows, expected_cols, rows, cols });
        }
        let input = Value::F32(
            image
                .to_owned()
                .into_shape_with_order(IxDyn(&[1, 1, rows, cols]))
                .map_err(|e| ImportError::Input(e.to_string()))?,
        );
        let feeds = HashMap::from([(self.input_name.clone(), input)]);
        let evaluation = self.graph.evaluate(&feeds, true)?;
        let scores = evaluation.outputs.iter().find(|(name, _)| *name == self.output).map(|(_, v)| v);
        let logits = match scores {
            Some(Value::F32(a)) if a.ndim() == 1 || (a.ndim() == 2 && a.shape()[0] == 1) => a.iter().copied().collect(),
            Some(v) => {
                return Err(ImportError::Output(format!(
                    "'{}' has shape {:?}, expected [1, classes]",
                    self.output,
                    v.shape()
                )));
            }
            None => return Err(ImportError::Output(format!("'{}' was not computed", self.output))),
        };
        Ok(Trace { values: evaluation.values, logits })
    }

    /// The class scores of one image.
    #[allow(clippy::needless_pass_by_value)]
    pub fn logits(&self, image: ArrayView2<f32>) -> Result<Vec<f32>, ImportError> {
        Ok(self.run(image)?.logits)
    }
}

/// A serialised `TensorProto` (the reference suites' `input_0.pb`): its name and value (float64
/// read as float32, int32 as int64).
pub fn read_tensor(bytes: &[u8]) -> Result<(String, Value), ImportError> {
    if bytes.len() as u64 > MAX_MODEL_BYTES {
        return Err(ImportError::FileTooLarge(bytes.len() as u64));
    }
    let tensor = super::proto::TensorProto::decode(bytes).map_err(|e| ImportError::Decode(e.to_string()))?;
    Ok((tensor.name.clone().unwrap_or_default(), tensor_value(&tensor, None)?))
}

fn node_error(node: &Node, reason: String) -> ImportError {
    ImportError::Node { node: node.name.clone(), op: node.op_type.clone(), reason }
}

fn node_name(proto: &NodeProto) -> String {
    match proto.name.as_deref() {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => proto.output.first().map_or_else(|| "(unnamed)".to_owned(), |o| format!("(producing '{o}')")),
    }
}

fn parse_node(proto: &NodeProto, opset: i64) -> Result<Node, ImportError> {
    let name = node_name(proto);
    let op_type = proto.op_type.clone().unwrap_or_default();
    let error = |reason: String| ImportError::Node { node: name.clone(), op: op_type.clone(), reason };
    if let Some(domain) = proto.domain.as_deref().filter(|d| !d.is_empty() && *d != "ai.onnx") {
        return Err(ImportError::Unsupported {
            node: name,
            op: op_type,
            reason: format!("operator domain '{domain}' is not supported (standard ONNX operators only)"),
        });
    }
    if proto.attribute.iter().any(|a| a.ref_attr_name.is_some()) {
        return Err(error("attribute references (functions) are not supported".into()));
    }
    if op_type.is_empty() {
        return Err(error("the node has no operator type".into()));
    }
    let op = Op::parse_with_outputs(&op_type, &Attributes(&proto.attribute), opset, proto.output.len()).map_err(
        |e| match e {
            OpError::Unsupported(reason) => {
                ImportError::Unsupported { node: name.clone(), op: op_type.clone(), reason }
            }
            other => error(other.to_string()),
        },
    )?;
    let output = proto.output.first().filter(|o| !o.is_empty()).cloned().ok_or_else(|| error("no output".into()))?;
    let extra_used =
        proto.output.iter().skip(1).any(|o| !o.is_empty()) && !matches!(op_type.as_str(), "Dropout" | "Split");
    if extra_used {
        return Err(error(
            "only the first output is supported (e.g. MaxPool indices, BatchNormalization statistics)".into(),
        ));
    }
    // Dropout's mask is never computed: only its first output counts.
    let outputs = if op_type == "Split" { proto.output.clone() } else { vec![output.clone()] };
    Ok(Node { name, op_type, op, inputs: proto.input.clone(), output, outputs })
}

/// A `Constant` node's output name and value, or `None` for other nodes.
fn constant_node(proto: &NodeProto, folder: Option<&Path>) -> Result<Option<(String, Value)>, ImportError> {
    if proto.op_type.as_deref() != Some("Constant") {
        return Ok(None);
    }
    let name = node_name(proto);
    let error = |reason: &str| ImportError::Node { node: name.clone(), op: "Constant".into(), reason: reason.into() };
    let output = proto.output.first().cloned().ok_or_else(|| error("no output"))?;
    let attribute = proto.attribute.first().ok_or_else(|| error("no value"))?;
    let value = match attribute.name.as_deref() {
        Some("value") => tensor_value(attribute.t.as_ref().ok_or_else(|| error("'value' holds no tensor"))?, folder)?,
        Some("value_float") => Value::F32(ArrayD::from_elem(IxDyn(&[]), attribute.f.unwrap_or(0.0))),
        Some("value_floats") => Value::F32(
            ArrayD::from_shape_vec(IxDyn(&[attribute.floats.len()]), attribute.floats.clone())
                .map_err(|_| error("bad floats"))?,
        ),
        Some("value_int") => Value::I64(ArrayD::from_elem(IxDyn(&[]), attribute.i.unwrap_or(0))),
        Some("value_ints") => Value::I64(
            ArrayD::from_shape_vec(IxDyn(&[attribute.ints.len()]), attribute.ints.clone())
                .map_err(|_| error("bad ints"))?,
        ),
        _ => return Err(error("only value, value_float(s) and value_int(s) are supported")),
    };
    Ok(Some((output, value)))
}

/// The real inputs (not initialisers), each with its type and dimensions.
fn graph_inputs(inputs: &[ValueInfoProto], constants: &HashMap<String, Value>) -> Result<Vec<GraphInput>, ImportError> {
    inputs
        .iter()
        .filter(|i| !constants.contains_key(i.name.as_deref().unwrap_or_default()))
        .map(|input| {
            let name = input.name.clone().unwrap_or_default();
            let tensor = input.r#type.as_ref().and_then(|t| t.tensor_type.as_ref());
            let integer = match tensor.and_then(|t| t.elem_type) {
                // Doubles are read as float32 (tilelab computes in float32).
                Some(DATA_TYPE_FLOAT | DATA_TYPE_DOUBLE) => false,
                Some(DATA_TYPE_INT64 | DATA_TYPE_INT32) => true,
                other => {
                    return Err(ImportError::Input(format!(
                        "'{name}' has element type {other:?} (float32, float64, int32 or int64 are read)"
                    )));
                }
            };
            let dims = tensor.and_then(|t| t.shape.as_ref()).map(|s| s.dim.as_slice()).unwrap_or_default();
            let dims: Vec<Option<usize>> =
                dims.iter().map(|d| d.dim_value.and_then(|v| usize::try_from(v).ok())).collect();
            if dims.len() > super::ops::MAX_RANK {
                return Err(ImportError::Input(format!("'{name}' has rank {}", dims.len())));
            }
            Ok(GraphInput { name, integer, dims })
        })
        .collect()
}

/// The one grey image input of a classifier the app draws: its name and `(H, W)` from `[1, 1, H, W]`.
fn grey_input(inputs: &[GraphInput]) -> Result<(String, (usize, usize)), ImportError> {
    let [input] = inputs else {
        return Err(ImportError::Input(format!("expected one image input, found {}", inputs.len())));
    };
    let name = &input.name;
    if input.integer {
        return Err(ImportError::Input(format!("'{name}' must be float32")));
    }
    let dims = &input.dims;
    let batch_ok = dims.first().is_some_and(|d| d.is_none_or(|v| v == 1));
    let side = |d: Option<usize>| d.filter(|s| (1..=MAX_INPUT_SIDE).contains(s));
    match dims.as_slice() {
        [_, Some(1), h, w] if batch_ok && side(*h).is_some() && side(*w).is_some() => {
            Ok((name.clone(), (h.unwrap_or(1), w.unwrap_or(1))))
        }
        [_, Some(channels), _, _] if *channels != 1 => Err(ImportError::Input(format!(
            "'{name}' has shape {}: {channels} channels, but the app draws grey single-channel models only; \
             run it with `tilelab run --model M.onnx --input {name}=x.npy --out DIR`",
            show_dims(dims)
        ))),
        _ => Err(ImportError::Input(format!(
            "'{name}' has shape {}; expected one grey image [1, 1, H, W] with fixed H and W (1 to {MAX_INPUT_SIDE})",
            show_dims(dims)
        ))),
    }
}

/// Kahn's algorithm; every input must be defined, and a leftover node means a cycle.
fn topological_order(
    nodes: Vec<Node>,
    constants: &HashMap<String, Value>,
    inputs: &HashSet<&str>,
) -> Result<Vec<Node>, ImportError> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        for output in node.outputs.iter().filter(|o| !o.is_empty()) {
            if producer.insert(output, i).is_some()
                || constants.contains_key(output)
                || inputs.contains(output.as_str())
            {
                return Err(node_error(node, format!("its output '{output}' is defined twice")));
            }
        }
    }
    let mut waiting = vec![0usize; nodes.len()];
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        let mut seen = HashSet::new();
        for name in
            node.inputs.iter().filter(|n| !n.is_empty() && !inputs.contains(n.as_str()) && !constants.contains_key(*n))
        {
            let &from = producer
                .get(name.as_str())
                .ok_or_else(|| ImportError::Missing { node: node.name.clone(), value: name.clone() })?;
            if seen.insert(from) {
                waiting[i] += 1;
                readers[from].push(i);
            }
        }
    }
    let mut ready: VecDeque<usize> = (0..nodes.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(i) = ready.pop_front() {
        order.push(i);
        for &r in &readers[i] {
            waiting[r] -= 1;
            if waiting[r] == 0 {
                ready.push_back(r);
            }
        }
    }
    if let Some(stuck) = (0..nodes.len()).find(|&i| waiting[i] > 0) {
        return Err(ImportError::Cycle(nodes[stuck].name.clone()));
    }
    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

#[cfg(test)]
mod tests;
