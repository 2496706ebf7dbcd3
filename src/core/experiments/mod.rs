//! The paper's experiments, headless: shared by the CLI and the app.
