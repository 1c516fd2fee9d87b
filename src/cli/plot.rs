//! `canrelearn plot`: signals over time from captures, as SVG or PNG (plotters), or as a chart
//! in the terminal (ratatui). The selection, collection and drawing are
//! [`canrelearn::plot`]'s; this reads the logs, finds a font, and writes the file.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use canrelearn::output::pipeline::PipelineError;
use canrelearn::plot::nodes::NodesRun;
use canrelearn::plot::options::{self, DEFAULT_PICTURE, Size};
use canrelearn::plot::run::RunPlotError;
use canrelearn::plot::save::{Drawing, Picture, SaveError, load_font};
use canrelearn::plot::{Collector, Layout, Limit, text};

use super::common::DbcArgs;
use super::{CliError, WithCode, capture, exit, files, input, out, signals};
use canrelearn::log::Walk;

/// Plot signals over time from captures, as cantools' `plot` does: an SVG or PNG picture
/// (-o), or a chart in the terminal.
///
/// Arguments: one or more logs (any capture format), then signal patterns: `[MESSAGE.]SIGNAL`
/// with `*` and `?` (or regular expressions with --regex); `-` starts a new subplot, `,` puts
/// the following patterns on a second y-axis. No pattern: every signal. Lines break where a
/// signal is silent (10 median intervals, or --break-time); enumerations show their labels;
/// axis titles carry the units. A pattern matching no signal of the DBC is an error (exit 2),
/// and so is a plot where none of the selected signals appears in the logs.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub dbc: DbcArgs,

    /// The picture: FILE.svg or FILE.png. Without it, a text chart on stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Overwrite the picture if it exists.
    #[arg(long)]
    pub force: bool,

    /// The patterns are regular expressions (anchored), not globs.
    #[arg(long)]
    pub regex: bool,

    /// Patterns match regardless of case.
    #[arg(long, short = 'i')]
    pub ignore_case: bool,

    /// From this time: seconds from the first frame (`12.5`) or a UTC time
    /// (`2023-11-14T22:13:25.5`).
    #[arg(long, value_name = "TIME", value_parser = Limit::parse)]
    pub start: Option<Limit>,

    /// Up to this time (as --start).
    #[arg(long, value_name = "TIME", value_parser = Limit::parse)]
    pub end: Option<Limit>,

    /// Break a line where its signal is silent longer than this many seconds (default: 10
    /// times its median interval).
    #[arg(long, value_name = "S", value_parser = options::parse_break_time)]
    pub break_time: Option<f64>,

    /// Size: pixels for a picture (default 1400x900), columns x rows for the text chart
    /// (default: the terminal's).
    #[arg(long, value_name = "WxH", value_parser = Size::parse)]
    pub size: Option<Size>,

    /// A title above the plot.
    #[arg(long)]
    pub title: Option<String>,

    /// The TrueType/OpenType font for a picture's text (default: DejaVu Sans, Liberation
    /// Sans or Noto Sans from the system's fonts).
    #[arg(long, value_name = "FILE")]
    pub font: Option<PathBuf>,

    /// Draw the watcher's view instead of signals: one lane per node (per id with
    /// --baseline), green while watched and present, red while lost, grey while the watch
    /// is not armed, as `canrelearn watch` judges it (its options below). Exit 6 when the
    /// watch never armed (the picture is all grey: nothing was judged).
    #[arg(long = "nodes")]
    pub lanes: bool,

    /// Draw a procedure run instead of signals: the values it polled and the live signals
    /// its preconditions watched (battery voltage...) over the run, each step's span marked
    /// (red: failed or aborted), from the JSON that `canrelearn run --report` wrote. Exit 2
    /// when the report holds no value (a dry run, or a run that ended before it polled).
    #[arg(long, value_name = "REPORT.json", conflicts_with = "lanes")]
    pub run: Option<PathBuf>,

    #[command(flatten, next_help_heading = "With --nodes: the watch's options")]
    pub watch: super::watch::Setup,

    /// Logs, then patterns (`-` new subplot, `,` second y-axis).
    #[arg(value_name = "LOG... [PATTERN]", required_unless_present = "run")]
    pub args: Vec<String>,
}

