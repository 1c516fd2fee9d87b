//! The decode pipeline: a capture's frames decoded and formatted in input order, on every
//! core, with bounded memory.
//!
//! For candump text the input is cut into blocks of whole lines (about 64 KiB). Worker threads
//! parse, decode and format blocks into output buffers; the caller's thread reads ahead,
//! numbers the lines, and writes the finished blocks strictly in input order. For Parquet
//! ([`decode_feed_into`]) the blocks are larger ([`ROWS_BLOCK`]) and each becomes a batch of
//! table rows, which the writer adds in the same order. At most a few
//! blocks per worker are in flight, so memory stays flat however long the log. Malformed lines
//! are reported with their file and line, in order, exactly as a sequential reader would. In
//! the text format the common line is scanned, decoded and printed in one pass by the fused
//! path (which prints exactly what the general path prints). A pipe or terminal is read as it
//! arrives (a block is whatever whole lines have come). Damage (a truncated gzip) ends the
//! input after every whole line before it; an interrupt (`stop` returning true) ends it at a
//! block boundary. Other capture formats go through their [`FrameReader`] in order
//! ([`decode_records`]).
//!
//! No files, no printing: the caller gives a reader, a writer and a callback for warnings.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, BufRead, Read, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use super::parquet::{Batch, BatchBuilder, DatasetError, DatasetWriter, FusedRows};
use super::{Formatter, FrameDecoder, Line, Meaning};
use crate::dbc::Database;
use crate::log::candump::{self, DataFrameScan, Line as LogLine, ParseError, ParseErrorKind};
use crate::log::{BadRecords, FrameReader, Item, Location, ReadError};

/// Target size of a block of lines.
pub const BLOCK: usize = 64 * 1024;
/// Target size of a block of lines decoded into table rows ([`decode_feed_into`]): large
/// enough that each message table gets a useful run of rows from a block (measured: 1 MiB
/// decodes 200k frames of a 145-message DBC a third faster than 64 KiB, and than 4 MiB).
pub const ROWS_BLOCK: usize = 1 << 20;
/// Bytes of a log read (and scanned) ahead at most while the caller loads the DBC: 48 text
/// blocks, 3 row blocks.
pub const PREFETCH_BYTES: usize = 48 * BLOCK;

/// Why decoding stopped.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The input failed (damage, a device error) or, with `strict`, a record was malformed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The output could not be written.
    #[error("writing the output: {0}")]
    Write(#[source] io::Error),
}

