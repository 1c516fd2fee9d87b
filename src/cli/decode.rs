//! `canrelearn decode`: decode candump logs with DBC files, offline, streaming, on every core.
//!
//! The input is cut into blocks of whole lines (about 64 KiB). Worker threads parse, decode
//! and format blocks into output buffers; the main thread reads ahead, numbers the lines, and
//! writes the finished blocks strictly in input order. At most a few blocks per worker are in
//! flight, so memory stays flat however long the log. Malformed lines are reported with their
//! file and line number, in order, exactly as a sequential reader would.
//!
//! The DBC loads on a thread of its own while the main thread opens the first log and reads
//! (and, for text, scans) its first blocks. In the text format, the common line (a classic data
//! frame in the usual shape, of a message the fused path can print) is scanned, decoded and
//! printed in one pass by [`super::output`]'s fused path, which prints exactly what the general
//! path prints; every other line takes the general path (parse, decode, format).

use std::collections::BTreeMap;
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use canrelearn::dbc::{Database, DecodeError, Decoded};
use canrelearn::frame::Frame;
use canrelearn::log::candump::{
    self, DataFrameScan, Line as LogLine, ParseError, ParseErrorKind, ReadError,
};
use canrelearn::log::{FrameReader, Item};

use super::output::{Format, Formatter, Line, Meaning};
use super::signals;
use super::{CliError, capture, exit, input, out};

/// Decode candump logs (`candump -L`/`-l` format, plain or gzip) with DBC files.
///
/// Prints one line (text), object (jsonl) or row per signal (csv) for every frame, in order.
/// A malformed line is reported on stderr with its file and line and skipped (exit 0 if the
/// rest decodes), unless --strict is given (exit 2 at the first one).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// DBC file to decode with (repeat for several); default: the bundled Nissan Qashqai J11
    /// definitions.
    #[arg(long = "dbc", value_name = "FILE")]
    pub dbc: Vec<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Stop at the first malformed line (exit 2) instead of reporting and skipping it.
    #[arg(long)]
    pub strict: bool,

    /// Worker threads (default: the number of CPUs, at most 8).
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: Option<u16>,

    /// Logs to decode, in order; `-` or none: standard input.
    #[arg(value_name = "LOG")]
    pub logs: Vec<PathBuf>,
}

/// Malformed lines reported individually before only counting them.
const MAX_REPORTED: u64 = 20;
/// Target size of a block of lines.
const BLOCK: usize = 64 * 1024;

/// Blocks of the first log read (and, for text, scanned) while the DBC loads, at most.
const MAX_PREFETCH: usize = 48;

pub fn run(args: Args) -> Result<u8, CliError> {
    let logs = if args.logs.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        args.logs.clone()
    };
    // The DBC loads on a thread while this one opens the first log and reads (and scans)
    // its first blocks. A DBC error still comes first, as if nothing had been read.
    let (loaded, first) = std::thread::scope(|scope| {
        let loader = scope.spawn(|| {
            let db = input::load_dbcs(&args.dbc)?;
            let formatter = Formatter::new(args.format, &db);
            Ok::<_, CliError>((db, formatter))
        });
        let first = logs.first().map(|path| {
            open(path).map(|input| match input {
                Input::Lines(name, source, regular) => {
                    Input::Feed(prefetch(name, source, regular, args.format, &loader))
                }
                other => other,
            })
        });
        let loaded = loader.join().unwrap_or_else(|_| {
            Err(CliError::new(
                exit::USAGE,
                anyhow::anyhow!("loading the DBC failed"),
            ))
        });
        (loaded, first)
    });
    let (db, formatter) = loaded?;
    let mut first = first;
    let jobs = usize::from(args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get().min(8))
            .try_into()
            .unwrap_or(1)
    }));
    let mut sink = Sink {
        out: io::stdout().lock(),
        bad: 0,
        strict: args.strict,
    };
    sink.out.write_all(formatter.header())?;
    for path in &logs {
        let input = match first.take() {
            Some(input) => input?,
            None => open(path)?,
        };
        let feed = match input {
            Input::Feed(feed) => feed,
            Input::Lines(name, source, regular) => Feed::new(Blocks::new(source, name, regular)),
            Input::Records(mut reader) => {
                let outcome = decode_records(&db, &formatter, reader.as_mut(), &mut sink);
                if let Err(e) = outcome {
                    sink.out.flush()?;
                    sink.summary();
                    return Err(e);
                }
                if signals::interrupted() {
                    break;
                }
                continue;
            }
        };
        let job = Job {
            db: &db,
            formatter: &formatter,
            source: feed.blocks.name.clone(),
            strict: args.strict,
        };
        // A pipe or terminal is decoded as it arrives: one block at a time, in order.
        let outcome = if jobs <= 1 || !feed.blocks.regular {
            run_sequential(&job, feed, &mut sink)
        } else {
            run_parallel(&job, feed, &mut sink, jobs)
        };
        if let Err(e) = outcome {
            sink.out.flush()?;
            sink.summary();
            return Err(e);
        }
        if signals::interrupted() {
            break;
        }
    }
    sink.out.flush()?;
    sink.summary();
    if signals::interrupted() {
        return Ok(signals::exit_code());
    }
    Ok(exit::OK)
}

