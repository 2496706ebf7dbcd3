//! The PNG drawing backend: plotters' `BitMapBackend` with text drawn at the true glyph positions.
//!
//! plotters' `ab_glyph` text drawing puts each glyph's bounding box at the pen position, dropping
//! the glyph's left side bearing, so narrow glyphs such as `1` leave visible gaps ("0.01 4").
//! [`Raster`] delegates everything to `BitMapBackend` except `draw_text`, which rasterises each
//! glyph where the font places it, inside the same layout box plotters uses to align text (so
//! anchors, rotation and the space reserved for labels stay as plotters computes them). Every
//! family is drawn with the embedded font, the only one the figures use.

use ab_glyph::{Font, FontRef, ScaleFont, point};
use plotters::prelude::{BitMapBackend, DrawingBackend};
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind};

use super::{FONT_BYTES, PlotError};

/// `BitMapBackend` with correct glyph placement.
pub(super) struct Raster<'a> {
    inner: BitMapBackend<'a>,
    font: FontRef<'static>,
}

impl<'a> Raster<'a> {
    /// Wraps a bitmap backend; fails only if the embedded font cannot be parsed.
    pub(super) fn new(inner: BitMapBackend<'a>) -> Result<Self, PlotError> {
        let font = FontRef::try_from_slice(FONT_BYTES).map_err(|_| PlotError::Font)?;
        Ok(Self { inner, font })
    }

    /// Coverage `(x, y, alpha)` of `text` at `size` px, relative to the top left of plotters'
    /// layout box; the baseline sits half the font size below the top, as in plotters.
    fn coverage(&self, text: &str, size: f32) -> Vec<(i32, i32, f32)> {
        let scaled = self.font.as_scaled(size);
        let mut pixels = Vec::new();
        let mut caret = 0.0f32;
        let mut previous = None;
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(previous) = previous {
                caret += scaled.kern(previous, id);
            }
            if let Some(outline) = scaled.outline_glyph(id.with_scale_and_position(size, point(caret, 0.0))) {
                let bounds = outline.px_bounds();
                let (left, top) = (bounds.min.x as i32, (size / 2.0 + bounds.min.y) as i32);
                outline.draw(|x, y, alpha| pixels.push((left + x as i32, top + y as i32, alpha)));
            }
            caret += scaled.h_advance(id);
            previous = Some(id);
        }
        pixels
    }
}

/// What every drawing call returns.
type DrawResult<'a> = Result<(), DrawingErrorKind<<BitMapBackend<'a> as DrawingBackend>::ErrorType>>;

impl<'a> DrawingBackend for Raster<'a> {
    type ErrorType = <BitMapBackend<'a> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> DrawResult<'a> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> DrawResult<'a> {
        self.inner.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> DrawResult<'a> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(&mut self, from: BackendCoord, to: BackendCoord, style: &S) -> DrawResult<'a> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> DrawResult<'a> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn blit_bitmap(&mut self, pos: BackendCoord, size: (u32, u32), src: &[u8]) -> DrawResult<'a> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn draw_text<S: BackendTextStyle>(&mut self, text: &str, style: &S, pos: BackendCoord) -> DrawResult<'a> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let ((min_x, min_y), (max_x, max_y)) =
            style.layout_box(text).map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
        let (width, height) = (max_x - min_x, max_y - min_y);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let transform = style.transform();
        let (image_width, image_height) = self.get_size();
        for (x, y, alpha) in self.coverage(text, style.size() as f32) {
            let (x, y) = transform.transform(x + dx - min_x, y + dy - min_y);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if x >= 0 && y >= 0 && x < image_width as i32 && y < image_height as i32 {
                let pixel = BackendColor { alpha: color.alpha * f64::from(alpha), rgb: color.rgb };
                self.inner.draw_pixel((x, y), pixel)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};

    use super::*;
    use crate::core::plot::{ensure_font, text_style};

    /// Columns that hold ink (any non-white pixel) after drawing `text` at x = 20, with
    /// [`Raster`] (`fixed`) or with plotters' own bitmap text, and the layout width.
    fn ink_columns(text: &str, size_px: f64, fixed: bool) -> (Vec<u32>, u32) {
        ensure_font().expect("font");
        let (width, height) = (400u32, 100u32);
        let mut rgb = vec![255u8; (width * height * 3) as usize];
        let style = text_style(size_px, 1.0).pos(Pos::new(HPos::Left, VPos::Top));
        let layout_width = if fixed {
            let backend = Raster::new(BitMapBackend::with_buffer(&mut rgb, (width, height))).expect("font parses");
            draw_text_on(&backend.into_drawing_area(), text, style)
        } else {
            draw_text_on(&BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area(), text, style)
        };
        let inked = (0..width).filter(|&x| (0..height).any(|y| rgb[((y * width + x) * 3) as usize] < 200)).collect();
        (inked, layout_width)
    }

    fn draw_text_on<DB: DrawingBackend>(
        root: &DrawingArea<DB, plotters::coord::Shift>,
        text: &str,
        style: TextStyle<'static>,
    ) -> u32 {
        let layout_width = root.estimate_text_size(text, &style).expect("layout").0;
        root.draw(&Text::new(text, (20, 20), style)).expect("draws");
        root.present().expect("presents");
        layout_width
    }

    fn widest_gap(columns: &[u32]) -> u32 {
        columns.windows(2).map(|w| w[1] - w[0] - 1).max().unwrap_or(0)
    }

    #[test]
    fn glyphs_keep_their_side_bearings() {
        // DejaVu's "1" has a left bearing of about 0.1 em (4 px here): its ink must not start at the pen.
        let (fixed, _) = ink_columns("1", 50.0, true);
        let (plain, _) = ink_columns("1", 50.0, false);
        assert!(fixed[0] >= 20 + 3, "ink starts at column {}", fixed[0]);
        assert!(plain[0] < fixed[0], "plotters' own drawing drops the bearing");
    }

    #[test]
    fn digits_are_evenly_spaced_and_fit_the_layout() {
        let (fixed, layout_width) = ink_columns("1.014", 40.0, true);
        let (plain, _) = ink_columns("1.014", 40.0, false);
        let last = *fixed.last().expect("ink");
        assert!(last <= 20 + layout_width + 2, "ink ends at {last}, layout is {layout_width} wide");
        assert!(widest_gap(&fixed) < widest_gap(&plain), "{} vs {}", widest_gap(&fixed), widest_gap(&plain));
    }
}
