//! Each operator against its formula written with plain indices, plus the shape rules.

use ndarray::{Array, ArrayD, IxDyn, array};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

fn random(shape: &[usize], rng: &mut ChaCha8Rng) -> ArrayD<f32> {
    Array::from_shape_fn(IxDyn(shape), |_| rng.random_range(-1.0..1.0f32))
}

fn run(op: &Op, inputs: &[&ArrayD<f32>]) -> Result<ArrayD<f32>, OpError> {
    let values: Vec<Value> = inputs.iter().map(|&a| Value::F32(a.clone())).collect();
    let refs: Vec<Option<&Value>> = values.iter().map(Some).collect();
    match op.apply(&refs)? {
        Value::F32(a) => Ok(a),
        Value::I64(_) => Err("int output".into()),
    }
}

fn close(a: &ArrayD<f32>, b: &ArrayD<f32>) -> bool {
    a.shape() == b.shape() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-5 * y.abs().max(1.0))
}

fn window(kernel: [usize; 2], strides: [usize; 2], pads: [usize; 4], dilations: [usize; 2]) -> Window {
    Window {
        kernel: Some(kernel.to_vec()),
        strides: strides.to_vec(),
        pads: pads.to_vec(),
        dilations: dilations.to_vec(),
        same: None,
        ceil_mode: false,
        group: 1,
    }
}

/// The convolution formula: zero padding, stride, dilation.
fn conv_formula(x: &ArrayD<f32>, w: &ArrayD<f32>, b: &ArrayD<f32>, win: &Window) -> ArrayD<f32> {
    let (n, c, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (m, kh, kw) = (w.shape()[0], w.shape()[2], w.shape()[3]);
    let [t, l, bo, r] = [win.pads[0], win.pads[1], win.pads[2], win.pads[3]];
    let oh = (h + t + bo - (kh - 1) * win.dilations[0] - 1) / win.strides[0] + 1;
    let ow = (wd + l + r - (kw - 1) * win.dilations[1] - 1) / win.strides[1] + 1;
    Array::from_shape_fn(IxDyn(&[n, m, oh, ow]), |i| {
        let (bi, o, y, xx) = (i[0], i[1], i[2], i[3]);
        let mut sum = b[[o]];
        for ci in 0..c {
            for a in 0..kh {
                for k in 0..kw {
                    let iy = (y * win.strides[0] + a * win.dilations[0]) as isize - t as isize;
                    let ix = (xx * win.strides[1] + k * win.dilations[1]) as isize - l as isize;
                    if (0..h as isize).contains(&iy) && (0..wd as isize).contains(&ix) {
                        sum += w[[o, ci, a, k]] * x[[bi, ci, iy as usize, ix as usize]];
                    }
                }
            }
        }
        sum
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]
    #[test]
    fn conv_matches_the_formula(seed in 0u64..1000, kh in 1usize..4, kw in 1usize..4, s in 1usize..3, d in 1usize..3, p in 0usize..3) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = random(&[2, 3, 9, 8], &mut rng);
        let w = random(&[4, 3, kh, kw], &mut rng);
        let b = random(&[4], &mut rng);
        let win = window([kh, kw], [s, 1], [p, 0, 1, p], [d, 1]);
        let got = run(&Op::Conv(win.clone()), &[&x, &w, &b]).unwrap();
        prop_assert!(close(&got, &conv_formula(&x, &w, &b, &win)));
    }
}

#[test]
fn pools_match_their_formulas() {
    let x = Array::from_shape_vec(IxDyn(&[1, 1, 3, 4]), (0..12).map(|v| v as f32).collect()).unwrap();
    let max = run(&Op::MaxPool(window([2, 2], [2, 2], [0; 4], [1, 1])), &[&x]).unwrap();
    assert_eq!(max.into_raw_vec_and_offset().0, vec![5.0, 7.0]);
    let mut ceil = window([2, 2], [2, 2], [0; 4], [1, 1]);
    ceil.ceil_mode = true;
    let max = run(&Op::MaxPool(ceil), &[&x]).unwrap();
    assert_eq!(max.into_raw_vec_and_offset().0, vec![5.0, 7.0, 9.0, 11.0]);
    let padded = window([2, 2], [1, 1], [1, 1, 0, 0], [1, 1]);
    let avg = run(&Op::AveragePool { window: padded.clone(), count_include_pad: false }, &[&x]).unwrap();
    assert_eq!(avg[[0, 0, 0, 0]], 0.0, "only the one real pixel counts");
    assert_eq!(avg[[0, 0, 1, 1]], (0.0 + 1.0 + 4.0 + 5.0) / 4.0);
    let avg = run(&Op::AveragePool { window: padded, count_include_pad: true }, &[&x]).unwrap();
    assert_eq!(avg[[0, 0, 0, 1]], (0.0 + 1.0) / 4.0, "padding counts");
    let global = run(&Op::GlobalPool(Reduction::Mean), &[&x]).unwrap();
    assert_eq!((global.shape(), global[[0, 0, 0, 0]]), (&[1, 1, 1, 1][..], 5.5));
    let global = run(&Op::GlobalPool(Reduction::Max), &[&x]).unwrap();
    assert_eq!(global[[0, 0, 0, 0]], 11.0);
    let absurd = window([2, 2], [1, 1], [usize::MAX, 0, usize::MAX, 0], [usize::MAX / 2, 1]);
    assert!(run(&Op::MaxPool(absurd), &[&x]).unwrap_err().to_string().contains("overflows"));
    let too_big = window([5, 1], [1, 1], [0; 4], [1, 1]);
    assert!(run(&Op::MaxPool(too_big), &[&x]).is_err());
}

#[test]
fn same_padding_keeps_the_size_at_stride_one() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x = random(&[1, 1, 5, 6], &mut rng);
    let w = random(&[2, 1, 3, 3], &mut rng);
    let b = random(&[2], &mut rng);
    let mut same = window([3, 3], [1, 1], [0; 4], [1, 1]);
    same.same = Some(true);
    let got = run(&Op::Conv(same), &[&x, &w, &b]).unwrap();
    let explicit = conv_formula(&x, &w, &b, &window([3, 3], [1, 1], [1, 1, 1, 1], [1, 1]));
    assert!(close(&got, &explicit));
}

