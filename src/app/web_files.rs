//! Files in the web build: the browser's file picker gives a file's name and bytes (a page sees
//! no paths), and a download stands in for writing a file. A picked file arrives at the app's
//! next frame ([`take_picked`]); one larger than the browser can be asked to hold is refused with
//! a message before it is read.

use std::cell::RefCell;

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

use super::command::PickedFile;
use super::ids::PathPurpose;

/// Most bytes a picked file may have: the desktop's limit for scenes, tile sets and images; a
/// page holds the file and what is made of it in a 32-bit memory.
const MAX_PICKED_BYTES: f64 = 64.0 * MEGABYTE;
/// Most bytes of a picked ONNX model (the desktop's limit: `onnx_import::MAX_MODEL_BYTES`).
const MAX_PICKED_MODEL_BYTES: f64 = 256.0 * MEGABYTE;
/// Bytes per MB in the messages (as the desktop's limits count them).
const MEGABYTE: f64 = 1024.0 * 1024.0;
/// How long a download's object URL is kept before it is released.
const DOWNLOAD_URL_LIFETIME_MS: i32 = 60_000;

/// Files the user picked: what for, and each one's name and contents.
pub struct Picked {
    pub purpose: PathPurpose,
    pub files: Vec<PickedFile>,
}

thread_local! {
    /// Picked files (or why one could not be read), waiting for the app's next frame.
    static PICKED: RefCell<Vec<Result<Picked, String>>> = const { RefCell::new(Vec::new()) };
}

/// The files picked since the last call (or why they could not be read).
pub fn take_picked() -> Vec<Result<Picked, String>> {
    PICKED.with(|picked| std::mem::take(&mut *picked.borrow_mut()))
}

/// Opens the browser's file picker for `purpose` (its file types; for IDX files the images and
/// their labels together); the files arrive through [`take_picked`] once read, nothing when the
/// user cancels.
pub fn pick(ctx: &egui::Context, purpose: PathPurpose) -> Result<(), String> {
    let input = document()?
        .create_element("input")
        .ok()
        .and_then(|element| element.dyn_into::<web_sys::HtmlInputElement>().ok())
        .ok_or("the page cannot make a file picker")?;
    input.set_type("file");
    input.set_multiple(purpose == PathPurpose::OpenIdx);
    let (_, extensions) = purpose.filter();
    input.set_accept(&extensions.iter().map(|e| format!(".{e}")).collect::<Vec<_>>().join(","));
    let chosen = input.clone();
    let ctx = ctx.clone();
    let on_change = Closure::once_into_js(move || {
        let Some(list) = chosen.files() else { return };
        let files: Vec<web_sys::File> = (0..list.length()).filter_map(|i| list.get(i)).collect();
        if files.is_empty() {
            return;
        }
        wasm_bindgen_futures::spawn_local(async move {
            let picked = read_all(purpose, files).await;
            PICKED.with(|list| list.borrow_mut().push(picked));
            ctx.request_repaint();
        });
    });
    input.set_onchange(Some(on_change.unchecked_ref()));
    input.click();
    Ok(())
}

/// Every picked file's contents; the first that cannot be read stops the rest.
async fn read_all(purpose: PathPurpose, files: Vec<web_sys::File>) -> Result<Picked, String> {
    let mut read_files = Vec::with_capacity(files.len());
    for file in files {
        read_files.push(read(purpose, file).await?);
    }
    Ok(Picked { purpose, files: read_files })
}

/// The contents of `file`, refused before reading when it is larger than its purpose allows.
async fn read(purpose: PathPurpose, file: web_sys::File) -> Result<PickedFile, String> {
    let name = file.name();
    let limit = if purpose == PathPurpose::OpenNetwork { MAX_PICKED_MODEL_BYTES } else { MAX_PICKED_BYTES };
    if file.size() > limit {
        return Err(format!(
            "{name} is {:.0} MB, more than the {:.0} MB this page reads into the browser's memory",
            file.size() / MEGABYTE,
            limit / MEGABYTE
        ));
    }
    let buffer = wasm_bindgen_futures::JsFuture::from(file.array_buffer())
        .await
        .map_err(|_| format!("the browser could not read {name} (too large for its memory?)"))?;
    Ok(PickedFile { name, bytes: js_sys::Uint8Array::new(&buffer).to_vec() })
}

/// Offers `bytes` as a download named `name` (the browser saves it where the user chooses).
pub fn download(name: &str, bytes: &[u8]) -> Result<(), String> {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let blob = web_sys::Blob::new_with_u8_array_sequence(&parts).map_err(|_| "the browser could not hold the file")?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|_| "the browser refused the download")?;
    let link = document()?
        .create_element("a")
        .ok()
        .and_then(|element| element.dyn_into::<web_sys::HtmlAnchorElement>().ok())
        .ok_or("the page cannot make a download link")?;
    link.set_href(&url);
    link.set_download(name);
    link.click();
    // The download reads the URL after this task: release it later.
    let release = Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    if let Some(window) = web_sys::window() {
        let _ = window
            .set_timeout_with_callback_and_timeout_and_arguments_0(release.unchecked_ref(), DOWNLOAD_URL_LIFETIME_MS);
    }
    Ok(())
}

fn document() -> Result<web_sys::Document, String> {
    web_sys::window().and_then(|w| w.document()).ok_or_else(|| "the page has no document".to_owned())
}
