//! Widgets shared by the views, the lecture and the windows: heat maps with their colour scales,
//! the selectivity histogram, the system file dialog, the training speed control, plot legends, typed paths, and
//! number fields that apply typed values on Enter, and the scattering network's wavelets and maps. They draw what they are given and hold no app state.

pub mod browse;
pub mod heatmap;
pub mod histogram;
pub mod legend;
pub mod number;
pub mod path_field;
pub mod scattering;
pub mod speed;
