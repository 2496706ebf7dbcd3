//! tilelab: why convolutional networks are good at feature extraction, made visible.
#[cfg(feature = "gui")]
pub mod app;
pub mod cli;
pub mod core;