pub fn run(args: Args) -> Result<u8, CliError> {
    let (logs, patterns) = options::split_logs(&args.args, |a| Path::new(a).is_file());
    let picture = match &args.output {
        None => None,
        Some(p) => Some(
            Picture::for_path(p)
                .ok_or_else(|| fail!(USAGE, "{}: the picture is .svg or .png", p.display()))?,
        ),
    };
    if let Some(report) = &args.run {
        if let Some(p) = &args.output {
            files::check(p, "the picture", args.force, [report.as_path()])?;
        }
        if picture.is_some() {
            load_font(args.font.as_deref()).code(exit::USAGE)?;
        }
        return plot_run(&args, report, picture);
    }
    if logs.is_empty() {
        return Err(fail!(
            USAGE,
            "no log to plot: the first arguments name capture files ({:?} is not a file)",
            args.args.first().map_or("", String::as_str)
        ));
    }
    let log_paths: Vec<&Path> = logs.iter().map(Path::new).collect();
    if let Some(p) = &args.output {
        files::check(p, "the picture", args.force, log_paths.iter().copied())?;
    }
    if picture.is_some() {
        load_font(args.font.as_deref()).code(exit::USAGE)?;
    }
    if args.lanes {
        if let Some(p) = patterns.first() {
            return Err(fail!(
                USAGE,
                "--nodes draws the watcher's lanes, not signals: {p:?} is not a log"
            ));
        }
        return plot_nodes(&args, &log_paths, picture);
    }
    let db = input::load_dbcs(&args.dbc.dbc)?;
    let layout = Layout::parse(patterns, args.regex, args.ignore_case).code(exit::USAGE)?;
    let mut collector = Collector::new(&db, &layout, args.start, args.end).code(exit::USAGE)?;
    let mut frames = 0u64;
    for path in &log_paths {
        let opened = capture::open(path, None)?;
        let name = opened.name.clone();
        let mut reader = capture::reader(opened);
        let mut warn = |w: String| out::warn(format!("{name}: {w}"));
        match collector.collect(&db, reader.as_mut(), signals::interrupted, &mut warn) {
            Ok(n) => frames += n,
            Err(PipelineError::Read(e)) => return Err(capture::read_error(e)),
            Err(PipelineError::Write(e)) => return Err(e.into()),
        }
        if signals::interrupted() {
            return Ok(signals::exit_code());
        }
    }
    if frames == 0 {
        return Err(fail!(USAGE, "no CAN frame in {}", logs.join(", ")));
    }
    let chart = collector.finish(args.break_time, options::max_points(args.size));
    let coverage = chart
        .coverage(frames, &logs.join(", "))
        .map_err(|e| fail!(USAGE, e))?;
    if let Some(w) = coverage.warning {
        out::warn(w);
    }
    let note = coverage.note;
    show_chart(&args, picture, &chart, &log_paths, &note)?;
    Ok(exit::OK)
}

/// Writes `chart` as the picture, or as a text chart on stdout (with its marks listed).
fn show_chart(
    args: &Args,
    picture: Option<Picture>,
    chart: &canrelearn::plot::Chart,
    inputs: &[&Path],
    note: &str,
) -> Result<(), CliError> {
    match (picture, &args.output) {
        (Some(kind), Some(path)) => {
            write_picture(
                kind,
                path,
                &Drawing::Signals(chart),
                args.size.unwrap_or(DEFAULT_PICTURE),
                args.title.as_deref(),
                args.force,
                inputs,
            )?;
            out::note(format!("{}: {note}", path.display()));
        }
        _ => {
            let stdout = io::stdout();
            let terminal = stdout.is_terminal();
            let (w, h) = text_size(args.size, 12 * chart.panels.len().max(1) as u16 + 2);
            let colour = terminal && std::env::var_os("NO_COLOR").is_none();
            let mut lock = stdout.lock();
            if let Some(t) = &args.title {
                writeln!(lock, "{t}")?;
            }
            lock.write_all(text::render(chart, w, h, colour).as_bytes())?;
            lock.write_all(text::render_marks(&chart.marks).as_bytes())?;
            lock.flush()?;
        }
    }
    Ok(())
}

