//! Number fields whose typed values apply on Enter or when the field loses focus, not per keystroke.

use std::ops::RangeInclusive;

use egui::emath::Numeric;

/// A labelled slider: dragging applies live, a typed value applies on Enter or when the field
/// loses focus (typing "30" must not pass through 3 on the way).
pub fn slider<'a, Num: Numeric>(value: &'a mut Num, range: RangeInclusive<Num>, label: &str) -> egui::Slider<'a> {
    egui::Slider::new(value, range).text(label).update_while_editing(false)
}

/// A number field: dragging applies live, a typed value applies on Enter or when it loses focus.
pub fn field<Num: Numeric>(value: &mut Num) -> egui::DragValue<'_> {
    egui::DragValue::new(value).update_while_editing(false)
}
