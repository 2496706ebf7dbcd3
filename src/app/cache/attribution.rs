//! Where a class decision comes from, in the cache (issue 20): the attribution map of one
//! network's class logit on the Networks view's input (one keyed job per side of the view), and
//! the score table of both sides' networks on the current dataset (recovery of the constructed
//! detectors' tiles by their preferred stimuli; pointing game and mass in window per method), a
//! background job with progress. The frame only draws the results.

use std::sync::Arc;

use ndarray::{Array2, ArrayView2};

use crate::core::construct::{Constructed, Which};
use crate::core::dataset::{Dataset, Placement, Sample};
use crate::core::interpret::attribution::occlusion_with;
use crate::core::interpret::study::{UnitKind, constructed_units, default_methods, mean_background, score_unit};
use crate::core::interpret::{
    AscentOptions, Baseline, Goal, InterpretError, Method, Model, UnitGradient, attribute, mass_in_window,
    pointing_game, preferred,
};
use crate::core::nn::cnn::{Cnn, argmax};
use crate::core::nn::deep::DeepNet;
use crate::core::tile::ClassSet;

use super::{Cache, NetKey};
use crate::app::imported::ImportedNetwork;
use crate::app::jobs::{Job, JobShared, Keyed};
use crate::app::theme;

/// Most dataset samples the mean-background baseline is averaged over.
const BASELINE_SAMPLES: usize = 200;

/// Most dataset samples the score table attributes (each costs every method once per network).
pub const MAX_SCORE_SAMPLES: usize = 60;

/// A network whose decisions are attributed: a side of the Networks view.
#[derive(Clone)]
pub enum Explained {
    /// N1 or N2, built for `key`.
    Constructed { which: Which, key: NetKey, net: Arc<Constructed> },
    /// The training run's paper CNN, weights version `version`.
    Trained { version: u64, cnn: Arc<Cnn> },
    /// The training run's network of another architecture, weights version `version`: forward only.
    Deep { version: u64, net: Arc<DeepNet> },
    /// An opened ONNX model: the gradient methods need its operators' backward passes.
    Imported(Arc<ImportedNetwork>),
}

/// What identifies an [`Explained`] network in a key (its build key or weights version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExplainedId {
    Constructed(Which, NetKey),
    Trained(u64),
    Deep(u64),
    Imported(u64),
}

impl Explained {
    /// Its identity in keys.
    pub fn id(&self) -> ExplainedId {
        match self {
            Self::Constructed { which, key, .. } => ExplainedId::Constructed(*which, *key),
            Self::Trained { version, .. } => ExplainedId::Trained(*version),
            Self::Deep { version, .. } => ExplainedId::Deep(*version),
            Self::Imported(network) => ExplainedId::Imported(network.version),
        }
    }

    /// Its name in headings and the score table.
    pub fn name(&self) -> String {
        match self {
            Self::Constructed { which, .. } => which.name().to_owned(),
            Self::Trained { .. } => theme::TRAINED_NAME.to_owned(),
            Self::Deep { .. } => "trained deep network".to_owned(),
            Self::Imported(network) => network.name(),
        }
    }

    /// Runs `work` on the network as the interpretability methods take it.
    fn with_runnable<T>(&self, work: impl FnOnce(&Runnable) -> T) -> T {
        match self {
            Self::Constructed { net, .. } => work(&Runnable::Model(Model::Sparse(&net.network))),
            Self::Trained { cnn, .. } => {
                let network = cnn.to_network();
                let spec = cnn.spec();
                work(&Runnable::Model(Model::Dense { network: &network, input: (spec.height, spec.width) }))
            }
            Self::Deep { net, .. } => work(&Runnable::Deep(net)),
            Self::Imported(network) => work(&Runnable::Model(Model::Onnx(&network.model))),
        }
    }
}

impl std::fmt::Debug for Explained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Explained({:?})", self.id())
    }
}

