//! The DBC layer: a compiled message database, a decoder, an encoder and checks.
//!
//! Vector's DBC format (the "DBC File Format Documentation" 1.0.x) is parsed by the `can-dbc`
//! crate; everything after the parse is ours: [`Database`] compiles the AST into messages
//! and signals with precomputed extraction plans and a multiplexing tree, [`Database::decode`]
//! turns a frame's payload into raw and physical values without allocating (the caller keeps
//! a reusable [`Decoded`] buffer), [`Message::encode`] is its inverse, and [`check`] lists what
//! is wrong or suspicious in a file.
//!
//! Calling contract: load once from a file's bytes ([`Database::from_bytes`]; reading files is
//! the caller's job; merge several with [`Database::merge`]), then call [`Database::decode`] per frame from any number
//! of threads (the database is immutable and `Sync`). Decoding follows cantools' semantics
//! (`decode(data, decode_choices=False, scaling=True)`), including its integer/float typing
//! of physical values (see [`PhysicalValue`]) and its multiplexing rules (see
//! [`Multiplexing`]). Nothing here panics on any input text or any frame length.
//!
//! ```
//! use canrelearn::dbc::{Database, Decoded, PhysicalValue};
//! use canrelearn::{ClassicFrame, Frame, Id};
//!
//! let text = "VERSION \"\"\nNS_ :\nBS_:\nBU_: ECM\n\
//!             BO_ 384 ENGINE: 8 ECM\n \
//!             SG_ RPM : 0|16@1+ (0.25,0) [0|16383.75] \"rpm\" Vector__XXX\n";
//! let db = Database::from_bytes(text.as_bytes(), "engine.dbc")?;
//! let data = [0x40, 0x1F, 0, 0, 0, 0, 0, 0];
//! let frame = Frame::Classic(ClassicFrame::new(Id::standard(384).unwrap(), &data)?);
//! let mut out = Decoded::new();
//! let message = db.decode_frame(&frame, &mut out)?.expect("ENGINE is in the DBC");
//! let rpm = &out.signals()[0];
//! assert_eq!(message.signals()[rpm.index].name(), "RPM");
//! // 0x1F40 = 8000 raw, times 0.25: cantools gives the float 2000.0.
//! assert_eq!(rpm.physical, PhysicalValue::Float(2000.0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod check;
mod decode;
mod encode;
pub mod infer;
mod model;
pub mod show;
mod source;
mod split;

pub use check::{Diagnostic, Severity, check, check_database, layout_warnings};
pub use decode::{DecodeError, Decoded, DecodedSignal, MuxMiss, PhysicalValue, RawValue};
pub(crate) use decode::{FlatBits, FlatMux, FlatSignal, PayloadWord};
pub use encode::{EncodeError, SignalValue};
pub use model::{
    ByteOrder, Database, Message, Multiplexing, MuxIndicator, MuxRange, Node, Signal,
    ValueDescription, ValueTable, ValueType,
};

pub use crate::location::Location;

/// For the `dbc_split` fuzz target: whether parsing `text` in up to `threads` chunks (the
/// parallel parse large files get, here with chunks of any size) gives exactly the
/// sequential parse, AST or error.
#[doc(hidden)]
pub fn parallel_parse_agrees(text: &str, threads: usize) -> bool {
    split::agrees(text, threads)
}

