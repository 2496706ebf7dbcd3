//! Operators that move values without arithmetic, on float and int64 tensors alike: `Concat`,
//! `Split`, `Transpose`, `Squeeze`, `Unsqueeze`, `Shape`, `Gather`, `ConstantOfShape`, `Slice`,
//! `Tile`, and nearest-neighbour `Resize`. Shape computations (`Shape` → `Gather` → `Unsqueeze`
//! → `Concat` → `Reshape`, what `x.view(x.size(0), -1)` exports to) run on int64 values, so they
//! fold to constants for the input size of the run.

use ndarray::{ArrayD, Axis, IxDyn, Slice};

use super::{Coordinates, OpError, Resize, Rounding, SliceSpec, Value, check_shape, normalise_axis};

/// Applies the same shape-only function to a float or int64 value.
macro_rules! on_value {
    ($value:expr, |$a:ident| $body:expr) => {
        match $value {
            Value::F32($a) => Value::F32($body),
            Value::I64($a) => Value::I64($body),
        }
    };
}

fn int_list(value: &Value, what: &str) -> Result<Vec<i64>, OpError> {
    match value {
        Value::I64(a) => Ok(a.iter().copied().collect()),
        Value::F32(_) => Err(OpError::Invalid(format!("{what} must be int64"))),
    }
}

fn present<'a>(inputs: &[Option<&'a Value>], index: usize) -> Result<&'a Value, OpError> {
    inputs.get(index).copied().flatten().ok_or_else(|| OpError::Invalid(format!("input {index} is missing")))
}

pub(super) fn concat(inputs: &[Option<&Value>], axis: i64) -> Result<Value, OpError> {
    let values: Vec<&Value> = inputs.iter().flatten().copied().collect();
    let first = values.first().ok_or("no inputs")?;
    let rank = first.shape().len();
    let axis = normalise_axis(axis, rank)?;
    let mut shape = first.shape().to_vec();
    shape[axis] = 0;
    for v in &values {
        let same_elsewhere = v.shape().len() == rank
            && v.shape().iter().zip(first.shape()).enumerate().all(|(i, (a, b))| i == axis || a == b);
        if !same_elsewhere {
            return Err(OpError::Invalid(format!(
                "shapes {:?} and {:?} differ outside axis {axis}",
                first.shape(),
                v.shape()
            )));
        }
        shape[axis] = shape[axis].checked_add(v.shape()[axis]).ok_or("the concatenation overflows")?;
    }
    check_shape(&shape)?;
    let wrong_type = || OpError::Invalid("the inputs must all be float32 or all int64".into());
    Ok(match first {
        Value::F32(_) => {
            let views = values.iter().map(|v| match v {
                Value::F32(a) => Ok(a.view()),
                Value::I64(_) => Err(wrong_type()),
            });
            Value::F32(
                ndarray::concatenate(Axis(axis), &views.collect::<Result<Vec<_>, _>>()?).map_err(|e| e.to_string())?,
            )
        }
        Value::I64(_) => {
            let views = values.iter().map(|v| match v {
                Value::I64(a) => Ok(a.view()),
                Value::F32(_) => Err(wrong_type()),
            });
            Value::I64(
                ndarray::concatenate(Axis(axis), &views.collect::<Result<Vec<_>, _>>()?).map_err(|e| e.to_string())?,
            )
        }
    })
}

