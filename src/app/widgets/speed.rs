//! The training speed control shared by the Training view and lecture step 7: full speed, or a
//! limit in samples per second, down to a few steps per second.

use crate::app::training_job::{SPEED_RANGE, Speed};

/// The speed control: full speed, or at most so many samples per second, so a room can watch
/// the filters form. Returns the speed chosen.
pub fn speed_ui(ui: &mut egui::Ui, speed: Speed, batch_size: usize) -> Speed {
    let mut slow = matches!(speed, Speed::SamplesPerSecond(_));
    // Two steps per second is slow enough to follow each update.
    let mut rate = match speed {
        Speed::SamplesPerSecond(rate) => rate,
        Speed::Full => 2.0 * batch_size.max(1) as f32,
    };
    ui.horizontal(|ui| {
        ui.checkbox(&mut slow, "Slow motion")
            .on_hover_text("Limit the training speed, so the filters can be watched as they form");
        let slider = egui::Slider::new(&mut rate, SPEED_RANGE).logarithmic(true).suffix(" samples/s");
        ui.add_enabled(slow, slider);
    });
    if !slow {
        return Speed::Full;
    }
    let steps = rate / batch_size.max(1) as f32;
    ui.small(format!("≈ {steps:.1} steps per second (batches of {batch_size})"));
    Speed::limited(rate)
}
