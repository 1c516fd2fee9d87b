//! The plot command's grammar and sizes: which arguments are logs and which are patterns,
//! the picture's size (`--size WxH`, 1400x900 by default; the watcher's lanes grow with their
//! count), the line-break time (`--break-time`), and how many points a series keeps for a
//! picture of a given width. Pure: whether an argument names a file is the caller's test.

use core::fmt;

/// A size: pixels for a picture, columns x rows for a text chart (`--size WxH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Pixels (or columns) across.
    pub width: u32,
    /// Pixels (or rows) down.
    pub height: u32,
}

/// A picture's size when none is given.
pub const DEFAULT_PICTURE: Size = Size {
    width: 1400,
    height: 900,
};

/// The largest text chart, columns and rows alike.
const MAX_CELLS: u32 = 1000;

/// Why a `--size` value does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// No `x` between the width and the height.
    #[error("{0:?}: give the size as WIDTHxHEIGHT, e.g. 1400x900")]
    Shape(String),
    /// A number that is not one, or out of range.
    #[error("{0:?}: width 20 to 20000, height 10 to 20000")]
    Range(String),
}

impl Size {
    /// `WIDTHxHEIGHT` (`x` or `X`): a width of 20 to 20000 and a height of 10 to 20000.
    pub fn parse(text: &str) -> Result<Size, SizeError> {
        let (w, h) = text
            .split_once(['x', 'X'])
            .ok_or_else(|| SizeError::Shape(text.to_string()))?;
        match (w.parse::<u32>(), h.parse::<u32>()) {
            (Ok(width), Ok(height))
                if (20..=20_000).contains(&width) && (10..=20_000).contains(&height) =>
            {
                Ok(Size { width, height })
            }
            _ => Err(SizeError::Range(text.to_string())),
        }
    }

    /// The size as columns x rows of a text chart: at most 1000 x 1000.
    pub fn cells(self) -> (u16, u16) {
        let cap = |n: u32| u16::try_from(n.min(MAX_CELLS)).unwrap_or(u16::MAX);
        (cap(self.width), cap(self.height))
    }

    /// The picture of the watcher's lanes, `lanes` of them when no size is given: 1400
    /// across, 120 pixels plus 40 a lane down (at most 4000).
    pub fn for_lanes(given: Option<Size>, lanes: usize) -> Size {
        given.unwrap_or_else(|| {
            let lanes = u32::try_from(lanes).unwrap_or(u32::MAX);
            Size {
                width: DEFAULT_PICTURE.width,
                height: 40u32.saturating_mul(lanes).saturating_add(120).min(4000),
            }
        })
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// How many points a series keeps for a picture `given` wide (1400 by default): two a
/// pixel, and never under 200.
pub fn max_points(given: Option<Size>) -> usize {
    let width = given.map_or(DEFAULT_PICTURE.width, |s| s.width);
    usize::try_from(width).map_or(usize::MAX, |w| w.saturating_mul(2).max(200))
}

/// A `--break-time` that is not a positive number of seconds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a positive number of seconds")]
pub struct BreakTimeError(pub String);

/// A line-break time: a finite number of seconds above 0.
pub fn parse_break_time(text: &str) -> Result<f64, BreakTimeError> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(BreakTimeError(text.to_string())),
    }
}

/// The plot command's arguments split into logs and patterns: the logs are the leading
/// arguments that `is_log` accepts (that name files), the patterns everything from the first
/// that it does not.
pub fn split_logs(args: &[String], is_log: impl Fn(&str) -> bool) -> (&[String], &[String]) {
    let split = args.iter().position(|a| !is_log(a)).unwrap_or(args.len());
    args.split_at(split)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_with_either_x_and_within_range() {
        assert_eq!(
            Size::parse("640x480"),
            Ok(Size {
                width: 640,
                height: 480
            })
        );
        assert_eq!(
            Size::parse("20X10"),
            Ok(Size {
                width: 20,
                height: 10
            })
        );
        assert_eq!(
            Size::parse("640").unwrap_err().to_string(),
            "\"640\": give the size as WIDTHxHEIGHT, e.g. 1400x900"
        );
        for bad in ["19x100", "100x9", "20001x10", "ax10", "-5x10", "100x"] {
            assert_eq!(
                Size::parse(bad).unwrap_err().to_string(),
                format!("{bad:?}: width 20 to 20000, height 10 to 20000")
            );
        }
        assert_eq!(Size::parse("640x480").unwrap().to_string(), "640x480");
    }

    #[test]
    fn text_cells_are_capped() {
        assert_eq!(
            Size {
                width: 20_000,
                height: 40
            }
            .cells(),
            (1000, 40)
        );
        assert_eq!(
            Size {
                width: 80,
                height: 5000
            }
            .cells(),
            (80, 1000)
        );
    }

    #[test]
    fn lanes_pictures_grow_with_their_lanes() {
        assert_eq!(
            Size::for_lanes(None, 3),
            Size {
                width: 1400,
                height: 240
            }
        );
        assert_eq!(
            Size::for_lanes(None, 1000),
            Size {
                width: 1400,
                height: 4000
            }
        );
        assert_eq!(Size::for_lanes(None, usize::MAX).height, 4000);
        let given = Size {
            width: 300,
            height: 200,
        };
        assert_eq!(Size::for_lanes(Some(given), 50), given);
    }

    #[test]
    fn points_are_two_a_pixel_at_least_200() {
        assert_eq!(max_points(None), 2800);
        assert_eq!(
            max_points(Some(Size {
                width: 50,
                height: 50
            })),
            200
        );
        assert_eq!(
            max_points(Some(Size {
                width: 640,
                height: 50
            })),
            1280
        );
    }

    #[test]
    fn break_times_are_positive_seconds() {
        assert_eq!(parse_break_time("2.5"), Ok(2.5));
        for bad in ["0", "-1", "inf", "NaN", "x", ""] {
            assert_eq!(
                parse_break_time(bad).unwrap_err().to_string(),
                format!("{bad:?} is not a positive number of seconds")
            );
        }
    }

    #[test]
    fn logs_lead_and_patterns_follow() {
        let args: Vec<String> = ["a.log", "b.log", "Speed", "c.log"]
            .map(String::from)
            .to_vec();
        let (logs, patterns) = split_logs(&args, |a| a.ends_with(".log"));
        assert_eq!(logs, ["a.log", "b.log"]);
        assert_eq!(patterns, ["Speed", "c.log"]);
        let (logs, patterns) = split_logs(&args, |_| true);
        assert_eq!((logs.len(), patterns.len()), (4, 0));
        let (logs, patterns) = split_logs(&args, |_| false);
        assert_eq!((logs.len(), patterns.len()), (0, 4));
    }
}
