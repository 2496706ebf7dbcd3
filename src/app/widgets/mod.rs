//! Widgets shared by the views, the lecture and the windows: heat maps with their colour scales,
//! the selectivity histogram, the system file dialog, the training speed control, plot legends, typed paths, and
//! number fields that apply typed values on Enter, the scattering network's wavelets and maps, and
//! what a unit wants to see (`stimulus`). They draw what they are given and hold no app state.

pub mod browse;
pub mod heatmap;
pub mod histogram;
pub mod legend;
pub mod number;
pub mod path_field;
pub mod scattering;
pub mod speed;
pub mod stimulus;
