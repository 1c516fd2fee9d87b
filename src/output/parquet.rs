//! Decoded frames as an Apache Parquet data set, for DuckDB, Polars, pandas and Spark.
//!
//! One [`DatasetWriter`] writes what one run decoded from one capture into a folder:
//!
//! ```text
//! ROOT/frames/part-<PART>-00000.parquet                every frame
//! ROOT/messages/<MESSAGE>/part-<PART>-00000.parquet    one wide table per DBC message
//! ```
//!
//! `frames`: `timestamp` (UTC, microseconds or nanoseconds), `interface`, `id` (null for error
//! frames), `extended`, `fd`, `brs`, `esi`, `remote`, `error`, `dlc`, `data` (bytes) and
//! `message` (the DBC message's name, or null). A message table: `timestamp`, `interface`, one
//! column per signal (null when a frame does not carry it: another multiplexer branch, or
//! past the frame's end), then `partial` (whether the frame was only partly decoded) and
//! `error` (why, or null). A signal whose physical values are integers is an `INT64` column
//! (`UINT64` when its range needs it); every other signal is a `DOUBLE`. The values are
//! exactly those of `decode --format jsonl`.
//!
//! The writer is sans-IO: files go to a [`Store`], which makes each one visible only once
//! complete and never over an existing one ([`crate::drive::dataset::DirStore`] on disk: a
//! hidden temporary name, then a link), so a crash leaves no file a reader would take for a
//! whole one, and writing into a data set that already holds files adds files beside them.
//! Rows are buffered in columns up to a row group (about a million rows) or a memory budget
//! (the largest table is written out first), so memory stays bounded for any capture. A row
//! group written out before the end can go to background encoder threads
//! ([`DatasetWriter::with_background`]) while rows keep coming: the same files, byte for
//! byte, in the same order (the frames table's row groups wait for their turn). The
//! buffers are compact: the interface as runs of one value, the message name as its place in
//! the DBC's list, payloads end to end with a byte of length each, an integer signal in 8, 16
//! or 32 bits when its whole range fits, and an optional column's definition levels only
//! from its first null. Most column chunks are encoded straight from these buffers
//! (module `chunk`: the chunk the crate's column writer would make, without its work per value);
//! the rest (doubles, rare strings) become what the crate's writer takes a few thousand
//! values at a time. Compression is zstd (row groups under [`SMALL_ROWS`] rows
//! are stored uncompressed).
//!
//! Rows come from decoded lines ([`DatasetWriter::push`], [`BatchBuilder::push`]) or, for the
//! common candump line, straight from the line's scan ([`BatchBuilder::push_scanned`], the
//! fused path: the same rows, without the parsed record and the decoded signal list).

use std::collections::HashSet;
use std::io::{self, Write};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, mpsc};

use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as Physical, ZstdLevel};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{ColumnPath, Type};

use super::{Line, Meaning};
use crate::dbc::{Database, Message, PhysicalValue, Signal};
use crate::frame::Frame;

/// Rows in a row group, at most.
pub const ROW_GROUP_ROWS: usize = 1 << 20;
/// Row groups of fewer rows are written uncompressed (zstd's setup outweighs its gain).
pub const SMALL_ROWS: usize = 4096;
/// Bytes of buffered columns a writer holds, at most (about; the largest table is written out
/// when they exceed it).
pub const MEMORY_BUDGET: usize = 96 << 20;

/// The resolution of the `timestamp` columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resolution {
    /// Microseconds: what Spark reads as a timestamp (candump `-l` logs carry no more).
    #[default]
    Micros,
    /// Nanoseconds (DuckDB, Polars and pyarrow read them; Spark reads them only as integers).
    Nanos,
}

/// Where a data set's files go: a folder on disk ([`crate::drive::dataset::DirStore`]), or
/// memory in tests. Paths are relative, `/`-separated: `frames/part-...parquet`.
pub trait Store: Sync {
    /// A new file at `path`, not yet visible under that name (its folders created as
    /// needed).
    fn create(&self, path: &str) -> io::Result<Box<dyn StagedFile>>;
}

/// A file being written: invisible to readers until [`StagedFile::publish`]. Dropped without
/// being published (the data set could not be completed), it is discarded.
pub trait StagedFile: Write + Send {
    /// Completes the file (flushed, on disk) and makes it visible under its name; fails if a
    /// file of that name exists.
    fn publish(self: Box<Self>) -> io::Result<()>;
}

/// Why a data set could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: {}", parquet_cause(source))]
    Parquet { path: String, source: ParquetError },
}

/// What a Parquet error says: an I/O error of the file the writer writes ("No space left on
/// device") as itself, not under the writer's "External:" label.
fn parquet_cause(e: &ParquetError) -> String {
    match e {
        ParquetError::External(inner) => inner.to_string(),
        other => other.to_string(),
    }
}

/// What a writer wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// Frames written to the `frames` table.
    pub frames: u64,
    /// Rows written to message tables.
    pub message_rows: u64,
    /// Message tables that received rows.
    pub messages: usize,
    /// The files written (paths in the store).
    pub files: Vec<String>,
    /// Timestamps with digits below the resolution (dropped: rounded down).
    pub truncated_times: u64,
    /// Timestamps the resolution cannot hold (after 2262 in nanoseconds): written as null.
    pub unrepresentable_times: u64,
}

impl Written {
    /// Adds what another writer wrote (of another capture of the same data set).
    pub fn add(&mut self, other: Written) {
        self.frames += other.frames;
        self.message_rows += other.message_rows;
        self.messages += other.messages;
        self.truncated_times += other.truncated_times;
        self.unrepresentable_times += other.unrepresentable_times;
        self.files.extend(other.files);
    }

    /// What the timestamps lost at the chosen resolution, said out loud.
    pub fn warnings(&self) -> Vec<String> {
        let s = |n: u64| if n == 1 { "" } else { "s" };
        let mut w = Vec::new();
        if self.truncated_times > 0 {
            w.push(format!(
                "{} timestamp{} had digits below a microsecond, dropped in the data set: \
                 --time-unit ns keeps them",
                self.truncated_times,
                s(self.truncated_times)
            ));
        }
        if self.unrepresentable_times > 0 {
            w.push(format!(
                "{} timestamp{} lie after 2262, past what nanoseconds hold: written as null \
                 (--time-unit us holds them)",
                self.unrepresentable_times,
                s(self.unrepresentable_times)
            ));
        }
        w
    }

    /// `N frames into frames/, N rows into N message tables (N new files)`.
    pub fn summary(&self) -> String {
        let s = |n: u64| if n == 1 { "" } else { "s" };
        format!(
            "{} frame{} into frames/, {} row{} into {} message table{} ({} new file{})",
            self.frames,
            s(self.frames),
            self.message_rows,
            s(self.message_rows),
            self.messages,
            s(self.messages as u64),
            self.files.len(),
            s(self.files.len() as u64),
        )
    }
}

/// A capture's file name made safe for the names of its data set files: letters, digits and
/// `-` kept, anything else `_`, at most 40 characters; `log` when nothing is left.
pub fn part_stem(file_name: &str) -> String {
    let clean: String = file_name
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() || c == '-' {
            true => c,
            false => '_',
        })
        .take(40)
        .collect();
    match clean.is_empty() {
        true => "log".to_string(),
        false => clean,
    }
}