impl PartialEq for Explained {
    fn eq(&self, other: &Self) -> bool {
        let same = match (self, other) {
            (Self::Constructed { net: a, .. }, Self::Constructed { net: b, .. }) => Arc::ptr_eq(a, b),
            (Self::Trained { cnn: a, .. }, Self::Trained { cnn: b, .. }) => Arc::ptr_eq(a, b),
            (Self::Deep { net: a, .. }, Self::Deep { net: b, .. }) => Arc::ptr_eq(a, b),
            (Self::Imported(a), Self::Imported(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        same && self.id() == other.id()
    }
}

/// A network as the methods run it: a [`Model`] of `core::interpret`, or a deep network, which
/// has a forward pass only (occlusion).
enum Runnable<'a> {
    Model(Model<'a>),
    Deep(&'a DeepNet),
}

impl Runnable<'_> {
    fn logits(&self, image: ArrayView2<f32>) -> Result<Vec<f32>, InterpretError> {
        match self {
            Self::Model(model) => model.logits(image),
            Self::Deep(net) => Ok(net.logits(image)?.to_vec()),
        }
    }

    fn attribute(&self, image: ArrayView2<f32>, class: usize, method: Method) -> Result<Array2<f32>, String> {
        let attributed = match (self, method) {
            (Self::Model(model), _) => attribute(model, image, class, method),
            (Self::Deep(_), Method::Occlusion { patch, baseline }) => {
                occlusion_with(&|occluded| self.logits(occluded), image, class, patch, baseline)
            }
            (Self::Deep(_), _) => {
                return Err("this architecture has no backward pass to the input in tilelab: use occlusion, \
                            which needs only the forward pass"
                    .to_owned());
            }
        };
        attributed.map_err(|e| e.to_string())
    }
}

/// An attribution method as the user chose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MethodKind {
    #[default]
    Gradient,
    GradientTimesInput,
    IntegratedGradients,
    Occlusion,
}

impl MethodKind {
    /// Every method, in the chooser's order.
    pub const ALL: [Self; 4] = [Self::Gradient, Self::GradientTimesInput, Self::IntegratedGradients, Self::Occlusion];

    /// Its name in the chooser.
    pub fn label(self) -> &'static str {
        match self {
            Self::Gradient => "gradient",
            Self::GradientTimesInput => "gradient × input",
            Self::IntegratedGradients => "integrated gradients",
            Self::Occlusion => "occlusion",
        }
    }

    /// True for the methods that need a backward pass.
    pub fn needs_backward(self) -> bool {
        self != Self::Occlusion
    }
}

/// The reference image of integrated gradients and the fill of occlusion, as chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BaselineChoice {
    Black,
    /// The mean of the dataset's backgrounds (outside the pasted windows).
    #[default]
    MeanBackground,
}

/// A method with its options (those of the other methods kept, for when the user switches back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodChoice {
    pub kind: MethodKind,
    /// Integrated-gradients steps.
    pub steps: usize,
    /// Occlusion patch side in pixels.
    pub patch: usize,
    pub baseline: BaselineChoice,
}

impl Default for MethodChoice {
    /// `tilelab interpret`'s options: 50 steps, 4-pixel patches, the mean background.
    fn default() -> Self {
        Self { kind: MethodKind::default(), steps: 50, patch: 4, baseline: BaselineChoice::default() }
    }
}

impl MethodChoice {
    /// The choice with the options its method does not read set to fixed values, so changing
    /// them does not compute the same map again.
    #[must_use]
    pub fn normalised(self) -> Self {
        let fixed = Self { kind: self.kind, steps: 0, patch: 0, baseline: BaselineChoice::Black };
        match self.kind {
            MethodKind::Gradient | MethodKind::GradientTimesInput => fixed,
            MethodKind::IntegratedGradients => Self { steps: self.steps, baseline: self.baseline, ..fixed },
            MethodKind::Occlusion => Self { patch: self.patch, baseline: self.baseline, ..fixed },
        }
    }

    /// True when the method reads the dataset's mean background.
    pub fn uses_mean_background(self) -> bool {
        let normalised = self.normalised();
        normalised.baseline == BaselineChoice::MeanBackground
    }

    /// The core's method, with `grey` as the mean background.
    fn method(self, grey: f32) -> Method {
        let baseline = match self.baseline {
            BaselineChoice::Black => Baseline::Black,
            BaselineChoice::MeanBackground => Baseline::Grey(grey),
        };
        match self.kind {
            MethodKind::Gradient => Method::Gradient,
            MethodKind::GradientTimesInput => Method::GradientTimesInput,
            MethodKind::IntegratedGradients => Method::IntegratedGradients { steps: self.steps, baseline },
            MethodKind::Occlusion => Method::Occlusion { patch: self.patch, baseline },
        }
    }
}

/// Which side of the Networks view an attribution belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Constructed,
    Trained,
}

/// What one attribution map is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributionKey {
    pub network: ExplainedId,
    /// The input's [`super::image_key`].
    pub image: u64,
    /// The class whose logit is attributed (`None`: the predicted class).
    pub class: Option<usize>,
    /// Normalised ([`MethodChoice::normalised`]).
    pub method: MethodChoice,
    /// The dataset generation the mean background is taken from (0 when the method does not use it).
    pub dataset: u64,
}

