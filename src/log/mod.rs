//! CAN capture formats: pure readers and writers behind one interface.
//!
//! Every format module reads from any [`std::io::BufRead`] (binary formats that need random
//! access take `Read + Seek`), streams with bounded memory, reports what it cannot read as a
//! typed error carrying the source name and a [`Location`] (line and column for text formats,
//! byte offset for binary ones), and never panics on input. Opening files, standard input and
//! decompressing gzip is the edge's job (the command line); nothing here touches sockets,
//! tokio, files or the system clock: timestamps come from the capture.
//!
//! The common shapes:
//! - [`Record`]: one frame with its time, interface name and direction, whatever the format.
//! - [`FrameReader`]: the items of a capture in file order ([`Item`]): frames, lines or objects
//!   that are part of the format but carry no frame ([`Item::Other`]), things the format can
//!   hold that we recognise but do not carry ([`Item::Skipped`], counted so the edge can say
//!   so once), and malformed records ([`Item::Bad`], after which reading goes on where the
//!   format allows it). The caller decides whether a bad record stops it (`--strict`).
//! - [`FrameWriter`]: writes records, and counts what the target format cannot carry
//!   ([`Loss`]) so that nothing is dropped silently.
//!
//! Channels: formats that number their buses (Vector ASC and BLF, PEAK TRC, MDF4) use 1-based
//! channel numbers; readers name channel `N` `can{N-1}` ([`channel_interface`], what can-utils'
//! `asc2log` does and python-can's 0-based channel numbers mean), and writers map interface
//! names back with a [`ChannelMap`]: `can<K>` is channel `K+1`, any other name takes the lowest
//! free channel at its first appearance. Formats without channels name their single bus `can0`.

pub mod asc;
pub mod blf;
pub mod candump;
pub mod csv;
mod lex;
mod lines;
pub mod merge;
pub mod mf4;
pub mod pcap;
pub mod screen;
pub mod trc;
pub mod writers;

use core::fmt;
use std::io;
use std::sync::Arc;

use crate::frame::Frame;
use crate::time::Timestamp;

/// Malformed records reported one by one before only counting them.
pub const MAX_REPORTED: u64 = 20;

/// What is said of a capture's malformed records: the first [`MAX_REPORTED`] one by one, then
/// only counted, and a closing count. One rule for every command that reads captures.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BadRecords {
    count: u64,
}

impl BadRecords {
    /// One more malformed record: the warning to show for it, while under the cap.
    pub fn report(&mut self, e: &dyn fmt::Display) -> Option<String> {
        self.count += 1;
        (self.count <= MAX_REPORTED).then(|| format!("{e} (skipped)"))
    }

    /// Malformed records so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The closing count, if there was any.
    pub fn summary(&self) -> Option<String> {
        (self.count > 0).then(|| {
            format!(
                "{} malformed line{} skipped{}",
                self.count,
                if self.count == 1 { "" } else { "s" },
                if self.count > MAX_REPORTED {
                    format!(" (the first {MAX_REPORTED} are shown above)")
                } else {
                    String::new()
                }
            )
        })
    }
}

/// How many digits the timestamp fraction has: classic `candump` writes microseconds; logs with
/// nanosecond timestamps have nine digits. Other formats report the resolution they store.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// Six fraction digits.
    #[default]
    Micros,
    /// Nine fraction digits.
    Nanos,
}

/// Whether a frame was received from the bus or transmitted by the recording host
/// (`candump -x` ` R`/` T`, ASC `Rx`/`Tx`, BLF's direction flag, TRC's `Rx`/`Tx`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Received (` R`).
    Rx,
    /// Transmitted (` T`).
    Tx,
}

/// One frame of a capture; the interface name borrows the reader's state.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// When the frame was received, on the capture's time line (Unix time when the capture
    /// says when it started, else from zero).
    pub timestamp: Timestamp,
    /// The resolution to write the time back with (candump: 6 or 9 fraction digits).
    pub precision: Precision,
    /// The interface name (`can0`, `vcan1`, ...), without padding.
    pub interface: &'a str,
    /// The frame.
    pub frame: Frame,
    /// The direction, when the capture records it.
    pub direction: Option<Direction>,
}