pub(super) fn split(
    inputs: &[Option<&Value>],
    axis: i64,
    split: Option<&[i64]>,
    parts: usize,
) -> Result<Vec<Value>, OpError> {
    let x = present(inputs, 0)?;
    let axis = normalise_axis(axis, x.shape().len())?;
    let length = x.shape()[axis];
    let sizes: Vec<i64> = match (split, inputs.get(1).copied().flatten()) {
        (Some(s), _) => s.to_vec(),
        (None, Some(v)) => int_list(v, "split")?,
        (None, None) if parts > 0 && length.is_multiple_of(parts) => vec![(length / parts) as i64; parts],
        (None, None) => return Err(OpError::Invalid(format!("{length} does not split into {parts} equal parts"))),
    };
    let sizes: Vec<usize> =
        sizes.iter().map(|&s| usize::try_from(s)).collect::<Result<_, _>>().map_err(|_| "negative split")?;
    if sizes.len() != parts || sizes.iter().sum::<usize>() != length {
        return Err(OpError::Invalid(format!("split {sizes:?} does not cut {length} into {parts} parts")));
    }
    let mut start = 0;
    Ok(sizes
        .iter()
        .map(|&size| {
            let range = Slice::from(start..start + size);
            start += size;
            on_value!(x, |a| a.slice_axis(Axis(axis), range).to_owned())
        })
        .collect())
}

pub(super) fn transpose(x: &Value, perm: Option<&[usize]>) -> Result<Value, OpError> {
    let rank = x.shape().len();
    let perm: Vec<usize> = perm.map_or_else(|| (0..rank).rev().collect(), <[usize]>::to_vec);
    let mut sorted = perm.clone();
    sorted.sort_unstable();
    if sorted != (0..rank).collect::<Vec<_>>() {
        return Err(OpError::Invalid(format!("perm {perm:?} is not a permutation of the {rank} axes")));
    }
    Ok(on_value!(x, |a| a.view().permuted_axes(IxDyn(&perm)).as_standard_layout().into_owned()))
}

pub(super) fn squeeze(x: &Value, axes: Option<&[i64]>) -> Result<Value, OpError> {
    let shape = x.shape();
    let drop: Vec<usize> = match axes {
        Some(axes) => axes.iter().map(|&a| normalise_axis(a, shape.len())).collect::<Result<_, _>>()?,
        None => (0..shape.len()).filter(|&i| shape[i] == 1).collect(),
    };
    if let Some(&bad) = drop.iter().find(|&&a| shape[a] != 1) {
        return Err(OpError::Invalid(format!("axis {bad} of {shape:?} is not of size 1")));
    }
    let kept: Vec<usize> = (0..shape.len()).filter(|i| !drop.contains(i)).map(|i| shape[i]).collect();
    super::reshape_value(x, &kept)
}

pub(super) fn unsqueeze(x: &Value, axes: &[i64]) -> Result<Value, OpError> {
    let rank = x.shape().len() + axes.len();
    let mut axes: Vec<usize> = axes.iter().map(|&a| normalise_axis(a, rank)).collect::<Result<_, _>>()?;
    axes.sort_unstable();
    if axes.windows(2).any(|w| w[0] == w[1]) {
        return Err("repeated axes".into());
    }
    let mut old = x.shape().iter();
    let shape: Vec<usize> =
        (0..rank).map(|i| if axes.contains(&i) { 1 } else { old.next().copied().unwrap_or(1) }).collect();
    check_shape(&shape)?;
    super::reshape_value(x, &shape)
}

pub(super) fn shape(x: &Value, start: i64, end: Option<i64>) -> Value {
    let dims = x.shape();
    let rank = dims.len() as i64;
    let clamp = |i: i64| (if i < 0 { i + rank } else { i }).clamp(0, rank) as usize;
    let (from, to) = (clamp(start), clamp(end.unwrap_or(rank)));
    let picked: Vec<i64> = dims[from..to.max(from)].iter().map(|&d| d as i64).collect();
    Value::I64(ArrayD::from_shape_vec(IxDyn(&[picked.len()]), picked).unwrap_or_else(|_| ArrayD::zeros(IxDyn(&[0]))))
}

