//! `tilelab verify`: N1 and N2 against the direct detectors on random tile sets and datasets.

use anyhow::bail;
use clap::Args;

use crate::core::verify::{self, VerifyReport};

/// Arguments of `tilelab verify`.
#[derive(Args)]
pub struct VerifyArgs {
    /// Seed of the random cases (each case is reproducible from it).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of random tile sets to check.
    #[arg(long, default_value_t = 1000)]
    cases: usize,
    /// Print a summary JSON object as the last line.
    #[arg(long)]
    json: bool,
}

/// Runs the checks; fails (non-zero exit) if any check fails.
pub fn run(args: &VerifyArgs) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    let report = verify::run_all(args.seed, args.cases)?;
    let seconds = start.elapsed().as_secs_f64();
    print_report(&report, seconds);
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    if !report.passed() {
        bail!("verification failed: {}", report.failures.first().map_or("see the report", String::as_str));
    }
    Ok(())
}

fn print_report(report: &VerifyReport, seconds: f64) {
    println!("cases (random tile sets): {}", report.cases);
    println!("images through N1 and N2: {} ({} with a detection)", report.images, report.images_with_detection);
    println!(
        "valid dataset images classified: {} ({} dataset cases skipped)",
        report.valid_images, report.datasets_skipped
    );
    println!("max relative error N1: {:.3e} (limit {:.0e})", report.max_rel_err_n1, verify::TOLERANCE);
    println!("max relative error N2: {:.3e} (limit {:.0e})", report.max_rel_err_n2, verify::TOLERANCE);
    println!("classification errors on valid images: {}", report.errors);
    println!("monosemanticity violations: {}", report.monosemantic_violations);
    for failure in &report.failures {
        println!("  failure: {failure}");
    }
    println!("{} in {seconds:.1} s", if report.passed() { "PASSED" } else { "FAILED" });
}