#[test]
fn reductions_normalisation_and_activations() {
    let x = array![[[1.0f32, -2.0], [3.0, 4.0]]].into_dyn();
    let mean = |axes: Vec<i64>, keepdims| Op::Reduce {
        kind: Reduction::Mean,
        axes: Some(axes),
        keepdims,
        noop_with_empty_axes: false,
    };
    assert_eq!(run(&mean(vec![-1], false), &[&x]).unwrap(), array![[-0.5f32, 3.5]].into_dyn());
    assert_eq!(run(&mean(vec![1, 2], true), &[&x]).unwrap().shape(), &[1, 1, 1]);
    let max = Op::Reduce { kind: Reduction::Max, axes: None, keepdims: false, noop_with_empty_axes: false };
    assert_eq!(run(&max, &[&x]).unwrap(), ArrayD::from_elem(IxDyn(&[]), 4.0));
    let sum = Op::Reduce { kind: Reduction::Sum, axes: None, keepdims: false, noop_with_empty_axes: false };
    let axes = Value::I64(array![1i64].into_dyn());
    let input = Value::F32(x.clone());
    let Value::F32(summed) = sum.apply(&[Some(&input), Some(&axes)]).unwrap() else { panic!() };
    assert_eq!(summed, array![[4.0f32, 2.0]].into_dyn(), "axes from the second input (opset 13+)");
    let bn_x = array![[[[1.0f32]], [[2.0]]]].into_dyn();
    let p = |v: [f32; 2]| ArrayD::from_shape_vec(IxDyn(&[2]), v.to_vec()).unwrap();
    let (scale, bias, mu, var) = (p([2.0, 1.0]), p([0.5, 0.0]), p([1.0, 0.0]), p([3.0, 0.0]));
    let got = run(&Op::BatchNormalization { epsilon: 1.0 }, &[&bn_x, &scale, &bias, &mu, &var]).unwrap();
    assert!(close(&got, &array![[[[0.5f32]], [[2.0]]]].into_dyn()));
    let v = array![-2.0f32, 0.0, 3.0].into_dyn();
    assert_eq!(run(&Op::Relu, &[&v]).unwrap(), array![0.0f32, 0.0, 3.0].into_dyn());
    assert_eq!(run(&Op::LeakyRelu(0.1), &[&v]).unwrap(), array![-0.2f32, 0.0, 3.0].into_dyn());
    assert!(close(&run(&Op::Sigmoid, &[&v]).unwrap(), &v.mapv(|a| 1.0 / (1.0 + (-a).exp()))));
    assert!(close(&run(&Op::Tanh, &[&v]).unwrap(), &v.mapv(f32::tanh)));
    let soft = run(&Op::Softmax { axis: -1, coerce_2d: false }, &[&x]).unwrap();
    let row = [1.0f32.exp(), (-2.0f32).exp()];
    assert!((soft[[0, 0, 0]] - row[0] / (row[0] + row[1])).abs() < 1e-6);
    let legacy = run(&Op::Softmax { axis: 1, coerce_2d: true }, &[&x]).unwrap();
    assert!((legacy.sum() - 1.0).abs() < 1e-6, "opset < 13 normalises over all axes from 1 on");
}

