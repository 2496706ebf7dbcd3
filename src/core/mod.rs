//! The mathematics of tilelab: tiles, detectors, datasets, networks and training. Never imports the UI.

pub mod atomic;
pub mod bounded_read;
pub mod clock;
pub mod construct;
pub mod dataset;
pub mod deform;
pub mod detect;
pub mod experiments;
pub mod export;
pub mod figures;
pub mod grey_image;
pub mod idx;
pub mod interop;
pub mod interpret;
pub mod nn;
pub mod plot;
pub mod presets;
pub mod scattering;
pub mod scene;
pub mod selectivity;
pub mod tile;
pub mod tileset_file;
pub mod verify;
