//! Neural-network engines: the generic dense engine (also trains the SGD net) and the sparse one.