#[test]
fn linear_algebra_and_broadcasting() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let a = random(&[3, 4], &mut rng);
    let b = random(&[5, 4], &mut rng);
    let c = random(&[5], &mut rng);
    let gemm = Op::Gemm { alpha: 2.0, beta: 0.5, trans_a: false, trans_b: true };
    let got = run(&gemm, &[&a, &b, &c]).unwrap();
    let want = Array::from_shape_fn(IxDyn(&[3, 5]), |i| {
        2.0 * (0..4).map(|k| a[[i[0], k]] * b[[i[1], k]]).sum::<f32>() + 0.5 * c[[i[1]]]
    });
    assert!(close(&got, &want));
    let bt = b.t().to_owned().into_dyn();
    let lhs = random(&[2, 3, 4], &mut rng);
    let product = run(&Op::MatMul, &[&lhs, &bt]).unwrap();
    assert_eq!(product.shape(), &[2, 3, 5]);
    assert!((product[[1, 2, 3]] - (0..4).map(|k| lhs[[1, 2, k]] * b[[3, k]]).sum::<f32>()).abs() < 1e-5);
    assert!(run(&Op::MatMul, &[&a, &a]).is_err(), "inner sizes must agree");
    let column = random(&[3, 1], &mut rng);
    let sum = run(&Op::Add, &[&a, &column]).unwrap();
    assert_eq!(sum[[2, 3]], a[[2, 3]] + column[[2, 0]]);
    let product = run(&Op::Mul, &[&random(&[4], &mut rng), &a]).unwrap();
    assert_eq!(product.shape(), &[3, 4]);
    assert!(run(&Op::Add, &[&a, &b]).is_err(), "3×4 and 5×4 do not broadcast");
}

/// A reshape case: target spec, `allowzero`, expected shape (`None` = refused).
type Case<'a> = (&'a [i64], bool, Option<&'a [usize]>);

#[test]
fn shapes_flatten_reshape_and_pad() {
    let x = Array::from_shape_vec(IxDyn(&[2, 3, 2]), (0..12).map(|v| v as f32).collect()).unwrap();
    assert_eq!(run(&Op::Flatten { axis: 1 }, &[&x]).unwrap().shape(), &[2, 6]);
    assert_eq!(run(&Op::Flatten { axis: -1 }, &[&x]).unwrap().shape(), &[6, 2]);
    assert_eq!(run(&Op::Flatten { axis: 0 }, &[&x]).unwrap().shape(), &[1, 12]);
    let cases: [Case; 6] = [
        (&[0, -1], false, Some(&[2, 6])),
        (&[-1], false, Some(&[12])),
        (&[3, 4], false, Some(&[3, 4])),
        (&[-1, -1], false, None),
        (&[5, -1], false, None),
        (&[0, 12], true, None),
    ];
    for (spec, allowzero, want) in cases {
        assert_eq!(reshape_target(x.shape(), spec, allowzero).ok().as_deref(), want, "{spec:?}");
    }
    let pads = Value::I64(array![0i64, 1, 0, 0, 2, 1].into_dyn());
    let input = Value::F32(x.clone());
    let Value::F32(padded) =
        Op::Pad { pads: None, value: 0.0, mode: PadMode::Constant }.apply(&[Some(&input), Some(&pads)]).unwrap()
    else {
        panic!()
    };
    assert_eq!(padded.shape(), &[2, 6, 3]);
    assert_eq!(padded[[1, 1, 0]], x[[1, 0, 0]]);
    assert_eq!(padded[[1, 0, 0]], 0.0);
    let negative = Value::I64(array![0i64, -1, 0, 0, 0, 0].into_dyn());
    assert!(
        Op::Pad { pads: None, value: 0.0, mode: PadMode::Constant }.apply(&[Some(&input), Some(&negative)]).is_err()
    );
}

