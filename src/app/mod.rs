//! The egui application.

/// Opens the desktop window.
pub fn run() -> anyhow::Result<()> {
    anyhow::bail!("the app is being built")
}
