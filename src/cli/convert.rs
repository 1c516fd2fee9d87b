//! `canrelearn convert IN OUT`: a capture from any readable format to any writable one.

use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use canrelearn::log::writers::{self, CopyError, Options, Target, shown};
use canrelearn::log::{Format, FrameWriter};

/// The format and TRC version parsers, as `record` uses them too.
pub use canrelearn::log::writers::{parse_format, parse_trc_version};

use super::capture::{self, BadLines};
use super::{CliError, WithCode, exit, files, out, signals};

/// Convert a capture from one format to another, streaming (any size).
///
/// The input's format is recognised by its content (gzip-compressed or not); the output's comes
/// from its extension (`.log` candump, `.asc`, `.csv`; `.gz` after it compresses) unless --to
/// says. Nanosecond timestamps, directions, interface names (channel K of a numbered format is
/// `can<K-1>`, and back), CAN FD flags and error frames are kept where the output format can
/// carry them; what it cannot is said on stderr once, with a count, never dropped silently.
///
/// Malformed input records are reported with file and line and skipped (--strict stops at
/// the first, exit 2). A damaged input (a truncated file) keeps everything before the damage
/// in the output and exits 2; Ctrl-C finishes the output with what was read.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The capture to read (`-`: standard input).
    #[arg(value_name = "IN")]
    pub input: PathBuf,

    /// The file to write (`-`: standard output, with --to).
    #[arg(value_name = "OUT")]
    pub output: PathBuf,

    /// The input's format, when recognising it by content is not wanted.
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    pub from: Option<Format>,

    /// The output's format (default: from OUT's extension).
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    pub to: Option<Format>,

    /// Overwrite OUT if it exists.
    #[arg(long)]
    pub force: bool,

    /// Stop at the first malformed input record (exit 2) instead of reporting and skipping it.
    #[arg(long)]
    pub strict: bool,

    /// The PEAK TRC version to write: 1.0, 1.1 (PCAN-Explorer 4/5), 1.3, 2.0 or 2.1 (the
    /// default, which holds everything: older versions lose CAN FD and error frames, buses or
    /// directions, and say so with counts).
    #[arg(long, value_name = "V", default_value = "2.1", value_parser = parse_trc_version)]
    pub trc_version: canrelearn::log::trc::Version,
}

pub fn run(args: Args) -> Result<u8, CliError> {
    let stdout = args.output == Path::new("-");
    let to = writers::output_format(args.to, &args.output).code(exit::USAGE)?;
    let gzip = !stdout && writers::is_gzip_path(&args.output);
    // Everything about the output is checked before the input is read.
    if !stdout {
        files::check(
            &args.output,
            "the output",
            args.force,
            [args.input.as_path()],
        )?;
    }
    let mut reader = capture::open_reader(&args.input, args.from)?;
    // A file is parsed on a thread of its own while this one writes; a pipe is read here, so
    // that what arrives is written as it comes.
    if capture::is_regular_file(&args.input) {
        reader = Box::new(canrelearn::open::ReadAhead::new(reader));
    }
    let from = reader.format();
    let target = if stdout {
        Target::Stream(Box::new(BufWriter::with_capacity(1 << 16, io::stdout())))
    } else {
        let file = files::create(
            &args.output,
            "the output",
            args.force,
            [args.input.as_path()],
        )?;
        let file = BufWriter::with_capacity(1 << 16, file);
        if gzip {
            Target::gzip(Box::new(file))
        } else {
            Target::Seekable(Box::new(file))
        }
    };
    let options = Options {
        trc_version: args.trc_version,
        ..Options::default()
    };
    let mut writer = writers::writer(to, target, &options).code(exit::USAGE)?;
    let mut bad = BadLines::new();
    let copied = writers::copy(
        reader.as_mut(),
        writer.as_mut(),
        args.strict,
        0,
        &signals::interrupted,
        &mut |e| bad.report(e),
    );
    bad.finish();
    let copied = match copied {
        Ok(c) => c,
        Err(CopyError::Read(e)) => {
            say_losses(writer.as_ref());
            return Err(capture::read_error(e));
        }
        Err(CopyError::Write(e)) => {
            return Err(fail!(BUS_IO, "cannot write {}: {e}", shown(&args.output)));
        }
    };
    let (input, output) = (shown(&args.input), shown(&args.output));
    for w in copied.skipped_warnings(&input) {
        out::warn(w);
    }
    say_losses(writer.as_ref());
    if copied.stopped {
        out::note(copied.interrupted_note(&output, writers::dropped(writer.as_ref())));
        return Ok(signals::exit_code());
    }
    if let Some(nothing) = copied.no_frame(&input, from) {
        // The file holds at most a header: nothing to keep.
        if !stdout {
            let _ = std::fs::remove_file(&args.output);
        }
        return Err(nothing).code(exit::USAGE);
    }
    let dropped = writers::dropped(writer.as_ref());
    if let Some(none) = copied.none_written(&output, to, dropped) {
        // The file holds at most a header: nothing to keep, nothing to take for a capture.
        if !stdout {
            let _ = std::fs::remove_file(&args.output);
        }
        return Err(none).code(exit::USAGE);
    }
    out::note(copied.converted_note(&input, from, &output, to, dropped));
    Ok(exit::OK)
}

/// What the output format could not carry, once each with its count, and interface names
/// that became channel numbers under which they will not read back.
pub fn say_losses(writer: &dyn FrameWriter) {
    for w in writers::loss_warnings(writer) {
        out::warn(w);
    }
}
