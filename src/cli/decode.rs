//! `canrelearn decode`: decode candump logs with DBC files, offline and streaming.

use std::io::{self, BufWriter};
use std::path::PathBuf;

use canrelearn::dbc::{Database, DecodeError, Decoded};
use canrelearn::frame::Frame;
use canrelearn::log::candump::{self, Item, Policy, ReadError};

use super::output::{Format, FrameWriter, Line, Meaning};
use super::{CliError, exit, input};

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

    /// Logs to decode, in order; `-` or none: standard input.
    #[arg(value_name = "LOG")]
    pub logs: Vec<PathBuf>,
}

/// Malformed lines reported individually before only counting them.
const MAX_REPORTED: u64 = 20;

pub fn run(args: Args) -> Result<u8, CliError> {
    let db = input::load_dbcs(&args.dbc)?;
    let stdout = io::stdout().lock();
    let mut out = FrameWriter::new(BufWriter::with_capacity(1 << 18, stdout), args.format, &db);
    let mut decoder = FrameDecoder::new(&db);
    let logs = if args.logs.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        args.logs.clone()
    };
    let mut bad = 0u64;
    let policy = if args.strict {
        Policy::Strict
    } else {
        Policy::Lenient
    };
    for path in &logs {
        let mut reader = candump::open(path).map_err(read_error)?.with_policy(policy);
        loop {
            let item = match reader.read_item() {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(e) => {
                    out.flush()?;
                    return Err(read_error(e));
                }
            };
            match item {
                Item::Record(rec) => {
                    let meaning = decoder.decode(&rec.frame);
                    out.write(&Line {
                        timestamp: rec.timestamp,
                        precision: rec.precision,
                        interface: rec.interface,
                        frame: &rec.frame,
                        meaning,
                    })?;
                }
                Item::Bad(e) => {
                    bad += 1;
                    if bad <= MAX_REPORTED {
                        eprintln!("canrelearn: warning: {e} (line skipped)");
                    }
                }
                Item::Other(_) => {}
            }
        }
    }
    out.flush()?;
    if bad > 0 {
        eprintln!(
            "canrelearn: warning: {bad} malformed line{} skipped{}",
            if bad == 1 { "" } else { "s" },
            if bad > MAX_REPORTED {
                " (the first 20 are shown above)"
            } else {
                ""
            }
        );
    }
    Ok(exit::OK)
}

/// Exit 2 for what is wrong with the input (a bad line in strict mode, a file that does not
/// open, corrupt compressed data), 4 for other read errors.
pub fn read_error(e: ReadError) -> CliError {
    let code = match &e {
        ReadError::Parse(_) | ReadError::Open { .. } => exit::USAGE,
        ReadError::Io { error, .. } if error.kind() == io::ErrorKind::InvalidData => exit::USAGE,
        ReadError::Io { .. } => exit::BUS_IO,
    };
    CliError::new(code, e)
}

/// Looks frames up in the DBC set and decodes them into a reused buffer.
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
