//! tilelab: why convolutional networks are good at feature extraction, made visible.
//!
//! # Bird's-eye view
//! A user makes **feature tiles** (a small grey matrix `t`, a support mask `S`, a tolerance ε),
//! groups them into classes, and pastes them onto random backgrounds to make a *valid* dataset (each
//! image holds exactly one class's object). Two kinds of CNN then classify the images:
//! the **constructed** networks N1 and N2, whose weights come from the proof (every hidden neuron
//! fires only when one tile sits in one window), and a CNN **trained with SGD**. The app draws both,
//! neuron by neuron; the CLI reproduces the paper's experiments headlessly.
//!
//! # Code map
//! - [`core`]: the mathematics, no UI (a test keeps egui out of it).
//!   - `core::tile`: `Tile`, `Feature`, `Object`, `ClassSet` and their validation.
//!   - `core::detect`: `d_T`, `φ_T`, `φ_F`, `φ_O`, argmax — the reference every network must equal.
//!   - `core::dataset`: backgrounds, pasting, valid-set rejection; `core::presets`: embedded tile sets.
//!   - `core::idx`, `core::tileset_file`, `core::grey_image`: the file formats in;
//!     `core::bounded_read`: every read of a user's file is size-capped; `core::atomic`: every write.
//!   - `core::nn::sparse`: the layer stack the constructed networks run on (every activation kept, or
//!     streamed over strips of rows: the logits, the last layers, windows of layers for drawing).
//!   - `core::construct::{n1, n2, min_tree}`: the proof's weights, read like CONSTRUCTION.md §4–5;
//!     `core::construct::Which` names one of the two networks.
//!   - `core::nn::{dense, cnn, kernels, train}`: the generic dense engine, the trainable CNN, its fused
//!     SIMD training step and the SGD stepper; `core::nn::weights_file`: saved weights.
//!   - `core::nn::{arch, deep, deep_train, deep_weights}`: trainable CNNs of any depth (conv blocks
//!     with stride, dilation, max-pool; a hidden FC layer), validated before allocation, trained on
//!     im2col + SIMD matrix products with SGD + momentum, saved as JSON; the `paper` and `deep` presets.
//!   - `core::experiments`: the paper's toy, Fashion-MNIST and Figure 4 experiments, and `depth`
//!     (shallow against deep, layer by layer, beside N2);
//!     `figure4_analysis` reads a Figure 4 study (where N1 breaks, the ε sweep, histogram bins).
//!   - `core::selectivity`: how many classes make a hidden unit fire (mono- vs polysemantic).
//!   - `core::plot`, `core::figures`: headless PNG/SVG figures.
//!   - `core::export`: CSV and NPY, and one module per thing the File menu and `tilelab export` /
//!     `tilelab activations` both write (`activations`, `sparse_json`, `weights_npy`, `tables`).
//!   - `core::interop`: ONNX and safetensors out (`graph` and `safetensors` share `tensor`, neither
//!     imports the other), ONNX in (`onnx_import`, `ops`), NumPy datasets.
//!   - `core::verify`: the random checks behind `tilelab verify`.
//!   - `core::scene`: scenes, one `.tilelab` file or link holding a whole experiment (`file`,
//!     `link`), and what a scene computes headless (`compute`) for `tilelab figures --scene` and
//!     friends; `app::scenes` captures and applies them in the app, `app::scene_jobs` reads and
//!     writes them on the job runner.
//! - [`cli`]: one file per subcommand (`network.rs`: the `--net n1|n2|trained` both `export` and
//!   `activations` take); `tilelab` without one opens the app.
//! - `app` (feature `gui`): the egui application, in layers (see `app`'s module doc). At the bottom
//!   `app::ids`, `app::settings`, `app::theme`, `app::widgets` (heat maps, histograms, file dialog),
//!   `app::jobs` (the one background runner, one-shot or steppable work, keyed results; a thread
//!   per job in `jobs/native.rs`, time slices on the UI thread in `jobs/sliced.rs` for the web),
//!   `app::training_job` (the SGD run, a steppable job of the runner) and `app::export_job` (what
//!   an export writes, headless), `app::cache` (the dataset, N1/N2, their forward passes, windows
//!   of their layers on large images, the Figure 4 study and the gallery's images, shared by the
//!   views and the lecture, and every one-shot job a command starts), `app::command` and
//!   `app::state`; above them one file per view
//!   under `app/views/`, the lecture under `app/lecture/`, the File → Export menu. Views read
//!   `&AppState` and push commands; `TilelabApp` owns the texture cache and the frame's commands
//!   and applies them once per frame (`app/run.rs`).
//!
//! # Invariants
//! - N1(x) and N2(x) equal the direct `φ_O(x)` for every class (relative error ≤ 1e-4 in f32).
//! - A generated dataset is valid: every sample holds its own object and no other.
//! - The UI thread never trains or evaluates large batches; it reads the newest snapshot.
//! - Files are written atomically (temporary file, fsync, rename); loaders never panic on input.
//! - The core returns typed errors (`thiserror`), never `Result<_, String>`; the CLI and the app
//!   turn them into one message. Modules of `core` import each other without a circle.
//! - In `app`, no module imports one above it (the layers in `app`'s module doc; `tests/tidy.rs`).

#[cfg(feature = "gui")]
pub mod app;
// The command line needs a process, files and a terminal: not in the web build.
#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
pub mod core;