/// One column's buffered values.
#[derive(Debug, PartialEq)]
enum Values {
    I64(Vec<i64>),
    /// `INT64` values buffered narrower, as the whole range of their signal allows, and
    /// widened as they are written: an eighth, a quarter or half of the memory. A value that
    /// does not fit (none should) widens the column to [`Values::I64`] first.
    I64In8(Vec<i8>),
    I64In16(Vec<i16>),
    I64In32(Vec<i32>),
    I32(Vec<i32>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    /// Byte strings, each its own (rare ones: why a frame was partly decoded).
    Bytes(Vec<ByteArray>),
    /// Short byte strings (CAN payloads, at most 64 bytes) kept end to end in one buffer,
    /// with each one's length, so that a frame's payload costs no allocation of its own.
    Blob {
        data: Vec<u8>,
        lens: Vec<u8>,
    },
    /// A string that seldom changes (the interface): runs of equal values, `(value, rows)`.
    Runs(Vec<(ByteArray, u32)>),
    /// One of a fixed list of strings (the message names): each value's place in the list.
    Keys {
        keys: Vec<u32>,
        list: Arc<[ByteArray]>,
    },
}

/// A buffered column: its values (only the present ones) and, for an optional column, the
/// definition levels (1: present, 0: null), kept only once a row is null: until then every
/// row is present and the levels are all 1.
#[derive(Debug, PartialEq)]
struct Column {
    values: Values,
    optional: bool,
    /// Empty while every row is present; from the first null on, one level per row.
    defs: Vec<i16>,
    rows: usize,
}

/// Values handed to the Parquet writer at a time (a multiple of its mini-batch of 1024, so
/// the pages come out as they would from one call).
const WRITE_BATCH: usize = 4096;
/// The definition levels of `WRITE_BATCH` present values.
static PRESENT: [i16; WRITE_BATCH] = [1; WRITE_BATCH];

impl Column {
    fn new(values: Values, optional: bool) -> Column {
        Column {
            values,
            optional,
            defs: Vec::new(),
            rows: 0,
        }
    }

    /// The rows it holds.
    fn rows(&self) -> usize {
        self.rows
    }

    /// An empty column of the same type.
    fn empty_like(&self) -> Column {
        self.with_room(0)
    }

    /// An empty column of the same type with room for `rows` rows.
    fn with_room(&self, rows: usize) -> Column {
        let values = match &self.values {
            Values::I64(_) => Values::I64(Vec::with_capacity(rows)),
            Values::I64In8(_) => Values::I64In8(Vec::with_capacity(rows)),
            Values::I64In16(_) => Values::I64In16(Vec::with_capacity(rows)),
            Values::I64In32(_) => Values::I64In32(Vec::with_capacity(rows)),
            Values::I32(_) => Values::I32(Vec::with_capacity(rows)),
            Values::F64(_) => Values::F64(Vec::with_capacity(rows)),
            Values::Bool(_) => Values::Bool(Vec::with_capacity(rows)),
            Values::Bytes(_) => Values::Bytes(Vec::new()),
            Values::Blob { .. } => Values::Blob {
                data: Vec::with_capacity(rows * 8),
                lens: Vec::with_capacity(rows),
            },
            Values::Runs(_) => Values::Runs(Vec::new()),
            Values::Keys { list, .. } => Values::Keys {
                keys: Vec::with_capacity(rows),
                list: list.clone(),
            },
        };
        Column::new(values, self.optional)
    }

    #[inline]
    fn null(&mut self) {
        if self.optional {
            if self.defs.len() < self.rows {
                self.defs.resize(self.rows, 1);
            }
            self.defs.push(0);
            self.rows += 1;
        }
    }

    #[inline]
    fn present(&mut self) {
        if !self.defs.is_empty() {
            self.defs.push(1);
        }
        self.rows += 1;
    }

    #[inline]
    fn i64(&mut self, v: i64) {
        let fits = match &mut self.values {
            Values::I64(x) => {
                x.push(v);
                true
            }
            Values::I64In8(x) => i8::try_from(v).map(|n| x.push(n)).is_ok(),
            Values::I64In16(x) => i16::try_from(v).map(|n| x.push(n)).is_ok(),
            Values::I64In32(x) => i32::try_from(v).map(|n| x.push(n)).is_ok(),
            _ => return,
        };
        if !fits {
            self.widen();
            if let Values::I64(x) = &mut self.values {
                x.push(v);
            }
        }
        self.present();
    }

    /// A narrow integer column ([`Values::I64In8`]...) made [`Values::I64`], for a value that
    /// does not fit it.
    #[cold]
    fn widen(&mut self) {
        let wide = match &self.values {
            Values::I64In8(x) => x.iter().map(|&n| i64::from(n)).collect(),
            Values::I64In16(x) => x.iter().map(|&n| i64::from(n)).collect(),
            Values::I64In32(x) => x.iter().map(|&n| i64::from(n)).collect(),
            _ => return,
        };
        self.values = Values::I64(wide);
    }

    /// A value, or a null for `None`.
    #[inline]
    fn opt_i64(&mut self, v: Option<i64>) {
        match v {
            Some(v) => self.i64(v),
            None => self.null(),
        }
    }

    #[inline]
    fn i32(&mut self, v: i32) {
        if let Values::I32(x) = &mut self.values {
            x.push(v);
            self.present();
        }
    }

    #[inline]
    fn f64(&mut self, v: f64) {
        if let Values::F64(x) = &mut self.values {
            x.push(v);
            self.present();
        }
    }

    #[inline]
    fn bool(&mut self, v: bool) {
        if let Values::Bool(x) = &mut self.values {
            x.push(v);
            self.present();
        }
    }

    #[inline]
    fn bytes(&mut self, v: ByteArray) {
        if let Values::Bytes(x) = &mut self.values {
            x.push(v);
            self.present();
        }
    }

    /// A payload (at most 255 bytes are kept: a CAN FD payload has 64).
    #[inline]
    fn blob(&mut self, v: &[u8]) {
        if let Values::Blob { data, lens } = &mut self.values {
            let len = u8::try_from(v.len()).unwrap_or(u8::MAX);
            data.extend_from_slice(v.get(..usize::from(len)).unwrap_or(v));
            lens.push(len);
            self.present();
        }
    }

    /// A string of a [`Values::Runs`] column.
    #[inline]
    fn run(&mut self, v: &str) {
        if let Values::Runs(runs) = &mut self.values {
            match runs.last_mut() {
                Some((last, n)) if same(last.data(), v.as_bytes()) && *n < u32::MAX => *n += 1,
                _ => runs.push((ByteArray::from(v), 1)),
            }
            self.present();
        }
    }

    /// Entry `key` of a [`Values::Keys`] column's list.
    #[inline]
    fn key(&mut self, key: u32) {
        if let Values::Keys { keys, .. } = &mut self.values {
            keys.push(key);
            self.present();
        }
    }
}

/// Whether two short strings (interface names) are equal, without a call to `memcmp` for a
/// few bytes: it is asked for every row.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// How one signal is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `INT64`: integer values within the signed 64-bit range.
    Int,
    /// `INT64` annotated unsigned: integer values from 0 up to 2^64 - 1.
    UInt,
    /// `DOUBLE`.
    Float,
}

fn kind_of(signal: &Signal) -> Kind {
    match signal.integer_range() {
        Some((lo, hi)) if lo >= i128::from(i64::MIN) && hi <= i128::from(i64::MAX) => Kind::Int,
        Some((lo, hi)) if lo >= 0 && hi <= i128::from(u64::MAX) => Kind::UInt,
        _ => Kind::Float,
    }
}

/// A table being written: its schema, buffered columns, and the file it writes into.
struct Table {
    /// The table's folder in the store.
    dir: String,
    schema: Arc<Type>,
    /// zstd; `small`: uncompressed, for files whose first row group is small.
    props: Arc<WriterProperties>,
    small: Arc<WriterProperties>,
    /// The rows pushed since the last chunk appended.
    columns: Vec<Column>,
    /// Chunks of rows appended whole ([`DatasetWriter::append`]), before `columns`: they are
    /// written as they are, never copied into one buffer.
    sealed: Vec<Vec<Column>>,
    /// Rows buffered (in `sealed` and `columns`).
    rows: usize,
    /// Approximate bytes one row buffers.
    row_bytes: usize,
    /// The frames table keeps its file open across row groups; a message table writes one
    /// file per row group, so that hundreds of tables never hold hundreds of open files.
    keep_open: bool,
    /// The file kept open (`keep_open`), shared with the row groups handed to background
    /// encoders ([`Group`]).
    open: Arc<KeptFile>,
    /// Whether `open` holds a file (known without taking its lock, which an encoder may
    /// hold).
    has_file: bool,
    /// Row groups taken for the file kept open: the next one's place in its order.
    groups: u64,
    files: u32,
}

struct OpenFile {
    writer: SerializedFileWriter<Box<dyn StagedFile>>,
    path: String,
}