/// An opened log: candump text for the block pipeline (read ahead or not), or any other
/// format's records.
enum Input {
    Lines(Arc<str>, capture::Stream, bool),
    Feed(Feed),
    Records(Box<dyn FrameReader>),
}

/// Opens a log (`-` is stdin): gzip decompressed and the format recognised by content. A
/// candump log goes to the block pipeline (with whether it is a regular file: otherwise it
/// is read as it arrives, a pipe or a terminal); other formats to their reader.
fn open(path: &Path) -> Result<Input, CliError> {
    let opened = capture::open(path, None)?;
    let regular =
        path != Path::new("-") && std::fs::metadata(path).is_ok_and(|m| m.file_type().is_file());
    Ok(match opened.format {
        canrelearn::log::Format::Candump => Input::Lines(opened.name, opened.stream, regular),
        _ => Input::Records(capture::reader(opened)),
    })
}

/// Decodes the records of a non-candump capture, in order: malformed records are reported
/// (or stop the decode with --strict), damage ends it after everything before it.
fn decode_records<W: Write>(
    db: &Database,
    formatter: &Formatter,
    reader: &mut dyn FrameReader,
    sink: &mut Sink<W>,
) -> Result<(), CliError> {
    let mut decoder = FrameDecoder::new(db);
    let mut buf = Vec::with_capacity(BLOCK + 4096);
    let mut skipped: Vec<(String, u64)> = Vec::new();
    let result = loop {
        if signals::interrupted() {
            break Ok(());
        }
        match reader.read_item() {
            Ok(Some(Item::Record(r))) => {
                let meaning = decoder.decode(&r.frame);
                formatter.format(
                    &Line {
                        raw: None,
                        timestamp: r.timestamp,
                        precision: r.precision,
                        interface: r.interface,
                        frame: &r.frame,
                        meaning,
                    },
                    &mut buf,
                );
                if buf.len() >= BLOCK {
                    sink.out.write_all(&buf)?;
                    buf.clear();
                }
            }
            Ok(Some(Item::Other(_))) => {}
            Ok(Some(Item::Skipped(what))) => match skipped.iter_mut().find(|(w, _)| w == what) {
                Some((_, n)) => *n += 1,
                None => skipped.push((what.to_string(), 1)),
            },
            Ok(Some(Item::Bad(e))) => {
                if sink.strict {
                    break Err(capture::read_error(e));
                }
                sink.bad += 1;
                if sink.bad <= MAX_REPORTED {
                    out::warn(format!("{e} (skipped)"));
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(capture::read_error(e)),
        }
    };
    sink.out.write_all(&buf)?;
    for (what, n) in skipped {
        out::warn(format!(
            "{n} {what}{} in {} not decoded (not CAN frames)",
            if n == 1 { "" } else { "s" },
            reader.format()
        ));
    }
    result
}

/// Exit 2 for what is wrong with the input (a bad line in strict mode, a file that does not
/// open, corrupt or truncated compressed data), 4 for other read errors.
pub fn read_error(e: ReadError) -> CliError {
    let e = match e {
        ReadError::Parse(p) => canrelearn::log::ReadError::Candump(p),
        ReadError::Io {
            source_name,
            line,
            error,
        } => canrelearn::log::ReadError::Io {
            source_name,
            location: canrelearn::log::Location::Line { line, column: 1 },
            error,
        },
    };
    capture::read_error(e)
}

/// What every block of one log needs.
struct Job<'a> {
    db: &'a Database,
    formatter: &'a Formatter,
    source: Arc<str>,
    strict: bool,
}

/// A block of whole lines and the number of its first line, with a recycled buffer for its
/// output.
struct Block {
    seq: u64,
    first_line: u64,
    data: Vec<u8>,
    out: Vec<u8>,
    /// The scans of its lines, in order, when read ahead (see [`prescan`]); else empty.
    pre: Vec<Option<(DataFrameScan, usize)>>,
}

impl Block {
    /// A block read ahead has no output buffer yet: take a recycled one.
    fn recycle_out(&mut self, pool: &mut Pool) {
        if self.out.capacity() == 0 {
            self.out = pool.output();
        }
    }
}

/// A decoded block: its output and its malformed lines (in strict mode the output stops before
/// the first malformed line), and the input buffer, handed back for reuse.
struct Done {
    seq: u64,
    /// The output is `out[..len]`; the rest is scratch space, kept for reuse.
    out: Vec<u8>,
    len: usize,
    bad: Vec<ParseError>,
    data: Vec<u8>,
}

/// Buffers handed back after use, so the pipeline does not fault in fresh pages per block.
#[derive(Default)]
struct Pool {
    inputs: Vec<Vec<u8>>,
    outputs: Vec<Vec<u8>>,
}

impl Pool {
    fn input(&mut self) -> Vec<u8> {
        self.inputs.pop().unwrap_or_default()
    }
    fn output(&mut self) -> Vec<u8> {
        self.outputs.pop().unwrap_or_default()
    }
    /// Takes buffers back; they keep their bytes (scratch for the next block).
    fn put(&mut self, data: Vec<u8>, out: Vec<u8>) {
        self.inputs.push(data);
        self.outputs.push(out);
    }
}

/// Writes finished blocks and reports malformed lines, in order.
struct Sink<W: Write> {
    out: W,
    bad: u64,
    strict: bool,
}

impl<W: Write> Sink<W> {
    /// The closing count of malformed lines.
    fn summary(&self) {
        if self.bad > 0 {
            out::warn(format!(
                "{} malformed line{} skipped{}",
                self.bad,
                if self.bad == 1 { "" } else { "s" },
                if self.bad > MAX_REPORTED {
                    " (the first 20 are shown above)"
                } else {
                    ""
                }
            ));
        }
    }

    /// Write a block's output and report its bad lines; the buffers go back to the pool.
    fn take(&mut self, done: Done, pool: &mut Pool) -> Result<(), CliError> {
        self.out
            .write_all(done.out.get(..done.len).unwrap_or(&done.out))?;
        pool.put(done.data, done.out);
        for e in done.bad {
            if self.strict {
                return Err(read_error(ReadError::Parse(e)));
            }
            self.bad += 1;
            if self.bad <= MAX_REPORTED {
                out::warn(format!("{e} (line skipped)"));
            }
        }
        Ok(())
    }
}

/// Cuts a log into blocks of whole lines, counting lines and handling over-long lines (which
/// are reported, like the sequential reader does, and skipped up to the next newline).
struct Blocks {
    source: Box<dyn BufRead + Send>,
    name: Arc<str>,
    carry: Vec<u8>,
    next_line: u64,
    seq: u64,
    eof: bool,
    /// A regular file: blocks are filled up. Otherwise (a pipe, a terminal) a block is
    /// whatever whole lines have arrived, so the output follows the input live.
    regular: bool,
    /// A read error met after some data of the block: given after the block's whole lines
    /// (everything before the damage is decoded, deterministically).
    failed: Option<io::Error>,
}

impl Blocks {
    fn new(source: Box<dyn BufRead + Send>, name: Arc<str>, regular: bool) -> Self {
        Blocks {
            source,
            name,
            carry: Vec::new(),
            next_line: 1,
            seq: 0,
            eof: false,
            regular,
            failed: None,
        }
    }

    /// A read error after the lines counted so far (the block being read included).
    fn io_error(&self, error: io::Error) -> CliError {
        read_error(ReadError::Io {
            source_name: Some(self.name.clone()),
            line: self.next_line.saturating_sub(1),
            error,
        })
    }

    /// The next block, or `None` at the end. An over-long line comes back as a block with a
    /// ready-made error instead of data.
    fn next(&mut self, pool: &mut Pool) -> Result<Option<Result<Block, ParseError>>, CliError> {
        if let Some(e) = self.failed.take() {
            return Err(self.io_error(e));
        }
        if signals::interrupted() {
            // Ctrl-C/SIGTERM: stop at a block boundary; what was decoded is written.
            self.eof = true;
            self.carry.clear();
        }
        if self.eof && self.carry.is_empty() {
            return Ok(None);
        }
        // A recycled buffer's bytes are scratch; resizing zero-fills only past its old length.
        let mut data = pool.input();
        let carried = self.carry.len();
        data.resize((BLOCK + 4096).max(carried), 0);
        if let Some(dst) = data.get_mut(..carried) {
            dst.copy_from_slice(&self.carry);
        }
        self.carry.clear();
        let mut filled = carried;
        if !self.eof && filled < BLOCK {
            // Plain reads of the whole room: once the reader's buffer is drained, they bypass
            // it (no second copy of the log, as `read_to_end`'s small probe reads caused).
            while let Some(room) = data.get_mut(filled..).filter(|r| !r.is_empty()) {
                match self.source.read(room) {
                    Ok(0) => {
                        self.eof = true;
                        break;
                    }
                    Ok(n) => {
                        let before = filled;
                        filled += n;
                        // Not a regular file: decode the lines that have arrived now.
                        if !self.regular
                            && data
                                .get(before..filled)
                                .is_some_and(|new| memchr::memchr(b'\n', new).is_some())
                        {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                        if signals::interrupted() {
                            // Ctrl-C/SIGTERM: what was read is decoded; reading stops.
                            self.eof = true;
                            self.carry.clear();
                            break;
                        }
                    }
                    Err(e) => {
                        // Damage (a truncated gzip): the whole lines before it are decoded,
                        // the partial line at the break is not a line, then the error.
                        self.failed = Some(e);
                        self.eof = true;
                        let whole = memchr::memrchr(b'\n', data.get(..filled).unwrap_or_default())
                            .map_or(0, |p| p + 1);
                        filled = whole;
                        break;
                    }
                }
            }
        }
        data.truncate(filled);
        if data.is_empty() {
            return match self.failed.take() {
                Some(e) => Err(self.io_error(e)),
                None => Ok(None),
            };
        }
        let cut = match memchr::memrchr(b'\n', &data) {
            Some(p) => p + 1,
            None if self.eof => data.len(),
            None => return self.skip_long_line(data.len()).map(Some),
        };
        if let Some(rest) = data.get(cut..) {
            self.carry.extend_from_slice(rest);
        }
        data.truncate(cut);
        let lines = memchr::memchr_iter(b'\n', &data).count() as u64
            + u64::from(data.last() != Some(&b'\n'));
        let block = Block {
            seq: self.seq,
            first_line: self.next_line,
            data,
            out: pool.output(),
            pre: Vec::new(),
        };
        self.seq += 1;
        self.next_line += lines;
        Ok(Some(Ok(block)))
    }

    /// A whole block without a newline: the line is too long. Skip to its end.
    fn skip_long_line(&mut self, mut len: usize) -> Result<Result<Block, ParseError>, CliError> {
        let line = self.next_line;
        loop {
            let buf = match self.source.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(e)),
            };
            if buf.is_empty() {
                self.eof = true;
                break;
            }
            match memchr::memchr(b'\n', buf) {
                Some(p) => {
                    len += p;
                    self.source.consume(p + 1);
                    break;
                }
                None => {
                    len += buf.len();
                    let n = buf.len();
                    self.source.consume(n);
                }
            }
        }
        self.next_line += 1;
        self.seq += 1;
        Ok(Err(ParseError {
            source_name: Some(self.name.clone()),
            line,
            column: 1,
            kind: ParseErrorKind::LineTooLong(len.max(candump::MAX_LINE_LEN + 1)),
        }))
    }
}

