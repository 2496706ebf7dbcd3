//! The web build's entry: the app on the page's `<canvas id="tilelab_canvas">`, its log lines (and
//! the status line's messages) in the browser console, and background jobs advanced between frames
//! (the frames themselves never run them).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

use super::{TilelabApp, jobs};
use crate::core::clock::Instant;

/// The id of the canvas `web/index.html` gives the app.
const CANVAS_ID: &str = "tilelab_canvas";
/// Time the jobs get per task between frames: short enough that a key or a click waits at most
/// this long, long enough that training runs near the processor's speed.
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

/// Background jobs run here, between frames: a chain of tasks, each advancing the jobs for one
/// [`IDLE_SLICE`] and then yielding to the browser (input, drawing). A job that wants more at once
/// (training) is continued through a message to the page's own port, which the browser runs as
/// soon as it has nothing more urgent; `setTimeout` would add its 4 ms minimum delay to every
/// slice. A job that waits is continued by a timer.
fn advance_jobs_between_frames() {
    let Ok(channel) = web_sys::MessageChannel::new() else { return };
    let port = channel.port2();
    let tick: Rc<RefCell<Option<Closure<dyn FnMut()>>>> = Rc::new(RefCell::new(None));
    let next_tick = Rc::clone(&tick);
    *tick.borrow_mut() = Some(Closure::new(move || match jobs::advance(IDLE_SLICE) {
        Some(wait) if wait.is_zero() => {
            let _ = port.post_message(&wasm_bindgen::JsValue::NULL);
        }
        wait => {
            if let Some(callback) = next_tick.borrow().as_ref() {
                schedule(callback, wait.unwrap_or(IDLE_POLL).min(IDLE_POLL));
            }
        }
    }));
    if let Some(callback) = tick.borrow().as_ref() {
        channel.port1().set_onmessage(Some(callback.as_ref().unchecked_ref()));
        schedule(callback, Duration::ZERO);
    }
    // The closure holds the `Rc` it lives in: the loop lives as long as the page.
}

fn schedule(callback: &Closure<dyn FnMut()>, wait: Duration) {
    if let Some(window) = web_sys::window() {
        let millis = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(callback.as_ref().unchecked_ref(), millis);
    }
}

/// The page's address (without its `#…` part) ending in `#scene=link`: what "Copy link to this
/// scene" copies on the web.
pub fn scene_address(link: &str) -> String {
    let location = web_sys::window().map(|w| w.location());
    let page = location.and_then(|l| Some(format!("{}{}", l.origin().ok()?, l.pathname().ok()?))).unwrap_or_default();
    format!("{page}{}{link}", crate::core::scene::URL_FRAGMENT)
}

/// View → Full screen: asks the browser to show the page full screen, or to leave it (eframe's
/// web runner does not act on the viewport's full-screen command).
pub fn toggle_full_screen(_ctx: &egui::Context) {
    let Some(document) = document() else { return };
    if document.fullscreen_element().is_some() {
        document.exit_fullscreen();
    } else if let Some(page) = document.document_element() {
        // Refused without a recent click (the menu item is one) or where full screen is not allowed.
        let _ = page.request_fullscreen();
    }
}

/// The scene link of `index.html#scene=…`, if the address has one.
fn scene_link_in_address() -> Option<String> {
    let hash = web_sys::window()?.location().hash().ok()?;
    hash.strip_prefix(crate::core::scene::URL_FRAGMENT).map(str::to_owned)
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