/// One attribution map of the input, with its scores against the pasted windows.
pub struct Attribution {
    /// `H×W`.
    pub map: Array2<f32>,
    /// The class attributed.
    pub class: usize,
    /// The network's predicted class (largest logit).
    pub predicted: usize,
    /// The pixel of the largest absolute attribution.
    pub peak: (usize, usize),
    /// The peak lies inside a pasted tile's window.
    pub pointing_game: bool,
    /// Share of absolute attribution inside the pasted windows.
    pub mass_in_window: f32,
    /// Changes with the map (texture stamps).
    pub stamp: u64,
}

/// What the score table is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoresKey {
    pub constructed: Option<ExplainedId>,
    pub trained: Option<ExplainedId>,
    /// The dataset generation whose first `samples` samples are scored.
    pub dataset: u64,
    pub samples: usize,
}

/// One method's scores over the samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MethodScore {
    /// Share of samples whose largest absolute attribution lies in a pasted window.
    pub pointing_game: f32,
    /// Mean share of absolute attribution inside the pasted windows.
    pub mass_in_window: f32,
}

/// One network's row group of the score table.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkScores {
    pub name: String,
    /// Constructed detectors whose preferred stimulus holds their tile at their window, of those studied.
    pub recovery: Option<(usize, usize)>,
    /// The same for N2's block channels.
    pub block_recovery: Option<(usize, usize)>,
    /// Per method (`tilelab interpret`'s four): its name and scores, or why it cannot run here.
    pub methods: Vec<(&'static str, Result<MethodScore, String>)>,
}

/// The score table of both sides.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreTable {
    pub networks: Vec<NetworkScores>,
    pub samples: usize,
    /// The grey level of the mean-background baseline.
    pub baseline: f32,
}

/// The attribution jobs of both sides and the score table.
#[derive(Default)]
pub struct Interpretation {
    constructed: Keyed<AttributionKey, Attribution>,
    trained: Keyed<AttributionKey, Attribution>,
    scores: Keyed<ScoresKey, ScoreTable>,
}

impl Interpretation {
    /// Collects finished jobs (a failure is shown where its result would be).
    pub(super) fn poll(&mut self) {
        self.constructed.poll();
        self.trained.poll();
        self.scores.poll();
    }
}

impl Cache {
    /// The attribution maps of `side` (the newest, the running one, the last failure).
    pub fn attribution(&self, side: Side) -> &Keyed<AttributionKey, Attribution> {
        match side {
            Side::Constructed => &self.interpretation.constructed,
            Side::Trained => &self.interpretation.trained,
        }
    }

    /// Attributes `key`'s class of `image` (with its pasted windows `placements`) on `network`
    /// unless done, failed or another map of this side is running.
    pub fn attribute(
        &mut self,
        ctx: Option<&egui::Context>,
        side: Side,
        key: AttributionKey,
        network: Explained,
        (image, placements): (Arc<Array2<f32>>, Vec<Placement>),
    ) {
        let data = self.dataset().filter(|_| self.dataset_generation() == key.dataset).cloned();
        let slot = match side {
            Side::Constructed => &mut self.interpretation.constructed,
            Side::Trained => &mut self.interpretation.trained,
        };
        let request = key.clone();
        slot.request(key, || {
            Job::spawn(&format!("attribution on {}", network.name()), ctx.cloned(), move |_| {
                let grey = data.as_deref().map_or(0.5, baseline_grey);
                network.with_runnable(|runnable| attribution_of(runnable, &request, grey, &image, &placements))
            })
        });
    }

    /// The score tables (the newest, the running one, the last failure).
    pub fn interpret_scores(&self) -> &Keyed<ScoresKey, ScoreTable> {
        &self.interpretation.scores
    }

    /// Scores the networks of `key` on its dataset's first samples unless done, failed or running.
    pub fn score_interpretation(
        &mut self,
        ctx: Option<&egui::Context>,
        classes: &ClassSet,
        key: ScoresKey,
        networks: Vec<Explained>,
    ) {
        self.interpretation.scores.poll();
        if !self.interpretation.scores.needs(&key) {
            return;
        }
        let Some(data) = self.dataset().filter(|_| self.dataset_generation() == key.dataset).cloned() else {
            return self.interpretation.scores.fail(key, "the dataset changed: score again".to_owned());
        };
        let (classes, samples) = (classes.clone(), key.samples.clamp(1, MAX_SCORE_SAMPLES));
        let job = Job::spawn("scoring the interpretability methods", ctx.cloned(), move |shared| {
            let samples = &data.samples[..samples.min(data.samples.len())];
            score_table(&classes, &networks, samples, shared)
        });
        self.interpretation.scores.start(key, job);
    }
}

