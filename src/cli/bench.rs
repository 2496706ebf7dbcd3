//! `tilelab bench`: release-mode timings of the detectors, the constructed networks and training.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// What to benchmark.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchTarget {
    /// Direct φ, N1 and N2 in the Fashion setting.
    Construct,
    /// SGD training of the paper's Fashion network.
    Train,
    /// The scattering network on 40×40 images, beside Kymatio when it is installed.
    Scatter,
    /// Preferred stimuli and integrated gradients on N1, N2 and the paper's CNN.
    Interpret,
    /// The forward pass of ONNX models (the light ResNet-50 and the Fashion CNN, or `--model`)
    /// beside ONNX Runtime when it is installed.
    Import,
    /// Construct and train (scatter runs alone: it may call Kymatio).
    All,
}

#[derive(Args)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum, default_value = "all")]
    target: BenchTarget,
    /// Repetitions; the median is reported.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Print one JSON object per benchmark.
    #[arg(long)]
    json: bool,
    /// The trained network of `bench train`.
    #[arg(long, value_enum, default_value = "paper")]
    arch: super::reproduce::ArchArg,
    /// `bench train`: follow each run by the same run in PyTorch and print the ratio of medians.
    #[arg(long)]
    against_pytorch: bool,
    /// With `construct`: how N1 and N2 grow with the image side and the number of tiles
    /// (parameters, build time, time per image, peak memory) and a log-log figure.
    #[arg(long)]
    scaling: bool,
    /// Folder the `--scaling` figure (scaling.png, scaling.svg) is written to (created if
    /// missing); without it no figure is written.
    #[arg(long)]
    out: Option<PathBuf>,
    /// With `import`: a model to time instead of the defaults (repeatable).
    #[arg(long = "model")]
    models: Vec<PathBuf>,
    /// One case of `--scaling`, `N1|N2:TILES:SIDE`, measured in a process of its own.
    #[arg(long, hide = true)]
    scaling_case: Option<String>,
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    if let Some(case) = &args.scaling_case {
        return super::bench_scaling::run_case(case);
    }
    if args.scaling {
        if args.target != BenchTarget::Construct {
            anyhow::bail!("--scaling measures the constructed networks: use `tilelab bench construct --scaling`");
        }
        return super::bench_scaling::run(args.json, args.out.as_deref());
    }
    if matches!(args.target, BenchTarget::Construct | BenchTarget::All) {
        super::bench_construct::run(args.repeats, args.json)?;
    }
    if matches!(args.target, BenchTarget::Train | BenchTarget::All) {
        super::bench_train::run(args.repeats, args.json, args.arch, args.against_pytorch)?;
    }
    if args.target == BenchTarget::Interpret {
        super::bench_interpret::run(args.repeats, args.json)?;
    }
    if args.target == BenchTarget::Import {
        super::bench_import::run(args.repeats, args.json, &args.models)?;
    }
    if args.target == BenchTarget::Scatter {
        super::bench_scatter::run(args.repeats, args.json)?;
    }
    Ok(())
}