pub(super) fn gather(data: &Value, indices: &Value, axis: i64) -> Result<Value, OpError> {
    let shape = data.shape();
    let axis = normalise_axis(axis, shape.len())?;
    let Value::I64(indices) = indices else { return Err("indices must be int64".into()) };
    let length = shape[axis] as i64;
    let picked: Vec<usize> = indices
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + length } else { i };
            usize::try_from(j).ok().filter(|&j| (j as i64) < length)
        })
        .collect::<Option<_>>()
        .ok_or_else(|| format!("an index of {indices} is out of range for {length}"))?;
    let mut out_shape: Vec<usize> = shape[..axis].to_vec();
    out_shape.extend(indices.shape());
    out_shape.extend(&shape[axis + 1..]);
    check_shape(&out_shape)?;
    Ok(on_value!(data, |a| {
        let taken = a.select(Axis(axis), &picked);
        taken.into_shape_with_order(IxDyn(&out_shape)).map_err(|e| e.to_string())?
    }))
}

pub(super) fn constant_of_shape(shape: &Value, fill: &Value) -> Result<Value, OpError> {
    let dims: Vec<usize> = int_list(shape, "the shape")?
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<_, _>>()
        .map_err(|_| "negative dimension")?;
    check_shape(&dims)?;
    Ok(match fill {
        Value::F32(v) => Value::F32(ArrayD::from_elem(IxDyn(&dims), v.iter().copied().next().unwrap_or(0.0))),
        Value::I64(v) => Value::I64(ArrayD::from_elem(IxDyn(&dims), v.iter().copied().next().unwrap_or(0))),
    })
}

pub(super) fn slice(inputs: &[Option<&Value>], spec: Option<&SliceSpec>) -> Result<Value, OpError> {
    let x = present(inputs, 0)?;
    let rank = x.shape().len();
    let list = |i: usize| inputs.get(i).copied().flatten().map(|v| int_list(v, "slice bounds")).transpose();
    let (starts, ends, axes, steps) = match spec {
        Some(s) => (s.starts.clone(), s.ends.clone(), s.axes.clone(), None),
        None => (list(1)?.ok_or("starts are required")?, list(2)?.ok_or("ends are required")?, list(3)?, list(4)?),
    };
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err("starts, ends, axes and steps must have the same length".into());
    }
    let mut slices: Vec<Slice> = vec![Slice::from(..); rank];
    for i in 0..starts.len() {
        let axis = normalise_axis(axes[i], rank)?;
        let length = x.shape()[axis] as i64;
        let step = steps[i];
        if step == 0 {
            return Err("a step of 0".into());
        }
        let resolve = |v: i64, low: i64, high: i64| (if v < 0 { v.saturating_add(length) } else { v }).clamp(low, high);
        let (start, end) = if step > 0 {
            (resolve(starts[i], 0, length), resolve(ends[i], 0, length))
        } else {
            (resolve(starts[i], 0, length - 1), resolve(ends[i], -1, length - 1))
        };
        // ndarray slices a range then steps; a negative step walks it from the end.
        slices[axis] = if step > 0 {
            Slice::new(start as isize, Some(end.max(start) as isize), step as isize)
        } else {
            Slice::new((end + 1) as isize, Some((start + 1).max(end + 1) as isize), step as isize)
        };
    }
    Ok(on_value!(x, |a| {
        let mut view = a.view();
        for (axis, s) in slices.iter().enumerate() {
            view.slice_axis_inplace(Axis(axis), *s);
        }
        view.to_owned()
    }))
}

pub(super) fn tile(x: &Value, repeats: &Value) -> Result<Value, OpError> {
    let repeats: Vec<usize> = int_list(repeats, "repeats")?
        .iter()
        .map(|&r| usize::try_from(r))
        .collect::<Result<_, _>>()
        .map_err(|_| "negative repeats")?;
    if repeats.len() != x.shape().len() {
        return Err(OpError::Invalid(format!("{} repeats for rank {}", repeats.len(), x.shape().len())));
    }
    let shape: Vec<usize> = x
        .shape()
        .iter()
        .zip(&repeats)
        .map(|(&d, &r)| d.checked_mul(r))
        .collect::<Option<_>>()
        .ok_or("the tiling overflows")?;
    check_shape(&shape)?;
    let source = x.shape().to_vec();
    let mut index = vec![0usize; source.len()];
    Ok(on_value!(x, |a| ArrayD::from_shape_fn(IxDyn(&shape), |i| {
        for (axis, slot) in index.iter_mut().enumerate() {
            *slot = i[axis] % source[axis];
        }
        a[IxDyn(&index)]
    })))
}