/// The mean background of the dataset's first samples.
fn baseline_grey(data: &Dataset) -> f32 {
    mean_background(&data.samples[..data.samples.len().min(BASELINE_SAMPLES)])
}

fn attribution_of(
    runnable: &Runnable,
    key: &AttributionKey,
    grey: f32,
    image: &Array2<f32>,
    placements: &[Placement],
) -> Result<Attribution, String> {
    let logits = runnable.logits(image.view()).map_err(|e| e.to_string())?;
    let predicted = argmax(&logits);
    let class = key.class.unwrap_or(predicted);
    let map = runnable.attribute(image.view(), class, key.method.method(grey))?;
    let peak = map.indexed_iter().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).map_or((0, 0), |(at, _)| at);
    Ok(Attribution {
        pointing_game: pointing_game(map.view(), placements),
        mass_in_window: mass_in_window(map.view(), placements),
        stamp: theme::content_hash(map.view(), key.image),
        map,
        class,
        predicted,
        peak,
    })
}

/// Progress over a known number of equal items, some of which report fractions of themselves.
struct Progress<'a> {
    shared: &'a JobShared,
    done: f32,
    total: f32,
}

impl Progress<'_> {
    fn show(&self, part: f32) -> Result<(), String> {
        if self.shared.is_cancelled() {
            return Err("cancelled".to_owned());
        }
        self.shared.set_progress((self.done + part) / self.total.max(1.0));
        Ok(())
    }

    fn finish_item(&mut self) -> Result<(), String> {
        self.done += 1.0;
        self.show(0.0)
    }
}

fn score_table(
    classes: &ClassSet,
    networks: &[Explained],
    samples: &[Sample],
    shared: &JobShared,
) -> Result<ScoreTable, String> {
    let baseline = mean_background(samples);
    let methods = default_methods(baseline);
    let units: usize = networks
        .iter()
        .map(|n| match n {
            Explained::Constructed { net, .. } => constructed_units(net).len(),
            _ => 0,
        })
        .sum();
    #[allow(clippy::cast_precision_loss)] // counts of units and samples
    let total = (units + networks.len() * methods.len() * samples.len()) as f32;
    let mut progress = Progress { shared, done: 0.0, total };
    let mut rows = Vec::with_capacity(networks.len());
    for network in networks {
        let (recovery, block_recovery) = match network {
            Explained::Constructed { net, .. } => recovery_of(classes, net, &mut progress)?,
            _ => (None, None),
        };
        let scored = network.with_runnable(|runnable| -> Result<Vec<_>, String> {
            methods.iter().map(|&method| score_method(runnable, method, samples, &mut progress)).collect()
        })?;
        rows.push(NetworkScores { name: network.name(), recovery, block_recovery, methods: scored });
    }
    Ok(ScoreTable { networks: rows, samples: samples.len(), baseline })
}

/// Recovered of studied, for the detectors and for N2's block channels.
type Recovered = (Option<(usize, usize)>, Option<(usize, usize)>);

/// The preferred stimulus of every constructed detector at its middle window (and of N2's block
/// channels), scored for recovery as `tilelab interpret` does.
fn recovery_of(classes: &ClassSet, built: &Constructed, progress: &mut Progress) -> Result<Recovered, String> {
    let model = Model::Sparse(&built.network);
    let (mut detectors, mut blocks) = ((0, 0), (0, 0));
    for (unit, studied) in constructed_units(built) {
        let goal = if studied.kind == UnitKind::Block { Goal::Minimise } else { Goal::Maximise };
        let gradient = UnitGradient::new(model, unit).map_err(|e| e.to_string())?;
        let options = AscentOptions { goal, ..AscentOptions::default() };
        let mut report = |share: f32| {
            // A cancel is noticed between units; the share only moves the bar.
            let _ = progress.show(share);
        };
        let found = preferred(&gradient, &options, &mut report).map_err(|e| e.to_string())?;
        let scored = score_unit(classes, built, &studied, found.image.view()).map_err(|e| e.to_string())?;
        let tally = if studied.kind == UnitKind::Block { &mut blocks } else { &mut detectors };
        if let Some(recovery) = scored {
            tally.1 += 1;
            tally.0 += usize::from(recovery.recovered);
        }
        progress.finish_item()?;
    }
    let some = |(recovered, studied): (usize, usize)| (studied > 0).then_some((recovered, studied));
    Ok((some(detectors), some(blocks)))
}