impl Record<'_> {
    /// A copy that owns its interface name (allocates; for collecting records).
    pub fn to_owned_record(&self) -> OwnedRecord {
        OwnedRecord {
            timestamp: self.timestamp,
            precision: self.precision,
            interface: self.interface.to_owned(),
            frame: self.frame,
            direction: self.direction,
        }
    }
}

/// A [`Record`] that owns its interface name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedRecord {
    pub timestamp: Timestamp,
    pub precision: Precision,
    pub interface: String,
    pub frame: Frame,
    pub direction: Option<Direction>,
}

impl OwnedRecord {
    /// The borrowed view, for the writer.
    pub fn as_record(&self) -> Record<'_> {
        Record {
            timestamp: self.timestamp,
            precision: self.precision,
            interface: &self.interface,
            frame: self.frame,
            direction: self.direction,
        }
    }
}

/// Where in a capture something was found.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Location {
    /// A text format: 1-based line and column (byte offset in the line + 1).
    Line { line: u64, column: usize },
    /// A binary format: the byte offset from the start of the (decompressed) input.
    Offset(u64),
    /// A binary format's object inside a compressed container: the container's offset in the
    /// file and the object's offset in the container's uncompressed data.
    Inner { container: u64, offset: u64 },
}

/// `17:24`, `byte 4096`, `byte 80 of the container at byte 4096`.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line { line, column } => write!(f, "{line}:{column}"),
            Location::Offset(o) => write!(f, "byte {o}"),
            Location::Inner { container, offset } => {
                write!(f, "byte {offset} of the container at byte {container}")
            }
        }
    }
}

/// A capture format.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// can-utils `candump -l` / `-L` log lines: `(1700000000.000000) can0 123#11`.
    Candump,
    /// Vector ASC (ASCII) logs: CANoe/CANalyzer, python-can, can-utils `log2asc`.
    Asc,
    /// What `candump can0` prints: ` (1700000000.000000)  can0  123   [1]  11`.
    CandumpScreen,
    /// python-can's CSV: `timestamp,arbitration_id,extended,remote,error,dlc,data`.
    Csv,
    /// Classic libpcap capture, link type `LINKTYPE_CAN_SOCKETCAN` (227).
    Pcap,
    /// pcapng capture, link type `LINKTYPE_CAN_SOCKETCAN` (227).
    Pcapng,
    /// ASAM MDF 4 bus logging (CANedge, asammdf, python-can, Vector).
    Mf4,
    /// Vector BLF binary logging format (CANoe, CANalyzer, python-can).
    Blf,
    /// PEAK-System TRC trace (PCAN-View, PCAN-Explorer, python-can), versions 1.0 to 2.1.
    Trc,
}

impl Format {
    /// Every format, in the order detection tries them.
    pub const ALL: &'static [Format] = &[
        Format::Candump,
        Format::CandumpScreen,
        Format::Csv,
        Format::Asc,
        Format::Pcap,
        Format::Pcapng,
        Format::Mf4,
        Format::Blf,
        Format::Trc,
    ];

    /// The name used on the command line (`--from`, `--to`, `--format`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Candump => "candump",
            Format::Asc => "asc",
            Format::CandumpScreen => "candump-screen",
            Format::Csv => "csv",
            Format::Pcap => "pcap",
            Format::Pcapng => "pcapng",
            Format::Mf4 => "mf4",
            Format::Blf => "blf",
            Format::Trc => "trc",
        }
    }

    /// A format by its command-line name.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.iter().copied().find(|f| f.name() == name)
    }

    /// What the format is, for people.
    pub fn description(self) -> &'static str {
        match self {
            Format::Candump => "can-utils candump log (-l/-L)",
            Format::Asc => "Vector ASC log (CANoe/CANalyzer, python-can, log2asc)",
            Format::CandumpScreen => "can-utils candump screen output (candump can0 > file)",
            Format::Csv => "python-can CSV",
            Format::Pcap => "libpcap capture (tcpdump, Wireshark), SocketCAN link type",
            Format::Pcapng => "pcapng capture (Wireshark, tcpdump), SocketCAN link type",
            Format::Mf4 => "ASAM MDF 4 bus logging (CANedge, asammdf, python-can, Vector)",
            Format::Blf => "Vector BLF binary logging format",
            Format::Trc => "PEAK TRC trace (PCAN-View, PCAN-Explorer, python-can)",
        }
    }

    /// The file name extensions that ask for this format when writing (lower case, without
    /// the dot); empty for a format that is only read.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Format::Candump => &["log", "candump"],
            Format::Asc => &["asc"],
            Format::Csv => &["csv"],
            Format::CandumpScreen => &[],
            Format::Pcap => &["pcap"],
            Format::Pcapng => &["pcapng"],
            Format::Mf4 => &["mf4"],
            Format::Blf => &["blf"],
            Format::Trc => &["trc"],
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A malformed record in a capture of a format other than candump: where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError {
    /// The file the record came from, when the reader knows it.
    pub source_name: Option<Arc<str>>,
    /// The format being read.
    pub format: Format,
    /// Where.
    pub location: Location,
    /// Why.
    pub kind: FormatErrorKind,
}

