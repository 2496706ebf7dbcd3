//! Neural-network engines: the generic dense engine (also trains the SGD net) and the sparse one.
pub mod arch;
pub mod cnn;
pub mod deep;
pub mod deep_train;
pub mod deep_weights;
pub mod dense;
pub mod kernels;
pub mod layers;
pub mod n2_shaped;
pub mod sparse;
pub mod train;
pub mod weights_file;
