// tilelab in a real browser: serves the built site (target/site, from web/build.sh) on 127.0.0.1,
// opens it in headless Chromium and checks it from outside the page (screenshots, the console,
// keys and clicks over the DevTools protocol). Run by .ci/run; prints the browser's training speed.
//
//   node web/test/browser_test.mjs [--update-screenshots]
//
// The app logs its status line (and one line per training epoch) to the console; the checks read
// those lines. Layout positions assume the 1600×1000 window set below.

import { createServer } from "node:http";
import { readFile, writeFile, mkdir, truncate } from "node:fs/promises";
import { extname, join, normalize, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { inflateSync } from "node:zlib";
import { execFileSync } from "node:child_process";
import { chromium } from "playwright-core";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const SITE = process.env.TILELAB_SITE ?? join(ROOT, "target/site");
const OUT = join(ROOT, "target/web-test");
const WIDTH = 1600;
const HEIGHT = 1000;
/// The first frame from localhost: the budget is 3 s (measured 2.8 s with the machine's two
/// cores busy); the check allows slower CI machines a margin and prints the time.
const FIRST_FRAME_MS = 10_000;
const TRAINING_TIMEOUT_MS = 1_200_000;
/// Training images of the three-class Fashion scene (2,000 per class).
const TRAIN_SAMPLES = 6000;
const UPDATE = process.argv.includes("--update-screenshots");
// Where to click, in the 1600×1000 window (egui draws on a canvas: no DOM elements to find).
const WELCOME_CLOSE = [1011, 282];
const TRAINING_TAB = [487, 43];
const STOP_AT_ACCURACY = [265, 374];
const START_BUTTON = [279, 406];
const LECTURE_BUTTON = [652, 43];
const FILE_MENU = [18, 12];
// Items of the web build's File menu, once it is open.
const FILE_ITEMS = {
  openTileSet: [60, 62],
  saveTileSetAs: [60, 108],
  importTileImage: [60, 131],
  openNetwork: [60, 200],
  exportAtlas: [60, 223],
  openScene: [60, 278],
  saveScene: [60, 301],
  copyLink: [60, 347],
  export: [60, 379],
};
// Items of File → Export, once the submenu is open (the Tiles view's).
const EXPORT_ITEMS = {
  figurePng: [234, 396],
  figurePack: [214, 599],
};
/// Bytes of a file larger than the page reads (64 MB, as the desktop's limit for scenes).
const TOO_LARGE_BYTES = 65 * 1024 * 1024;

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
};

/// A static server for the site on 127.0.0.1 (a free port).
async function serve() {
  const server = createServer(async (request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url, "http://x").pathname));
    const file = join(SITE, path === "/" ? "index.html" : path);
    try {
      const body = await readFile(file);
      response.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
      response.end(body);
    } catch {
      response.writeHead(404);
      response.end();
    }
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  return server;
}

/// Decodes an 8-bit RGB or RGBA PNG (what Chromium's screenshots are) into pixels.
function decodePng(png) {
  let offset = 8;
  let width = 0, height = 0, channels = 0;
  const data = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString("ascii", offset + 4, offset + 8);
    const chunk = png.subarray(offset + 8, offset + 8 + length);
    if (type === "IHDR") {
      width = chunk.readUInt32BE(0);
      height = chunk.readUInt32BE(4);
      const [depth, color, , , interlace] = chunk.subarray(8, 13);
      if (depth !== 8 || interlace !== 0 || (color !== 2 && color !== 6)) throw new Error("unexpected PNG format");
      channels = color === 6 ? 4 : 3;
    } else if (type === "IDAT") {
      data.push(chunk);
    }
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(data));
  const stride = width * channels;
  const pixels = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? pixels[y * stride + x - channels] : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? pixels[(y - 1) * stride + x - channels] : 0;
      let value = line[x];
      if (filter === 1) value += a;
      else if (filter === 2) value += b;
      else if (filter === 3) value += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
        value += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      pixels[y * stride + x] = value & 255;
    }
  }
  return { width, height, channels, pixels };
}

/// Standard deviation of the grey level over the whole image (0 for a blank screenshot).
function greySpread(png) {
  const { width, height, channels, pixels } = decodePng(png);
  let sum = 0, squares = 0;
  for (let i = 0; i < width * height; i++) {
    const p = i * channels;
    const grey = (pixels[p] + pixels[p + 1] + pixels[p + 2]) / 3;
    sum += grey;
    squares += grey * grey;
  }
  const mean = sum / (width * height);
  return Math.sqrt(Math.max(0, squares / (width * height) - mean * mean));
}

function check(condition, message) {
  if (!condition) throw new Error(`FAILED: ${message}`);
  console.log(`ok: ${message}`);
}

