//! `tilelab logits` (being written).

#[derive(clap::Args)]
pub struct LogitsArgs {}

pub fn run(_args: &LogitsArgs) -> anyhow::Result<()> {
    anyhow::bail!("not written yet")
}