/// A block with its sequence number, or the over-long line that takes its place.
type Numbered = (u64, Result<Block, ParseError>);

/// The blocks of one log: those read ahead first, then the rest from the reader.
struct Feed {
    ahead: std::collections::VecDeque<Numbered>,
    /// A read error met while reading ahead, reported after the blocks before it.
    error: Option<CliError>,
    blocks: Blocks,
}

impl Feed {
    fn new(blocks: Blocks) -> Feed {
        Feed {
            ahead: Default::default(),
            error: None,
            blocks,
        }
    }

    /// The next block and its sequence number (as [`Blocks::next`]).
    fn next(&mut self, pool: &mut Pool) -> Result<Option<Numbered>, CliError> {
        if let Some(b) = self.ahead.pop_front() {
            return Ok(Some(b));
        }
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let next = self.blocks.next(pool)?;
        Ok(next.map(|b| (self.blocks.seq - 1, b)))
    }
}

/// Reads blocks of a log until `loader` is done (or [`MAX_PREFETCH`] blocks), scanning the
/// lines of each for the text path.
fn prefetch<T>(
    name: Arc<str>,
    source: Box<dyn BufRead + Send>,
    regular: bool,
    format: super::output::Format,
    loader: &std::thread::ScopedJoinHandle<'_, T>,
) -> Feed {
    let mut feed = Feed::new(Blocks::new(source, name, regular));
    let mut pool = Pool::default();
    // Only a regular file is read ahead: a pipe's next line may not come before the DBC is
    // loaded and this line decoded.
    while regular && !loader.is_finished() && feed.ahead.len() < MAX_PREFETCH {
        match feed.blocks.next(&mut pool) {
            Ok(Some(mut block)) => {
                if let (Ok(b), super::output::Format::Text) = (&mut block, format) {
                    b.pre = prescan(&b.data);
                }
                feed.ahead.push_back((feed.blocks.seq - 1, block));
            }
            Ok(None) => break,
            Err(e) => {
                feed.error = Some(e);
                break;
            }
        }
    }
    feed
}

