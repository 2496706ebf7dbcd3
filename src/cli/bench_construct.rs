//! Benchmark (being written).

pub fn run(_repeats: usize, _json: bool) -> anyhow::Result<()> {
    anyhow::bail!("not written yet")
}
