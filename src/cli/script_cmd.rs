//! `canrelearn script`: work on procedure scripts without a car.
//!
//! - `script from-capture LOG --tx ID --rx ID -o SCRIPT`: a captured dealer-tool session (a
//!   candump log) becomes a procedure script for review (the work is in
//!   `canrelearn::procedure::capture`; this file reads the log and writes the text).
//! - `script check SCRIPT`: loads a script and prints what it would do.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use canrelearn::log::{self, Walk};
use canrelearn::procedure::Script;
use canrelearn::procedure::capture::{self, Capture, CaptureConfig, ScriptOptions};

use super::capture::{self as captures, BadLines};
use super::input::parse_id;
use super::{CliError, WithCode, exit, files};

/// Make and check procedure scripts (the format of scripts/README.md).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, clap::Subcommand)]
enum Cmd {
    /// Turn a captured diagnostic session (a candump log) into a procedure script to review.
    ///
    /// Only frames on --tx (tester -> module) and --rx (module -> tester) are used; ISO-TP is
    /// reassembled both ways. Each request and its final answer becomes a step with the exact
    /// bytes and the observed timing as a comment; response-pending answers are skipped; a
    /// repeated TesterPresent becomes the module's keep-alive; `10 XX` becomes a session step;
    /// a request repeated until its answer changed becomes one poll step. Services that change
    /// the module are marked `writes = true`. Every step is labelled a placeholder: review the
    /// script (`canrelearn script check`) before running it on a car.
    FromCapture(FromCaptureArgs),
    /// Load a script and print a summary: modules, parameters, preconditions, steps with their
    /// writes flags and provenance. Exit 2 with file:line:column when it does not load.
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
struct FromCaptureArgs {
    /// The candump log (`-` for standard input; gzip is read transparently).
    #[arg(value_name = "LOG")]
    log: PathBuf,

    /// Request id, tester -> module (hex: 0x745, 745, 18DA40F1; 8 digits = 29-bit).
    #[arg(long, value_name = "ID")]
    tx: String,

    /// Response id, module -> tester (hex).
    #[arg(long, value_name = "ID")]
    rx: String,

    /// Ids are 29-bit (also implied by 8 hex digits).
    #[arg(long)]
    extended: bool,

    /// Where to write the script; `-` for standard output.
    #[arg(short, long, value_name = "SCRIPT")]
    output: PathBuf,

    /// Overwrite the output file if it exists.
    #[arg(long)]
    force: bool,

    /// The procedure's name (default: the log's file name without extension).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// The module's name in the script.
    #[arg(long, value_name = "NAME", default_value = "module")]
    module: String,

    /// How many identical requests in a row make a poll step.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u16).range(2..))]
    min_repeats: u16,

    /// Stop at the first malformed log line (exit 2) instead of skipping it with a warning.
    #[arg(long)]
    strict: bool,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// The procedure script (TOML).
    #[arg(value_name = "SCRIPT")]
    script: PathBuf,
}

pub fn run(args: Args) -> Result<u8, CliError> {
    match args.command {
        Cmd::FromCapture(a) => from_capture(a),
        Cmd::Check(a) => check(a),
    }
}

fn to_stdin(p: &Path) -> bool {
    p == Path::new("-")
}

fn from_capture(a: FromCaptureArgs) -> Result<u8, CliError> {
    let tx = parse_id(&a.tx, a.extended)?;
    let rx = parse_id(&a.rx, a.extended)?;
    if tx == rx {
        return Err(fail!(USAGE, "--tx and --rx are the same id ({tx})"));
    }
    if !ScriptOptions::valid_module_name(&a.module) {
        return Err(fail!(
            USAGE,
            "--module {:?}: a module name is 1 to 64 letters, digits, `_` or `-` (like BCM or IPDM_ER)",
            a.module
        ));
    }
    let to_stdout = a.output == Path::new("-");
    if !to_stdout {
        files::check(&a.output, "the script", a.force, [a.log.as_path()])?;
    }
    let log_name = if to_stdin(&a.log) {
        "<stdin>".to_string()
    } else {
        a.log.display().to_string()
    };
    let mut reader = captures::open_reader(&a.log, None)?;
    let mut cap = Capture::new(CaptureConfig::new(tx, rx));
    let mut bad = BadLines::new();
    let walk = log::each_frame::<CliError>(
        reader.as_mut(),
        &|| false,
        &mut |e| match a.strict {
            true => Err(captures::read_error(e)),
            false => bad.take(e),
        },
        &mut |r| {
            cap.handle_frame(r.timestamp, &r.frame);
            Ok(())
        },
    )?;
    if let Walk::Failed(e) = walk {
        return Err(captures::read_error(e));
    }
    bad.finish();
    let analysis = cap.finish();
    if let Some(why) = analysis.missing_id([(tx, "--tx"), (rx, "--rx")], &log_name) {
        return Err(fail!(USAGE, why));
    }
    let plan = capture::plan(&analysis, usize::from(a.min_repeats));
    let name = a.name.clone().unwrap_or_else(|| {
        let file_name = a.log.file_name().map(|s| s.to_string_lossy());
        ScriptOptions::default_name(file_name.as_deref().unwrap_or_default())
    });
    let opts = ScriptOptions {
        name,
        module: a.module.clone(),
        log_name: log_name.clone(),
    };
    let text = capture::render_script(&analysis, &plan, &opts)
        .map_err(|e| {
            anyhow!(
                "{e} in {log_name}: no exchange to make a script from (is --tx the tester's \
                 request id and --rx the module's response id?)"
            )
        })
        .code(exit::USAGE)?;
    // The text must load; if it does not, that is our bug, not the user's input.
    let script = Script::from_toml(&text, "generated script")
        .context("the generated script does not load (please report this)")
        .code(exit::FAILURE)?;
    if to_stdout {
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
    } else {
        let f = files::create(&a.output, "the script", a.force, [a.log.as_path()])?;
        canrelearn::create::fill(f, &a.output, text.as_bytes())
            .with_context(|| format!("writing {}", a.output.display()))
            .code(exit::BUS_IO)?;
    }
    let polls = script
        .steps
        .iter()
        .filter(|s| s.kind_name() == "poll")
        .count();
    let writes = script.steps.iter().filter(|s| s.writes()).count();
    let what = capture::summary(&analysis, &plan, script.steps.len(), polls, writes);
    super::out::note(match to_stdout {
        true => format!("{what}; review it before use"),
        false => format!(
            "{what}; written to {}; review it before use (canrelearn script check {})",
            a.output.display(),
            a.output.display()
        ),
    });
    Ok(exit::OK)
}

fn check(a: CheckArgs) -> Result<u8, CliError> {
    let script = super::input::load_script(&a.script)?;
    let o = canrelearn::procedure::review::review(&script, &a.script.display().to_string());
    let mut out = io::stdout().lock();
    out.write_all(o.as_bytes())?;
    Ok(exit::OK)
}
