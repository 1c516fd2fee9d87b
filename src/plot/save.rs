//! Pictures on disk: a chart or the watcher's lanes drawn into an SVG or PNG file, and the font
//! their text needs. An edge module: it reads font files and writes pictures.
//!
//! A picture is drawn and encoded completely in memory before its file is created, and a
//! file that cannot be written whole (a full disk) is removed: an error leaves no half-drawn
//! or truncated picture behind.
//! The output rules are [`crate::create`]'s: never over an input, never over an existing
//! file unless forced.

use std::path::{Path, PathBuf};

use image::codecs::png::PngEncoder;
use image::{ColorType, ImageEncoder};
use plotters::prelude::*;

use super::nodes::Lanes;
use super::{Chart, PlotError, draw};
use crate::create::{self, CreateError};

/// The picture formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Picture {
    Svg,
    Png,
}

impl Picture {
    /// The format a file name asks for: `.svg` or `.png` (any case).
    pub fn for_path(path: &Path) -> Option<Picture> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "svg" => Some(Picture::Svg),
            "png" => Some(Picture::Png),
            _ => None,
        }
    }
}

/// What a picture shows.
#[derive(Debug, Clone, Copy)]
pub enum Drawing<'a> {
    Signals(&'a Chart),
    Lanes(&'a Lanes),
}

impl Drawing<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
        title: Option<&str>,
    ) -> Result<(), PlotError> {
        match self {
            Drawing::Signals(c) => draw::draw(root, c, title),
            Drawing::Lanes(l) => draw::draw_lanes(root, l, title),
        }
    }
}

/// Why a picture was not written.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The drawing failed.
    #[error("{}: {source}", path.display())]
    Draw {
        path: PathBuf,
        #[source]
        source: PlotError,
    },
    /// The file may not be created (an input, or existing without force), or could not be.
    #[error(transparent)]
    Create(#[from] CreateError),
    /// Writing failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Draws `drawing` (`size` pixels, with `title`) into `path` as a `kind` picture; `force`
/// and `inputs` as for [`create::create`].
pub fn write_picture(
    kind: Picture,
    path: &Path,
    drawing: &Drawing<'_>,
    size: (u32, u32),
    title: Option<&str>,
    force: bool,
    inputs: &[&Path],
) -> Result<(), SaveError> {
    let draw_error = |source| SaveError::Draw {
        path: path.to_path_buf(),
        source,
    };
    let write_error = |source| SaveError::Write {
        path: path.to_path_buf(),
        source,
    };
    let bytes = match kind {
        Picture::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
                drawing.draw(&root, title).map_err(draw_error)?;
            }
            svg.into_bytes()
        }
        Picture::Png => {
            let (w, h) = size;
            let mut rgb = vec![0u8; w as usize * h as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
                drawing.draw(&root, title).map_err(draw_error)?;
            }
            let mut png = Vec::new();
            PngEncoder::new(&mut png)
                .write_image(&rgb, w, h, ColorType::Rgb8)
                .map_err(|e| draw_error(PlotError::Draw(format!("encoding the PNG: {e}"))))?;
            png
        }
    };
    let f = create::create(path, "the picture", force, inputs.iter().copied())?;
    create::fill(f, path, &bytes).map_err(write_error)
}

/// Fonts tried when none is given (Debian/Ubuntu, Fedora, Arch paths).
const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/noto/NotoSans-Regular.ttf",
];

/// Why no font could be registered.
#[derive(Debug, thiserror::Error)]
pub enum FontError {
    #[error(
        "a picture needs a TrueType font and none was found (looked for DejaVu Sans, Liberation Sans, Noto Sans): install fonts-dejavu-core, give --font FILE, or leave out -o for a text chart"
    )]
    NoneFound,
    #[error("cannot read the font {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a TrueType/OpenType font", path.display())]
    NotAFont { path: PathBuf },
}

/// Registers the font pictures use for their text: `given`, else the first of the usual
/// system fonts found. plotters keeps fonts for the life of the process.
pub fn load_font(given: Option<&Path>) -> Result<(), FontError> {
    let path = match given {
        Some(p) => p.to_path_buf(),
        None => FONTS
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or(FontError::NoneFound)?,
    };
    let bytes = std::fs::read(&path).map_err(|source| FontError::Read {
        path: path.clone(),
        source,
    })?;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| FontError::NotAFont { path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_picture_kinds_by_extension() {
        assert_eq!(Picture::for_path(Path::new("a.SVG")), Some(Picture::Svg));
        assert_eq!(
            Picture::for_path(Path::new("dir/a.png")),
            Some(Picture::Png)
        );
        assert_eq!(Picture::for_path(Path::new("a.jpg")), None);
        assert_eq!(Picture::for_path(Path::new("svg")), None);
    }

    #[test]
    fn test_a_font_that_is_not_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("fake.ttf");
        std::fs::write(&fake, b"not a font").unwrap();
        assert!(matches!(
            load_font(Some(&fake)),
            Err(FontError::NotAFont { .. })
        ));
        let missing = dir.path().join("missing.ttf");
        assert!(matches!(
            load_font(Some(&missing)),
            Err(FontError::Read { .. })
        ));
    }
}
