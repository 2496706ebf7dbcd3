//! `tilelab verify` (being written).

#[derive(clap::Args)]
pub struct VerifyArgs {}

pub fn run(_args: &VerifyArgs) -> anyhow::Result<()> {
    anyhow::bail!("not written yet")
}