/// A procedure run's report: its polled values and watched signals, its steps marked.
fn plot_run(args: &Args, report: &Path, picture: Option<Picture>) -> Result<u8, CliError> {
    if let Some(a) = args.args.first() {
        return Err(fail!(
            USAGE,
            "--run draws a run report, not logs or signals: {a:?} is not expected with it"
        ));
    }
    let text = std::fs::read_to_string(report).map_err(|e| {
        fail!(
            USAGE,
            "cannot read the run report {}: {e}",
            report.display()
        )
    })?;
    let plot = canrelearn::plot::run::plot(&text, args.break_time, options::max_points(args.size))
        .map_err(|e| match e {
            RunPlotError::NotAReport { .. } => fail!(USAGE, "{}:{e}", report.display()),
            RunPlotError::Plot(e) => fail!(USAGE, "{}: {e}", report.display()),
        })?;
    if let Some(w) = plot.warning {
        out::warn(format!("{}: {w}", report.display()));
    }
    show_chart(args, picture, &plot.chart, &[report], &plot.note)?;
    Ok(exit::OK)
}

/// The watcher's lanes over the logs ([`NodesRun`]).
fn plot_nodes(args: &Args, logs: &[&Path], picture: Option<Picture>) -> Result<u8, CliError> {
    let watch = super::watch::armed_watch(&args.watch, &args.dbc)?;
    let mut run = NodesRun::new(watch, WAYS_OUT);
    let mut bad = capture::BadLines::new();
    for path in logs {
        let end = capture::each_frame(path, &mut bad, |t, f| {
            for w in run.frame(t, f) {
                out::warn(w);
            }
            Ok(())
        })?;
        match end {
            Walk::Complete => {}
            Walk::Stopped => return Ok(signals::exit_code()),
            Walk::Failed(e) => return Err(capture::read_error(e)),
        }
    }
    bad.finish();
    let Some(plot) = run.finish() else {
        return Err(fail!(USAGE, "no CAN frame in the logs"));
    };
    for w in &plot.warnings {
        out::warn(w);
    }
    let lanes = &plot.lanes;
    match (picture, &args.output) {
        (Some(kind), Some(path)) => {
            write_picture(
                kind,
                path,
                &Drawing::Lanes(lanes),
                Size::for_lanes(args.size, lanes.names.len()),
                args.title.as_deref(),
                args.force,
                logs,
            )?;
            out::note(format!("{}: {}", path.display(), plot.summary()));
        }
        _ => {
            let (width, _) = text_size(args.size, 0);
            let mut lock = io::stdout().lock();
            if let Some(t) = &args.title {
                writeln!(lock, "{t}")?;
            }
            lock.write_all(text::render_lanes(lanes, width).as_bytes())?;
            lock.flush()?;
        }
    }
    if !plot.armed {
        out::warn(format!(
            "not armed: {} never held; nothing was judged (every lane is grey). {WAYS_OUT} choose otherwise",
            plot.condition.as_deref().unwrap_or("the arming condition")
        ));
        return Ok(exit::NOT_JUDGED);
    }
    Ok(exit::OK)
}

/// What chooses otherwise when the arming condition does not hold.
const WAYS_OUT: &str = "--arm-on or --always-armed";

/// The text chart's size, columns x rows: --size (at most 1000 x 1000), else the terminal's
/// less two rows when stdout is one, else 100 columns and `rows`.
fn text_size(size: Option<Size>, rows: u16) -> (u16, u16) {
    match size {
        Some(s) => s.cells(),
        None => crossterm::terminal::size()
            .ok()
            .filter(|_| io::stdout().is_terminal())
            .map_or((100, rows), |(w, h)| (w, h.saturating_sub(2))),
    }
}

/// [`canrelearn::plot::save::write_picture`] with exit codes: a drawing failure is 1, a
/// refused output file 2, a file that cannot be created or written 4.
#[allow(clippy::too_many_arguments)]
fn write_picture(
    kind: Picture,
    path: &Path,
    drawing: &Drawing<'_>,
    size: Size,
    title: Option<&str>,
    force: bool,
    inputs: &[&Path],
) -> Result<(), CliError> {
    canrelearn::plot::save::write_picture(
        kind,
        path,
        drawing,
        (size.width, size.height),
        title,
        force,
        inputs,
    )
    .map_err(|e| {
        let code = match &e {
            SaveError::Draw { .. } => exit::FAILURE,
            SaveError::Create(c) if c.is_refusal() => exit::USAGE,
            SaveError::Create(_) => exit::BUS_IO,
            SaveError::Write { .. } => exit::BUS_IO,
        };
        CliError::new(code, e)
    })
}
