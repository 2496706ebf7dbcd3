#!/usr/bin/env bash
# Builds tilelab for the browser into target/site/ (index.html, the .wasm, its JS glue, a favicon):
# a static site any web server can host. Installs what it needs: the wasm32 Rust target and the
# wasm-bindgen CLI of the version Cargo.lock pins (they must match). wasm-opt shrinks the .wasm
# when it is installed; it is not required.
set -euo pipefail
cd "$(dirname "$0")/.."

target=wasm32-unknown-unknown
site=target/site

rustup target list --installed | grep -qx "$target" || rustup target add "$target"

# The wasm-bindgen version in Cargo.lock (the library the app links) is the CLI version needed.
version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$version" ]; then
  echo "installing wasm-bindgen-cli $version"
  # --locked uses the CLI's own lock file; a registry mirror that lacks one of its pinned
  # versions needs the unlocked resolve.
  cargo install --locked wasm-bindgen-cli --version "$version" ||
    cargo install wasm-bindgen-cli --version "$version"
fi

# .cargo/config.toml adds the getrandom backend cfg and SIMD for this target.
cargo build --release --target "$target" --bin tilelab

rm -rf "$site"
mkdir -p "$site"
# The name section (function names for a debugger, 1.1 MB) is left out: a panic still says what
# and where, in the console.
wasm-bindgen --target web --no-typescript --remove-name-section --out-name tilelab --out-dir "$site" \
  "target/$target/release/tilelab.wasm"
if command -v wasm-opt >/dev/null 2>&1; then
  wasm-opt -O2 --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
    "$site/tilelab_bg.wasm" -o "$site/tilelab_bg.wasm"
fi
cp web/index.html web/favicon.svg "$site/"

size=$(du -sb "$site" | cut -f1)
echo "site: $site ($((size / 1024)) KiB); serve it with: python3 -m http.server -d $site 8080"
if [ "$size" -gt $((12 * 1024 * 1024)) ]; then
  echo "error: the site exceeds 12 MB" >&2
  exit 1
fi
