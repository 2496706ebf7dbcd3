//! `tilelab reproduce` (being written).

#[derive(clap::Args)]
pub struct ReproduceArgs {}

pub fn run(_args: &ReproduceArgs) -> anyhow::Result<()> {
    anyhow::bail!("not written yet")
}