/// One method over the samples (each attributing its own class): its scores, or why it cannot run.
#[allow(clippy::cast_precision_loss)] // counts of samples
fn score_method(
    runnable: &Runnable,
    method: Method,
    samples: &[Sample],
    progress: &mut Progress,
) -> Result<(&'static str, Result<MethodScore, String>), String> {
    let (mut pointed, mut mass) = (0usize, 0.0f32);
    for (n, sample) in samples.iter().enumerate() {
        match runnable.attribute(sample.image.view(), sample.label, method) {
            Ok(map) => {
                pointed += usize::from(pointing_game(map.view(), &sample.placements));
                mass += mass_in_window(map.view(), &sample.placements);
                progress.finish_item()?;
            }
            Err(why) => {
                // The method cannot run on this network: the remaining samples are skipped.
                progress.done += (samples.len() - n) as f32;
                return Ok((method.name(), Err(why)));
            }
        }
    }
    let count = samples.len().max(1) as f32;
    let score = MethodScore { pointing_game: pointed as f32 / count, mass_in_window: mass / count };
    Ok((method.name(), Ok(score)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::dataset::{DatasetSpec, generate};
    use crate::core::nn::arch::Arch;
    use crate::core::presets;

    #[test]
    fn options_a_method_does_not_read_leave_its_key_alone() {
        let gradient = MethodChoice::default();
        let other_patch = MethodChoice { patch: 9, baseline: BaselineChoice::Black, ..gradient };
        assert_eq!(gradient.normalised(), other_patch.normalised());
        assert!(!gradient.uses_mean_background(), "the gradient has no baseline");
        let integrated = MethodChoice { kind: MethodKind::IntegratedGradients, ..gradient };
        assert_ne!(integrated.normalised(), MethodChoice { steps: 10, ..integrated }.normalised());
        assert_eq!(integrated.normalised(), MethodChoice { patch: 9, ..integrated }.normalised());
        assert!(integrated.uses_mean_background());
        assert_eq!(
            MethodChoice { kind: MethodKind::Occlusion, ..gradient }.method(0.25),
            Method::Occlusion { patch: 4, baseline: Baseline::Grey(0.25) }
        );
    }

    #[test]
    fn n1_attributions_lie_in_the_pasted_window_and_a_deep_network_offers_occlusion() {
        let classes = presets::fashion_three();
        let spec = DatasetSpec { height: 40, width: 40, samples_per_class: 1, seed: 3, ..DatasetSpec::default() };
        let sample = generate(&classes, &spec).unwrap().samples.remove(0);
        let built = Arc::new(Which::N1.build(&classes, 40, 40).unwrap());
        let n1 = Explained::Constructed { which: Which::N1, key: (0, 40, 40), net: built };
        let key = AttributionKey {
            network: n1.id(),
            image: 1,
            class: None,
            method: MethodChoice::default().normalised(),
            dataset: 0,
        };
        let found = n1.with_runnable(|r| attribution_of(r, &key, 0.5, &sample.image, &sample.placements)).unwrap();
        assert_eq!((found.predicted, found.class), (sample.label, sample.label));
        assert!(found.pointing_game && found.mass_in_window > 0.99, "{}", found.mass_in_window);
        let p = sample.placements[0];
        assert!((p.row..p.row + p.rows).contains(&found.peak.0) && (p.col..p.col + p.cols).contains(&found.peak.1));

        let deep = Explained::Deep { version: 1, net: Arc::new(DeepNet::new(Arch::deep(40, 40, 3), 2).unwrap()) };
        let refused = deep.with_runnable(|r| attribution_of(r, &key, 0.5, &sample.image, &sample.placements));
        assert!(refused.as_ref().err().is_some_and(|e| e.contains("use occlusion")), "{:?}", refused.err());
        let method = MethodChoice { kind: MethodKind::Occlusion, ..MethodChoice::default() }.normalised();
        let occlusion = AttributionKey { method, ..key };
        let occluded =
            deep.with_runnable(|r| attribution_of(r, &occlusion, 0.5, &sample.image, &sample.placements)).unwrap();
        assert_eq!(occluded.map.dim(), (40, 40));
        assert!(occluded.map.iter().any(|v| *v != 0.0));
    }
}