/// [`candump::scan_data_frame_in`] for every line of a block, in order.
fn prescan(data: &[u8]) -> Vec<Option<(DataFrameScan, usize)>> {
    let mut pre = Vec::with_capacity(data.len() / 40);
    let mut at = 0;
    while let Some(text) = data.get(at..).filter(|t| !t.is_empty()) {
        match candump::scan_data_frame_in(text) {
            Some((scan, len)) => {
                pre.push(Some((scan, len)));
                at += len + 1;
            }
            None => {
                pre.push(None);
                at = memchr::memchr(b'\n', text).map_or(data.len(), |p| at + p + 1);
            }
        }
    }
    pre
}

/// Parse, decode and format one block. The output buffer's bytes past what is written are
/// scratch for the fused text path (see [`Done::len`]).
fn decode_block(job: &Job<'_>, decoder: &mut FrameDecoder<'_>, block: Block) -> Done {
    let mut out = block.out;
    let mut pos = 0;
    if job.formatter.fast_text().is_some() {
        // Room for the text of the whole block at once (about 4.5 bytes out per byte in),
        // zero-filled once per buffer: buffers are recycled with their length.
        let want = block.data.len() * 5 + 4096;
        if out.len() < want {
            out.resize(want, 0);
        }
    } else {
        // Only appended to: a recycled buffer starts empty.
        out.clear();
        out.reserve(block.data.len() * 3);
    }
    let mut bad = Vec::new();
    let fast = job.formatter.fast_text();
    let mut scratch = Vec::new();
    let data = &block.data[..];
    let mut at = 0;
    let mut this = block.first_line;
    let mut pre = block.pre.iter();
    while let Some(text) = data.get(at..).filter(|t| !t.is_empty()) {
        // The common line, found and printed without looking for its end first.
        if let Some(fast) = fast
            && let Some((scan, len)) = match pre.next() {
                Some(scanned) => *scanned,
                None => candump::scan_data_frame_in(text),
            }
            && len <= candump::MAX_LINE_LEN
            && fast.line(job.db, text, len, &scan, &mut out, &mut pos)
        {
            at += len + 1;
            this += 1;
            continue;
        }
        let (content, next) = match memchr::memchr(b'\n', text) {
            Some(p) => (text.get(..p).unwrap_or_default(), at + p + 1),
            None => (text, data.len()),
        };
        let error = |column: usize, kind| ParseError {
            source_name: Some(job.source.clone()),
            line: this,
            column,
            kind,
        };
        let raw = content
            .strip_suffix(b"\r")
            .unwrap_or(content)
            .trim_ascii_end();
        if content.len() > candump::MAX_LINE_LEN {
            bad.push(error(1, ParseErrorKind::LineTooLong(content.len())));
        } else if let Some(fast) = fast
            && let Some(scan) = candump::scan_data_frame(content)
            && fast.line(job.db, raw, raw.len(), &scan, &mut out, &mut pos)
        {
        } else {
            match candump::parse_line(content) {
                Ok(LogLine::Record(rec)) => {
                    let meaning = decoder.decode(&rec.frame);
                    let line = Line {
                        raw: Some(raw),
                        timestamp: rec.timestamp,
                        precision: rec.precision,
                        interface: rec.interface,
                        frame: &rec.frame,
                        meaning,
                    };
                    if fast.is_none() {
                        // Nothing writes past `pos`: append.
                        job.formatter.format(&line, &mut out);
                        pos = out.len();
                    } else {
                        // Over the fused path's scratch bytes, keeping them.
                        scratch.clear();
                        job.formatter.format(&line, &mut scratch);
                        match out.get_mut(pos..pos + scratch.len()) {
                            Some(dst) => dst.copy_from_slice(&scratch),
                            None => {
                                out.truncate(pos);
                                out.extend_from_slice(&scratch);
                            }
                        }
                        pos += scratch.len();
                    }
                }
                Ok(LogLine::Other(_)) => {}
                Err(e) => bad.push(error(e.column, e.kind)),
            }
        }
        if job.strict && !bad.is_empty() {
            break;
        }
        at = next;
        this += 1;
    }
    Done {
        seq: block.seq,
        out,
        len: pos,
        bad,
        data: block.data,
    }
}