impl Table {
    fn new(
        dir: String,
        fields: Vec<(Type, Values)>,
        metadata: Vec<KeyValue>,
        keep_open: bool,
    ) -> Result<Table, ParquetError> {
        let mut types = Vec::with_capacity(fields.len());
        let mut columns = Vec::with_capacity(fields.len());
        let mut row_bytes = 0;
        for (t, values) in fields {
            let optional = t.get_basic_info().repetition() == Repetition::OPTIONAL;
            row_bytes += match values {
                Values::Bytes(_) => 40,
                Values::Blob { .. } => 9,
                Values::Runs(_) | Values::Bool(_) => 1,
                Values::I64In8(_) => 1,
                Values::I64In16(_) => 2,
                Values::I32(_) | Values::I64In32(_) | Values::Keys { .. } => 4,
                Values::I64(_) | Values::F64(_) => 8,
            } + if optional { 2 } else { 0 };
            types.push(Arc::new(t));
            columns.push(Column::new(values, optional));
        }
        let schema = Arc::new(
            Type::group_type_builder("schema")
                .with_fields(types)
                .build()?,
        );
        Ok(Table {
            dir,
            schema,
            props: Arc::new(
                WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
                    .set_created_by(format!("canrelearn {}", env!("CARGO_PKG_VERSION")))
                    .set_key_value_metadata(Some(metadata.clone()))
                    // Payloads rarely repeat: a dictionary costs time and saves nothing.
                    .set_column_dictionary_enabled(ColumnPath::from("data"), false)
                    .set_column_dictionary_enabled(ColumnPath::from("timestamp"), false)
                    .build(),
            ),
            small: Arc::new(
                WriterProperties::builder()
                    .set_compression(Compression::UNCOMPRESSED)
                    .set_created_by(format!("canrelearn {}", env!("CARGO_PKG_VERSION")))
                    .set_key_value_metadata(Some(metadata))
                    .set_column_dictionary_enabled(ColumnPath::from("data"), false)
                    .set_column_dictionary_enabled(ColumnPath::from("timestamp"), false)
                    .build(),
            ),
            columns,
            sealed: Vec::new(),
            rows: 0,
            row_bytes,
            keep_open,
            open: Arc::new(KeptFile::default()),
            has_file: false,
            groups: 0,
            files: 0,
        })
    }

    fn buffered(&self) -> usize {
        self.rows * self.row_bytes
    }

    /// Columns of this table's layout, empty.
    fn empty_columns(&self) -> Vec<Column> {
        self.columns.iter().map(Column::empty_like).collect()
    }

    /// Writes the buffered rows as one row group.
    fn flush(
        &mut self,
        store: &dyn Store,
        part: &str,
        files: &mut dyn Publish,
    ) -> Result<(), DatasetError> {
        match self.take_group(store, part)? {
            Some(group) => group.write(files),
            None => Ok(()),
        }
    }

    /// The buffered rows as the next row group, with the file it goes into (created here:
    /// its name and order are decided by this thread, whichever thread writes it); `None`
    /// when no row is buffered. The table is left empty.
    fn take_group(&mut self, store: &dyn Store, part: &str) -> Result<Option<Group>, DatasetError> {
        if self.rows == 0 {
            return Ok(None);
        }
        let target = if self.keep_open {
            if !self.has_file {
                let file = self.create(store, part)?;
                self.open.lock(&self.dir)?.file = Some(file);
                self.has_file = true;
            }
            self.groups += 1;
            Target::Kept {
                file: Arc::clone(&self.open),
                turn: self.groups - 1,
            }
        } else {
            Target::Whole(Box::new(self.create(store, part)?))
        };
        let empty = self.empty_columns();
        let mut chunks = std::mem::take(&mut self.sealed);
        chunks.push(std::mem::replace(&mut self.columns, empty));
        self.rows = 0;
        Ok(Some(Group {
            chunks,
            target: Some(target),
            dir: self.dir.clone(),
        }))
    }

    /// Opens the next file of this table (invisible until published).
    fn create(&mut self, store: &dyn Store, part: &str) -> Result<OpenFile, DatasetError> {
        let path = format!("{}/part-{part}-{:05}.parquet", self.dir, self.files);
        self.files += 1;
        let file = store.create(&path).map_err(|source| DatasetError::Io {
            path: path.clone(),
            source,
        })?;
        // A zstd context costs more to set up than it saves on a few thousand rows: a file
        // whose (first) row group is that small is stored uncompressed.
        let props = if self.rows < SMALL_ROWS {
            self.small.clone()
        } else {
            self.props.clone()
        };
        let writer =
            SerializedFileWriter::new(file, self.schema.clone(), props).map_err(|source| {
                DatasetError::Parquet {
                    path: path.clone(),
                    source,
                }
            })?;
        Ok(OpenFile { writer, path })
    }

    /// Finishes the file kept open, if any, and hands it to `files` to publish.
    fn close(&mut self, files: &mut dyn Publish) -> Result<(), DatasetError> {
        if !self.has_file {
            return Ok(());
        }
        self.has_file = false;
        // After the row groups still being written by encoders.
        let open = self.open.turn(self.groups, &self.dir)?.file.take();
        match open {
            Some(open) => close_file(open, files),
            None => Ok(()),
        }
    }
}

/// A table's row group, taken from its buffers ([`Table::take_group`]), and its file.
struct Group {
    /// The rows, in chunks of columns, in order.
    chunks: Vec<Vec<Column>>,
    /// `None` once written.
    target: Option<Target>,
    /// The table's folder (for errors).
    dir: String,
}

/// The file a [`Group`] goes into.
enum Target {
    /// A file of its own (a message table's row group), finished and published once written.
    Whole(Box<OpenFile>),
    /// The table's file, kept open across row groups (the frames table), and the row group's
    /// place in its order.
    Kept { file: Arc<KeptFile>, turn: u64 },
}

/// A file kept open across row groups, which encoders write in order.
#[derive(Default)]
struct KeptFile {
    state: Mutex<KeptState>,
    /// Told when a row group has been written.
    written: std::sync::Condvar,
}

#[derive(Default)]
struct KeptState {
    file: Option<OpenFile>,
    /// The row groups written (or failed), in order: the place of the next to write.
    next: u64,
}

impl KeptFile {
    /// Its state (`what` names the file in the error when a thread writing it panicked).
    fn lock(&self, what: &str) -> Result<std::sync::MutexGuard<'_, KeptState>, DatasetError> {
        self.state.lock().map_err(|_| writer_failed(what))
    }

    /// Its state, once the row groups before place `turn` have been written.
    fn turn(
        &self,
        turn: u64,
        what: &str,
    ) -> Result<std::sync::MutexGuard<'_, KeptState>, DatasetError> {
        let mut state = self.lock(what)?;
        while state.next < turn {
            state = self.written.wait(state).map_err(|_| writer_failed(what))?;
        }
        Ok(state)
    }
}

/// Ends row group `turn`'s turn at its file when dropped, even by a panic (the lock then
/// poisoned, the threads waiting for later turns wake to an error instead of waiting forever).
struct TurnOver<'f> {
    file: &'f KeptFile,
    turn: u64,
}

impl Drop for TurnOver<'_> {
    fn drop(&mut self) {
        let mut state = self
            .file
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.next = state.next.max(self.turn + 1);
        drop(state);
        self.file.written.notify_all();
    }
}

impl Group {
    /// Writes the row group into its file (and publishes a file of its own). A row group
    /// that fails to go into the file kept open leaves that file incomplete: it is
    /// discarded (never published), and the row groups after it are not written into it.
    fn write(mut self, files: &mut dyn Publish) -> Result<(), DatasetError> {
        let Some(target) = self.target.take() else {
            return Ok(());
        };
        let chunks = &mut self.chunks;
        match target {
            Target::Whole(mut open) => {
                write_group(&mut open, chunks)?;
                close_file(*open, files)
            }
            Target::Kept { file, turn } => {
                // Its turn is over however this ends (written, failed, or a panic): the next
                // can go, and fail on its own.
                let _over = TurnOver { file: &file, turn };
                let mut state = file.turn(turn, &self.dir)?;
                let written = match state.file.as_mut() {
                    Some(open) => write_group(open, chunks),
                    None => Ok(()),
                };
                if written.is_err() {
                    state.file = None;
                }
                written
            }
        }
    }
}

impl Drop for Group {
    /// A row group dropped unwritten (its writer stopped at an earlier error): the file kept
    /// open cannot be complete without it, so it is discarded (dropped unpublished), and its
    /// turn ends, so that the row groups after it and the file's close do not wait for it
    /// forever. A file of its own is dropped unpublished with it.
    fn drop(&mut self) {
        if let Some(Target::Kept { file, turn }) = self.target.take() {
            let _over = TurnOver { file: &file, turn };
            let mut state = file
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            state.file = None;
        }
    }
}