/// A problem that makes a DBC unusable (a load error) or that [`check`] reports.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    /// The text is not valid DBC syntax.
    #[error("DBC syntax error: {cause}")]
    Syntax {
        /// What the parser expected or found.
        cause: String,
    },
    /// The message id does not fit: above `0x7FF` without bit 31, or above 29 bits with it.
    #[error(
        "message {message}: id {id} (0x{id:X}) is neither an 11-bit id nor bit 31 + a 29-bit id"
    )]
    IdOutOfRange {
        /// The message name.
        message: String,
        /// The id.
        id: u64,
    },
    /// A message longer than a CAN FD frame.
    #[error("message {message}: size {size} is more than 64 bytes")]
    MessageTooLong {
        /// The message name.
        message: String,
        /// The size as written.
        size: u64,
    },
    /// A signal of 0 or more than 64 bits.
    #[error("message {message}: signal {signal} has {size} bits (1 to 64 allowed)")]
    SignalSize {
        /// The message name.
        message: String,
        /// The signal name.
        signal: String,
        /// The size as written.
        size: u64,
    },
    /// A signal whose bits do not all lie within 64 bytes.
    #[error(
        "message {message}: signal {signal} (start bit {start_bit}, {size} bits) does not fit in 64 bytes"
    )]
    SignalBeyondFd {
        /// The message name.
        message: String,
        /// The signal name.
        signal: String,
        /// The start bit as written.
        start_bit: u64,
        /// The size as written.
        size: u64,
    },
    /// A `SIG_VALTYPE_` float whose size is not 32 (float32) or 64 (float64).
    #[error("message {message}: signal {signal} is a float{expected} but has {size} bits")]
    FloatSize {
        /// The message name.
        message: String,
        /// The signal name.
        signal: String,
        /// The size the float type needs.
        expected: u8,
        /// The size as written.
        size: u64,
    },
    /// Two messages with the same id.
    #[error("id {id}: messages {first} ({first_source}) and {second} ({second_source}) share it")]
    DuplicateId {
        /// The id.
        id: crate::frame::Id,
        /// The first one.
        first: String,
        /// Where the first one is defined.
        first_source: String,
        /// The second one.
        second: String,
        /// Where the second one is defined.
        second_source: String,
    },
    /// A signal that extends past the message's size.
    #[error("message {message} ({size} bytes): signal {signal} extends past its end")]
    SignalOutsideMessage {
        /// The message name.
        message: String,
        /// The signal name.
        signal: String,
        /// The size as written.
        size: u64,
    },
    /// Two signals that can be present in the same frame use the same bits.
    #[error("message {message}: signals {first} and {second} overlap")]
    Overlap {
        /// The message name.
        message: String,
        /// The first one.
        first: String,
        /// The second one.
        second: String,
    },
    /// Two signals with the same name in one message.
    #[error("message {message}: signal name {signal} is used twice")]
    DuplicateSignal {
        /// The message name.
        message: String,
        /// The signal name.
        signal: String,
    },
    /// A message without a cycle time (`GenMsgCycleTime` absent or 0).
    #[error("message {message}: no cycle time (GenMsgCycleTime)")]
    NoCycleTime {
        /// The message name.
        message: String,
    },
    /// A multiplexed signal whose multiplexor cannot be resolved: it is then never decoded,
    /// or (without any multiplexor in the message) decoded as a plain signal.
    #[error("message {message}: multiplexed signal {signal} has no multiplexor{detail}")]
    NoMultiplexor {
        /// The message name.
        message: String,
        /// The signal name.
        signal: String,
        /// What exactly.
        detail: String,
    },
    /// `VAL_`, `SG_MUL_VAL_` or `SIG_VALTYPE_` naming a signal or message that does not exist.
    #[error("{keyword} for unknown {what}")]
    UnknownReference {
        /// The DBC keyword.
        keyword: String,
        /// What it names that does not exist.
        what: String,
    },
    /// `[min|max]` outside what the raw range can represent, or min > max.
    #[error("message {message}: signal {signal}: {detail}")]
    BadRange {
        /// The message name.
        message: String,
        /// The signal name.
        signal: String,
        /// What exactly.
        detail: String,
    },
}

/// Why a DBC could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DbcError {
    /// The text is not valid DBC syntax (line and column from the parser when it has them).
    #[error("{location}: DBC syntax error: {cause}")]
    Parse {
        /// Where.
        location: Location,
        /// What the parser expected or found.
        cause: String,
    },
    /// The syntax is fine but the content is unusable.
    #[error("{location}: {problem}")]
    Invalid {
        /// Where.
        location: Location,
        /// What.
        problem: Box<Problem>,
    },
}