/// `capture.asc:17:24: cause` / `capture.blf: byte 4096: cause`.
impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.source_name.as_deref().unwrap_or("<input>");
        match self.location {
            Location::Line { .. } => write!(f, "{name}:{}: {}", self.location, self.kind),
            _ => write!(f, "{name}: {}: {}", self.location, self.kind),
        }
    }
}

impl std::error::Error for FormatError {}

/// Why a record of a non-candump format could not be read: one variant per format module,
/// each carrying that module's own typed cause.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatErrorKind {
    /// The input ended inside a record or object (a truncated file).
    #[error("the input ends inside a record ({0})")]
    Truncated(&'static str),
    /// A bad line of a Vector ASC log.
    #[error(transparent)]
    Asc(asc::ErrorKind),
    /// A malformed candump screen line.
    #[error(transparent)]
    CandumpScreen(screen::ErrorKind),
    /// A malformed python-can CSV row.
    #[error(transparent)]
    Csv(csv::ErrorKind),
    /// pcap and pcapng.
    #[error(transparent)]
    Pcap(pcap::ErrorKind),
    /// MDF 4.
    #[error(transparent)]
    Mf4(mf4::ErrorKind),
    /// A Vector BLF object or container.
    #[error(transparent)]
    Blf(blf::ErrorKind),
    /// A malformed PEAK TRC line.
    #[error(transparent)]
    Trc(trc::ErrorKind),
}

/// What can stop a reader, or a malformed record it hands out as [`Item::Bad`].
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// An I/O error (not a malformed record): the read cannot go on.
    #[error("{}: read error at {location}: {error}", .source_name.as_deref().unwrap_or("<input>"))]
    Io {
        source_name: Option<Arc<str>>,
        location: Location,
        #[source]
        error: io::Error,
    },
    /// A malformed candump line.
    #[error(transparent)]
    Candump(#[from] candump::ParseError),
    /// A malformed record of another format.
    #[error(transparent)]
    Format(#[from] FormatError),
}

impl ReadError {
    /// Whether this is a malformed record (as opposed to an I/O error).
    pub fn is_malformed(&self) -> bool {
        !matches!(self, ReadError::Io { .. })
    }
}

/// Counters of a [`FrameReader`].
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames read.
    pub records: u64,
    /// Lines or objects that are part of the format but carry no frame (headers, comments).
    pub other: u64,
    /// Things we recognised but do not carry (LIN frames in a BLF, ...): see [`Item::Skipped`].
    pub skipped: u64,
    /// Malformed records.
    pub bad: u64,
}