/// Writes `chunks` (each a full set of columns) as one row group of `open`.
fn write_group(open: &mut OpenFile, chunks: &mut [Vec<Column>]) -> Result<(), DatasetError> {
    let at = open.path.clone();
    let pq = |source| DatasetError::Parquet {
        path: at.clone(),
        source,
    };
    let width = chunks.last().map_or(0, Vec::len);
    let props = open.writer.properties().clone();
    let descrs = open.writer.schema_descr().columns().to_vec();
    let mut group = open.writer.next_row_group().map_err(pq)?;
    for k in 0..width {
        // A chunk the chunk module writes as the crate's writer would is written there; the
        // others by the crate.
        if let Some(descr) = descrs.get(k) {
            let columns: Vec<&Column> = chunks.iter().filter_map(|c| c.get(k)).collect();
            if chunk::append(&mut group, descr, &props, &columns).map_err(pq)? {
                continue;
            }
        }
        let Some(mut writer) = group.next_column().map_err(pq)? else {
            break;
        };
        for column in chunks.iter_mut().filter_map(|c| c.get_mut(k)) {
            write_chunk(&mut writer, column).map_err(pq)?;
        }
        writer.close().map_err(pq)?;
    }
    group.close().map_err(pq)?;
    Ok(())
}

/// Finishes `open` and hands it to `files` to publish.
fn close_file(open: OpenFile, files: &mut dyn Publish) -> Result<(), DatasetError> {
    let OpenFile { writer, path } = open;
    let file = writer
        .into_inner()
        .map_err(|source| DatasetError::Parquet {
            path: path.clone(),
            source,
        })?;
    files.publish(path, file)
}

/// The error of a file whose writing thread panicked.
fn writer_failed(what: &str) -> DatasetError {
    DatasetError::Io {
        path: what.to_string(),
        source: io::Error::other("a thread writing this file failed"),
    }
}

/// Where complete files go to be published: at once, or by another thread.
trait Publish {
    fn publish(&mut self, path: String, file: Box<dyn StagedFile>) -> Result<(), DatasetError>;
}

/// Publishes each file at once, keeping its path.
impl Publish for Vec<String> {
    fn publish(&mut self, path: String, file: Box<dyn StagedFile>) -> Result<(), DatasetError> {
        publish(&path, file)?;
        self.push(path);
        Ok(())
    }
}

/// Hands each file to a publishing thread.
impl Publish for mpsc::Sender<(String, Box<dyn StagedFile>)> {
    fn publish(&mut self, path: String, file: Box<dyn StagedFile>) -> Result<(), DatasetError> {
        self.send((path, file)).map_err(|e| DatasetError::Io {
            path: e.0.0,
            source: io::Error::other("the thread publishing files has stopped"),
        })
    }
}

/// Completes `file` (on disk) and makes it visible as `path`.
fn publish(path: &str, file: Box<dyn StagedFile>) -> Result<(), DatasetError> {
    file.publish().map_err(|source| DatasetError::Io {
        path: path.to_string(),
        source,
    })
}

/// Writes one chunk of a column's buffered values into its column chunk, [`WRITE_BATCH`]
/// values at a time.
fn write_chunk(
    writer: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    column: &mut Column,
) -> Result<(), ParquetError> {
    // A payload column's buffer, shared by the byte arrays that are slices of it.
    let blob = match &mut column.values {
        Values::Blob { data, .. } => Some(ByteArray::from(std::mem::take(data))),
        _ => None,
    };
    let column = &*column;
    // The definition levels of rows `at..at + n`, and how many of them have values.
    let defs = |at: usize, n: usize| -> (Option<&[i16]>, usize) {
        match (column.optional, column.defs.is_empty()) {
            (false, _) => (None, n),
            (true, true) => (PRESENT.get(..n), n),
            (true, false) => {
                let levels = column.defs.get(at..at + n).unwrap_or_default();
                (Some(levels), levels.iter().filter(|&&d| d == 1).count())
            }
        }
    };
    let mut place = Place::default();
    let mut scratch: Vec<ByteArray> = Vec::new();
    let mut wide: Vec<i64> = Vec::new();
    let mut at = 0;
    while at < column.rows {
        let n = (column.rows - at).min(WRITE_BATCH);
        let (levels, count) = defs(at, n);
        let range = place.value..place.value + count;
        match &column.values {
            Values::I64(v) => batch::<Int64Type>(writer, v, range, levels)?,
            Values::I64In8(v) => widened(writer, v, range, levels, &mut wide)?,
            Values::I64In16(v) => widened(writer, v, range, levels, &mut wide)?,
            Values::I64In32(v) => widened(writer, v, range, levels, &mut wide)?,
            Values::I32(v) => batch::<Int32Type>(writer, v, range, levels)?,
            Values::F64(v) => batch::<DoubleType>(writer, v, range, levels)?,
            Values::Bool(v) => batch::<BoolType>(writer, v, range, levels)?,
            Values::Bytes(v) => batch::<ByteArrayType>(writer, v, range, levels)?,
            Values::Blob { .. } | Values::Runs(_) | Values::Keys { .. } => {
                scratch.clear();
                place.take(&column.values, blob.as_ref(), count, &mut scratch)?;
                batch::<ByteArrayType>(writer, &scratch, 0..scratch.len(), levels)?
            }
        };
        at += n;
        place.value += count;
    }
    Ok(())
}

/// Writes values `range` of `values`, with the definition levels of their rows.
fn batch<T: parquet::data_type::DataType>(
    writer: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    values: &[T::T],
    range: std::ops::Range<usize>,
    levels: Option<&[i16]>,
) -> Result<usize, ParquetError> {
    let values = values.get(range).unwrap_or_default();
    writer.typed::<T>().write_batch(values, levels, None)
}

/// Writes values `range` of narrow integers as `INT64` (through `wide`), with the definition
/// levels of their rows.
fn widened<T: Copy + Into<i64>>(
    writer: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    values: &[T],
    range: std::ops::Range<usize>,
    levels: Option<&[i16]>,
    wide: &mut Vec<i64>,
) -> Result<usize, ParquetError> {
    wide.clear();
    wide.extend(
        values
            .get(range)
            .unwrap_or_default()
            .iter()
            .map(|&n| n.into()),
    );
    writer.typed::<Int64Type>().write_batch(wide, levels, None)
}

/// Where [`write_chunk`] is in a column's values.
#[derive(Default)]
struct Place {
    /// The next value.
    value: usize,
    /// Its first byte in a payload buffer.
    byte: usize,
    /// Its run, and how many of the run's values came before it.
    run: usize,
    in_run: usize,
}

impl Place {
    /// The next `count` values of a column kept compactly, as byte arrays into `out` (`blob`:
    /// a payload column's buffer); `value` is left for the caller to advance. An error when
    /// the payloads are no longer there (taken by an earlier write of the column that failed).
    fn take(
        &mut self,
        values: &Values,
        blob: Option<&ByteArray>,
        count: usize,
        out: &mut Vec<ByteArray>,
    ) -> Result<(), ParquetError> {
        match (values, blob) {
            (Values::Blob { lens, .. }, Some(blob)) => {
                let range = self.value..self.value + count;
                for &len in lens.get(range).unwrap_or_default() {
                    let len = usize::from(len);
                    if self.byte + len > blob.data().len() {
                        return Err(ParquetError::General(
                            "the payloads of the column were taken by an earlier write".into(),
                        ));
                    }
                    out.push(blob.slice(self.byte, len));
                    self.byte += len;
                }
            }
            (Values::Runs(runs), _) => {
                let mut left = count;
                while left > 0 {
                    let Some((value, n)) = runs.get(self.run) else {
                        break;
                    };
                    let take = (*n as usize - self.in_run).min(left);
                    out.extend(std::iter::repeat_n(value, take).cloned());
                    left -= take;
                    self.in_run += take;
                    if self.in_run == *n as usize {
                        self.run += 1;
                        self.in_run = 0;
                    }
                }
            }
            (Values::Keys { keys, list }, _) => {
                let range = self.value..self.value + count;
                let keys = keys.get(range).unwrap_or_default();
                out.extend(keys.iter().filter_map(|&k| list.get(k as usize)).cloned());
            }
            (
                Values::Blob { .. }
                | Values::I64(_)
                | Values::I64In8(_)
                | Values::I64In16(_)
                | Values::I64In32(_)
                | Values::I32(_)
                | Values::F64(_)
                | Values::Bool(_)
                | Values::Bytes(_),
                _,
            ) => {}
        }
        Ok(())
    }
}

