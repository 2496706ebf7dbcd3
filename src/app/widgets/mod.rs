//! Widgets shared by the views, the lecture and the windows: heat maps with their colour scales,
//! the selectivity histogram, and the system file dialog. They draw what they are given and hold
//! no app state.

pub mod browse;
pub mod heatmap;
pub mod histogram;
