//! The web build's entry: the app on the page's `<canvas id="tilelab_canvas">`, its log lines (and
//! the status line's messages) in the browser console.

use wasm_bindgen::JsCast;

use super::TilelabApp;
use crate::core::clock::Instant;

/// The id of the canvas `web/index.html` gives the app.
const CANVAS_ID: &str = "tilelab_canvas";

/// Starts the app on the page's canvas; a failure goes to the console and replaces the loading text.
pub fn start() {
    let started = Instant::now();
    // A second logger cannot be installed: keep the first.
    let _ = eframe::WebLogger::init(log::LevelFilter::Info);
    wasm_bindgen_futures::spawn_local(async move {
        let result = match canvas() {
            Ok(canvas) => {
                eframe::WebRunner::new()
                    .start(
                        canvas,
                        eframe::WebOptions::default(),
                        Box::new(move |cc| Ok(Box::new(TilelabApp::from_creation(cc, started)))),
                    )
                    .await
            }
            Err(error) => Err(error.into()),
        };
        match result {
            Ok(()) => remove_loading_text(),
            Err(error) => {
                log::error!("tilelab could not start: {error:?}");
                show_loading_text(&format!("tilelab could not start: {error:?}"));
            }
        }
    });
}

fn document() -> Option<web_sys::Document> {
    web_sys::window()?.document()
}

fn canvas() -> Result<web_sys::HtmlCanvasElement, String> {
    document()
        .and_then(|d| d.get_element_by_id(CANVAS_ID))
        .and_then(|e| e.dyn_into::<web_sys::HtmlCanvasElement>().ok())
        .ok_or_else(|| format!("the page has no <canvas id=\"{CANVAS_ID}\">"))
}

fn remove_loading_text() {
    if let Some(text) = document().and_then(|d| d.get_element_by_id("loading_text")) {
        text.remove();
    }
}

fn show_loading_text(message: &str) {
    if let Some(text) = document().and_then(|d| d.get_element_by_id("loading_text")) {
        text.set_text_content(Some(message));
    }
}