fn column(
    name: &str,
    physical: Physical,
    logical: Option<LogicalType>,
    optional: bool,
) -> Result<Type, ParquetError> {
    Type::primitive_type_builder(name, physical)
        .with_repetition(if optional {
            Repetition::OPTIONAL
        } else {
            Repetition::REQUIRED
        })
        .with_logical_type(logical)
        .build()
}

/// A UTF-8 string column.
fn string_column(name: &str, optional: bool) -> Result<Type, ParquetError> {
    column(
        name,
        Physical::BYTE_ARRAY,
        Some(LogicalType::String),
        optional,
    )
}

fn timestamp_type(resolution: Resolution) -> Option<LogicalType> {
    Some(LogicalType::timestamp(
        true,
        match resolution {
            Resolution::Micros => TimeUnit::MICROS,
            Resolution::Nanos => TimeUnit::NANOS,
        },
    ))
}

/// A message table's folder name: the message's name where it is a safe file name.
fn folder_name(message: &Message, taken: &mut HashSet<String>) -> String {
    let clean: String = message
        .name()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut name = if clean.is_empty() || clean.starts_with(['.', '_']) {
        format!("m{clean}")
    } else {
        clean
    };
    if !taken.insert(name.clone()) {
        name = format!("{name}-{:x}", message.id().raw());
        let base = name.clone();
        let mut n = 1;
        while !taken.insert(name.clone()) {
            n += 1;
            name = format!("{base}-{n}");
        }
    }
    name
}

/// The plan of one message table: its folder and its signals' storage.
struct MessagePlan {
    folder: String,
    kinds: Vec<Kind>,
    /// Signal columns named differently from their signal (a signal named like a fixed
    /// column): `(signal index, column name)`.
    renamed: Vec<(usize, String)>,
}

/// The fixed columns of a message table, which a signal of the same name must not shadow.
const FIXED: [&str; 4] = ["timestamp", "interface", "partial", "error"];

fn plans(db: &Database) -> Vec<MessagePlan> {
    let mut taken = HashSet::new();
    db.messages()
        .iter()
        .map(|m| MessagePlan {
            folder: folder_name(m, &mut taken),
            kinds: m.signals().iter().map(kind_of).collect(),
            renamed: m
                .signals()
                .iter()
                .enumerate()
                .filter(|(_, s)| FIXED.contains(&s.name()))
                .map(|(i, s)| (i, format!("signal_{}", s.name())))
                .collect(),
        })
        .collect()
}

/// Stores a signal's value (`None`: not decoded) in its column, a null where the column's
/// type cannot hold it.
#[inline]
fn store(col: &mut Column, kind: Kind, value: Option<&PhysicalValue>) {
    match (value, kind) {
        (None, _) => col.null(),
        (Some(PhysicalValue::Int(v)), Kind::Int) => match i64::try_from(*v) {
            Ok(v) => col.i64(v),
            Err(_) => col.null(),
        },
        (Some(PhysicalValue::Int(v)), Kind::UInt) => match u64::try_from(*v) {
            // Stored as the same 64 bits, read back unsigned (the column's type says so).
            Ok(v) => col.i64(v as i64),
            Err(_) => col.null(),
        },
        (Some(v), Kind::Float) => col.f64(v.as_f64()),
        (Some(PhysicalValue::Float(_)), Kind::Int | Kind::UInt) => col.null(),
    }
}

/// What a decoded line puts in the tables, before it is written into their columns.
struct Parts<'l> {
    time: Option<i64>,
    interface: &'l str,
    /// The message table that gets a row (its values in the builder's scratch), and why the
    /// frame was only partly decoded.
    message: Option<(usize, Option<String>)>,
}

/// Turns decoded lines into table rows: the writer's own, and each worker's for [`Batch`]es.
struct Builder<'db> {
    db: &'db Database,
    resolution: Resolution,
    plans: Vec<MessagePlan>,
    scratch: Vec<Option<PhysicalValue>>,
    truncated_times: u64,
    unrepresentable_times: u64,
}

impl<'db> Builder<'db> {
    fn new(db: &'db Database, resolution: Resolution) -> Self {
        Builder {
            db,
            resolution,
            plans: plans(db),
            scratch: Vec::new(),
            truncated_times: 0,
            unrepresentable_times: 0,
        }
    }

    /// The timestamp in the column's unit, or `None` if it does not fit.
    fn time(&mut self, nanos: u64) -> Option<i64> {
        let v = match self.resolution {
            Resolution::Nanos => nanos,
            Resolution::Micros => {
                if !nanos.is_multiple_of(1000) {
                    self.truncated_times += 1;
                }
                nanos / 1000
            }
        };
        let v = i64::try_from(v).ok();
        if v.is_none() {
            self.unrepresentable_times += 1;
        }
        v
    }

    /// What `line` puts in the tables (a message row's values go to `self.scratch`).
    fn parts<'l>(&mut self, line: &Line<'l>) -> Parts<'l> {
        let time = self.time(line.timestamp.as_nanos());
        let interface = line.interface;
        let message = match &line.meaning {
            Meaning::Signals(m, i, decoded) => {
                self.scratch.clear();
                self.scratch.resize(m.signals().len(), None);
                for s in decoded.signals() {
                    if let Some(slot) = self.scratch.get_mut(s.index) {
                        *slot = Some(s.physical);
                    }
                }
                Some((*i, decoded.partial(m)))
            }
            Meaning::Error(m, e) => self.db.message_index(m.id()).map(|i| {
                self.scratch.clear();
                self.scratch.resize(m.signals().len(), None);
                (i, Some(e.to_string()))
            }),
            Meaning::Remote(_) | Meaning::Unknown => None,
        };
        Parts {
            time,
            interface,
            message,
        }
    }

    /// The `frames` row of `line` into `c`.
    fn frame_row(&self, c: &mut [Column], line: &Line<'_>, parts: &Parts) {
        let frame = line.frame;
        c[0].opt_i64(parts.time);
        c[1].run(parts.interface);
        match frame.id() {
            Some(id) => {
                c[2].i64(i64::from(id.raw()));
                c[3].bool(id.is_extended());
            }
            None => {
                c[2].null();
                c[3].null();
            }
        }
        let (brs, esi) = match frame {
            Frame::Fd(f) => (f.flags().brs(), f.flags().esi()),
            _ => (false, false),
        };
        c[4].bool(frame.is_fd());
        c[5].bool(brs);
        c[6].bool(esi);
        c[7].bool(frame.is_remote());
        c[8].bool(frame.is_error());
        c[9].i32(i32::from(match frame {
            Frame::Classic(f) => f.dlc(),
            Frame::Fd(f) => f.dlc(),
            Frame::Remote(r) => r.dlc(),
            Frame::Error(_) => 8,
        }));
        c[10].blob(frame.data());
        let index = match &line.meaning {
            Meaning::Unknown => None,
            Meaning::Remote(_) => line.frame.id().and_then(|id| self.db.message_index(id)),
            Meaning::Signals(_, i, _) => Some(*i),
            Meaning::Error(m, _) => self.db.message_index(m.id()),
        };
        match index.and_then(|i| u32::try_from(i).ok()) {
            Some(i) => c[11].key(i),
            None => c[11].null(),
        }
    }

    /// The row of message `index` into `c`, from `self.scratch`.
    fn message_row(&self, c: &mut [Column], index: usize, parts: Parts<'_>) {
        let Some(plan) = self.plans.get(index) else {
            return;
        };
        c[0].opt_i64(parts.time);
        c[1].run(parts.interface);
        for (k, (value, kind)) in self.scratch.iter().zip(&plan.kinds).enumerate() {
            store(&mut c[2 + k], *kind, value.as_ref());
        }
        let n = 2 + self.scratch.len();
        let why = parts.message.and_then(|(_, why)| why);
        c[n].bool(why.is_some());
        match why {
            Some(w) => c[n + 1].bytes(ByteArray::from(w.as_str())),
            None => c[n + 1].null(),
        }
    }

    /// An empty message table for message `index`.
    fn message_table(&self, index: usize) -> Result<Option<Table>, DatasetError> {
        let (Some(plan), Some(message)) = (self.plans.get(index), self.db.messages().get(index))
        else {
            return Ok(None);
        };
        message_table(message, plan, self.resolution, self.db)
            .map(Some)
            .map_err(|source| DatasetError::Parquet {
                path: format!("messages/{}", plan.folder),
                source,
            })
    }
}