fn long_line_done(seq: u64, e: ParseError) -> Done {
    Done {
        seq,
        out: Vec::new(),
        len: 0,
        bad: vec![e],
        data: Vec::new(),
    }
}

fn run_sequential<W: Write>(
    job: &Job<'_>,
    mut feed: Feed,
    sink: &mut Sink<W>,
) -> Result<(), CliError> {
    let mut decoder = FrameDecoder::new(job.db);
    let mut pool = Pool::default();
    while let Some((_, block)) = feed.next(&mut pool)? {
        let done = match block {
            Ok(mut b) => {
                b.recycle_out(&mut pool);
                decode_block(job, &mut decoder, b)
            }
            Err(e) => long_line_done(0, e),
        };
        sink.take(done, &mut pool)?;
    }
    Ok(())
}

fn run_parallel<W: Write>(
    job: &Job<'_>,
    mut feed: Feed,
    sink: &mut Sink<W>,
    jobs: usize,
) -> Result<(), CliError> {
    let max_in_flight = jobs * 3;
    std::thread::scope(|scope| {
        let (work_tx, work_rx) = mpsc::channel::<Block>();
        let work_rx = Arc::new(Mutex::new(work_rx));
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        for _ in 0..jobs {
            let work_rx = Arc::clone(&work_rx);
            let done_tx = done_tx.clone();
            scope.spawn(move || {
                let mut decoder = FrameDecoder::new(job.db);
                loop {
                    let next = match work_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(block) = next else { return };
                    if done_tx
                        .send(decode_block(job, &mut decoder, block))
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
        let mut next_seq = 0u64;
        let mut in_flight = 0usize;
        let mut pool = Pool::default();
        let mut take = |done: Done,
                        pending: &mut BTreeMap<u64, Done>,
                        pool: &mut Pool|
         -> Result<(), CliError> {
            pending.insert(done.seq, done);
            while let Some(d) = pending.remove(&next_seq) {
                next_seq += 1;
                sink.take(d, pool)?;
            }
            Ok(())
        };
        let result = (|| {
            loop {
                while in_flight >= max_in_flight {
                    let Ok(done) = done_rx.recv() else { break };
                    in_flight -= 1;
                    take(done, &mut pending, &mut pool)?;
                }
                let next = match feed.next(&mut pool) {
                    Ok(n) => n,
                    Err(e) => {
                        // Damage or a read error: the blocks before it are written first.
                        while in_flight > 0 {
                            let Ok(done) = done_rx.recv() else { break };
                            in_flight -= 1;
                            take(done, &mut pending, &mut pool)?;
                        }
                        return Err(e);
                    }
                };
                match next {
                    None => break,
                    Some((_, Ok(mut block))) => {
                        block.recycle_out(&mut pool);
                        if work_tx.send(block).is_err() {
                            break;
                        }
                        in_flight += 1;
                    }
                    Some((seq, Err(e))) => {
                        // An over-long line: its error takes its place in the order.
                        take(long_line_done(seq, e), &mut pending, &mut pool)?;
                    }
                }
                while let Ok(done) = done_rx.try_recv() {
                    in_flight -= 1;
                    take(done, &mut pending, &mut pool)?;
                }
            }
            while in_flight > 0 {
                let Ok(done) = done_rx.recv() else { break };
                in_flight -= 1;
                take(done, &mut pending, &mut pool)?;
            }
            Ok(())
        })();
        drop(work_tx);
        result
    })
}

/// Looks frames up in the DBC and decodes them into a reused buffer.
pub struct FrameDecoder<'db> {
    db: &'db Database,
    decoded: Decoded,
    error: Option<DecodeError>,
}

impl<'db> FrameDecoder<'db> {
    pub fn new(db: &'db Database) -> Self {
        FrameDecoder {
            db,
            decoded: Decoded::new(),
            error: None,
        }
    }

    /// What the DBC says about `frame`.
    pub fn decode(&mut self, frame: &Frame) -> Meaning<'_> {
        let Some(id) = frame.id() else {
            return Meaning::Unknown;
        };
        let Some(index) = self.db.message_index(id) else {
            return Meaning::Unknown;
        };
        let Some(message) = self.db.messages().get(index) else {
            return Meaning::Unknown;
        };
        let Some(data) = frame.payload() else {
            return Meaning::Remote(message);
        };
        match message.decode_into(data, &mut self.decoded) {
            Ok(()) => Meaning::Signals(message, index, &self.decoded),
            Err(e) => Meaning::Error(message, self.error.insert(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::output::Format;

    const LOG: &str = "(1700000000.000105) vcan0 100#0102030405060708\n\
        (1700000000.000200) vcan0 101#FFEEDDCCBBAAA998 R\n\
        (1700000000.000300) vcan0 108#0312F0\r\n\
        not a frame\n\
        (1700000000.000400) vcan0 7DF#0201000000000000\n\
        (1700000000.000500) vcan0 108#03\n\
        (1700000000.0005) vcan0 108#03\n\
        (1700000000.000600) vcan0 1E5E1117#0011223344556677\n\
        (1700000000.000700) vcan0 400##10011";

    fn block(data: &str, out: Vec<u8>) -> Block {
        Block {
            seq: 0,
            first_line: 1,
            data: data.as_bytes().to_vec(),
            out,
            pre: Vec::new(),
        }
    }

    /// A recycled output buffer (scratch bytes past its end, any length) gives the same
    /// output as a fresh one, in every format: regression test for jsonl/csv blocks that
    /// appended to the previous block's bytes.
    #[test]
    fn test_recycled_output_buffers_give_the_same_output() {
        let db = crate::cli::input::load_dbc(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dbc/signals.dbc"),
        )
        .unwrap();
        for format in [Format::Text, Format::Jsonl, Format::Csv] {
            let formatter = Formatter::new(format, &db);
            let job = Job {
                db: &db,
                formatter: &formatter,
                source: Arc::from("t.log"),
                strict: false,
            };
            let mut decoder = FrameDecoder::new(&db);
            let fresh = decode_block(&job, &mut decoder, block(LOG, Vec::new()));
            let want = fresh.out[..fresh.len].to_vec();
            assert_eq!(fresh.bad.len(), 1, "{format:?}");
            for junk in [vec![b'#'; 3], vec![b'#'; 1 << 20], fresh.out] {
                let again = decode_block(&job, &mut decoder, block(LOG, junk));
                assert_eq!(
                    String::from_utf8_lossy(&again.out[..again.len]),
                    String::from_utf8_lossy(&want),
                    "{format:?}"
                );
            }
            // Scanned ahead or not, the same.
            let mut b = block(LOG, Vec::new());
            b.pre = prescan(&b.data);
            let ahead = decode_block(&job, &mut decoder, b);
            assert_eq!(&ahead.out[..ahead.len], &want[..], "{format:?}");
            if format == Format::Text {
                let text = String::from_utf8(want).unwrap();
                assert_eq!(text.lines().count(), 7, "{text}");
                assert!(
                    text.contains("(1700000000.000300) vcan0 108#0312F0  GEARBOX: "),
                    "{text}"
                );
            }
        }
    }
}
