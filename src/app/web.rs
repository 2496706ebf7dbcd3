//! The web build's entry: the app on the page's `<canvas id="tilelab_canvas">`, its log lines (and
//! the status line's messages) in the browser console, and background jobs advanced between frames.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

use super::{TilelabApp, jobs};
use crate::core::clock::Instant;

/// The id of the canvas `web/index.html` gives the app.
const CANVAS_ID: &str = "tilelab_canvas";
/// Time the jobs get per timer task between frames: short enough that a key or a click waits at
/// most this long, long enough that training runs near the processor's speed.
const IDLE_SLICE: Duration = Duration::from_millis(10);
/// How often the timer looks for work when no job is waiting.
const IDLE_POLL: Duration = Duration::from_millis(50);

/// Starts the app on the page's canvas; a failure goes to the console and replaces the loading text.
pub fn start() {
    let started = Instant::now();
    // A second logger cannot be installed: keep the first.
    let _ = eframe::WebLogger::init(log::LevelFilter::Info);
    advance_jobs_between_frames();
    wasm_bindgen_futures::spawn_local(async move {
        let result = match canvas() {
            Ok(canvas) => {
                eframe::WebRunner::new()
                    .start(
                        canvas,
                        eframe::WebOptions::default(),
                        Box::new(move |cc| {
                            let mut app = TilelabApp::from_creation(cc, started);
                            if let Some(link) = scene_link_in_address() {
                                app.open_scene_link(&cc.egui_ctx, &link);
                            }
                            Ok(Box::new(app))
                        }),
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

/// The frames advance the jobs too (`jobs::advance` in `TilelabApp::frame_ui`), but only for a few
/// milliseconds each: between frames the page would idle. A chain of timer tasks fills that time,
/// one [`IDLE_SLICE`] at a time, yielding to the browser (input, drawing) after each.
fn advance_jobs_between_frames() {
    let Some(window) = web_sys::window() else { return };
    let tick: Rc<RefCell<Option<Closure<dyn FnMut()>>>> = Rc::new(RefCell::new(None));
    let next_tick = Rc::clone(&tick);
    *tick.borrow_mut() = Some(Closure::new(move || {
        let wait = jobs::advance(IDLE_SLICE).unwrap_or(IDLE_POLL).min(IDLE_POLL);
        if let Some(callback) = next_tick.borrow().as_ref() {
            schedule(callback, wait);
        }
    }));
    if let Some(callback) = tick.borrow().as_ref() {
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(callback.as_ref().unchecked_ref(), 0);
    }
    // The closure holds the `Rc` it lives in: the loop lives as long as the page.
}

fn schedule(callback: &Closure<dyn FnMut()>, wait: Duration) {
    if let Some(window) = web_sys::window() {
        let millis = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(callback.as_ref().unchecked_ref(), millis);
    }
}

/// The scene link of `index.html#scene=…`, if the address has one.
fn scene_link_in_address() -> Option<String> {
    let hash = web_sys::window()?.location().hash().ok()?;
    hash.strip_prefix("#scene=").map(str::to_owned)
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
