//! Gradients through an imported model: one run that keeps every value, then the chain rule back
//! from one entry of one value to the image, node by node ([`Op::backward`]). Only the nodes on
//! a path from the image to that value are differentiated; weights are constants.

use std::collections::{HashMap, HashSet};

use ndarray::{Array2, ArrayD, ArrayView2, IxDyn};

use super::{ImportError, Node, OnnxModel, node_error};
use crate::core::interop::ops::Operand;

impl OnnxModel {
    /// The nodes on a path from the image to value `target` that tilelab cannot differentiate
    /// (an operator without a backward pass, or the image reaching an input it does not
    /// differentiate, such as a convolution's weight); empty when gradients exist.
    pub fn nodes_without_backward(&self, target: &str) -> Vec<&Node> {
        let carries = self.image_carriers();
        self.path_to(target, &carries)
            .into_iter()
            .map(|i| &self.nodes()[i])
            .filter(|node| {
                node.inputs
                    .iter()
                    .enumerate()
                    .any(|(k, name)| carries.contains(name.as_str()) && !node.op.differentiates(k))
            })
            .collect()
    }

    /// Entry `index` (in row-major order, batch axis included) of value `target` on `image`, and
    /// its gradient with respect to the image (`H×W`). Fails like [`Self::run`], for a value or
    /// entry the run does not compute, and on a node of [`Self::nodes_without_backward`].
    pub fn gradient(
        &self,
        image: ArrayView2<f32>,
        target: &str,
        index: usize,
    ) -> Result<(f32, Array2<f32>), ImportError> {
        let trace = self.run(image)?;
        let mut values: HashMap<&str, &ArrayD<f32>> =
            trace.values.iter().map(|t| (t.name.as_str(), &t.value)).collect();
        let (rows, cols) = self.input_size;
        let input = image
            .to_owned()
            .into_shape_with_order(IxDyn(&[1, 1, rows, cols]))
            .map_err(|e| ImportError::Input(e.to_string()))?;
        values.insert(self.input_name.as_str(), &input);
        let missing = || ImportError::Output(format!("entry {index} of '{target}' is not computed"));
        let output = values.get(target).ok_or_else(missing)?;
        let value = output.iter().nth(index).copied().ok_or_else(missing)?;
        let mut seed = ArrayD::<f32>::zeros(output.raw_dim());
        if let Some(entry) = seed.iter_mut().nth(index) {
            *entry = 1.0;
        }
        let carries = self.image_carriers();
        let mut grads: HashMap<String, ArrayD<f32>> = HashMap::from([(target.to_owned(), seed)]);
        for i in self.path_to(target, &carries).into_iter().rev() {
            let node = &self.nodes()[i];
            let Some(grad) = grads.remove(&node.output) else { continue };
            let inputs: Vec<Option<Operand>> = node
                .inputs
                .iter()
                .map(|name| match values.get(name.as_str()) {
                    Some(&value) => Some(Operand::F32(value)),
                    None => self.constant(name).map(Operand::from),
                })
                .collect();
            let wanted: Vec<bool> = node.inputs.iter().map(|name| carries.contains(name.as_str())).collect();
            let node_output =
                values.get(node.output.as_str()).ok_or_else(|| node_error(node, "its output was not kept".into()))?;
            let input_grads =
                node.op.backward(&inputs, node_output, &grad, &wanted).map_err(|e| node_error(node, e.to_string()))?;
            for (name, input_grad) in node.inputs.iter().zip(input_grads) {
                let Some(input_grad) = input_grad else { continue };
                match grads.get_mut(name) {
                    Some(sum) if sum.shape() == input_grad.shape() => *sum += &input_grad,
                    Some(_) => return Err(node_error(node, format!("the gradients of '{name}' differ in shape"))),
                    None => {
                        grads.insert(name.clone(), input_grad);
                    }
                }
            }
        }
        let image_grad = grads.remove(&self.input_name).map_or_else(
            || Ok(Array2::zeros((rows, cols))),
            |g| {
                g.as_standard_layout()
                    .into_owned()
                    .into_shape_with_order((rows, cols))
                    .map_err(|e| ImportError::Input(e.to_string()))
            },
        )?;
        Ok((value, image_grad))
    }

    /// The names of the values computed from the image (the image's own included).
    fn image_carriers(&self) -> HashSet<&str> {
        let mut carries = HashSet::from([self.input_name.as_str()]);
        for node in self.nodes() {
            if node.inputs.iter().any(|name| carries.contains(name.as_str())) {
                carries.extend(node.outputs.iter().map(String::as_str));
            }
        }
        carries
    }

    /// The indices of the nodes, in execution order, that carry the image into value `target`.
    fn path_to(&self, target: &str, carries: &HashSet<&str>) -> Vec<usize> {
        let mut needed = HashSet::from([target]);
        let mut path = Vec::new();
        for (i, node) in self.nodes().iter().enumerate().rev() {
            if node.outputs.iter().any(|o| needed.contains(o.as_str())) && carries.contains(node.output.as_str()) {
                path.push(i);
                needed.extend(node.inputs.iter().map(String::as_str).filter(|name| carries.contains(name)));
            }
        }
        path.reverse();
        path
    }
}
