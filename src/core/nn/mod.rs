//! Neural-network engines: the generic dense engine (also trains the SGD net) and the sparse one.
pub mod cnn;
pub mod dense;
pub mod kernels;
pub mod sparse;
pub mod train;
pub mod weights_file;
