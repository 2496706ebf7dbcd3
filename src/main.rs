//! The `tilelab` binary: the command line (which opens the app without a subcommand) on a desktop,
//! the app on the page's canvas in the web build.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    tilelab::cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {
    tilelab::app::web::start();
}
