//! Simulated crashes during saves: a child process (this test binary, re-run as
//! `saver_child_process`) saves a tile set, CNN weights and (with `gui`) the app's session in an
//! endless loop; the parent kills it with SIGKILL at random moments, then checks that every
//! target file still loads as one of the versions written, and that the temporaries left by the
//! interrupted saves are exactly what `core::atomic::remove_stale_temporaries` removes.
//!
//! A control run of the same harness with a plain `std::fs::write` must find corrupt files,
//! which shows the kills land inside writes and the checks would notice a broken save.
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tilelab::core::atomic::{TEMP_MARKER, remove_stale_temporaries};
use tilelab::core::nn::cnn::{Cnn, CnnSpec};
use tilelab::core::nn::weights_file;
use tilelab::core::presets;
use tilelab::core::tile::ClassSet;
use tilelab::core::tileset_file;

/// Environment variable naming the folder the child saves into.
const DIR_ENV: &str = "TILELAB_CRASH_SAVER_DIR";
/// Environment variable choosing the child's way of writing: `atomic` or `plain`.
const MODE_ENV: &str = "TILELAB_CRASH_SAVER_MODE";
/// What the child prints once its data is built and the save loop starts (after libtest's `test … `).
const READY: &str = "saver ready";
const TILESET: &str = "set.json";
const WEIGHTS: &str = "net.json";
/// The app's data dir inside the test folder (session + autosaved tile set).
const DATA_DIR: &str = "data";

/// The two versions written alternately; their sizes differ, so a mix of them parses as neither.
struct Versions {
    sets: [ClassSet; 2],
    nets: [Cnn; 2],
}

impl Versions {
    fn build() -> Self {
        let net = |seed| Cnn::new(CnnSpec::fashion(), seed).expect("the paper's network is valid");
        Self { sets: [presets::fashion_ten(3), presets::fashion_ten(8)], nets: [net(1), net(2)] }
    }
}

#[cfg(feature = "gui")]
fn sessions() -> [tilelab::app::state::Session; 2] {
    use tilelab::app::state::Session;
    let mut second = Session { unsaved: true, selected: Some([1, 0, 0]), ..Session::default() };
    second.dataset.seed = 99;
    [Session::default(), second]
}

#[test]
#[ignore = "the child process of kill_9_during_saves_never_leaves_a_corrupt_file"]
fn saver_child_process() {
    let dir =
        PathBuf::from(std::env::var_os(DIR_ENV).expect("run only by the crash-safety test, which sets the folder"));
    let plain = std::env::var(MODE_ENV).is_ok_and(|mode| mode == "plain");
    let versions = Versions::build();
    let texts = versions.sets.each_ref().map(|set| tileset_file::to_json(set).expect("the preset saves"));
    println!("{READY}");
    for i in 0.. {
        let v = i % 2;
        if plain {
            // The control: what a save without temp + rename does.
            std::fs::write(dir.join(TILESET), &texts[v]).expect("the plain write succeeds");
            continue;
        }
        tileset_file::save(&dir.join(TILESET), &versions.sets[v]).expect("the tile set saves");
        weights_file::save(&dir.join(WEIGHTS), &versions.nets[v]).expect("the weights save");
        #[cfg(feature = "gui")]
        tilelab::app::state::save_work(&dir.join(DATA_DIR), &sessions()[v], &versions.sets[v]).expect("the work saves");
    }
}

/// Starts the child saver and waits until its save loop begins.
fn spawn_saver(dir: &Path, mode: &str) -> Child {
    let mut child = Command::new(std::env::current_exe().expect("the test binary's path"))
        .args(["--exact", "saver_child_process", "--ignored", "--nocapture", "--test-threads=1"])
        .env(DIR_ENV, dir)
        .env(MODE_ENV, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the test binary starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let ready = BufReader::new(stdout).lines().map_while(Result::ok).any(|line| line.ends_with(READY));
    assert!(ready, "the child saver did not start");
    child
}

/// Names of the temporaries of interrupted atomic writes in `dir`.
fn temporaries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries.flatten().filter(|e| e.file_name().to_string_lossy().contains(TEMP_MARKER)).count()
    })
}

/// What is wrong with the saved files, if anything: each must load as one of the two versions.
fn problems(dir: &Path, versions: &Versions, plain: bool) -> Vec<String> {
    let mut problems = Vec::new();
    match tileset_file::load(&dir.join(TILESET)) {
        Ok(set) if versions.sets.contains(&set) => {}
        Ok(_) => problems.push("the tile set loads but is neither version".into()),
        Err(error) => problems.push(format!("the tile set does not load: {error}")),
    }
    if plain {
        return problems;
    }
    match weights_file::load(&dir.join(WEIGHTS)) {
        Ok(net) if versions.nets.contains(&net) => {}
        Ok(_) => problems.push("the weights load but are neither version".into()),
        Err(error) => problems.push(format!("the weights do not load: {error}")),
    }
    #[cfg(feature = "gui")]
    match tilelab::app::state::load_work(&dir.join(DATA_DIR)) {
        Ok(Some((session, set))) if sessions().contains(&session) && versions.sets.contains(&set) => {}
        Ok(_) => problems.push("the session is missing or neither version".into()),
        Err(error) => problems.push(format!("the session does not load: {error}")),
    }
    problems
}

