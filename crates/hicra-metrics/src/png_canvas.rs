//! Charts drawn into memory and written as PNG files by the `png` crate.
//!
//! plotters' own file encoder goes through the `image` crate (with JPEG, BMP and GIF codecs
//! hicra never writes), a sizeable part of a cold build; drawing into an RGB buffer and
//! encoding it here needs only `png`.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

/// The drawing area a chart is drawn on: an in-memory RGB bitmap.
pub type Canvas<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Draws on a white `size` (width, height) canvas with `draw`, then writes it to `path` as an
/// 8-bit RGB PNG. Drawing and file errors come back as text.
pub fn draw_png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&Canvas<'_>) -> Result<(), String>,
) -> Result<(), String> {
    let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    write_rgb_png(path, size, &pixels).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn write_rgb_png(path: &Path, (width, height): (u32, u32), pixels: &[u8]) -> Result<(), String> {
    let file = File::create(path).map_err(|e| e.to_string())?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(pixels).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drawing_comes_back_from_its_png_pixel_for_pixel() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chart.png");
        draw_png(&path, (40, 30), |area| {
            area.draw(&Rectangle::new([(5, 5), (14, 9)], RED.filled()))
                .map_err(|e| e.to_string())
        })
        .unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (40, 30));
        assert_eq!(info.color_type, png::ColorType::Rgb);
        let pixel = |x: usize, y: usize| &buf[(y * 40 + x) * 3..(y * 40 + x) * 3 + 3];
        assert_eq!(pixel(0, 0), [255, 255, 255], "the background is white");
        assert_eq!(pixel(7, 7), [255, 0, 0], "the rectangle is red");
        assert_eq!(pixel(20, 20), [255, 255, 255]);
    }

    #[test]
    fn an_unwritable_path_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing/chart.png");
        let err = draw_png(&path, (4, 4), |_| Ok(())).unwrap_err();
        assert!(err.contains("missing/chart.png"), "{err}");
    }
}
