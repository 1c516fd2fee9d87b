//! `canrelearn dbc show|check|infer`: inspect and check DBC files, infer one from captures.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use canrelearn::dbc::{Severity, show};

use super::{CliError, WithCode, exit, input};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Messages, ids, lengths, senders, cycle times, signal layout and value tables.
    Show(ShowArgs),
    /// Errors (with line and column) and warnings: overlapping signals, signals outside the
    /// message, duplicate ids, missing cycle times... Exit 2 when there are errors.
    Check(CheckArgs),
    /// A DBC skeleton measured from captures: one message per id with its length, the
    /// measured cycle time of periodic ids (GenMsgCycleTime), a comment with what was
    /// measured and what the bytes did, a raw signal per changing byte. With a second
    /// capture taken with one module unplugged or silent, the ids it lacks are sent by a
    /// node ABSENT_IN_<capture>: that module's own frames. Loads in cantools and in
    /// canrelearn watch/monitor/decode.
    Infer(InferArgs),
}

#[derive(Debug, clap::Args)]
struct InferArgs {
    /// Write the DBC here (default: standard output).
    #[arg(long, short, value_name = "FILE.dbc")]
    output: Option<PathBuf>,
    /// Overwrite OUTPUT if it exists.
    #[arg(long)]
    force: bool,
    /// Captures: the first of a healthy car, then any taken with a module missing.
    #[arg(value_name = "LOG", required = true)]
    logs: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct ShowArgs {
    /// Only the message with this name or id (hex `0x60D` or decimal `1549`).
    #[arg(long, short)]
    message: Option<String>,
    /// Leave out the bit layout diagrams.
    #[arg(long)]
    no_layout: bool,
    /// The DBC file; default: the bundled Nissan Qashqai J11 definitions.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// Treat warnings as errors (exit 2 when there is any).
    #[arg(long)]
    deny_warnings: bool,
    /// The DBC files to check.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
}

pub fn run(args: Args) -> Result<u8, CliError> {
    match args.command {
        Command::Show(a) => show(a),
        Command::Check(a) => check(a),
        Command::Infer(a) => infer(a),
    }
}

fn show(args: ShowArgs) -> Result<u8, CliError> {
    let (db, name) = match &args.file {
        Some(path) => (input::load_dbc(path)?, path.display().to_string()),
        None => (
            input::load_dbcs(&[])?,
            canrelearn::bundled::DBC_NAME.to_string(),
        ),
    };
    let text = match &args.message {
        Some(wanted) => {
            let m = show::find_message(&db, wanted)
                .with_context(|| format!("no message {wanted:?} in {name}"))
                .code(exit::USAGE)?;
            show::one_message(m, !args.no_layout)
        }
        None => show::database(&db, &name, !args.no_layout),
    };
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(exit::OK)
}

fn check(args: CheckArgs) -> Result<u8, CliError> {
    let mut errors = 0usize;
    let mut warnings = 0usize;
    // The verdict does not depend on whether stdout is still read (`| head -1`).
    let mut out = super::out::VerdictOut::new();
    for path in &args.files {
        let bytes = input::read_limited(path, canrelearn::load::MAX_DBC_BYTES, "DBC file")?;
        let diagnostics = canrelearn::dbc::check(&bytes, &path.display().to_string());
        for d in &diagnostics {
            match d.severity {
                Severity::Error => errors += 1,
                Severity::Warning => warnings += 1,
            }
            writeln!(out, "{d}")?;
        }
    }
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    writeln!(
        out,
        "{} file{} checked: {errors} error{}, {warnings} warning{}",
        args.files.len(),
        plural(args.files.len()),
        plural(errors),
        plural(warnings)
    )?;
    out.flush()?;
    if errors > 0 || (args.deny_warnings && warnings > 0) {
        Ok(exit::USAGE)
    } else {
        Ok(exit::OK)
    }
}

fn infer(args: InferArgs) -> Result<u8, CliError> {
    use canrelearn::dbc::infer::{Capture, comparisons, skeleton};
    if let Some(out) = &args.output {
        super::files::check(
            out,
            "the DBC",
            args.force,
            args.logs.iter().map(|p| p.as_path()),
        )?;
    }
    let mut captures = Vec::new();
    for path in &args.logs {
        let baseline = super::capture::learn(path)?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        super::out::note(baseline.describe(&name, 10));
        captures.push(Capture { name, baseline });
    }
    let reference = &captures[0];
    reference
        .baseline
        .require_periodic(&reference.name)
        .map_err(|e| fail!(USAGE, e))?;
    let text = skeleton(&captures);
    // The node names as written (made unique and short by the writer).
    let written = canrelearn::dbc::Database::from_str_named(&text, "skeleton")
        .context("the inferred DBC does not load (a bug)")
        .code(exit::FAILURE)?;
    for line in comparisons(&captures, &written) {
        super::out::note(line);
    }
    match &args.output {
        Some(path) => {
            let inputs = args.logs.iter().map(|p| p.as_path());
            let f = super::files::create(path, "the DBC", args.force, inputs)?;
            canrelearn::create::fill(f, path, text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))
                .code(exit::BUS_IO)?;
            super::out::note(format!(
                "written to {}; check it with canrelearn dbc show {}",
                path.display(),
                path.display()
            ));
        }
        None => {
            let mut out = io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(exit::OK)
}