/// The input index output `i` of a resized axis reads (`scale` = output / input).
#[allow(clippy::float_cmp)] // a tie is a coordinate exactly half way
pub(crate) fn nearest(i: usize, scale: f32, input: usize, output: usize, spec: &Resize) -> usize {
    let i = i as f32;
    let coordinate = match spec.coordinates {
        Coordinates::HalfPixel => (i + 0.5) / scale - 0.5,
        Coordinates::PytorchHalfPixel if output > 1 => (i + 0.5) / scale - 0.5,
        Coordinates::Asymmetric => i / scale,
        Coordinates::AlignCorners if output > 1 => i * (input as f32 - 1.0) / (output as f32 - 1.0),
        Coordinates::PytorchHalfPixel | Coordinates::AlignCorners => 0.0,
    };
    let index = match spec.rounding {
        Rounding::Floor => coordinate.floor(),
        Rounding::Ceil => coordinate.ceil(),
        Rounding::RoundPreferFloor if coordinate.fract() == 0.5 => coordinate.floor(),
        Rounding::RoundPreferCeil if coordinate.fract() == 0.5 => coordinate.ceil(),
        Rounding::RoundPreferFloor | Rounding::RoundPreferCeil => coordinate.round(),
    };
    (index.max(0.0) as usize).min(input.saturating_sub(1))
}

pub(super) fn resize(x: &ArrayD<f32>, inputs: &[Option<&Value>], spec: &Resize) -> Result<ArrayD<f32>, OpError> {
    let rank = x.ndim();
    let scales: Option<Vec<f32>> = match (&spec.scales, inputs.get(spec.scales_input).copied().flatten()) {
        (Some(s), _) => Some(s.clone()),
        (None, Some(Value::F32(s))) if !s.is_empty() => Some(s.iter().copied().collect()),
        _ => None,
    };
    let sizes =
        spec.sizes_input.and_then(|i| inputs.get(i).copied().flatten()).map(|v| int_list(v, "sizes")).transpose()?;
    let (shape, scales): (Vec<usize>, Vec<f32>) = match (scales, sizes) {
        (Some(scales), _) if scales.len() == rank => {
            if scales.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
                return Err(OpError::Invalid(format!("scales {scales:?} must be positive")));
            }
            let shape: Vec<f64> =
                x.shape().iter().zip(&scales).map(|(&d, &s)| (d as f64 * f64::from(s)).floor()).collect();
            if shape.iter().any(|&d| d > (1u64 << 40) as f64) {
                return Err(OpError::Invalid(format!("scales {scales:?} make an absurd output")));
            }
            (shape.iter().map(|&d| d as usize).collect(), scales)
        }
        (_, Some(sizes)) if sizes.len() == rank => {
            let shape: Vec<usize> =
                sizes.iter().map(|&d| usize::try_from(d)).collect::<Result<_, _>>().map_err(|_| "negative sizes")?;
            let scales = shape.iter().zip(x.shape()).map(|(&o, &i)| o as f32 / i.max(1) as f32).collect();
            (shape, scales)
        }
        _ => return Err(OpError::Invalid(format!("scales or sizes must have {rank} entries"))),
    };
    check_shape(&shape)?;
    if x.is_empty() && shape.iter().product::<usize>() > 0 {
        return Err("cannot resize an empty tensor".into());
    }
    let maps: Vec<Vec<usize>> = (0..rank)
        .map(|a| (0..shape[a]).map(|i| nearest(i, scales[a], x.shape()[a], shape[a], spec)).collect())
        .collect();
    let mut index = vec![0usize; rank];
    Ok(ArrayD::from_shape_fn(IxDyn(&shape), |i| {
        for (axis, slot) in index.iter_mut().enumerate() {
            *slot = maps[axis][i[axis]];
        }
        x[IxDyn(&index)]
    }))
}