/// Rows of one table, buffered in columns.
#[derive(Debug, PartialEq)]
struct Rows {
    columns: Vec<Column>,
    rows: usize,
}

/// The rows a worker decoded from a run of a capture's frames, for
/// [`DatasetWriter::append`]: the writer adds them to its tables as if it had decoded them
/// itself, so the data set is the same whether a capture is decoded on one thread or many.
#[derive(Debug, PartialEq)]
pub struct Batch {
    frames: Rows,
    /// `(message index, rows)`.
    messages: Vec<(usize, Rows)>,
    truncated_times: u64,
    unrepresentable_times: u64,
}

/// Fills [`Batch`]es, on a worker thread.
pub struct BatchBuilder<'db> {
    builder: Builder<'db>,
    /// Each message table's empty columns, made when the message first comes.
    layouts: Vec<Option<Vec<Column>>>,
    frames_layout: Vec<Column>,
    /// Where each message's rows are in `batch.messages` (`usize::MAX`: none yet).
    slots: Vec<usize>,
    /// Each message's rows in the last batch: the room the next one gets, so that its columns
    /// do not grow by copying (the frames' columns get the last batch's frames).
    last: Vec<usize>,
    batch: Batch,
}

impl<'db> BatchBuilder<'db> {
    /// A builder for frames decoded with `db`, for a writer of the same `resolution`.
    pub fn new(db: &'db Database, resolution: Resolution) -> Result<Self, DatasetError> {
        let frames_layout = frames_table(db, resolution)?.empty_columns();
        Ok(BatchBuilder {
            builder: Builder::new(db, resolution),
            layouts: (0..db.messages().len()).map(|_| None).collect(),
            slots: vec![usize::MAX; db.messages().len()],
            last: vec![0; db.messages().len()],
            batch: Batch {
                frames: Rows {
                    columns: frames_layout.iter().map(Column::empty_like).collect(),
                    rows: 0,
                },
                messages: Vec::new(),
                truncated_times: 0,
                unrepresentable_times: 0,
            },
            frames_layout,
        })
    }

    /// Adds one decoded frame.
    pub fn push(&mut self, line: &Line<'_>) -> Result<(), DatasetError> {
        let parts = self.builder.parts(line);
        self.builder
            .frame_row(&mut self.batch.frames.columns, line, &parts);
        self.batch.frames.rows += 1;
        let Some((index, _)) = parts.message else {
            return Ok(());
        };
        if let Some(slot) = self.message_slot(index)?
            && let Some((_, rows)) = self.batch.messages.get_mut(slot)
        {
            self.builder.message_row(&mut rows.columns, index, parts);
            rows.rows += 1;
        }
        Ok(())
    }

    /// Where the rows of message `index` are in this batch's messages, made when its first
    /// row comes; `None` for an index the database does not have.
    fn message_slot(&mut self, index: usize) -> Result<Option<usize>, DatasetError> {
        let Some(slot) = self.slots.get_mut(index) else {
            return Ok(None);
        };
        if *slot == usize::MAX {
            let Some(layout) = self.layouts.get_mut(index) else {
                return Ok(None);
            };
            if layout.is_none() {
                *layout = self
                    .builder
                    .message_table(index)?
                    .map(|t| t.empty_columns());
            }
            let Some(layout) = layout.as_ref() else {
                return Ok(None);
            };
            *slot = self.batch.messages.len();
            let room = self.last.get(index).copied().unwrap_or(0);
            self.batch.messages.push((
                index,
                Rows {
                    columns: layout.iter().map(|c| c.with_room(room)).collect(),
                    rows: 0,
                },
            ));
        }
        Ok(Some(*slot))
    }

    /// The rows added since the last batch.
    pub fn take(&mut self) -> Batch {
        for (index, rows) in &self.batch.messages {
            if let Some(slot) = self.slots.get_mut(*index) {
                *slot = usize::MAX;
            }
            if let Some(last) = self.last.get_mut(*index) {
                *last = rows.rows;
            }
        }
        let frames = self.batch.frames.rows;
        let next = Batch {
            frames: Rows {
                columns: (self.frames_layout.iter())
                    .map(|c| c.with_room(frames))
                    .collect(),
                rows: 0,
            },
            messages: Vec::new(),
            truncated_times: 0,
            unrepresentable_times: 0,
        };
        let mut batch = std::mem::replace(&mut self.batch, next);
        batch.truncated_times = std::mem::take(&mut self.builder.truncated_times);
        batch.unrepresentable_times = std::mem::take(&mut self.builder.unrepresentable_times);
        batch
    }
}

/// The `frames` table, empty.
fn frames_table(db: &Database, resolution: Resolution) -> Result<Table, DatasetError> {
    let schema_err = |source| DatasetError::Parquet {
        path: "frames".to_string(),
        source,
    };
    let time = || {
        column(
            "timestamp",
            Physical::INT64,
            timestamp_type(resolution),
            true,
        )
    };
    let flag = |name: &str, optional| column(name, Physical::BOOLEAN, None, optional);
    let fields = (|| {
        Ok::<_, ParquetError>(vec![
            (time()?, Values::I64(Vec::new())),
            (string_column("interface", false)?, Values::Runs(Vec::new())),
            (
                column("id", Physical::INT64, None, true)?,
                Values::I64(Vec::new()),
            ),
            (flag("extended", true)?, Values::Bool(Vec::new())),
            (flag("fd", false)?, Values::Bool(Vec::new())),
            (flag("brs", false)?, Values::Bool(Vec::new())),
            (flag("esi", false)?, Values::Bool(Vec::new())),
            (flag("remote", false)?, Values::Bool(Vec::new())),
            (flag("error", false)?, Values::Bool(Vec::new())),
            (
                column(
                    "dlc",
                    Physical::INT32,
                    Some(LogicalType::integer(8, false)),
                    false,
                )?,
                Values::I32(Vec::new()),
            ),
            (
                column("data", Physical::BYTE_ARRAY, None, false)?,
                Values::Blob {
                    data: Vec::new(),
                    lens: Vec::new(),
                },
            ),
            (
                string_column("message", true)?,
                Values::Keys {
                    keys: Vec::new(),
                    list: db
                        .messages()
                        .iter()
                        .map(|m| ByteArray::from(m.name()))
                        .collect(),
                },
            ),
        ])
    })()
    .map_err(schema_err)?;
    Table::new(
        "frames".to_string(),
        fields,
        vec![KeyValue::new(
            "canrelearn.dbc".to_string(),
            db.sources().join(", "),
        )],
        true,
    )
    .map_err(schema_err)
}

/// Writes one capture's decoded frames into a Parquet data set folder.
pub struct DatasetWriter<'db, 's> {
    builder: Builder<'db>,
    store: &'s dyn Store,
    part: String,
    frames: Table,
    messages: Vec<Option<Table>>,
    written: Written,
    budget: usize,
    /// The bytes every table buffers, kept as rows come and go ([`Self::buffered`] is the
    /// same sum, counted).
    pending: usize,
    /// Threads encoding the row groups written before [`Self::finish`] (0: this thread).
    background: usize,
    /// Those threads, started with the first such row group.
    encoder: Option<Encoder>,
}

/// A table of a [`DatasetWriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Frames,
    Message(usize),
}

impl<'db, 's> DatasetWriter<'db, 's> {
    /// A writer into `store` for frames decoded with `db`; its files are named
    /// `part-<part>-NNNNN.parquet` (`part` must be unique among the writers of one data set:
    /// the caller's run and capture).
    pub fn new(
        db: &'db Database,
        store: &'s dyn Store,
        part: &str,
        resolution: Resolution,
    ) -> Result<Self, DatasetError> {
        Ok(DatasetWriter {
            builder: Builder::new(db, resolution),
            store,
            part: part.to_string(),
            frames: frames_table(db, resolution)?,
            messages: (0..db.messages().len()).map(|_| None).collect(),
            written: Written::default(),
            budget: MEMORY_BUDGET,
            pending: 0,
            background: 0,
            encoder: None,
        })
    }