/// Figures of one kill campaign.
#[derive(Debug, Default)]
struct Campaign {
    kills: usize,
    /// Kills that left a temporary behind: the kill landed inside an atomic write.
    interrupted: usize,
    temporaries_removed: usize,
    corrupt: Vec<String>,
}

/// Kills savers at random moments until `budget` has passed or `stop` says enough.
fn campaign(mode: &str, seed: u64, budget: Duration, stop: impl Fn(&Campaign) -> bool) -> Campaign {
    let plain = mode == "plain";
    let dir = tempfile::tempdir().expect("a temporary folder");
    let versions = Versions::build();
    // The files exist before the first kill, as after any earlier save.
    tileset_file::save(&dir.path().join(TILESET), &versions.sets[0]).expect("the first save");
    weights_file::save(&dir.path().join(WEIGHTS), &versions.nets[0]).expect("the first save");
    #[cfg(feature = "gui")]
    tilelab::app::state::save_work(&dir.path().join(DATA_DIR), &sessions()[0], &versions.sets[0])
        .expect("the first save");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut figures = Campaign::default();
    let started = Instant::now();
    while started.elapsed() < budget && !stop(&figures) {
        let mut child = spawn_saver(dir.path(), mode);
        std::thread::sleep(Duration::from_micros(rng.random_range(0..40_000)));
        // std's kill is SIGKILL on Unix: no destructor, no flush, like a crash or `kill -9`.
        child.kill().expect("the child can be killed");
        child.wait().expect("the killed child is reaped");
        figures.kills += 1;
        let data = dir.path().join(DATA_DIR);
        let left = temporaries(dir.path()) + temporaries(&data);
        figures.interrupted += usize::from(left > 0);
        figures.corrupt.extend(problems(dir.path(), &versions, plain));
        // What the app does at its next start.
        let removed = remove_stale_temporaries(dir.path()).expect("the folder is readable")
            + if data.exists() { remove_stale_temporaries(&data).expect("the data dir is readable") } else { 0 };
        assert_eq!(removed, left, "remove_stale_temporaries removes exactly the temporaries");
        figures.temporaries_removed += removed;
        assert_eq!(temporaries(dir.path()) + temporaries(&data), 0, "no temporary survives the clean-up");
    }
    let (kills, interrupted, corrupt) = (figures.kills, figures.interrupted, figures.corrupt.len());
    println!("{mode} saves: {kills} kills, {interrupted} inside a write, {corrupt} corrupt files");
    figures
}

#[test]
fn kill_9_during_saves_never_leaves_a_corrupt_file() {
    let figures = campaign("atomic", 7, Duration::from_secs(6), |f| f.kills >= 200);
    assert!(figures.corrupt.is_empty(), "corrupt files after {} kills: {:?}", figures.kills, figures.corrupt);
    assert!(figures.kills >= 20, "only {} kills in the time budget", figures.kills);
    assert!(figures.interrupted > 0, "no kill landed inside a save in {} kills", figures.kills);
}

#[test]
fn the_same_kills_corrupt_a_plain_write() {
    let figures = campaign("plain", 8, Duration::from_secs(4), |f| f.kills >= 20);
    assert!(!figures.corrupt.is_empty(), "{} kills never broke a plain write: the harness is blind", figures.kills);
}

#[test]
fn saving_into_a_read_only_folder_is_an_error_that_keeps_the_old_file() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let versions = Versions::build();
    let path = dir.path().join(TILESET);
    tileset_file::save(&path, &versions.sets[0]).expect("the first save");
    let mode = |bits| std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(bits));
    mode(0o555).expect("the folder can be made read-only");
    // Root ignores folder permissions; /proc refuses new files to everyone.
    let read_only_works = std::fs::File::create(dir.path().join("probe")).is_err();
    let target = if read_only_works { path.clone() } else { PathBuf::from("/proc/tilelab-read-only-test.json") };
    let error = tileset_file::save(&target, &versions.sets[1]).expect_err("a read-only folder refuses the save");
    assert!(error.to_string().contains(&target.display().to_string()), "the message names the file: {error}");
    mode(0o755).expect("the folder can be made writable again");
    assert!(tileset_file::load(&path).expect("the old file still loads") == versions.sets[0], "the old file changed");
    assert_eq!(temporaries(dir.path()), 0, "a failed save leaves no temporary");
}