#[test]
fn huge_outputs_are_refused_before_allocation() {
    assert!(check_shape(&[1 << 14, 1 << 14]).is_err());
    assert!(check_shape(&[usize::MAX, 2]).is_err());
    assert!(check_shape(&[1; 9]).is_err(), "rank limit");
    assert!(check_work(&[1 << 20, 1 << 20, 8]).is_err() && check_work(&[1 << 10, 1 << 10]).is_ok());
    let x = ArrayD::<f32>::zeros(IxDyn(&[1, 1, 2, 2]));
    let pads = Value::I64(array![0i64, 0, 0, 0, 0, 0, 100_000, 100_000].into_dyn());
    let input = Value::F32(x);
    assert!(Op::Pad { pads: None, value: 0.0, mode: PadMode::Constant }.apply(&[Some(&input), Some(&pads)]).is_err());
}

#[test]
fn unsupported_attributes_and_operators_are_named() {
    let group = AttributeProto { name: Some("group".into()), i: Some(0), ..AttributeProto::default() };
    let parse_error = |op: &str, attributes: &[AttributeProto]| Op::parse(op, &Attributes(attributes), 17).unwrap_err();
    let conv = parse_error("Conv", &[group]);
    assert!(matches!(&conv, OpError::Invalid(m) if m.contains("group 0")), "{conv:?}");
    let gather = parse_error("GatherND", &[]);
    assert!(matches!(&gather, OpError::Unsupported(m) if m.contains("'GatherND'")), "{gather:?}");
    let mode = AttributeProto { name: Some("mode".into()), s: Some(b"wrap".to_vec()), ..AttributeProto::default() };
    assert!(matches!(parse_error("Pad", &[mode]), OpError::Unsupported(m) if m.contains("wrap")));
    assert!(matches!(parse_error("MaxPool", &[]), OpError::Invalid(m) if m.contains("kernel_shape")));
}

/// Distinct values at least 0.021 apart, none within 0.0105 of 0 or of a multiple of 0.021 (the
/// `Clip` bounds below): a finite-difference step of 0.01 crosses no kink and changes no maximum.
fn spaced(shape: &[usize], rng: &mut ChaCha8Rng) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    let mut levels: Vec<f32> = (0..n).map(|k| (k as f32 - (n / 2) as f32) * 0.021 + 0.0105).collect();
    for i in (1..n).rev() {
        levels.swap(i, rng.random_range(0..=i));
    }
    ArrayD::from_shape_vec(IxDyn(shape), levels).unwrap()
}

/// `Σ r ⊙ op(inputs)`, accumulated in f64.
fn weighted_output(op: &Op, inputs: &[Value], r: &ArrayD<f32>) -> f64 {
    let refs: Vec<Option<&Value>> = inputs.iter().map(Some).collect();
    let Ok(Value::F32(out)) = op.apply(&refs) else { panic!("{op:?} fails on its own inputs") };
    out.iter().zip(r).map(|(&y, &w)| f64::from(y) * f64::from(w)).sum()
}