    /// The resolution of the timestamps.
    pub fn resolution(&self) -> Resolution {
        self.builder.resolution
    }

    /// Sets the memory budget (bytes of buffered columns), for tests. A writer with
    /// background encoders ([`Self::with_background`]) hands them row groups of at most half
    /// as many bytes again, not yet written (a larger row group is still handed over, alone).
    pub fn with_budget(mut self, bytes: usize) -> Self {
        self.budget = bytes.max(1);
        self
    }

    /// Row groups written out before [`Self::finish`] (a full row group, or the memory
    /// budget reached) are encoded, compressed and written on `threads` threads of their own
    /// while rows keep coming, instead of on the caller's (0, the default): for a caller
    /// whose rows come from workers that would otherwise wait. What is written, and in which
    /// files, is the same either way; the memory held grows by at most half the memory budget
    /// (the row groups handed over and not yet written).
    pub fn with_background(mut self, threads: usize) -> Self {
        self.background = threads;
        self
    }

    /// Message `index`'s table, created when first needed.
    fn message_table(&mut self, index: usize) -> Result<Option<&mut Table>, DatasetError> {
        let Some(slot) = self.messages.get_mut(index) else {
            return Ok(None);
        };
        if slot.is_none() {
            *slot = self.builder.message_table(index)?;
            if slot.is_some() {
                self.written.messages += 1;
            }
        }
        Ok(slot.as_mut())
    }

    fn table(&mut self, which: Which) -> Option<&mut Table> {
        match which {
            Which::Frames => Some(&mut self.frames),
            Which::Message(index) => self.messages.get_mut(index)?.as_mut(),
        }
    }

    /// Writes out the rows `which` buffers as a row group: here, or by the background
    /// encoder.
    fn flush_table(&mut self, which: Which) -> Result<(), DatasetError> {
        let (store, part, budget) = (self.store, self.part.clone(), self.budget);
        let Some(table) = self.table(which) else {
            return Ok(());
        };
        let bytes = table.buffered();
        let Some(group) = table.take_group(store, &part)? else {
            return Ok(());
        };
        self.pending -= bytes;
        if self.background == 0 {
            return group.write(&mut self.written.files);
        }
        if self.encoder.is_none() {
            self.encoder = Encoder::start(self.background, &self.part);
        }
        match &mut self.encoder {
            Some(encoder) => encoder.send(group, bytes, budget / 2, &mut self.written.files),
            // No thread to be had: written here.
            None => group.write(&mut self.written.files),
        }
    }

    /// Adds one decoded frame.
    pub fn push(&mut self, line: &Line<'_>) -> Result<(), DatasetError> {
        let parts = self.builder.parts(line);
        self.builder
            .frame_row(&mut self.frames.columns, line, &parts);
        self.frames.rows += 1;
        self.pending += self.frames.row_bytes;
        self.written.frames += 1;
        if self.frames.rows >= ROW_GROUP_ROWS {
            self.flush_table(Which::Frames)?;
        }
        if let Some((index, _)) = parts.message
            && self.message_table(index)?.is_some()
            && let Some(Some(table)) = self.messages.get_mut(index)
        {
            self.builder.message_row(&mut table.columns, index, parts);
            table.rows += 1;
            self.pending += table.row_bytes;
            self.written.message_rows += 1;
            if table.rows >= ROW_GROUP_ROWS {
                self.flush_table(Which::Message(index))?;
            }
        }
        self.count_times();
        if self.pending > self.budget {
            self.flush_largest()?;
        }
        Ok(())
    }

    fn count_times(&mut self) {
        self.written.truncated_times += std::mem::take(&mut self.builder.truncated_times);
        self.written.unrepresentable_times +=
            std::mem::take(&mut self.builder.unrepresentable_times);
    }

    /// Adds the rows of a batch, as if each frame had been pushed here.
    pub fn append(&mut self, batch: Batch) -> Result<(), DatasetError> {
        self.written.frames += batch.frames.rows as u64;
        self.written.truncated_times += batch.truncated_times;
        self.written.unrepresentable_times += batch.unrepresentable_times;
        self.add_rows(Which::Frames, batch.frames)?;
        for (index, rows) in batch.messages {
            self.written.message_rows += rows.rows as u64;
            if self.message_table(index)?.is_some() {
                self.add_rows(Which::Message(index), rows)?;
            }
        }
        while self.pending > self.budget {
            self.flush_largest()?;
        }
        Ok(())
    }

    /// Appends `rows` to table `which`: its row group is written first if the rows would
    /// take it past [`ROW_GROUP_ROWS`], and after if they bring it there.
    fn add_rows(&mut self, which: Which, rows: Rows) -> Result<(), DatasetError> {
        if rows.rows == 0 {
            return Ok(());
        }
        if self
            .table(which)
            .is_some_and(|t| t.rows > 0 && t.rows + rows.rows > ROW_GROUP_ROWS)
        {
            self.flush_table(which)?;
        }
        let Some(table) = self.table(which) else {
            return Ok(());
        };
        if table.columns.first().is_some_and(|c| c.rows() > 0) {
            // Rows pushed one by one come first: they become a chunk of their own.
            let next = table.empty_columns();
            let pushed = std::mem::replace(&mut table.columns, next);
            table.sealed.push(pushed);
        }
        table.sealed.push(rows.columns);
        table.rows += rows.rows;
        let (added, full) = (rows.rows * table.row_bytes, table.rows >= ROW_GROUP_ROWS);
        self.pending += added;
        if full {
            self.flush_table(which)?;
        }
        Ok(())
    }

    fn buffered(&self) -> usize {
        self.frames.buffered()
            + self
                .messages
                .iter()
                .flatten()
                .map(Table::buffered)
                .sum::<usize>()
    }

