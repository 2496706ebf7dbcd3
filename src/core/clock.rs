//! The monotonic clock every timing in the library and the app reads: `std::time::Instant` on a
//! desktop; in the browser (where std's clock panics) the page's `performance.now()`.

#[cfg(not(target_arch = "wasm32"))]
pub use std::time::Instant;
#[cfg(target_arch = "wasm32")]
pub use web_time::Instant;
