//! `tilelab bench`: release-mode timings of the detectors, the constructed networks and training.

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
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    if matches!(args.target, BenchTarget::Construct | BenchTarget::All) {
        super::bench_construct::run(args.repeats, args.json)?;
    }
    if matches!(args.target, BenchTarget::Train | BenchTarget::All) {
        super::bench_train::run(args.repeats, args.json, args.arch, args.against_pytorch)?;
    }
    if args.target == BenchTarget::Scatter {
        super::bench_scatter::run(args.repeats, args.json)?;
    }
    Ok(())
}