    /// Writes out the table holding the most, to stay within the memory budget.
    fn flush_largest(&mut self) -> Result<(), DatasetError> {
        debug_assert_eq!(self.pending, self.buffered());
        // The last of the largest (ties go to the later message).
        let largest = self
            .messages
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some((i, t.as_ref()?.buffered())))
            .max_by_key(|&(_, bytes)| bytes);
        match largest {
            Some((index, bytes)) if bytes > self.frames.buffered() => {
                self.flush_table(Which::Message(index))
            }
            _ => self.flush_table(Which::Frames),
        }
    }

    /// Writes what is buffered and closes every file. On error, the files not yet complete
    /// are dropped unpublished (discarded by their store); the others are published, and the
    /// first error is the result.
    ///
    /// The tables are encoded, compressed and written on as many threads as there are cores
    /// (they are independent files), beside the background encoders' last row groups.
    pub fn finish(mut self) -> Result<Written, DatasetError> {
        let mut first_error = None;
        let part = self.part.as_str();
        let mut tables: Vec<&mut Table> = std::iter::once(&mut self.frames)
            .chain(self.messages.iter_mut().flatten())
            .filter(|t| t.rows > 0 || t.has_file)
            .collect();
        // Largest first, each thread taking the next table when it is done with one: the
        // frames table (the largest by far) on one thread while the others share the rest.
        tables.sort_by_key(|t| std::cmp::Reverse(t.buffered()));
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, tables.len().max(1));
        let queue = Mutex::new(tables.into_iter());
        let store = self.store;
        // Encoding and publishing overlap: a file's flush to disk (a wait, not work) happens
        // on a publishing thread while the next table is encoded.
        let (to_publish, published) = mpsc::channel::<(String, Box<dyn StagedFile>)>();
        let published = Mutex::new(published);
        let publisher = || -> Result<Vec<String>, DatasetError> {
            let mut files = Vec::new();
            loop {
                let next = match published.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => break,
                };
                let Ok((path, file)) = next else { break };
                publish(&path, file)?;
                files.push(path);
            }
            Ok(files)
        };
        let finish = |mut to_publish: mpsc::Sender<(String, Box<dyn StagedFile>)>|
         -> Result<Vec<String>, DatasetError> {
            loop {
                let next = match queue.lock() {
                    Ok(mut q) => q.next(),
                    Err(_) => None,
                };
                let Some(table) = next else { break };
                table.flush(store, part, &mut to_publish)?;
                table.close(&mut to_publish)?;
            }
            Ok(Vec::new())
        };
        let results: Vec<Result<Vec<String>, DatasetError>> = std::thread::scope(|scope| {
            let publishers: Vec<_> = (0..threads).map(|_| scope.spawn(publisher)).collect();
            let handles: Vec<_> = (1..threads)
                .map(|_| {
                    let tx = to_publish.clone();
                    scope.spawn(|| finish(tx))
                })
                .collect();
            let mut results = vec![finish(to_publish)];
            let failed = || {
                Err(DatasetError::Io {
                    path: part.to_string(),
                    source: io::Error::other("a thread writing tables failed"),
                })
            };
            for h in handles.into_iter().chain(publishers) {
                results.push(h.join().unwrap_or_else(|_| failed()));
            }
            results
        });
        for r in results {
            match r {
                Ok(files) => self.written.files.extend(files),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        // The encoders' row groups were written meanwhile (the frames table's last ones
        // waited for theirs): their files and errors.
        if let Some(encoder) = self.encoder.take()
            && let Err(e) = encoder.finish(&mut self.written.files)
        {
            first_error.get_or_insert(e);
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        self.written.files.sort();
        Ok(self.written)
    }
}

/// Threads writing the row groups a [`DatasetWriter`] hands them, taken in order (the row
/// groups of the file kept open are written in that order: [`KeptFile`]), and saying how
/// each went.
struct Encoder {
    /// Row groups, with the bytes they buffer.
    groups: Option<mpsc::Sender<(Group, usize)>>,
    /// For each row group written: its bytes, and the files it published or its error.
    done: mpsc::Receiver<(usize, Result<Vec<String>, DatasetError>)>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Bytes handed over and not yet written.
    in_flight: usize,
    /// The writer's part name (for errors).
    part: String,
}

impl Encoder {
    /// `threads` encoders (at least one) for the writer of `part`, started; `None` if no
    /// thread can be started.
    fn start(threads: usize, part: &str) -> Option<Encoder> {
        let (groups, rx) = mpsc::channel::<(Group, usize)>();
        let rx = Arc::new(Mutex::new(rx));
        let (tx, done) = mpsc::channel();
        let mut handles = Vec::new();
        for _ in 0..threads.max(1) {
            let (rx, tx) = (Arc::clone(&rx), tx.clone());
            let spawned = std::thread::Builder::new()
                .name("parquet-encoder".into())
                .spawn(move || {
                    loop {
                        let next = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok((group, bytes)) = next else { return };
                        // A panic is this row group's error, and its bytes are counted back:
                        // the writer waiting for room in flight never waits forever.
                        let dir = group.dir.clone();
                        let mut files = Vec::new();
                        let result =
                            std::panic::catch_unwind(AssertUnwindSafe(|| group.write(&mut files)))
                                .unwrap_or_else(|_| Err(writer_failed(&dir)))
                                .map(|()| files);
                        if tx.send((bytes, result)).is_err() {
                            return;
                        }
                    }
                });
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(_) => break,
            }
        }
        if handles.is_empty() {
            return None;
        }
        Some(Encoder {
            groups: Some(groups),
            done,
            threads: handles,
            in_flight: 0,
            part: part.to_string(),
        })
    }

    /// Hands `group` (`bytes` of buffered columns) over, once the row groups in flight and
    /// it fit in `limit` bytes (or none is in flight). An error: the first of the row
    /// groups written since the last call, or the threads' end.
    fn send(
        &mut self,
        group: Group,
        bytes: usize,
        limit: usize,
        files: &mut Vec<String>,
    ) -> Result<(), DatasetError> {
        while let Ok(done) = self.done.try_recv() {
            self.account(done, files)?;
        }
        while self.in_flight > 0 && self.in_flight + bytes > limit {
            let done = self.done.recv().map_err(|_| self.stopped())?;
            self.account(done, files)?;
        }
        let sent = self.groups.as_ref().map(|g| g.send((group, bytes)));
        match sent {
            Some(Ok(())) => {
                self.in_flight += bytes;
                Ok(())
            }
            _ => Err(self.stopped()),
        }
    }

    fn account(
        &mut self,
        (bytes, result): (usize, Result<Vec<String>, DatasetError>),
        files: &mut Vec<String>,
    ) -> Result<(), DatasetError> {
        self.in_flight -= bytes;
        files.extend(result?);
        Ok(())
    }

    /// The error of threads that ended before their work.
    fn stopped(&self) -> DatasetError {
        DatasetError::Io {
            path: self.part.clone(),
            source: io::Error::other("the threads writing row groups have stopped"),
        }
    }

    /// Waits for every row group handed over to be written; the first error, if any.
    fn finish(mut self, files: &mut Vec<String>) -> Result<(), DatasetError> {
        self.groups = None;
        let mut first_error = None;
        while let Ok(done) = self.done.recv() {
            if let Err(e) = self.account(done, files) {
                first_error.get_or_insert(e);
            }
        }
        for thread in std::mem::take(&mut self.threads) {
            if thread.join().is_err() {
                first_error.get_or_insert(self.stopped());
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Encoder {
    /// A writer dropped without [`DatasetWriter::finish`]: the row groups handed over are
    /// still written (their files published, or dropped unpublished when they cannot be
    /// completed) before the threads end.
    fn drop(&mut self) {
        self.groups = None;
        for thread in std::mem::take(&mut self.threads) {
            let _ = thread.join();
        }
    }
}

/// The buffer of an integer signal's column: as narrow as its whole range allows.
fn int_values(signal: &Signal) -> Values {
    let fits = |lo: i128, hi: i128| {
        signal
            .integer_range()
            .is_some_and(|(a, b)| a >= lo && b <= hi)
    };
    if fits(i8::MIN.into(), i8::MAX.into()) {
        Values::I64In8(Vec::new())
    } else if fits(i16::MIN.into(), i16::MAX.into()) {
        Values::I64In16(Vec::new())
    } else if fits(i32::MIN.into(), i32::MAX.into()) {
        Values::I64In32(Vec::new())
    } else {
        Values::I64(Vec::new())
    }
}

fn message_table(
    message: &Message,
    plan: &MessagePlan,
    resolution: Resolution,
    db: &Database,
) -> Result<Table, ParquetError> {
    let mut fields = vec![
        (
            column(
                "timestamp",
                Physical::INT64,
                timestamp_type(resolution),
                true,
            )?,
            Values::I64(Vec::new()),
        ),
        (string_column("interface", false)?, Values::Runs(Vec::new())),
    ];
    let mut units = serde_json::Map::new();
    for (i, (signal, kind)) in message.signals().iter().zip(&plan.kinds).enumerate() {
        let name = plan
            .renamed
            .iter()
            .find(|(k, _)| *k == i)
            .map_or(signal.name(), |(_, n)| n.as_str());
        if !signal.unit().is_empty() {
            units.insert(name.to_string(), signal.unit().into());
        }
        fields.push(match kind {
            Kind::Int => (
                column(name, Physical::INT64, None, true)?,
                int_values(signal),
            ),
            Kind::UInt => (
                column(
                    name,
                    Physical::INT64,
                    Some(LogicalType::integer(64, false)),
                    true,
                )?,
                int_values(signal),
            ),
            Kind::Float => (
                column(name, Physical::DOUBLE, None, true)?,
                Values::F64(Vec::new()),
            ),
        });
    }
    fields.push((
        column("partial", Physical::BOOLEAN, None, false)?,
        Values::Bool(Vec::new()),
    ));
    fields.push((string_column("error", true)?, Values::Bytes(Vec::new())));
    let metadata = vec![
        KeyValue::new("canrelearn.message".to_string(), message.name().to_string()),
        KeyValue::new("canrelearn.id".to_string(), message.id().to_string()),
        KeyValue::new("canrelearn.dbc".to_string(), db.sources().join(", ")),
        KeyValue::new(
            "canrelearn.units".to_string(),
            serde_json::Value::Object(units).to_string(),
        ),
    ];
    Table::new(format!("messages/{}", plan.folder), fields, metadata, false)
}

mod chunk;
mod fused;
pub use fused::{FusedRows, fused_agrees};

#[cfg(test)]
mod tests;