/// Waits until a console line from index `from` on matches `pattern`; returns its match.
async function waitForLine(lines, pattern, timeout, what, from = 0) {
  const started = Date.now();
  for (;;) {
    for (const line of lines.slice(from)) {
      const match = line.match(pattern);
      if (match) return match;
    }
    if (Date.now() - started > timeout) throw new Error(`FAILED: no console line for ${what} within ${timeout} ms`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

async function screenshot(page, name) {
  const png = await page.screenshot();
  await mkdir(OUT, { recursive: true });
  await writeFile(join(OUT, `${name}.png`), png);
  return png;
}

/// Opens `address` in a new page and waits for a console line matching `pattern`.
async function openAndRead(browser, address, pattern, what) {
  const page = await browser.newPage({ viewport: { width: WIDTH, height: HEIGHT } });
  const lines = [];
  page.on("console", (message) => lines.push(message.text()));
  try {
    await page.goto(address);
    return await waitForLine(lines, pattern, 30_000, what);
  } finally {
    await page.close();
  }
}

/// A scene link of a bundled scene, made by the CLI (`cargo test --release` built it).
function sceneLink(file) {
  const cli = process.env.TILELAB_CLI ?? join(ROOT, "target/release/tilelab");
  return execFileSync(cli, ["scene", "link", join(ROOT, "assets/scenes", file)], { encoding: "utf8" }).trim();
}

/// File → an item of the web build's File menu.
async function fileMenu(page, item) {
  await page.mouse.click(...FILE_MENU);
  await page.waitForTimeout(1000);
  await page.mouse.click(...FILE_ITEMS[item]);
}

/// File → Export → an item of the submenu.
async function exportMenu(page, item) {
  await page.mouse.click(...FILE_MENU);
  await page.waitForTimeout(1000);
  await page.mouse.click(...FILE_ITEMS.export);
  await page.waitForTimeout(1000);
  await page.mouse.click(...EXPORT_ITEMS[item]);
}

/// The names of the files in a ZIP archive (from its central directory).
function zipNames(archive) {
  const end = archive.length - 22;
  if (archive.readUInt32LE(end) !== 0x06054b50) throw new Error("FAILED: not a ZIP archive");
  const names = [];
  let at = archive.readUInt32LE(end + 16);
  for (let n = archive.readUInt16LE(end + 10); n > 0; n--) {
    const length = archive.readUInt16LE(at + 28);
    names.push(archive.toString("utf8", at + 46, at + 46 + length));
    at += 46 + length + archive.readUInt16LE(at + 30) + archive.readUInt16LE(at + 32);
  }
  return names;
}

/// Files and links in the browser, on a fresh page: File → Copy link to this scene (read back from
/// the clipboard, and opened), Save scene, Export atlas PNG and two items of File → Export (a
/// figure, the figure pack as a ZIP) as downloads, Open scene and Open… (a tile set) through the
/// browser's file picker, and a file too large for the page refused.
async function filesAndLinks(browser, url, errors, lines) {
  const context = await browser.newContext({
    viewport: { width: WIDTH, height: HEIGHT },
    permissions: ["clipboard-read", "clipboard-write"],
  });
  const page = await context.newPage();
  page.on("console", (message) => {
    lines.push(message.text());
    // The refusals this test provokes are logged as errors on purpose.
    if (message.type() === "error" && !/more than the 64 MB|could not open broken-tiles/.test(message.text())) {
      errors.push(message.text());
    }
  });
  page.on("pageerror", (error) => errors.push(String(error)));
  try {
    await page.goto(url);
    await page.waitForSelector("#loading_text", { state: "detached", timeout: 30_000 });
    await page.waitForTimeout(1000);
    await page.mouse.click(...WELCOME_CLOSE);
    await page.waitForTimeout(500);

    let from = lines.length;
    await fileMenu(page, "copyLink");
    const logged = await waitForLine(lines, /scene link: (\S+)/, 10_000, "Copy link to this scene", from);
    check(logged[1].startsWith(`${url}#scene=1.`), `Copy link to this scene made a link to this page (${logged[1].length} characters)`);
    const clipboard = await page.evaluate(() => navigator.clipboard.readText());
    check(clipboard === logged[1], "the link is on the clipboard");
    const reopened = await openAndRead(browser, clipboard, /opened the scene from the link.*|could not open the scene.*/, "the copied link");
    check(reopened[0].startsWith("opened"), `the copied link opens in a new page ("${reopened[0]}")`);

    const downloadOf = async (item, open = fileMenu, timeout = 15_000) => {
      const waiting = page.waitForEvent("download", { timeout });
      await open(page, item);
      const download = await waiting;
      const path = join(OUT, download.suggestedFilename());
      await download.saveAs(path);
      return [download.suggestedFilename(), await readFile(path), path];
    };
    const [sceneName, sceneBytes, scenePath] = await downloadOf("saveScene");
    const saved = JSON.parse(sceneBytes.toString("utf8"));
    check(sceneName === "scene.tilelab" && saved.format === "tilelab-scene", `Save scene downloads ${sceneName}, a scene file`);
    const [atlasName, atlasBytes] = await downloadOf("exportAtlas");
    check(atlasName === "atlas.png" && atlasBytes.subarray(1, 4).toString() === "PNG", `Export atlas PNG downloads ${atlasName}, a PNG`);
    const [figureName, figureBytes] = await downloadOf("figurePng", exportMenu);
    check(
      figureName === "tiles.png" && figureBytes.length > 1000 && figureBytes.subarray(1, 4).toString() === "PNG",
      `File → Export → Figure as PNG downloads ${figureName}, a PNG of ${figureBytes.length} bytes`,
    );
    const [packName, packBytes] = await downloadOf("figurePack", exportMenu, 120_000);
    const packed = zipNames(packBytes);
    check(
      packName === "figures.zip" && ["tiles.png", "tiles.svg", "n2_layers.csv"].every((name) => packed.includes(name)),
      `File → Export → Figure pack downloads ${packName}, a ZIP of ${packed.length} files (${packed.slice(0, 3).join(", ")}, …)`,
    );
    const [tilesName, tilesBytes] = await downloadOf("saveTileSetAs");
    check(tilesName === "tileset.json" && JSON.parse(tilesBytes.toString("utf8")).classes.length > 0, `Save as… downloads ${tilesName}, a tile set`);

    const pickFile = async (item, path) => {
      const choosing = page.waitForEvent("filechooser", { timeout: 10_000 });
      await fileMenu(page, item);
      await (await choosing).setFiles(path);
    };
    from = lines.length;
    await pickFile("openScene", scenePath);
    const opened = await waitForLine(lines, /opened the scene scene\.tilelab: (.*)/, 20_000, "Open scene…", from);
    check(true, `Open scene… opened the downloaded scene through the file picker ("${opened[1]}")`);

    const picked = join(OUT, "picked-tiles.json");
    await writeFile(picked, tilesBytes);
    from = lines.length;
    await pickFile("openTileSet", picked);
    await waitForLine(lines, /loaded picked-tiles\.json/, 20_000, "File → Open… of a tile set", from);
    check(true, "File → Open… loaded a tile-set file picked through the file chooser");
    const broken = join(OUT, "broken-tiles.json");
    await writeFile(broken, "{ not a tile set");
    from = lines.length;
    await pickFile("openTileSet", broken);
    const brokenLine = await waitForLine(lines, /could not open broken-tiles\.json: .*/, 20_000, "a broken tile set", from);
    check(true, `a broken tile-set file is refused ("${brokenLine[0]}")`);

    const big = join(OUT, "too-large.tilelab");
    await writeFile(big, "");
    await truncate(big, TOO_LARGE_BYTES);
    from = lines.length;
    await pickFile("openScene", big);
    const refused = await waitForLine(lines, /too-large\.tilelab is \d+ MB, more than the 64 MB.*/, 20_000, "a file too large", from);
    check(true, `a file too large for the page says so ("${refused[0]}")`);
  } finally {
    await context.close();
  }
}

async function main() {
  const server = await serve();
  const url = `http://127.0.0.1:${server.address().port}/`;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"],
  });
  const page = await browser.newPage({ viewport: { width: WIDTH, height: HEIGHT } });
  const lines = [];
  const errors = [];
  page.on("console", (message) => {
    lines.push(message.text());
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(String(error)));
  try {
    // 1. The first frame draws the Tiles view.
    const opened = Date.now();
    await page.goto(url);
    await page.waitForSelector("#loading_text", { state: "detached", timeout: 30_000 });
    const firstFrameMs = Date.now() - opened;
    console.log(`first frame after ${firstFrameMs} ms`);
    check(firstFrameMs < FIRST_FRAME_MS, `the app started within ${FIRST_FRAME_MS} ms (${firstFrameMs} ms)`);
    await page.waitForTimeout(1500);
    const tiles = await screenshot(page, "tiles");
    const spread = greySpread(tiles);
    check(spread > 10, `the first screen is drawn, not blank (grey-level spread ${spread.toFixed(1)})`);
    if (UPDATE) await writeFile(join(ROOT, "screenshots/web-tiles.png"), tiles);

    // 2. A scene link opens its scene; a malformed one says so and keeps the default scene.
    const link = sceneLink("mnist-ten.tilelab");
    const sceneOpened = await openAndRead(browser, `${url}#scene=${link}`, /opened the scene from the link: (.*)/, "the scene link");
    check(/digit/i.test(sceneOpened[1]), `index.html#scene=… opened its scene ("${sceneOpened[1]}")`);
    const refused = await openAndRead(browser, `${url}#scene=garbage`, /could not open the scene from the link.*/, "a malformed link");
    check(/link/.test(refused[0]), `a malformed #scene= link says so ("${refused[0]}")`);

    // 3. The lecture moves through its steps with the arrow keys.
    const press = async (key, step) => {
      const from = lines.length;
      await page.keyboard.press(key);
      await waitForLine(lines, new RegExp(`lecture step ${step} of \\d+`), 10_000, `lecture step ${step} after ${key}`, from);
    };
    await page.mouse.click(...WELCOME_CLOSE);
    await page.waitForTimeout(500);
    await page.mouse.click(...LECTURE_BUTTON);
    await waitForLine(lines, /lecture step 1 of \d+/, 10_000, "lecture step 1");
    await press("ArrowRight", 2);
    await press("ArrowRight", 3);
    const third = await screenshot(page, "lecture-3");
    await press("ArrowLeft", 2);
    check(greySpread(third) > 10, "the arrow keys moved the lecture 1 → 2 → 3 → 2, and it draws");
    await page.keyboard.press("Escape");
    await page.waitForTimeout(500);

    // 4. Training from the page, on the three-class Fashion scene opened from its link in a fresh
    // browser profile (as a student would): the Training tab, "Stop at test accuracy" (99 %), Start;
    // the scene trains the paper's network (lr 0.03, batch 100) on 2,000 images per class for at
    // most 15 epochs, and the app logs one line per epoch. (On 400 per class, the app's default,
    // the same seeds give 91 % after 15 epochs natively as here: too few SGD steps, not the web.)
    const context = await browser.newContext({ viewport: { width: WIDTH, height: HEIGHT } });
    const student = await context.newPage();
    const studentLines = [];
    student.on("console", (message) => {
      studentLines.push(message.text());
      if (message.type() === "error") errors.push(message.text());
    });
    student.on("pageerror", (error) => errors.push(String(error)));
    await student.goto(`${url}#scene=${sceneLink("fashion-three.tilelab")}`);
    await waitForLine(studentLines, /opened the scene from the link: .*Fashion/, 30_000, "the Fashion scene link");
    await student.waitForTimeout(1000);
    await student.mouse.click(...WELCOME_CLOSE);
    await student.waitForTimeout(500);
    await student.mouse.click(...TRAINING_TAB);
    await student.waitForTimeout(1000);
    await student.mouse.click(...STOP_AT_ACCURACY);
    await student.waitForTimeout(300);
    await student.mouse.click(...START_BUTTON);
    const started = Date.now();
    const trained = await waitForLine(
      studentLines,
      /training epoch (\d+): test accuracy ([\d.]+) %, ([\d.]+) samples\/s.*(stopped|reached)/,
      TRAINING_TIMEOUT_MS,
      "the end of the training run",
    );
    const seconds = (Date.now() - started) / 1000;
    const speeds = studentLines
      .map((line) => line.match(/training epoch \d+: .*?, ([\d.]+) samples\/s/))
      .filter(Boolean)
      .map((match) => Number(match[1]));
    const median = speeds.sort((a, b) => a - b)[Math.floor(speeds.length / 2)];
    const wall = (Number(trained[1]) * TRAIN_SAMPLES) / seconds;
    console.log(
      `browser training speed: ${wall.toFixed(0)} samples/s over the whole run (${trained[1]} epochs in ` +
        `${seconds.toFixed(1)} s, data generation included); the app's own figure: median ${median} samples/s`,
    );
    check(Number(trained[2]) >= 99, `training reached ≥ 99 % test accuracy (${trained[2]} % at epoch ${trained[1]})`);
    const training = await screenshot(student, "training");
    if (UPDATE) await writeFile(join(ROOT, "screenshots/web-training.png"), training);
    lines.push(...studentLines);
    await context.close();

    // 5. Files and links.
    await filesAndLinks(browser, url, errors, lines);

    // 6. Nothing went wrong on the way (on any page).
    const panics = lines.filter((line) => /panicked at/.test(line));
    check(errors.length === 0 && panics.length === 0, `no error or panic in the console (${errors.concat(panics).join(" | ")})`);
  } finally {
    await writeFile(join(OUT, "console.txt"), lines.join("\n")).catch(() => {});
    await browser.close();
    server.close();
  }
}

main().catch((error) => {
  console.error(error.message ?? error);
  process.exit(1);
});