fn read_io(source_name: Option<Arc<str>>, line: u64, error: io::Error) -> PipelineError {
    PipelineError::Read(ReadError::Io {
        source_name,
        location: Location::Line { line, column: 1 },
        error,
    })
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

/// A decoded block: its output (formatted text, or another `payload`) and its malformed lines
/// (in strict mode the output stops before the first malformed line), and the input buffer,
/// handed back for reuse.
struct Done<P = ()> {
    seq: u64,
    payload: P,
    /// The output is `out[..len]`; the rest is scratch space, kept for reuse.
    out: Vec<u8>,
    len: usize,
    tally: Tally,
    data: Vec<u8>,
}

/// What a block's lines gave besides their output.
#[derive(Default)]
struct Tally {
    /// Frames decoded.
    frames: u64,
    /// Frames whose id is a message of the database.
    known: u64,
    bad: Vec<ParseError>,
    /// The first partial decode of each message in the block: its index and the warning.
    partial: Vec<(usize, String)>,
}

impl Tally {
    /// One line (`content`, line number `this` of `source`) by the general path: a malformed
    /// or over-long line is counted bad; a record is decoded, its message's first partial
    /// decode noted, and handed to `each` as a [`Line`] (with `raw`, its text, if given).
    fn line(
        &mut self,
        source: &Arc<str>,
        this: u64,
        content: &[u8],
        raw: Option<&[u8]>,
        decoder: &mut FrameDecoder<'_>,
        each: impl FnOnce(&Line<'_>),
    ) {
        let error = |column: usize, kind| ParseError {
            source_name: Some(source.clone()),
            line: this,
            column,
            kind,
        };
        if content.len() > candump::MAX_LINE_LEN {
            self.bad.push(line_too_long(source, this));
            return;
        }
        match candump::parse_line(content) {
            Ok(LogLine::Record(rec)) => {
                self.frames += 1;
                let meaning = decoder.decode(&rec.frame);
                self.known += u64::from(!matches!(meaning, Meaning::Unknown));
                if let Some(w) =
                    partial_warning(&meaning, &self.partial, || format!("{source}:{this}"))
                {
                    self.partial.push(w);
                }
                each(&Line {
                    raw,
                    ..Line::of_record(&rec, meaning)
                });
            }
            Ok(LogLine::Other(_)) => {}
            Err(e) => self.bad.push(error(e.column, e.kind)),
        }
    }
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

/// Writes finished blocks and reports malformed lines, in order, through `warn`.
pub struct Sink<'w, W: Write> {
    pub out: W,
    bad: BadRecords,
    frames: u64,
    known: u64,
    strict: bool,
    warn: &'w mut dyn FnMut(String),
    /// Messages already warned of as partly decoded (once per message).
    partial_warned: HashSet<usize>,
}

impl<'w, W: Write> Sink<'w, W> {
    /// A sink writing to `out`; `strict` stops at the first malformed record.
    pub fn new(out: W, strict: bool, warn: &'w mut dyn FnMut(String)) -> Self {
        Sink {
            out,
            bad: BadRecords::default(),
            frames: 0,
            known: 0,
            strict,
            warn,
            partial_warned: HashSet::new(),
        }
    }

    /// Frames decoded so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Frames so far whose id is a message of the database (the others print undecoded).
    pub fn known(&self) -> u64 {
        self.known
    }

    /// Malformed records reported so far.
    pub fn bad(&self) -> u64 {
        self.bad.count()
    }

    /// Reports one malformed record ([`BadRecords`]' rule), or, with `strict`, makes it the
    /// error that stops decoding.
    fn malformed(&mut self, e: ReadError) -> Result<(), PipelineError> {
        if self.strict {
            return Err(PipelineError::Read(e));
        }
        if let Some(w) = self.bad.report(&e) {
            (self.warn)(w);
        }
        Ok(())
    }

    /// Warns of a message's first partly decoded frame (each such frame is marked in the
    /// output; the warning comes once per message).
    fn partial(&mut self, message: usize, warning: String) {
        if self.partial_warned.insert(message) {
            (self.warn)(warning);
        }
    }

    /// The closing count of malformed records.
    pub fn summary(&mut self) {
        if let Some(w) = self.bad.summary() {
            (self.warn)(w);
        }
    }

    /// Write a block's output and report its bad lines; the buffers go back to the pool.
    fn take(&mut self, done: Done, pool: &mut Pool) -> Result<(), PipelineError> {
        self.out
            .write_all(done.out.get(..done.len).unwrap_or(&done.out))
            .map_err(PipelineError::Write)?;
        pool.put(done.data, done.out);
        self.account(done.tally)
    }

    /// Counts a block's frames and reports its partial decodes and malformed lines.
    fn account(&mut self, tally: Tally) -> Result<(), PipelineError> {
        let Tally {
            frames,
            known,
            bad,
            partial,
        } = tally;
        self.frames += frames;
        self.known += known;
        for (message, warning) in partial {
            self.partial(message, warning);
        }
        for e in bad {
            self.malformed(ReadError::Candump(e))?;
        }
        Ok(())
    }
}

/// Cuts a log into blocks of whole lines, counting lines and handling over-long lines (which
/// are reported, like the sequential reader does, and skipped up to the next newline).
pub struct Blocks {
    /// Asked at each read: whether to stop (an interrupt).
    stop: fn() -> bool,
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
    /// The size a block is filled to ([`BLOCK`] unless set).
    size: usize,
}

impl Blocks {
    /// The blocks of `source` (named `name` in errors); `regular` for a regular file (else
    /// read as it arrives); `stop` is asked at each read whether to stop.
    pub fn new(
        source: Box<dyn BufRead + Send>,
        name: Arc<str>,
        regular: bool,
        stop: fn() -> bool,
    ) -> Self {
        Blocks {
            stop,
            source,
            name,
            carry: Vec::new(),
            next_line: 1,
            seq: 0,
            eof: false,
            regular,
            failed: None,
            size: BLOCK,
        }
    }

    /// Blocks of about `size` bytes instead of [`BLOCK`].
    pub fn with_size(mut self, size: usize) -> Self {
        self.size = size.max(1);
        self
    }

    /// A read error after the lines counted so far (the block being read included).
    fn io_error(&self, error: io::Error) -> PipelineError {
        read_io(
            Some(self.name.clone()),
            self.next_line.saturating_sub(1),
            error,
        )
    }

    /// The next block, or `None` at the end. An over-long line comes back as a block with a
    /// ready-made error instead of data.
    fn next(
        &mut self,
        pool: &mut Pool,
    ) -> Result<Option<Result<Block, ParseError>>, PipelineError> {
        if let Some(e) = self.failed.take() {
            return Err(self.io_error(e));
        }
        if (self.stop)() {
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
        data.resize((self.size + 4096).max(carried), 0);
        if let Some(dst) = data.get_mut(..carried) {
            dst.copy_from_slice(&self.carry);
        }
        self.carry.clear();
        let mut filled = carried;
        if !self.eof && filled < self.size {
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
                        if (self.stop)() {
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
            // The last line, with no line end: a record there was cut short (as the
            // sequential reader says, [`ParseErrorKind::CutShort`]); anything else is read
            // as a line.
            None if self.eof => match candump::cut_short(&data) {
                Some(e) => {
                    let line = self.next_line;
                    self.next_line += 1;
                    self.seq += 1;
                    return Ok(Some(Err(ParseError {
                        source_name: Some(self.name.clone()),
                        line,
                        column: e.column,
                        kind: e.kind,
                    })));
                }
                None => data.len(),
            },
            None => return self.skip_long_line().map(Some),
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

    /// A whole block without a newline: the line is too long. Skip to its end
    /// ([`line_too_long`]).
    fn skip_long_line(&mut self) -> Result<Result<Block, ParseError>, PipelineError> {
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
                    self.source.consume(p + 1);
                    break;
                }
                None => {
                    let n = buf.len();
                    self.source.consume(n);
                }
            }
        }
        self.next_line += 1;
        self.seq += 1;
        Ok(Err(line_too_long(&self.name, line)))
    }
}

/// The error for line `line` of `source` longer than [`candump::MAX_LINE_LEN`], as the
/// sequential reader gives it: the limit, at the column past it.
fn line_too_long(source: &Arc<str>, line: u64) -> ParseError {
    ParseError {
        source_name: Some(source.clone()),
        line,
        column: candump::MAX_LINE_LEN + 1,
        kind: ParseErrorKind::LineTooLong(candump::MAX_LINE_LEN),
    }
}

/// A block with its sequence number, or the over-long line that takes its place.
type Numbered = (u64, Result<Block, ParseError>);

/// The blocks of one log: those read ahead first, then the rest from the reader.
pub struct Feed {
    ahead: std::collections::VecDeque<Numbered>,
    /// A read error met while reading ahead, reported after the blocks before it.
    error: Option<PipelineError>,
    blocks: Blocks,
}

impl Feed {
    /// The name of the input.
    pub fn name(&self) -> &Arc<str> {
        &self.blocks.name
    }

    /// Whether the input is a regular file (else it is read as it arrives).
    pub fn is_regular(&self) -> bool {
        self.blocks.regular
    }
}

impl Feed {
    /// The blocks, none read ahead.
    pub fn new(blocks: Blocks) -> Feed {
        Feed {
            ahead: Default::default(),
            error: None,
            blocks,
        }
    }

    /// The next block and its sequence number (as [`Blocks::next`]).
    fn next(&mut self, pool: &mut Pool) -> Result<Option<Numbered>, PipelineError> {
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

/// Reads blocks of a regular file while `keep_going` (the caller loads the DBC meanwhile), at
/// most [`PREFETCH_BYTES`], scanning the lines of each for the fused paths.
pub fn prefetch(blocks: Blocks, keep_going: &dyn Fn() -> bool) -> Feed {
    let regular = blocks.regular;
    let mut feed = Feed::new(blocks);
    let mut pool = Pool::default();
    let mut read = 0;
    // Only a regular file is read ahead: a pipe's next line may not come before the DBC is
    // loaded and this line decoded.
    while regular && keep_going() && read < PREFETCH_BYTES {
        match feed.blocks.next(&mut pool) {
            Ok(Some(mut block)) => {
                // An over-long line's block holds no bytes, but a line's worth was read.
                read += match &mut block {
                    Ok(b) => {
                        b.pre = prescan(&b.data);
                        b.data.len().max(1)
                    }
                    Err(_) => candump::MAX_LINE_LEN,
                };
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

/// The scan of the line that starts `text`: the next of the block's scans made ahead
/// ([`prescan`]), or made now when there are none. Called once per line, in order, so that
/// each line gets its own scan.
#[inline]
fn scan_next(
    pre: &mut std::slice::Iter<'_, Option<(DataFrameScan, usize)>>,
    text: &[u8],
) -> Option<(DataFrameScan, usize)> {
    match pre.next() {
        Some(scanned) => *scanned,
        None => candump::scan_data_frame_in(text),
    }
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
    let fast = job.formatter.fused();
    // Room for the output of the whole block at once, zero-filled once per buffer: buffers
    // are recycled with their length.
    let want = block.data.len() * fast.expansion() + 4096;
    if out.len() < want {
        out.resize(want, 0);
    }
    let mut tally = Tally::default();
    let mut scratch = Vec::new();
    let data = &block.data[..];
    let mut at = 0;
    let mut this = block.first_line;
    let mut pre = block.pre.iter();
    while let Some(text) = data.get(at..).filter(|t| !t.is_empty()) {
        // The common line, found and printed without looking for its end first.
        if let Some((scan, len)) = scan_next(&mut pre, text)
            && len <= candump::MAX_LINE_LEN
            && let Some(known) = fast.line(job.db, text, len, &scan, &mut out, &mut pos)
        {
            tally.frames += 1;
            tally.known += u64::from(known);
            at += len + 1;
            this += 1;
            continue;
        }
        let (content, next) = match memchr::memchr(b'\n', text) {
            Some(p) => (text.get(..p).unwrap_or_default(), at + p + 1),
            None => (text, data.len()),
        };
        let raw = content
            .strip_suffix(b"\r")
            .unwrap_or(content)
            .trim_ascii_end();
        if content.len() <= candump::MAX_LINE_LEN
            && let Some(scan) = candump::scan_data_frame(content)
            && let Some(known) = fast.line(job.db, raw, raw.len(), &scan, &mut out, &mut pos)
        {
            tally.frames += 1;
            tally.known += u64::from(known);
        } else {
            tally.line(&job.source, this, content, Some(raw), decoder, |line| {
                // Over the fused path's scratch bytes, keeping them.
                scratch.clear();
                job.formatter.format(line, &mut scratch);
                match out.get_mut(pos..pos + scratch.len()) {
                    Some(dst) => dst.copy_from_slice(&scratch),
                    None => {
                        out.truncate(pos);
                        out.extend_from_slice(&scratch);
                    }
                }
                pos += scratch.len();
            });
        }
        if job.strict && !tally.bad.is_empty() {
            break;
        }
        at = next;
        this += 1;
    }
    Done {
        seq: block.seq,
        payload: (),
        out,
        len: pos,
        tally,
        data: block.data,
    }
}

/// The warning for a frame only partly decoded, unless its message is already in `seen`:
/// the message's index and a line naming where (`place`), the message and why.
fn partial_warning(
    meaning: &Meaning<'_>,
    seen: &[(usize, String)],
    place: impl FnOnce() -> String,
) -> Option<(usize, String)> {
    let Meaning::Signals(m, index, decoded) = meaning else {
        return None;
    };
    if seen.iter().any(|(i, _)| i == index) {
        return None;
    }
    let why = decoded.partial(m)?;
    Some((
        *index,
        format!(
            "{}: {} (0x{}): {why} (warned once per message; each such frame is marked)",
            place(),
            m.name(),
            m.id()
        ),
    ))
}

fn long_line_done<P: Default>(seq: u64, e: ParseError) -> Done<P> {
    Done {
        seq,
        payload: P::default(),
        out: Vec::new(),
        len: 0,
        tally: Tally {
            bad: vec![e],
            ..Tally::default()
        },
        data: Vec::new(),
    }
}

/// What the caller's thread does with each decoded block, in order.
type Take<'a, P> = dyn FnMut(Done<P>, &mut Pool) -> Result<(), PipelineError> + 'a;

/// Runs `work` over the blocks of `feed` and hands each result to `take`, strictly in input
/// order: on `jobs` worker threads (each with its own `state`) at most a few blocks per
/// worker in flight, or on this thread one block at a time when `jobs` is 1.
fn run_blocks<S, P: Send + Default>(
    mut feed: Feed,
    jobs: usize,
    state: &(dyn Fn() -> S + Sync),
    work: &(dyn Fn(&mut S, Block) -> Done<P> + Sync),
    take: &mut Take<'_, P>,
) -> Result<(), PipelineError> {
    let mut pool = Pool::default();
    if jobs <= 1 {
        let mut state = state();
        while let Some((seq, block)) = feed.next(&mut pool)? {
            let done = match block {
                Ok(mut b) => {
                    b.recycle_out(&mut pool);
                    work(&mut state, b)
                }
                Err(e) => long_line_done(seq, e),
            };
            take(done, &mut pool)?;
        }
        return Ok(());
    }
    let max_in_flight = jobs * 3;
    std::thread::scope(|scope| {
        let (work_tx, work_rx) = mpsc::channel::<Block>();
        let work_rx = Arc::new(Mutex::new(work_rx));
        let (done_tx, done_rx) = mpsc::channel::<Done<P>>();
        for _ in 0..jobs {
            let work_rx = Arc::clone(&work_rx);
            let done_tx = done_tx.clone();
            scope.spawn(move || {
                let mut state = state();
                loop {
                    let next = match work_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(block) = next else { return };
                    if done_tx.send(work(&mut state, block)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let mut pending: BTreeMap<u64, Done<P>> = BTreeMap::new();
        let mut next_seq = 0u64;
        let mut in_flight = 0usize;
        let mut take = |done: Done<P>,
                        pending: &mut BTreeMap<u64, Done<P>>,
                        pool: &mut Pool|
         -> Result<(), PipelineError> {
            pending.insert(done.seq, done);
            while let Some(d) = pending.remove(&next_seq) {
                next_seq += 1;
                take(d, pool)?;
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

/// Decodes a candump feed into `sink`: in order, on `jobs` threads for a regular file, one
/// block at a time as it arrives otherwise.
pub fn decode_feed<W: Write>(
    db: &Database,
    formatter: &Formatter,
    strict: bool,
    feed: Feed,
    sink: &mut Sink<'_, W>,
    jobs: usize,
) -> Result<(), PipelineError> {
    let job = Job {
        db,
        formatter,
        source: feed.blocks.name.clone(),
        strict,
    };
    let jobs = if feed.blocks.regular { jobs } else { 1 };
    run_blocks(
        feed,
        jobs,
        &|| FrameDecoder::new(db),
        &|decoder, block| decode_block(&job, decoder, block),
        &mut |done, pool| sink.take(done, pool),
    )
}

/// What a Parquet worker makes of a block: its rows, or why they could not be built.
type Rows = Option<Result<Batch, DatasetError>>;

/// Decodes a candump feed into the Parquet data set of `writer`: blocks decoded on `jobs`
/// threads for a regular file (one at a time as they arrive otherwise) into row batches, which
/// the writer adds in input order, so the data set is the one a single thread would write.
/// `sink` counts the frames and reports malformed lines and partial decodes, as for
/// [`decode_feed`] (its output is not written to).
pub fn decode_feed_into<W: Write>(
    db: &Database,
    strict: bool,
    feed: Feed,
    sink: &mut Sink<'_, W>,
    jobs: usize,
    writer: &mut DatasetWriter<'_, '_>,
) -> Result<(), PipelineError> {
    let source = feed.blocks.name.clone();
    let jobs = if feed.blocks.regular { jobs } else { 1 };
    let resolution = writer.resolution();
    let fused = FusedRows::new(db);
    run_blocks(
        feed,
        jobs,
        &|| (FrameDecoder::new(db), BatchBuilder::new(db, resolution)),
        &|(decoder, builder), block| {
            collect_block(&source, strict, &fused, decoder, builder, block)
        },
        &mut |done: Done<Rows>, pool| {
            pool.inputs.push(done.data);
            if let Some(rows) = done.payload {
                let batch = rows.map_err(|e| PipelineError::Write(io::Error::other(e)))?;
                writer
                    .append(batch)
                    .map_err(|e| PipelineError::Write(io::Error::other(e)))?;
            }
            sink.account(done.tally)
        },
    )
}

/// Parses and decodes one block's lines into a row batch (in strict mode, up to the first
/// malformed line): the common line through the fused path, any other through the general one.
fn collect_block(
    source: &Arc<str>,
    strict: bool,
    fused: &FusedRows,
    decoder: &mut FrameDecoder<'_>,
    builder: &mut Result<BatchBuilder<'_>, DatasetError>,
    block: Block,
) -> Done<Rows> {
    let mut tally = Tally::default();
    let mut failed = None;
    let data = &block.data[..];
    let mut at = 0;
    let mut this = block.first_line;
    let mut pre = block.pre.iter();
    while let Some(text) = data.get(at..).filter(|t| !t.is_empty()) {
        let scanned = scan_next(&mut pre, text);
        if let Ok(b) = builder.as_mut()
            && let Some((scan, len)) = scanned
            && len <= candump::MAX_LINE_LEN
            && let Some(pushed) = b.push_scanned(fused, text.get(..len).unwrap_or_default(), &scan)
        {
            match pushed {
                Ok(known) => {
                    tally.frames += 1;
                    tally.known += u64::from(known);
                    at += len + 1;
                    this += 1;
                    continue;
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let (content, next) = match memchr::memchr(b'\n', text) {
            Some(p) => (text.get(..p).unwrap_or_default(), at + p + 1),
            None => (text, data.len()),
        };
        tally.line(source, this, content, None, decoder, |line| {
            let pushed = match builder.as_mut() {
                Ok(b) => b.push(line),
                Err(e) => Err(unusable(e)),
            };
            failed = pushed.err();
        });
        if failed.is_some() || (strict && !tally.bad.is_empty()) {
            break;
        }
        at = next;
        this += 1;
    }
    let rows = match (failed, builder) {
        (Some(e), _) => Err(e),
        (None, Ok(b)) => Ok(b.take()),
        (None, Err(e)) => Err(unusable(e)),
    };
    Done {
        seq: block.seq,
        payload: Some(rows),
        out: Vec::new(),
        len: 0,
        tally,
        data: block.data,
    }
}

/// A worker's builder could not be made (its error, for each block it would have built).
fn unusable(e: &DatasetError) -> DatasetError {
    DatasetError::Io {
        path: "frames".to_string(),
        source: io::Error::other(e.to_string()),
    }
}

/// Decodes the records of any capture format and formats each frame into `sink`, in order.
/// Malformed records are reported (or stop decoding with `strict`), records of other buses
/// are counted and said once at the end.
pub fn decode_records<W: Write>(
    db: &Database,
    formatter: &Formatter,
    reader: &mut dyn FrameReader,
    sink: &mut Sink<'_, W>,
    stop: fn() -> bool,
) -> Result<(), PipelineError> {
    let mut buf = Vec::with_capacity(BLOCK + 4096);
    let result = each_record(db, reader, sink, stop, &mut |line, out| {
        formatter.format(line, &mut buf);
        if buf.len() >= BLOCK {
            out.write_all(&buf)?;
            buf.clear();
        }
        Ok(())
    });
    sink.out.write_all(&buf).map_err(PipelineError::Write)?;
    result
}

/// Decodes the records of any capture format and hands each frame, decoded, to `each` (with
/// the sink's output), in order; the sink counts frames, reports malformed records (or stops
/// at the first with `strict`) and partial decodes. An error of `each` stops decoding as a
/// write error.
pub fn each_record<W: Write>(
    db: &Database,
    reader: &mut dyn FrameReader,
    sink: &mut Sink<'_, W>,
    stop: fn() -> bool,
    each: &mut dyn FnMut(&Line<'_>, &mut W) -> io::Result<()>,
) -> Result<(), PipelineError> {
    let mut decoder = FrameDecoder::new(db);
    let mut skipped: Vec<(String, u64)> = Vec::new();
    let format = reader.format();
    let result = loop {
        if stop() {
            break Ok(());
        }
        match reader.read_item() {
            Ok(Some(Item::Record(r))) => {
                sink.frames += 1;
                let meaning = decoder.decode(&r.frame);
                sink.known += u64::from(!matches!(meaning, Meaning::Unknown));
                if let Some((message, warning)) = partial_warning(&meaning, &[], || {
                    format!("{format} frame at {} s", r.timestamp)
                }) {
                    sink.partial(message, warning);
                }
                let line = Line::of_record(&r, meaning);
                if let Err(e) = each(&line, &mut sink.out) {
                    break Err(PipelineError::Write(e));
                }
            }
            Ok(Some(Item::Other(_))) => {}
            Ok(Some(Item::Skipped(what))) => match skipped.iter_mut().find(|(w, _)| w == what) {
                Some((_, n)) => *n += 1,
                None => skipped.push((what.to_string(), 1)),
            },
            Ok(Some(Item::Bad(e))) => {
                if let Err(e) = sink.malformed(e) {
                    break Err(e);
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(PipelineError::Read(e)),
        }
    };
    for (what, n) in skipped {
        (sink.warn)(format!(
            "{n} {what}{} in {} not decoded (not CAN frames)",
            if n == 1 { "" } else { "s" },
            reader.format()
        ));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Format;

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
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dbc/signals.dbc");
        let db = Database::from_bytes(&std::fs::read(&path).unwrap(), "signals.dbc").unwrap();
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
            assert_eq!(fresh.tally.bad.len(), 1, "{format:?}");
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

    /// A block of table rows is the same whether its lines were scanned ahead (a log read
    /// while the DBC loaded) or not: the same rows, frames, known frames and bad lines.
    #[test]
    fn test_rows_scanned_ahead_or_not_are_the_same() {
        use crate::output::parquet::{BatchBuilder, Resolution};
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dbc/signals.dbc");
        let db = Database::from_bytes(&std::fs::read(&path).unwrap(), "signals.dbc").unwrap();
        let fused = FusedRows::new(&db);
        let source: Arc<str> = Arc::from("t.log");
        // Every line of the second log is a frame of the fused path, each of another message
        // or payload, so that a scan used on the wrong line would show.
        let mut frames = String::new();
        for i in 0..40u32 {
            let (id, len) =
                [(0x100, 8), (0x101, 8), (0x104, 8), (0x108, 3), (0x106, 8)][i as usize % 5];
            let data: String = (0..len)
                .map(|k| format!("{:02X}", (i * 37 + k * 11) % 256))
                .collect();
            frames.push_str(&format!(
                "(1700000000.{:06}) vcan{} {id:03X}#{data}\n",
                100 + i,
                i % 2
            ));
        }
        let rows = |log: &str, pre: bool| {
            let mut b = block(log, Vec::new());
            if pre {
                b.pre = prescan(&b.data);
                assert_eq!(b.pre.len(), log.lines().count());
            }
            let mut decoder = FrameDecoder::new(&db);
            let mut builder = BatchBuilder::new(&db, Resolution::Micros);
            let done = collect_block(&source, false, &fused, &mut decoder, &mut builder, b);
            let tally = &done.tally;
            let bad: Vec<String> = tally.bad.iter().map(|e| e.to_string()).collect();
            (
                done.payload.map(|r| r.unwrap()),
                tally.frames,
                tally.known,
                bad,
            )
        };
        let (ahead, now) = (rows(LOG, true), rows(LOG, false));
        assert_eq!(ahead, now);
        assert_eq!((now.1, now.2, now.3.len()), (7, 5, 1), "{:?}", now.3);
        let (ahead, now) = (rows(&frames, true), rows(&frames, false));
        assert_eq!(ahead, now);
        assert_eq!((now.1, now.2, now.3.len()), (40, 40, 0), "{:?}", now.3);
    }
}