/// One item of a capture, as [`FrameReader::read_item`] returns it.
#[derive(Debug)]
pub enum Item<'a> {
    /// A frame.
    Record(Record<'a>),
    /// A line or object that is part of the format and carries no frame (trailing blanks
    /// removed for text).
    Other(&'a str),
    /// Something the format holds that we recognise but do not carry, named for people
    /// (`LIN message`, `CAN FD error frame`): the edge counts these and says so once.
    Skipped(&'a str),
    /// A malformed record; reading can go on with the next one.
    Bad(ReadError),
}

/// A streaming reader of one capture.
///
/// `read_item` returns `Ok(None)` at the end of the input, `Err` for an I/O error (or a
/// truncated binary file the reader cannot resynchronise in) after which it should not be
/// called again. It never panics on input.
pub trait FrameReader: Send {
    /// The next item of the capture.
    fn read_item(&mut self) -> Result<Option<Item<'_>>, ReadError>;
    /// The format being read.
    fn format(&self) -> Format;
    /// The counters so far.
    fn stats(&self) -> Stats;
}

/// How [`each_frame`] ended.
#[derive(Debug)]
pub enum Walk {
    /// At the end of the capture.
    Complete,
    /// `stop` said so, before the end.
    Stopped,
    /// A read error (damage, a failing device), after every frame before it.
    Failed(ReadError),
}

/// Hands every frame of `reader` to `frame`, in order, and each malformed record to `bad`
/// (reading goes on after it); records that carry no frame are passed over. `stop` is asked
/// before every record. The first error of `frame` or `bad` ends the walk and is returned.
pub fn each_frame<E>(
    reader: &mut dyn FrameReader,
    stop: &dyn Fn() -> bool,
    bad: &mut dyn FnMut(ReadError) -> Result<(), E>,
    frame: &mut dyn FnMut(&Record<'_>) -> Result<(), E>,
) -> Result<Walk, E> {
    loop {
        if stop() {
            return Ok(Walk::Stopped);
        }
        match reader.read_item() {
            Ok(Some(Item::Record(r))) => frame(&r)?,
            Ok(Some(Item::Bad(e))) => bad(e)?,
            Ok(Some(Item::Other(_) | Item::Skipped(_))) => {}
            Ok(None) => return Ok(Walk::Complete),
            Err(e) => return Ok(Walk::Failed(e)),
        }
    }
}

/// Something a [`FrameWriter`]'s format could not carry, and how often it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loss {
    /// What was lost, for people: `direction`, `CAN FD frames (TRC 1.1 is classic only)`.
    pub what: &'static str,
    /// How many records lost it.
    pub count: u64,
    /// Whether those records were not written at all (else they were written without it).
    pub dropped: bool,
}

/// Counts [`Loss`]es for a writer.
#[derive(Clone, Debug, Default)]
pub struct Losses {
    list: Vec<Loss>,
}

impl Losses {
    /// Counts one record that lost `what` (`dropped`: the record was not written).
    pub fn add(&mut self, what: &'static str, dropped: bool) {
        match self
            .list
            .iter_mut()
            .find(|l| l.what == what && l.dropped == dropped)
        {
            Some(l) => l.count += 1,
            None => self.list.push(Loss {
                what,
                count: 1,
                dropped,
            }),
        }
    }

    /// Everything lost so far, in order of first occurrence.
    pub fn list(&self) -> &[Loss] {
        &self.list
    }
}

/// A writer of one capture format.
pub trait FrameWriter {
    /// Writes one record (or counts it as a [`Loss`] when the format cannot carry it).
    fn write_record(&mut self, record: &Record<'_>) -> io::Result<()>;
    /// Pushes what is written so far to the underlying writer, so that a reader of the file
    /// sees every record written (a recorder calls this periodically).
    fn flush(&mut self) -> io::Result<()>;
    /// Ends the capture (trailers, final header fields) and flushes. Records written after
    /// `finish` are an error.
    fn finish(&mut self) -> io::Result<()>;
    /// What the format could not carry so far.
    fn losses(&self) -> &[Loss];
    /// For formats that number their buses: how interface names became channel numbers
    /// (a name other than `can<K-1>` for channel K reads back under another name).
    fn channel_map(&self) -> Option<&ChannelMap> {
        None
    }
}

/// The interface name of a 1-based bus channel: channel 1 is `can0`, channel K `can<K-1>`
/// (a format that numbers from 0 adds 1 first). Channel 0, outside the numbering, is `ch0`:
/// a bus of its own, never merged into channel 1's `can0` (python-can writes it for its
/// channel -1, and an MF4 file read 1-based can hold it).
pub fn channel_interface(channel: u32) -> String {
    match channel {
        0 => "ch0".to_string(),
        k => format!("can{}", k - 1),
    }
}

/// Maps interface names to 1-based channel numbers for formats that number their buses:
/// `can<K>` is channel `K+1`, `ch0` channel 0 (unless [`ChannelMap::without_channel_0`]); any
/// other name takes the lowest channel from 1 not yet used (by either rule) at its first
/// appearance.
#[derive(Clone, Debug, Default)]
pub struct ChannelMap {
    names: Vec<(String, u32)>,
    last: Option<usize>,
    /// `ch0` is not written as channel 0 ([`ChannelMap::without_channel_0`]).
    no_channel_0: bool,
}

impl ChannelMap {
    /// An empty map. `ch0` (how a channel 0 is read, [`channel_interface`]) goes back to
    /// channel 0.
    pub fn new() -> ChannelMap {
        ChannelMap::default()
    }

    /// An empty map that never gives channel 0, for a format whose reader takes a channel 0
    /// for a file numbered from 0 (MDF, python-can's): `ch0` gets a free channel like any
    /// other name.
    pub fn without_channel_0() -> ChannelMap {
        ChannelMap {
            no_channel_0: true,
            ..ChannelMap::default()
        }
    }

    /// The channel of `interface`, assigning one at its first appearance.
    pub fn channel(&mut self, interface: &str) -> u32 {
        if let Some(i) = self.last
            && let Some((n, c)) = self.names.get(i)
            && n == interface
        {
            return *c;
        }
        if let Some(i) = self.names.iter().position(|(n, _)| n == interface) {
            self.last = Some(i);
            return self.names.get(i).map_or(1, |(_, c)| *c);
        }
        let wanted = match interface {
            "ch0" if !self.no_channel_0 => Some(0),
            _ => interface
                .strip_prefix("can")
                .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) && d.len() < 10)
                .and_then(|d| d.parse::<u32>().ok())
                .and_then(|k| k.checked_add(1)),
        }
        .filter(|c| !self.names.iter().any(|(_, used)| used == c));
        let channel = wanted.unwrap_or_else(|| {
            (1..=u32::MAX)
                .find(|c| !self.names.iter().any(|(_, used)| used == c))
                .unwrap_or(u32::MAX)
        });
        self.names.push((interface.to_owned(), channel));
        self.last = Some(self.names.len() - 1);
        channel
    }

    /// Every name mapped so far with its channel, in order of first appearance.
    pub fn assignments(&self) -> &[(String, u32)] {
        &self.names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_bad_records_are_shown_up_to_the_cap_then_counted() {
        let mut bad = BadRecords::default();
        assert_eq!(bad.summary(), None);
        assert_eq!(
            bad.report(&"x.log:3: no").as_deref(),
            Some("x.log:3: no (skipped)")
        );
        assert_eq!(bad.summary().as_deref(), Some("1 malformed line skipped"));
        let shown = (1..30).filter(|_| bad.report(&"again").is_some()).count();
        assert_eq!((shown, bad.count()), (19, 30));
        assert_eq!(
            bad.summary().as_deref(),
            Some("30 malformed lines skipped (the first 20 are shown above)")
        );
    }

    #[test]
    fn test_each_frame_hands_frames_and_bad_records_in_order() {
        let text = "(1.000000) can0 123#01\n(1.500000) can0 123#0\n(2.000000) can0 456#02\n";
        let walk = |stop_after: usize| {
            let mut reader = candump::Reader::new(text.as_bytes());
            let seen = core::cell::Cell::new(0usize);
            let out = core::cell::RefCell::new(Vec::new());
            let end = each_frame::<()>(
                &mut reader,
                &|| seen.get() >= stop_after,
                &mut |e| {
                    seen.set(seen.get() + 1);
                    out.borrow_mut().push(format!("bad {}", e.is_malformed()));
                    Ok(())
                },
                &mut |r| {
                    seen.set(seen.get() + 1);
                    out.borrow_mut()
                        .push(r.frame.id().map_or_else(String::new, |id| id.to_string()));
                    Ok(())
                },
            );
            (end, out.into_inner())
        };
        let (end, out) = walk(usize::MAX);
        assert!(matches!(end, Ok(Walk::Complete)), "{end:?}");
        assert_eq!(out, ["123", "bad true", "456"]);
        let (end, out) = walk(2);
        assert!(matches!(end, Ok(Walk::Stopped)), "{end:?}");
        assert_eq!(out, ["123", "bad true"]);
        // The callbacks' errors end the walk.
        let mut reader = candump::Reader::new(text.as_bytes());
        let end = each_frame(&mut reader, &|| false, &mut |_| Err("bad"), &mut |_| Ok(()));
        assert!(matches!(end, Err("bad")));
        // A failing read ends it after the frames before it.
        struct Failing(&'static [u8]);
        impl io::Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() {
                    return Err(io::Error::other("device gone"));
                }
                let n = self.0.len().min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut reader =
            candump::Reader::new(io::BufReader::new(Failing(b"(1.000000) can0 123#01\n")));
        let mut frames = 0;
        let end = each_frame::<()>(&mut reader, &|| false, &mut |_| Ok(()), &mut |_| {
            frames += 1;
            Ok(())
        });
        assert!(
            matches!(end, Ok(Walk::Failed(ReadError::Io { .. }))),
            "{end:?}"
        );
        assert_eq!(frames, 1);
    }

    #[test]
    fn test_channel_interface() {
        assert_eq!(channel_interface(1), "can0");
        assert_eq!(channel_interface(3), "can2");
        assert_eq!(channel_interface(0), "ch0");
    }

    /// `ch0` (a channel 0 read) goes back to channel 0, so that it reads back as itself,
    /// except where a channel 0 would make the file read as numbered from 0 (MF4).
    #[test]
    fn test_ch0_goes_back_to_channel_0_where_the_format_allows() {
        let mut m = ChannelMap::new();
        assert_eq!(m.channel("can0"), 1);
        assert_eq!(m.channel("ch0"), 0);
        assert_eq!(m.channel("vcan0"), 2);
        assert_eq!(channel_interface(m.channel("ch0")), "ch0");
        let mut m = ChannelMap::without_channel_0();
        assert_eq!(m.channel("ch0"), 1);
        assert_eq!(m.channel("can0"), 2);
    }

    #[test]
    fn test_channel_map_keeps_can_numbers_and_fills_others() {
        let mut m = ChannelMap::new();
        assert_eq!(m.channel("can1"), 2);
        assert_eq!(m.channel("vcan0"), 1);
        assert_eq!(m.channel("can0"), 3, "channel 1 is taken by vcan0");
        assert_eq!(m.channel("can1"), 2);
        assert_eq!(m.channel("vcan0"), 1);
        assert_eq!(m.channel("can"), 4);
        assert_eq!(m.channel("can99999999999"), 5, "not a channel number");
        assert_eq!(m.assignments().len(), 5);
    }

    #[test]
    fn test_channel_map_round_trips_reader_names() {
        let mut m = ChannelMap::new();
        for c in [3u32, 1, 2, 7] {
            assert_eq!(m.channel(&channel_interface(c)), c);
        }
    }

    #[test]
    fn test_losses_count_by_kind() {
        let mut l = Losses::default();
        l.add("direction", false);
        l.add("CAN FD frames", true);
        l.add("direction", false);
        assert_eq!(
            l.list(),
            &[
                Loss {
                    what: "direction",
                    count: 2,
                    dropped: false
                },
                Loss {
                    what: "CAN FD frames",
                    count: 1,
                    dropped: true
                }
            ]
        );
    }

    #[test]
    fn test_location_display() {
        assert_eq!(
            Location::Line {
                line: 17,
                column: 24
            }
            .to_string(),
            "17:24"
        );
        assert_eq!(Location::Offset(4096).to_string(), "byte 4096");
    }
}