/// Each wanted input's gradient from [`Op::backward`] against central differences of
/// `Σ r ⊙ op(inputs)` for a random `r` (so every output's gradient is exercised at once).
fn check_backward(op: &Op, inputs: &[Value], wanted: &[bool]) {
    let refs: Vec<Option<&Value>> = inputs.iter().map(Some).collect();
    let Ok(Value::F32(output)) = op.apply(&refs) else { panic!("{op:?} fails on its own inputs") };
    let r = random(output.shape(), &mut ChaCha8Rng::seed_from_u64(99));
    let operands: Vec<Option<Operand>> = inputs.iter().map(|v| Some(Operand::from(v))).collect();
    let grads = op.backward(&operands, &output, &r, wanted).unwrap();
    let h = 1e-2;
    for (index, &want) in wanted.iter().enumerate() {
        let Some(analytic) = grads[index].as_ref().filter(|_| want) else {
            assert!(!want, "{op:?}: no gradient for input {index}");
            continue;
        };
        let Value::F32(x) = &inputs[index] else { panic!("input {index} is not float") };
        assert_eq!(analytic.shape(), x.shape(), "{op:?} input {index}");
        for (i, &a) in analytic.iter().enumerate() {
            let moved = |delta: f32| {
                let mut moved = inputs.to_vec();
                if let Value::F32(m) = &mut moved[index] {
                    *m.iter_mut().nth(i).unwrap() += delta;
                }
                weighted_output(op, &moved, &r)
            };
            let numeric = ((moved(h) - moved(-h)) / (2.0 * f64::from(h))) as f32;
            assert!(
                (a - numeric).abs() <= 3e-3 * numeric.abs().max(1.0),
                "{op:?} input {index} entry {i}: {a} vs {numeric}"
            );
        }
    }
}

