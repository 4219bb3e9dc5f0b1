//! Grids of grayscale images (white on black, like MNIST) saved as PNG.
//!
//! Every PNG is written atomically: encoded in memory, written to
//! `<path>.tmp`, then renamed over `<path>`, so a killed process never leaves
//! a half-written picture.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use image::codecs::png::PngEncoder;
use image::{ColorType, ImageEncoder};
use plotters::backend::{BitMapBackend, RGBPixel};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// An error while drawing or writing a picture; the message names the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    /// The picture being written.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

impl RenderError {
    /// An error about `path`.
    pub fn new(path: &Path, message: impl Into<String>) -> Self {
        RenderError {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for RenderError {}

/// The largest width or height of a picture, in pixels.
pub const MAX_SIDE: usize = 32_768;

/// The grey of the padding lines of [`save_grid`].
const PAD_GREY: u8 = 128;

/// The layout of a grid of images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// The rows of pixels of each image.
    pub rows: usize,
    /// The columns of pixels of each image.
    pub cols: usize,
    /// Images per grid row.
    pub grid_cols: usize,
    /// Pixels of padding between images and around the grid.
    pub pad: usize,
    /// Nearest-neighbour upscaling factor (1 = none).
    pub scale: usize,
}

impl Grid {
    /// A grid of `rows` x `cols` images, 10 per grid row, 2 pixels of padding,
    /// upscaled 2 times.
    pub fn new(rows: usize, cols: usize) -> Self {
        Grid {
            rows,
            cols,
            grid_cols: 10,
            pad: 2,
            scale: 2,
        }
    }

    /// The same grid with `grid_cols` images per grid row.
    pub fn with_grid_cols(self, grid_cols: usize) -> Self {
        Grid { grid_cols, ..self }
    }

    /// The same grid with `pad` pixels of padding.
    pub fn with_pad(self, pad: usize) -> Self {
        Grid { pad, ..self }
    }

    /// The same grid upscaled `scale` times.
    pub fn with_scale(self, scale: usize) -> Self {
        Grid { scale, ..self }
    }
}

/// Pixel geometry of a grid of `count` cells of `cell_w` x `cell_h`.
struct Layout {
    grid_cols: usize,
    cell_w: usize,
    cell_h: usize,
    pad: usize,
    width: usize,
    height: usize,
}

impl Layout {
    fn new(
        path: &Path,
        count: usize,
        grid_cols: usize,
        cell: (usize, usize),
        pad: usize,
    ) -> Result<Self, RenderError> {
        let grid_cols = grid_cols.min(count).max(1);
        let grid_rows = count.div_ceil(grid_cols);
        let side = |cells: usize, size: usize| {
            cells
                .checked_mul(size)?
                .checked_add(cells.checked_add(1)?.checked_mul(pad)?)
                .filter(|&s| s <= MAX_SIDE)
        };
        match (side(grid_cols, cell.0), side(grid_rows, cell.1)) {
            (Some(width), Some(height)) => Ok(Layout {
                grid_cols,
                cell_w: cell.0,
                cell_h: cell.1,
                pad,
                width,
                height,
            }),
            _ => Err(RenderError::new(
                path,
                format!("grid of {count} images would be larger than {MAX_SIDE} pixels a side"),
            )),
        }
    }

    /// The top-left corner of cell `k`.
    fn origin(&self, k: usize) -> (usize, usize) {
        let (gr, gc) = (k / self.grid_cols, k % self.grid_cols);
        (
            self.pad + gc * (self.cell_w + self.pad),
            self.pad + gr * (self.cell_h + self.pad),
        )
    }
}

/// Checks the arguments shared by the grid functions; returns the pixels of
/// one image.
fn check_args(
    path: &Path,
    images: &[f32],
    count: usize,
    grid: &Grid,
) -> Result<usize, RenderError> {
    if count == 0 {
        return Err(RenderError::new(path, "no images to draw"));
    }
    if grid.rows == 0 || grid.cols == 0 || grid.scale == 0 {
        return Err(RenderError::new(
            path,
            format!(
                "image size {} x {} at scale {} is empty",
                grid.rows, grid.cols, grid.scale
            ),
        ));
    }
    let dim = grid.rows.checked_mul(grid.cols);
    let need = dim.and_then(|d| d.checked_mul(count));
    match (dim, need) {
        (Some(dim), Some(need)) if images.len() >= need => Ok(dim),
        _ => Err(RenderError::new(
            path,
            format!(
                "{} values given for {count} images of {} x {}",
                images.len(),
                grid.rows,
                grid.cols
            ),
        )),
    }
}

/// A value in `[0, 1]` as a byte; NaN is 0, values outside are clamped.
fn to_byte(v: f32) -> u8 {
    if v.is_nan() {
        0
    } else {
        (v.clamp(0.0, 1.0) * 255.0).round() as u8
    }
}

/// Copies image `img` (`grid.rows` x `grid.cols`, upscaled) into `buf`
/// (`width` pixels per row, `channels` bytes per pixel) at `(x0, y0)`.
fn blit(
    buf: &mut [u8],
    width: usize,
    channels: usize,
    img: &[f32],
    grid: &Grid,
    (x0, y0): (usize, usize),
) {
    let s = grid.scale;
    for y in 0..grid.rows * s {
        let src = &img[(y / s) * grid.cols..(y / s + 1) * grid.cols];
        let row = (y0 + y) * width;
        for x in 0..grid.cols * s {
            let v = to_byte(src[x / s]);
            let at = (row + x0 + x) * channels;
            buf[at..at + channels].fill(v);
        }
    }
}

/// Saves `count` images as a grid PNG (8-bit grayscale, white on black).
///
/// `images` holds the images one after another, each `grid.rows * grid.cols`
/// values in `[0, 1]`, row-major (values outside are clamped, NaN is black).
/// Images are laid out `grid.grid_cols` per row, separated and surrounded by
/// `grid.pad` pixels of mid grey, each upscaled `grid.scale` times.
pub fn save_grid(
    path: &Path,
    images: &[f32],
    count: usize,
    grid: &Grid,
) -> Result<(), RenderError> {
    let dim = check_args(path, images, count, grid)?;
    let cell = (grid.cols * grid.scale, grid.rows * grid.scale);
    let layout = Layout::new(path, count, grid.grid_cols, cell, grid.pad)?;
    let mut buf = vec![PAD_GREY; layout.width * layout.height];
    for (k, img) in images.chunks_exact(dim).take(count).enumerate() {
        blit(&mut buf, layout.width, 1, img, grid, layout.origin(k));
    }
    write_png(path, &buf, layout.width, layout.height, ColorType::L8)
}

/// The font size of captions, in pixels.
const CAPTION_PX: u32 = 14;

/// Saves a grid like [`save_grid`], with a caption under each image (e.g.
/// `"idx 123  score 310.2"`), black text on white. There is one image per
/// caption. Cells widen to fit the longest caption.
pub fn save_grid_labeled<S: AsRef<str>>(
    path: &Path,
    images: &[f32],
    captions: &[S],
    grid: &Grid,
) -> Result<(), RenderError> {
    crate::plots::ensure_font().map_err(|m| RenderError::new(path, m))?;
    let count = captions.len();
    let dim = check_args(path, images, count, grid)?;
    let font = ("sans-serif", CAPTION_PX).into_font();
    let mut text_w = 0;
    for c in captions {
        let (w, _) = font
            .box_size(c.as_ref())
            .map_err(|e| RenderError::new(path, format!("cannot measure text: {e}")))?;
        text_w = text_w.max(w as usize);
    }
    let (tile_w, tile_h) = (grid.cols * grid.scale, grid.rows * grid.scale);
    let band = CAPTION_PX as usize + 6;
    let cell = (tile_w.max(text_w + 4), tile_h + band);
    let layout = Layout::new(path, count, grid.grid_cols, cell, grid.pad.max(4))?;
    let (w, h) = (layout.width, layout.height);

    let mut buf = vec![255u8; w * h * 3];
    for (k, img) in images.chunks_exact(dim).take(count).enumerate() {
        let (x, y) = layout.origin(k);
        blit(&mut buf, w, 3, img, grid, (x + (cell.0 - tile_w) / 2, y));
    }
    draw_captions(&mut buf, &layout, captions, tile_h)
        .map_err(|m| RenderError::new(path, format!("cannot draw captions: {m}")))?;
    write_png(path, &buf, w, h, ColorType::Rgb8)
}

fn draw_captions<S: AsRef<str>>(
    buf: &mut [u8],
    layout: &Layout,
    captions: &[S],
    tile_h: usize,
) -> Result<(), String> {
    let size = (layout.width as u32, layout.height as u32);
    let backend =
        BitMapBackend::<RGBPixel>::with_buffer_and_format(buf, size).map_err(|e| e.to_string())?;
    let root = backend.into_drawing_area();
    let style = ("sans-serif", CAPTION_PX)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Top));
    for (k, c) in captions.iter().enumerate() {
        let (x, y) = layout.origin(k);
        let at = ((x + layout.cell_w / 2) as i32, (y + tile_h + 3) as i32);
        root.draw(&Text::new(c.as_ref(), at, &style))
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

/// Encodes raw pixels as PNG and writes them to `path` atomically (through
/// `<path>.tmp` and a rename).
pub fn write_png(
    path: &Path,
    pixels: &[u8],
    width: usize,
    height: usize,
    color: ColorType,
) -> Result<(), RenderError> {
    let (w, h) = match (u32::try_from(width), u32::try_from(height)) {
        (Ok(w), Ok(h)) => (w, h),
        _ => return Err(RenderError::new(path, "picture too large for PNG")),
    };
    let need = width
        .checked_mul(height)
        .and_then(|n| n.checked_mul(usize::from(color.bytes_per_pixel())));
    if need != Some(pixels.len()) {
        return Err(RenderError::new(
            path,
            format!(
                "{} bytes given for a {width} x {height} {color:?} picture",
                pixels.len()
            ),
        ));
    }
    let mut encoded = Vec::new();
    PngEncoder::new(&mut encoded)
        .write_image(pixels, w, h, color)
        .map_err(|e| RenderError::new(path, format!("cannot encode PNG: {e}")))?;
    write_atomic(path, &encoded)
}

/// Writes `bytes` to `<path>.tmp`, then renames it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RenderError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, path));
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        RenderError::new(path, format!("cannot write: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::load_dir;

    /// A fresh temporary folder for this test.
    fn out_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vae-images-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn real_digits(count: usize) -> (Vec<f32>, Vec<usize>, Vec<u8>) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
        let test = load_dir(&dir).unwrap().test;
        let pixels = test.images[..count * test.dim()]
            .iter()
            .map(|&p| f32::from(p) / 255.0)
            .collect();
        let labels = test.labels.unwrap()[..count].to_vec();
        (pixels, vec![test.rows, test.cols], labels)
    }

    #[test]
    fn grid_of_real_digits() {
        let (pixels, shape, _) = real_digits(25);
        let path = out_dir("grid").join("grid.png");
        let grid = Grid::new(shape[0], shape[1]);
        save_grid(&path, &pixels, 25, &grid).unwrap();
        let img = image::open(&path).unwrap().to_luma8();
        assert_eq!(img.dimensions(), (10 * 56 + 11 * 2, 3 * 56 + 4 * 2));
        assert_eq!(img.get_pixel(0, 0).0, [PAD_GREY]);
        let distinct: std::collections::HashSet<u8> = img.pixels().map(|p| p.0[0]).collect();
        assert!(distinct.len() > 100, "{}", distinct.len());
        assert!(!PathBuf::from(format!("{}.tmp", path.display())).exists());
    }

    #[test]
    fn grid_with_captions() {
        let (pixels, shape, labels) = real_digits(12);
        let captions: Vec<String> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| format!("idx {i}  score {:.1}", 100.0 + 17.3 * f64::from(*l)))
            .collect();
        let path = out_dir("labeled").join("anomalies.png");
        let grid = Grid::new(shape[0], shape[1])
            .with_grid_cols(6)
            .with_scale(3);
        save_grid_labeled(&path, &pixels, &captions, &grid).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        let (w, h) = img.dimensions();
        assert!(w >= 6 * 84 && h >= 2 * (84 + 19), "{w} x {h}");
        // Black caption text on the white band under the first tile.
        let band = (0..w).flat_map(|x| (90..104).map(move |y| (x, y)));
        let dark = band.filter(|&(x, y)| img.get_pixel(x, y).0[0] < 80).count();
        assert!(dark > 50, "{dark} dark pixels in the caption band");
    }

    #[test]
    fn values_are_clamped_and_nan_is_black() {
        let path = out_dir("clamp").join("clamp.png");
        let grid = Grid::new(1, 4).with_pad(0).with_scale(1);
        save_grid(&path, &[f32::NAN, -1.0, 2.0, 0.5], 1, &grid).unwrap();
        let img = image::open(&path).unwrap().to_luma8();
        assert_eq!(img.into_raw(), [0, 0, 255, 128]);
    }

    #[test]
    fn bad_arguments_are_errors() {
        let path = out_dir("bad").join("bad.png");
        let grid = Grid::new(2, 2);
        let err = save_grid(&path, &[0.5; 7], 2, &grid).unwrap_err();
        assert_eq!(err.message, "7 values given for 2 images of 2 x 2");
        assert!(err.to_string().starts_with(&path.display().to_string()));
        let err = save_grid(&path, &[], 0, &grid).unwrap_err();
        assert_eq!(err.message, "no images to draw");
        let err = save_grid(&path, &[0.0; 4], 1, &grid.with_scale(0)).unwrap_err();
        assert_eq!(err.message, "image size 2 x 2 at scale 0 is empty");
        let err = save_grid(&path, &[0.0; 4], 1, &grid.with_scale(100_000)).unwrap_err();
        assert!(err.message.contains("larger than"), "{}", err.message);
        let err = write_png(&path, &[0; 5], 2, 2, ColorType::L8).unwrap_err();
        assert_eq!(err.message, "5 bytes given for a 2 x 2 L8 picture");
        let missing = path.with_file_name("no/such/dir.png");
        let err = save_grid(&missing, &[0.0; 4], 1, &grid).unwrap_err();
        assert!(err.message.starts_with("cannot write"), "{}", err.message);
        assert!(!path.exists());
    }
}