#[test]
fn every_backward_pass_matches_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut f = |shape: &[usize]| Value::F32(spaced(shape, &mut rng));
    let ints = |v: &[i64]| Value::I64(ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.to_vec()).unwrap());
    let grouped = |group: usize, kernel: [usize; 2]| Window { group, ..window(kernel, [1, 1], [1, 1, 0, 1], [1, 1]) };
    let pooling = |kernel: [usize; 2], strides: [usize; 2], pads: [usize; 4]| window(kernel, strides, pads, [1, 1]);
    let positive_variance = Value::F32(ArrayD::from_shape_vec(IxDyn(&[3]), vec![0.5, 1.5, 2.0]).unwrap());
    let one_d =
        Window { kernel: Some(vec![3]), strides: vec![2], pads: vec![1, 0], dilations: vec![1], ..Window::default() };
    let cases: Vec<(Op, Vec<Value>, Vec<bool>)> = vec![
        (
            Op::Conv(window([3, 2], [2, 1], [1, 0, 1, 1], [1, 2])),
            vec![f(&[2, 3, 7, 6]), f(&[4, 3, 3, 2]), f(&[4])],
            vec![true, false, false],
        ),
        (Op::Conv(grouped(2, [3, 3])), vec![f(&[1, 4, 6, 6]), f(&[6, 2, 3, 3])], vec![true, false]),
        (Op::Conv(grouped(3, [2, 3])), vec![f(&[1, 3, 5, 5]), f(&[3, 1, 2, 3])], vec![true, false]),
        (Op::Conv(Window { group: 1, ..one_d }), vec![f(&[1, 2, 9]), f(&[3, 2, 3])], vec![true, false]),
        (Op::Relu, vec![f(&[2, 3, 4])], vec![true]),
        (Op::LeakyRelu(0.1), vec![f(&[2, 3, 4])], vec![true]),
        (Op::Sigmoid, vec![f(&[2, 5])], vec![true]),
        (Op::Tanh, vec![f(&[2, 5])], vec![true]),
        (Op::Clip { min: Some(-0.315), max: Some(0.42) }, vec![f(&[4, 9])], vec![true]),
        (Op::Identity, vec![f(&[3, 2])], vec![true]),
        (Op::MaxPool(pooling([2, 2], [2, 2], [0; 4])), vec![f(&[1, 2, 6, 5])], vec![true]),
        (Op::MaxPool(pooling([3, 3], [2, 2], [1, 1, 1, 1])), vec![f(&[1, 2, 6, 5])], vec![true]),
        (
            Op::AveragePool { window: pooling([3, 2], [2, 1], [1, 0, 1, 1]), count_include_pad: true },
            vec![f(&[2, 2, 5, 4])],
            vec![true],
        ),
        (
            Op::AveragePool { window: pooling([3, 2], [2, 1], [1, 0, 1, 1]), count_include_pad: false },
            vec![f(&[2, 2, 5, 4])],
            vec![true],
        ),
        (Op::GlobalPool(Reduction::Mean), vec![f(&[2, 3, 4, 3])], vec![true]),
        (Op::GlobalPool(Reduction::Max), vec![f(&[2, 3, 4, 3])], vec![true]),
        (
            Op::BatchNormalization { epsilon: 1e-5 },
            vec![f(&[2, 3, 4, 4]), f(&[3]), f(&[3]), f(&[3]), positive_variance],
            vec![true, false, false, false, false],
        ),
        (Op::Flatten { axis: 1 }, vec![f(&[2, 3, 2, 2])], vec![true]),
        (Op::Reshape { allowzero: false }, vec![f(&[2, 6]), ints(&[3, -1])], vec![true, false]),
        (Op::Squeeze { axes: Some(vec![1]) }, vec![f(&[3, 1, 4])], vec![true]),
        (Op::Unsqueeze { axes: Some(vec![0, 3]) }, vec![f(&[3, 4])], vec![true]),
        (Op::Transpose { perm: Some(vec![2, 0, 1]) }, vec![f(&[2, 3, 4])], vec![true]),
        (
            Op::Gemm { alpha: 0.7, beta: 1.3, trans_a: false, trans_b: true },
            vec![f(&[2, 5]), f(&[3, 5]), f(&[3])],
            vec![true, false, false],
        ),
        (
            Op::Gemm { alpha: 1.0, beta: 1.0, trans_a: true, trans_b: false },
            vec![f(&[5, 2]), f(&[5, 3])],
            vec![true, false],
        ),
        (Op::MatMul, vec![f(&[1, 2, 5]), f(&[5, 3])], vec![true, false]),
        (Op::Add, vec![f(&[2, 3, 4]), f(&[3, 1])], vec![true, true]),
        (Op::Binary(Binary::Sub), vec![f(&[2, 3, 4]), f(&[4])], vec![true, true]),
        (Op::Mul, vec![f(&[2, 1, 4]), f(&[2, 3, 1])], vec![true, true]),
        (Op::Mul, vec![f(&[1, 2, 3, 3]), f(&[1, 2, 3, 3])], vec![true, false]),
        (Op::Concat { axis: 1 }, vec![f(&[2, 1, 3]), f(&[2, 3, 3]), f(&[2, 2, 3])], vec![true, false, true]),
        (
            Op::Pad { pads: None, value: 0.0, mode: PadMode::Constant },
            vec![f(&[1, 2, 3, 4]), ints(&[0, 0, 1, 0, 0, 0, 2, 3])],
            vec![true, false],
        ),
        (
            Op::Reduce { kind: Reduction::Sum, axes: None, keepdims: false, noop_with_empty_axes: false },
            vec![f(&[1, 3, 2, 4]), ints(&[2, 3])],
            vec![true, false],
        ),
        (
            Op::Reduce { kind: Reduction::Mean, axes: Some(vec![1]), keepdims: true, noop_with_empty_axes: false },
            vec![f(&[2, 3, 4])],
            vec![true],
        ),
    ];
    for (op, inputs, wanted) in &cases {
        check_backward(op, inputs, wanted);
    }
}

#[test]
fn backward_refuses_what_it_cannot_differentiate() {
    let x = ArrayD::<f32>::zeros(IxDyn(&[1, 1, 3, 3]));
    let w = ArrayD::<f32>::ones(IxDyn(&[1, 1, 2, 2]));
    let conv = Op::Conv(window([2, 2], [1, 1], [0; 4], [1, 1]));
    let grad = ArrayD::<f32>::ones(IxDyn(&[1, 1, 2, 2]));
    let operands = [Some(Operand::F32(&x)), Some(Operand::F32(&w))];
    let refused = conv.backward(&operands, &grad, &grad, &[false, true]);
    assert!(matches!(refused, Err(OpError::Unsupported(_))), "a convolution's weight: {refused:?}");
    let softmax = Op::Softmax { axis: 1, coerce_2d: false };
    assert!(!softmax.differentiates(0));
    let refused = softmax.backward(&[Some(Operand::F32(&x))], &x, &x, &[true]);
    assert!(matches!(refused, Err(OpError::Unsupported(_))));
    let wrong = Op::Relu.backward(&[Some(Operand::F32(&x))], &x, &grad, &[true]);
    assert!(matches!(wrong, Err(OpError::Invalid(_))), "a gradient of the wrong shape");
}
