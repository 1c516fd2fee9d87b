//! Column chunks encoded here, beside the parquet crate's generic column writer.
//!
//! The crate's column writer takes values one by one: it hashes each into the column's
//! dictionary, compares each with the running minimum and maximum, and copies each through
//! its generic encoders. That was most of a Parquet run's writing time, for columns whose
//! shape we already know: the interface as runs of one string, the message name as its place
//! in the DBC's list, integer signals (a table lookup per value when they are kept in 8 bits,
//! a small open-addressing table otherwise), flags, timestamps and payloads kept end to end.
//! Such a chunk is written here from what the writer holds: the dictionary and each value's
//! index, the indices in the RLE / bit-packing hybrid, bounds from the dictionary (strings: by
//! rank, sorted once), the pages framed by the crate's page writer, and the chunk's metadata,
//! column index and offset index, for [`SerializedRowGroupWriter::append_column`].
//!
//! The chunk is the one the crate's writer makes of the same values with the same properties,
//! as a reader sees it: a `PLAIN` dictionary page then `RLE_DICTIONARY` data pages (or `PLAIN`
//! pages where the dictionary is off, and for booleans), version 1 pages with `RLE`
//! definition levels, broken after the same rows, the same codec, the same statistics,
//! column index (bounds, null pages, boundary order, level histograms) and offset index
//! (first rows, string bytes). Only the bytes of a page may differ (a run of indices can be
//! bit-packed in more than one way). A test writes random columns both ways and compares all
//! of that. Whatever this module does not write as the crate would (another codec, a
//! dictionary past its page limit, a string too long for whole statistics, doubles, rare
//! strings) is left to the crate.
//!
//! The price: a chunk is held in memory until it is appended (the crate's writer holds a
//! dictionary column's pages too, but writes a `PLAIN` column's pages as they come): for a
//! row group of a million frames, about 12 MB of classic payloads, 68 MB of CAN FD ones.
//!
//! [`SerializedRowGroupWriter::append_column`]: parquet::file::writer::SerializedRowGroupWriter::append_column

use std::cmp::Ordering;
use std::collections::HashMap;

use bytes::Bytes;
use parquet::basic::{BoundaryOrder, Compression, Encoding, EncodingMask, PageType, SortOrder};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::errors::ParquetError;
use parquet::file::metadata::{
    ColumnChunkMetaData, ColumnIndexBuilder, LevelHistogram, OffsetIndexBuilder, PageEncodingStats,
};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

use super::{Column, Values, WRITE_BATCH};

/// Longest string kept whole in statistics by the crate's writer (its default truncation):
/// a dictionary with a longer value is left to the crate, which truncates as it should.
const STATS_BYTES: usize = 64;
/// Groups of 8 values in one bit-packed run at most (a one-byte header, as most writers do).
const MAX_GROUPS: usize = 63;

/// A column chunk's values as a dictionary: the distinct values in order of first
/// appearance, and each present value's place in it.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Dictionary<V> {
    pub(super) values: Vec<V>,
    pub(super) indices: Vec<u32>,
}

/// A value type of a column chunk written here.
pub(super) trait ChunkValue: Sized + Clone {
    /// The physical type of a column of such values (a chunk of another type is left to
    /// the crate: its `PLAIN` encoding would not be this one).
    const PHYSICAL: parquet::basic::Type;
    /// Whether comparing two values costs more than sorting the dictionary once (strings):
    /// a page's bounds then come from the ranks of its entries.
    const RANKED: bool = false;
    /// Appends its `PLAIN` encoding (a dictionary page's entry).
    fn plain(&self, out: &mut Vec<u8>);
    /// Its order as the column sorts (`signed`: an `INT64` without an unsigned annotation).
    fn order(&self, other: &Self, signed: bool) -> Ordering;
    /// Its bytes in a column index (`PLAIN` without a length).
    fn index_bytes(&self) -> Vec<u8>;
    /// Whether statistics keep it whole (the crate's writer truncates a long string).
    fn whole_in_statistics(&self) -> bool {
        true
    }
    /// Chunk statistics of these bounds.
    fn statistics(min: &Self, max: &Self, nulls: u64, signed: bool) -> Statistics;
    /// The statistics of a chunk without a value.
    fn no_statistics(nulls: u64) -> Statistics;
    /// Its bytes, for a string (`None` for other types).
    fn var_bytes(&self) -> Option<i64> {
        None
    }
}

/// The integer types: `$t` of physical type `$physical`, compared as `$unsigned` in an
/// unsigned column, statistics `Statistics::$stats`.
macro_rules! integer_value {
    ($t:ty, $unsigned:ty, $physical:ident, $stats:ident) => {
        impl ChunkValue for $t {
            const PHYSICAL: parquet::basic::Type = parquet::basic::Type::$physical;
            fn plain(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn order(&self, other: &Self, signed: bool) -> Ordering {
                match signed {
                    true => self.cmp(other),
                    false => (*self as $unsigned).cmp(&(*other as $unsigned)),
                }
            }
            fn index_bytes(&self) -> Vec<u8> {
                self.to_le_bytes().to_vec()
            }
            fn statistics(min: &Self, max: &Self, nulls: u64, signed: bool) -> Statistics {
                Statistics::$stats(
                    ValueStatistics::new(Some(*min), Some(*max), None, Some(nulls), false)
                        .with_backwards_compatible_min_max(signed),
                )
            }
            fn no_statistics(nulls: u64) -> Statistics {
                Statistics::$stats(ValueStatistics::new(None, None, None, Some(nulls), false))
            }
        }
    };
}

integer_value!(i64, u64, INT64, Int64);
integer_value!(i32, u32, INT32, Int32);

impl ChunkValue for bool {
    const PHYSICAL: parquet::basic::Type = parquet::basic::Type::BOOLEAN;
    fn plain(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    fn order(&self, other: &Self, _signed: bool) -> Ordering {
        self.cmp(other)
    }
    fn index_bytes(&self) -> Vec<u8> {
        vec![u8::from(*self)]
    }
    fn statistics(min: &Self, max: &Self, nulls: u64, signed: bool) -> Statistics {
        Statistics::Boolean(
            ValueStatistics::new(Some(*min), Some(*max), None, Some(nulls), false)
                .with_backwards_compatible_min_max(signed),
        )
    }
    fn no_statistics(nulls: u64) -> Statistics {
        Statistics::Boolean(ValueStatistics::new(None, None, None, Some(nulls), false))
    }
}

impl ChunkValue for ByteArray {
    const PHYSICAL: parquet::basic::Type = parquet::basic::Type::BYTE_ARRAY;
    const RANKED: bool = true;
    fn plain(&self, out: &mut Vec<u8>) {
        let data = self.data();
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
    }
    fn order(&self, other: &Self, _signed: bool) -> Ordering {
        self.data().cmp(other.data())
    }
    fn index_bytes(&self) -> Vec<u8> {
        self.data().to_vec()
    }
    fn whole_in_statistics(&self) -> bool {
        self.data().len() <= STATS_BYTES
    }
    fn var_bytes(&self) -> Option<i64> {
        Some(self.data().len() as i64)
    }
    fn statistics(min: &Self, max: &Self, nulls: u64, signed: bool) -> Statistics {
        Statistics::ByteArray(
            ValueStatistics::new(
                Some(min.clone()),
                Some(max.clone()),
                None,
                Some(nulls),
                false,
            )
            .with_backwards_compatible_min_max(signed),
        )
    }
    fn no_statistics(nulls: u64) -> Statistics {
        Statistics::ByteArray(ValueStatistics::new(None, None, None, Some(nulls), false))
    }
}

/// The least and greatest of `values` in the column's order (`signed`), `None` for none.
fn least_and_greatest<'v, V: ChunkValue + 'v>(
    values: impl IntoIterator<Item = &'v V>,
    signed: bool,
) -> Option<(&'v V, &'v V)> {
    values.into_iter().fold(None, |b, v| match b {
        None => Some((v, v)),
        Some((lo, hi)) => Some((
            if v.order(lo, signed).is_lt() { v } else { lo },
            if v.order(hi, signed).is_gt() { v } else { hi },
        )),
    })
}

/// The chunks of one column of a row group, as a dictionary of strings, if they are kept as
/// runs or keys into a list.
pub(super) fn strings(chunks: &[&Column]) -> Option<Result<Dictionary<ByteArray>, ParquetError>> {
    if !chunks
        .iter()
        .all(|c| matches!(c.values, Values::Runs(_) | Values::Keys { .. }))
    {
        return None;
    }
    let mut dict = Dictionary::default();
    let mut places: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut place = |dict: &mut Dictionary<ByteArray>, value: &ByteArray| -> u32 {
        if let Some(&at) = places.get(value.data()) {
            return at;
        }
        let at = dict.values.len() as u32;
        places.insert(value.data().to_vec(), at);
        dict.values.push(value.clone());
        at
    };
    for column in chunks {
        match &column.values {
            Values::Runs(runs) => {
                for (value, n) in runs {
                    let at = place(&mut dict, value);
                    dict.indices.extend(std::iter::repeat_n(at, *n as usize));
                }
            }
            Values::Keys { keys, list } => {
                // Each key's place, found once per key.
                let mut of_key = vec![u32::MAX; list.len()];
                for &key in keys {
                    let slot = of_key.get_mut(key as usize).zip(list.get(key as usize));
                    let Some((at, value)) = slot else {
                        return Some(Err(ParquetError::General(format!(
                            "a key ({key}) past the end of its list of {}",
                            list.len()
                        ))));
                    };
                    if *at == u32::MAX {
                        *at = place(&mut dict, value);
                    }
                    dict.indices.push(*at);
                }
            }
            _ => return None,
        }
    }
    Some(Ok(dict))
}

/// Places of values in a dictionary: open addressing on a multiplicative hash of each value's
/// bits, at most half full.
struct Places {
    /// A place + 1 (0: empty).
    slots: Vec<u32>,
    /// 64 minus the table's bits: a hash's top bits are its slot.
    shift: u32,
}

impl Places {
    fn new() -> Places {
        Places {
            slots: vec![0; 256],
            shift: 64 - 8,
        }
    }

    fn slot(&self, bits: u64) -> usize {
        (bits.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// The place of `v` (its bits `key`) in `values`, added if new.
    #[inline]
    fn of<T: Copy + PartialEq>(
        &mut self,
        values: &mut Vec<T>,
        v: T,
        key: impl Fn(T) -> u64,
    ) -> u32 {
        let mask = self.slots.len() - 1;
        let mut i = self.slot(key(v));
        loop {
            match self.slots.get(i).copied() {
                Some(0) | None => break,
                Some(n) if values.get(n as usize - 1) == Some(&v) => return n - 1,
                Some(_) => i = (i + 1) & mask,
            }
        }
        values.push(v);
        let at = values.len() as u32;
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = at;
        }
        if values.len() * 2 > self.slots.len() {
            self.grow(values, key);
        }
        at - 1
    }

    #[cold]
    fn grow<T: Copy>(&mut self, values: &[T], key: impl Fn(T) -> u64) {
        self.slots = vec![0; self.slots.len() * 2];
        self.shift -= 1;
        let mask = self.slots.len() - 1;
        for (n, &v) in values.iter().enumerate() {
            let mut i = self.slot(key(v));
            while self.slots.get(i).is_some_and(|&s| s != 0) {
                i = (i + 1) & mask;
            }
            if let Some(slot) = self.slots.get_mut(i) {
                *slot = n as u32 + 1;
            }
        }
    }
}

/// The chunks of one column of a row group, as a dictionary of `INT64` values, if they are
/// integers and their distinct values fit a dictionary page of `limit` bytes (beyond it, the
/// crate's writer goes on without a dictionary: `None`, the column is left to it).
pub(super) fn integers(chunks: &[&Column], limit: usize) -> Option<Dictionary<i64>> {
    let mut dict = Dictionary::default();
    let most = limit.div_ceil(8);
    // 8-bit values: their place by a table lookup.
    if chunks.iter().all(|c| matches!(c.values, Values::I64In8(_))) {
        let mut of_value = [u32::MAX; 256];
        for column in chunks {
            if let Values::I64In8(x) = &column.values {
                dict.indices.reserve(x.len());
                for &n in x {
                    let at = &mut of_value[usize::from(n as u8)];
                    if *at == u32::MAX {
                        *at = dict.values.len() as u32;
                        dict.values.push(i64::from(n));
                    }
                    dict.indices.push(*at);
                }
            }
        }
        return Some(dict);
    }
    let mut places = Places::new();
    let key = |v: i64| v as u64;
    for column in chunks {
        let mut add = |v: i64| {
            let at = places.of(&mut dict.values, v, key);
            dict.indices.push(at);
        };
        match &column.values {
            Values::I64In8(x) => x.iter().for_each(|&n| add(n.into())),
            Values::I64In16(x) => x.iter().for_each(|&n| add(n.into())),
            Values::I64In32(x) => x.iter().for_each(|&n| add(n.into())),
            Values::I64(x) => x.iter().for_each(|&n| add(n)),
            _ => return None,
        }
        if dict.values.len() >= most {
            return None;
        }
    }
    Some(dict)
}

/// The chunks of one column of a row group, as a dictionary of `INT32` values (as
/// [`integers`]).
pub(super) fn int32s(chunks: &[&Column], limit: usize) -> Option<Dictionary<i32>> {
    let mut dict = Dictionary::default();
    let mut places = Places::new();
    for column in chunks {
        let Values::I32(x) = &column.values else {
            return None;
        };
        dict.indices.reserve(x.len());
        for &v in x {
            let at = places.of(&mut dict.values, v, |v| u64::from(v as u32));
            dict.indices.push(at);
        }
        if dict.values.len() * 4 >= limit {
            return None;
        }
    }
    Some(dict)
}

/// The definition levels of the chunks' rows, `None` while every row is present.
fn levels(chunks: &[&Column]) -> Option<Vec<u32>> {
    if chunks.iter().all(|c| c.defs.is_empty()) {
        return None;
    }
    let mut all = Vec::with_capacity(chunks.iter().map(|c| c.rows).sum());
    for column in chunks {
        match column.defs.is_empty() {
            true => all.extend(std::iter::repeat_n(1, column.rows)),
            false => all.extend(column.defs.iter().map(|&d| u32::from(d == 1))),
        }
    }
    Some(all)
}

/// Bits for values up to `max`.
fn bits(max: u32) -> u8 {
    (32 - max.leading_zeros()) as u8
}

/// Appends `v` as an unsigned LEB128 varint.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends the RLE run of `count` values `value`, `bits` wide.
fn rle_run(value: u32, count: usize, bits: u8, out: &mut Vec<u8>) {
    varint((count as u64) << 1, out);
    out.extend_from_slice(&value.to_le_bytes()[..usize::from(bits).div_ceil(8)]);
}

/// Appends `values` as bit-packed runs (padded with zeros to groups of 8), `bits` wide.
fn bit_packed(values: &[u32], bits: u8, out: &mut Vec<u8>) {
    let width = usize::from(bits);
    for run in values.chunks(MAX_GROUPS * 8) {
        let groups = run.len().div_ceil(8);
        varint(((groups as u64) << 1) | 1, out);
        out.reserve(groups * width);
        // A group of 8 values is `bits` bytes: packed in one word up to 16 bits a value.
        for group in run.chunks(8) {
            match bits {
                0..=8 => {
                    let acc = (group.iter().enumerate())
                        .fold(0u64, |acc, (k, &v)| acc | u64::from(v) << (k * width));
                    out.extend_from_slice(acc.to_le_bytes().get(..width).unwrap_or_default());
                }
                9..=16 => {
                    let acc = (group.iter().enumerate())
                        .fold(0u128, |acc, (k, &v)| acc | u128::from(v) << (k * width));
                    out.extend_from_slice(acc.to_le_bytes().get(..width).unwrap_or_default());
                }
                _ => {
                    let (mut acc, mut held) = (0u64, 0);
                    let padding = std::iter::repeat_n(&0, 8 - group.len());
                    for &v in group.iter().chain(padding) {
                        acc |= u64::from(v) << held;
                        held += width;
                        while held >= 8 {
                            out.push(acc as u8);
                            acc >>= 8;
                            held -= 8;
                        }
                    }
                }
            }
        }
    }
}

/// Appends `values` in Parquet's RLE / bit-packing hybrid, `bits` wide: a run of 8 equal
/// values or more that starts a group of 8 is one RLE run, the rest is bit-packed.
pub(super) fn hybrid(values: &[u32], bits: u8, out: &mut Vec<u8>) {
    let (mut at, mut packed_from) = (0, 0);
    while let Some(&v) = values.get(at) {
        let run = values.get(at..).unwrap_or_default();
        let same = run.iter().take_while(|&&x| x == v).count();
        if same >= 8 {
            bit_packed(values.get(packed_from..at).unwrap_or_default(), bits, out);
            rle_run(v, same, bits, out);
            at += same;
            packed_from = at;
        } else {
            at = (at + 8).min(values.len());
        }
    }
    bit_packed(values.get(packed_from..).unwrap_or_default(), bits, out);
}

/// Compresses page bodies as the column's codec says.
enum Codec {
    None,
    Zstd(zstd::bulk::Compressor<'static>),
}

impl Codec {
    /// The codec of `compression`; `None` for one this module does not write.
    fn of(compression: Compression) -> Option<Result<Codec, ParquetError>> {
        match compression {
            Compression::UNCOMPRESSED => Some(Ok(Codec::None)),
            Compression::ZSTD(level) => Some(
                zstd::bulk::Compressor::new(level.compression_level())
                    .map(Codec::Zstd)
                    .map_err(|e| ParquetError::External(Box::new(e))),
            ),
            _ => None,
        }
    }

    fn apply(&mut self, body: Vec<u8>) -> Result<Bytes, ParquetError> {
        match self {
            Codec::None => Ok(Bytes::from(body)),
            Codec::Zstd(z) => z
                .compress(&body)
                .map(Bytes::from)
                .map_err(|e| ParquetError::External(Box::new(e))),
        }
    }
}

/// Whether this module may write column `descr` of files written with `props`: a flat
/// column, in a codec it knows, with the statistics and page index the crate's writer gives
/// by default (no bloom filter, no statistics in page headers).
pub(super) fn handles(descr: &ColumnDescPtr, props: &WriterProperties) -> bool {
    let path = descr.path();
    descr.max_rep_level() == 0
        && descr.max_def_level() <= 1
        && matches!(
            props.compression(path),
            Compression::UNCOMPRESSED | Compression::ZSTD(_)
        )
        && props.statistics_enabled(path) == EnabledStatistics::Page
        && props.bloom_filter_properties(path).is_none()
        && !props.write_page_header_statistics(path)
        && props.column_index_truncate_length() == Some(STATS_BYTES)
        && props.statistics_truncate_length() == Some(STATS_BYTES)
        && !props.offset_index_disabled()
}

/// The rows and values of one data page.
struct Span {
    rows: std::ops::Range<usize>,
    values: std::ops::Range<usize>,
}

/// Where the data pages of a column chunk break, as the crate's writer breaks them when
/// [`super::write_chunk`] hands it the values: each chunk of `parts` (its rows), in writes of
/// [`WRITE_BATCH`] rows, each in mini-batches of the write batch size, a page ending after
/// the first mini-batch that brings it to the row limit or to the page size limit (`bytes`:
/// the encoded size of a range of values).
fn spans(
    props: &WriterProperties,
    descr: &ColumnDescPtr,
    parts: &[usize],
    levels: Option<&[u32]>,
    bytes: impl Fn(std::ops::Range<usize>) -> usize,
) -> Vec<Span> {
    let batch = props.write_batch_size().max(1);
    let path = descr.path();
    let (row_limit, byte_limit) = (
        props.data_page_row_count_limit(),
        props.column_data_page_size_limit(path),
    );
    let mut spans = Vec::new();
    let (mut row, mut value) = (0, 0);
    let mut page = Span {
        rows: 0..0,
        values: 0..0,
    };
    let mini_batches = parts.iter().flat_map(|&rows| {
        let writes = (0..rows)
            .step_by(WRITE_BATCH)
            .map(move |at| (rows - at).min(WRITE_BATCH));
        writes.flat_map(move |n| (0..n).step_by(batch).map(move |at| (n - at).min(batch)))
    });
    for n in mini_batches {
        let present = match levels {
            Some(levels) => levels
                .get(row..row + n)
                .unwrap_or_default()
                .iter()
                .filter(|&&l| l == 1)
                .count(),
            None => n,
        };
        row += n;
        value += present;
        page.rows.end = row;
        page.values.end = value;
        if page.rows.len() >= row_limit || bytes(page.values.clone()) >= byte_limit {
            let next = Span {
                rows: row..row,
                values: value..value,
            };
            spans.push(std::mem::replace(&mut page, next));
        }
    }
    if !page.rows.is_empty() || spans.is_empty() {
        spans.push(page);
    }
    spans
}

/// A column chunk being written: its pages, and what its metadata and page index need.
struct Chunk<'a, V> {
    descr: &'a ColumnDescPtr,
    codec: Codec,
    compression: Compression,
    /// Whether the column sorts as signed.
    signed: bool,
    sink: TrackedWrite<Vec<u8>>,
    compressed: i64,
    uncompressed: i64,
    dictionary_offset: Option<i64>,
    data_offset: Option<i64>,
    column_index: ColumnIndexBuilder,
    offset_index: OffsetIndexBuilder,
    page_stats: Vec<PageEncodingStats>,
    encodings: Vec<Encoding>,
    /// Values written, the least and greatest of them, and their bytes (strings).
    values: usize,
    bounds: Option<(V, V)>,
    var_bytes: Option<i64>,
    /// The bounds of the last page with a value, and whether the pages' bounds have only
    /// gone up (or down) so far: the column index's boundary order.
    last: Option<(V, V)>,
    ascending: bool,
    descending: bool,
}

impl<'a, V: ChunkValue> Chunk<'a, V> {
    /// A chunk of column `descr` written with `props`; `None` when this module does not.
    fn new(
        descr: &'a ColumnDescPtr,
        props: &WriterProperties,
    ) -> Option<Result<Chunk<'a, V>, ParquetError>> {
        if !handles(descr, props) || descr.physical_type() != V::PHYSICAL {
            return None;
        }
        let compression = props.compression(descr.path());
        let codec = match Codec::of(compression)? {
            Ok(codec) => codec,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(Chunk {
            descr,
            codec,
            compression,
            signed: descr.sort_order() == SortOrder::SIGNED,
            sink: TrackedWrite::new(Vec::new()),
            compressed: 0,
            uncompressed: 0,
            dictionary_offset: None,
            data_offset: None,
            column_index: ColumnIndexBuilder::new(descr.physical_type()),
            offset_index: OffsetIndexBuilder::new(),
            page_stats: Vec::new(),
            encodings: Vec::new(),
            values: 0,
            bounds: None,
            var_bytes: None,
            last: None,
            ascending: true,
            descending: true,
        }))
    }

    fn write(&mut self, page: Page, size: usize) -> Result<(), ParquetError> {
        let (page_type, encoding) = (page.page_type(), page.encoding());
        let spec = SerializedPageWriter::new(&mut self.sink)
            .write_page(CompressedPage::new(page, size))?;
        self.compressed += spec.compressed_size as i64;
        self.uncompressed += spec.uncompressed_size as i64;
        if !self.encodings.contains(&encoding) {
            self.encodings.push(encoding);
        }
        match self.page_stats.last_mut() {
            Some(s) if s.page_type == page_type && s.encoding == encoding => s.count += 1,
            _ => self.page_stats.push(PageEncodingStats {
                page_type,
                encoding,
                count: 1,
            }),
        }
        let offset = spec.offset as i64;
        match page_type {
            PageType::DICTIONARY_PAGE => {
                self.dictionary_offset.get_or_insert(offset);
            }
            _ => {
                self.data_offset.get_or_insert(offset);
                self.offset_index
                    .append_offset_and_size(offset, spec.compressed_size as i32);
            }
        }
        Ok(())
    }

    /// Writes the dictionary page (`body`: its values, `PLAIN`).
    fn dictionary(&mut self, body: Vec<u8>, entries: usize) -> Result<(), ParquetError> {
        let size = body.len();
        let page = Page::DictionaryPage {
            buf: self.codec.apply(body)?,
            num_values: entries as u32,
            encoding: Encoding::PLAIN,
            is_sorted: false,
        };
        self.write(page, size)
    }

    /// Writes the data page of `span` (its definition levels from `levels`, then `values`,
    /// encoded as `encoding`) and its entries in the page index: `bounds`, the least and
    /// greatest of its values (`None`: it has none), and `var_bytes`, the bytes of its
    /// strings (`None` for other types).
    fn data(
        &mut self,
        span: &Span,
        levels: Option<&[u32]>,
        encoding: Encoding,
        values: &[u8],
        bounds: Option<(V, V)>,
        var_bytes: Option<i64>,
    ) -> Result<(), ParquetError> {
        let rows = span.rows.len();
        let optional = self.descr.max_def_level() > 0;
        let mut body = Vec::with_capacity(values.len() + 16);
        if optional {
            let mut runs = Vec::new();
            match levels {
                Some(levels) => hybrid(
                    levels.get(span.rows.clone()).unwrap_or_default(),
                    1,
                    &mut runs,
                ),
                None if rows > 0 => rle_run(1, rows, 1, &mut runs),
                None => {}
            }
            body.extend_from_slice(&(runs.len() as u32).to_le_bytes());
            body.extend_from_slice(&runs);
        }
        body.extend_from_slice(values);
        let present = span.values.len();
        let nulls = (rows - present) as i64;
        match bounds {
            Some((min, max)) => {
                let signed = self.signed;
                if let Some((last_min, last_max)) = &self.last {
                    if last_min.order(&min, signed).is_gt() || last_max.order(&max, signed).is_gt()
                    {
                        self.ascending = false;
                    }
                    if min.order(last_min, signed).is_gt() || max.order(last_max, signed).is_gt() {
                        self.descending = false;
                    }
                }
                self.column_index
                    .append(false, min.index_bytes(), max.index_bytes(), nulls, None);
                let so_far = self.bounds.iter().flat_map(|(lo, hi)| [lo, hi]);
                let whole = least_and_greatest(so_far.chain([&min, &max]), signed)
                    .map(|(lo, hi)| (lo.clone(), hi.clone()));
                self.bounds = whole;
                self.last = Some((min, max));
            }
            None => self
                .column_index
                .append(true, Vec::new(), Vec::new(), nulls, None),
        }
        let histogram = optional.then(|| LevelHistogram::from(vec![nulls, present as i64]));
        self.column_index.append_histograms(&None, &histogram);
        self.offset_index.append_row_count(rows as i64);
        self.offset_index
            .append_unencoded_byte_array_data_bytes(var_bytes);
        if let Some(bytes) = var_bytes {
            *self.var_bytes.get_or_insert(0) += bytes;
        }
        self.values += present;
        let size = body.len();
        let page = Page::DataPage {
            buf: self.codec.apply(body)?,
            num_values: rows as u32,
            encoding,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        };
        self.write(page, size)
    }

    /// The chunk's bytes, and what [`SerializedRowGroupWriter::append_column`] takes.
    ///
    /// [`SerializedRowGroupWriter::append_column`]: parquet::file::writer::SerializedRowGroupWriter::append_column
    fn finish(mut self, rows: usize) -> Result<(Bytes, ColumnCloseResult), ParquetError> {
        let optional = self.descr.max_def_level() > 0;
        if optional {
            self.encodings.push(Encoding::RLE);
        }
        let nulls = (rows - self.values) as u64;
        let statistics = match &self.bounds {
            Some((min, max)) => V::statistics(min, max, nulls, self.signed),
            None => V::no_statistics(nulls),
        };
        let histogram =
            optional.then(|| LevelHistogram::from(vec![nulls as i64, self.values as i64]));
        let data_offset = self.data_offset.or(self.dictionary_offset).unwrap_or(0);
        let metadata = ColumnChunkMetaData::builder(self.descr.clone())
            .set_compression(self.compression)
            .set_encodings_mask(EncodingMask::new_from_encodings(self.encodings.iter()))
            .set_page_encoding_stats(self.page_stats)
            .set_total_compressed_size(self.compressed)
            .set_total_uncompressed_size(self.uncompressed)
            .set_num_values(rows as i64)
            .set_data_page_offset(data_offset)
            .set_dictionary_page_offset(self.dictionary_offset)
            .set_statistics(statistics)
            .set_unencoded_byte_array_data_bytes(self.var_bytes)
            .set_definition_level_histogram(histogram)
            .build()?;
        // As the crate's writer: pages whose bounds only rise (all equal, or all null, too)
        // are in ascending order.
        self.column_index
            .set_boundary_order(match (self.ascending, self.descending) {
                (true, _) => BoundaryOrder::ASCENDING,
                (false, true) => BoundaryOrder::DESCENDING,
                (false, false) => BoundaryOrder::UNORDERED,
            });
        let bytes = Bytes::from(self.sink.into_inner()?);
        let close = ColumnCloseResult {
            bytes_written: bytes.len() as u64,
            rows_written: rows as u64,
            metadata,
            bloom_filter: None,
            column_index: Some(self.column_index.build()?),
            offset_index: Some(self.offset_index.build()),
        };
        Ok((bytes, close))
    }
}

/// Encodes `rows` rows of column `descr` (definition levels `levels`, `None` when all are
/// present; values `dict`) as a dictionary column chunk, as the crate's writer would with
/// `props`. `None` when the chunk is not one this module writes (a string too long for
/// whole statistics, a codec it does not know).
pub(super) fn dictionary<V: ChunkValue>(
    descr: &ColumnDescPtr,
    props: &WriterProperties,
    dict: &Dictionary<V>,
    levels: Option<&[u32]>,
    parts: &[usize],
) -> Result<Option<(Bytes, ColumnCloseResult)>, ParquetError> {
    let rows = parts.iter().sum();
    if !props.dictionary_enabled(descr.path()) || !dict.values.iter().all(V::whole_in_statistics) {
        return Ok(None);
    }
    let Some(chunk) = Chunk::new(descr, props) else {
        return Ok(None);
    };
    let mut chunk = chunk?;
    let signed = chunk.signed;
    // Strings: each dictionary entry's rank in the column's order, so that a page's bounds
    // cost no string comparison.
    let mut order: Vec<u32> = Vec::new();
    if V::RANKED {
        order = (0..dict.values.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| {
            match (dict.values.get(a as usize), dict.values.get(b as usize)) {
                (Some(a), Some(b)) => a.order(b, signed),
                _ => Ordering::Equal,
            }
        });
    }
    let mut rank = vec![0u32; order.len()];
    for (r, &i) in order.iter().enumerate() {
        if let Some(slot) = rank.get_mut(i as usize) {
            *slot = r as u32;
        }
    }
    let of_rank = |r: u32| {
        order
            .get(r as usize)
            .and_then(|&i| dict.values.get(i as usize))
    };
    let bounds_of = |indices: &[u32]| -> Option<(&V, &V)> {
        match V::RANKED {
            true => {
                let ranks = indices.iter().filter_map(|&i| rank.get(i as usize));
                let (lo, hi) = ranks.fold((u32::MAX, 0), |(lo, hi), &r| (lo.min(r), hi.max(r)));
                of_rank(lo).zip(of_rank(hi))
            }
            false => least_and_greatest(
                indices.iter().filter_map(|&i| dict.values.get(i as usize)),
                signed,
            ),
        }
    };
    // Each entry's bytes, for a string column's unencoded size.
    let var: Option<Vec<i64>> = match descr.physical_type() {
        parquet::basic::Type::BYTE_ARRAY => dict.values.iter().map(V::var_bytes).collect(),
        _ => None,
    };
    let width = bits(dict.values.len().saturating_sub(1) as u32);

    let mut body = Vec::new();
    dict.values.iter().for_each(|v| v.plain(&mut body));
    if body.len() >= props.dictionary_page_size_limit() {
        // The crate's writer gives up the dictionary there, and goes on without.
        return Ok(None);
    }
    chunk.dictionary(body, dict.values.len())?;

    // The indices' size is what the crate's writer weighs against the page size limit.
    let page_bytes =
        |values: std::ops::Range<usize>| 1 + (values.len() * usize::from(width)).div_ceil(8);
    let mut values = Vec::new();
    for span in spans(props, descr, parts, levels, page_bytes) {
        let indices = dict.indices.get(span.values.clone()).unwrap_or_default();
        values.clear();
        values.push(width);
        hybrid(indices, width, &mut values);
        let bounds = bounds_of(indices).map(|(min, max)| (min.clone(), max.clone()));
        let var_bytes = var.as_ref().map(|var| {
            let each = indices.iter().filter_map(|&i| var.get(i as usize));
            each.sum::<i64>()
        });
        chunk.data(
            &span,
            levels,
            Encoding::RLE_DICTIONARY,
            &values,
            bounds,
            var_bytes,
        )?;
    }
    chunk.finish(rows).map(Some)
}

/// A column chunk's present values, `PLAIN`-encoded.
pub(super) trait PlainValues {
    type Value: ChunkValue;
    /// The `PLAIN` encoding of values `range`, appended to `out`.
    fn encode(&self, range: std::ops::Range<usize>, out: &mut Vec<u8>);
    /// The size of that encoding.
    fn encoded_len(&self, range: std::ops::Range<usize>) -> usize;
    /// The least and greatest of values `range`, in the column's order.
    fn bounds(
        &self,
        range: std::ops::Range<usize>,
        signed: bool,
    ) -> Option<(Self::Value, Self::Value)>;
    /// The bytes of strings `range` (`None` for other types).
    fn var_bytes(&self, _range: std::ops::Range<usize>) -> Option<i64> {
        None
    }
}

/// Encodes `rows` rows of column `descr` (definition levels `levels`, `None` when all are
/// present; values `values`) as a `PLAIN` column chunk without a dictionary, as the crate's
/// writer would with `props`; `None` when this module does not write it.
pub(super) fn plain<P: PlainValues>(
    descr: &ColumnDescPtr,
    props: &WriterProperties,
    values: &P,
    levels: Option<&[u32]>,
    parts: &[usize],
) -> Result<Option<(Bytes, ColumnCloseResult)>, ParquetError> {
    let rows = parts.iter().sum();
    let boolean = descr.physical_type() == parquet::basic::Type::BOOLEAN;
    if (props.dictionary_enabled(descr.path()) && !boolean)
        || props
            .encoding(descr.path())
            .is_some_and(|e| e != Encoding::PLAIN)
    {
        return Ok(None);
    }
    let Some(chunk) = Chunk::<P::Value>::new(descr, props) else {
        return Ok(None);
    };
    let mut chunk = chunk?;
    let mut body = Vec::new();
    for span in spans(props, descr, parts, levels, |r| values.encoded_len(r)) {
        let bounds = values.bounds(span.values.clone(), chunk.signed);
        if let Some((min, max)) = &bounds
            && !(min.whole_in_statistics() && max.whole_in_statistics())
        {
            return Ok(None);
        }
        body.clear();
        values.encode(span.values.clone(), &mut body);
        let var_bytes = values.var_bytes(span.values.clone());
        chunk.data(&span, levels, Encoding::PLAIN, &body, bounds, var_bytes)?;
    }
    chunk.finish(rows).map(Some)
}

/// Writes column `k` of `chunks` (a row group's chunks of columns) into `group` if this
/// module writes it; `false` when it is left to the crate's column writer.
pub(super) fn append<W: std::io::Write + Send>(
    group: &mut parquet::file::writer::SerializedRowGroupWriter<'_, W>,
    descr: &ColumnDescPtr,
    props: &WriterProperties,
    columns: &[&Column],
) -> Result<bool, ParquetError> {
    if !handles(descr, props) {
        return Ok(false);
    }
    let parts: Vec<usize> = columns.iter().map(|c| c.rows).collect();
    let parts = parts.as_slice();
    // Made only for a column written here.
    let levels_once = std::cell::OnceCell::new();
    let levels = || levels_once.get_or_init(|| levels(columns)).as_deref();
    let limit = props.dictionary_page_size_limit();
    let flags = Parts::of(columns, |v| match v {
        Values::Bool(x) => Some(x.as_slice()),
        _ => None,
    });
    let times = || {
        Parts::of(columns, |v| match v {
            Values::I64(x) => Some(x.as_slice()),
            _ => None,
        })
    };
    let encoded = if let Some(flags) = flags {
        // No dictionary for booleans, whatever the properties say (as the crate's writer).
        plain(descr, props, &flags, levels(), parts)?
    } else if !props.dictionary_enabled(descr.path()) {
        match (Payloads::of(columns), times()) {
            (Some(payloads), _) => plain(descr, props, &payloads, levels(), parts)?,
            (_, Some(times)) => plain(descr, props, &times, levels(), parts)?,
            _ => None,
        }
    } else if let Some(dict) = strings(columns) {
        dictionary(descr, props, &dict?, levels(), parts)?
    } else if let Some(dict) = integers(columns, limit) {
        dictionary(descr, props, &dict, levels(), parts)?
    } else if let Some(dict) = int32s(columns, limit) {
        dictionary(descr, props, &dict, levels(), parts)?
    } else {
        None
    };
    match encoded {
        Some((bytes, close)) => {
            group.append_column(&bytes, close)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// The values of chunks kept a slice each: the timestamps (`INT64` without a dictionary)
/// and the flags.
pub(super) struct Parts<'c, T>(Vec<&'c [T]>);

impl<'c, T> Parts<'c, T> {
    /// The chunks' values, if `slice` finds them in every chunk.
    fn of(columns: &[&'c Column], slice: impl Fn(&'c Values) -> Option<&'c [T]>) -> Option<Self> {
        let parts: Option<Vec<&[T]>> = columns.iter().map(|c| slice(&c.values)).collect();
        parts.map(Parts)
    }

    /// Values `range`, as slices of the chunks.
    fn slices(&self, range: std::ops::Range<usize>) -> impl Iterator<Item = &'c [T]> + '_ {
        let mut start = 0;
        self.0.iter().filter_map(move |part| {
            let (lo, hi) = (start, start + part.len());
            start = hi;
            let (a, b) = (range.start.max(lo), range.end.min(hi));
            (a < b).then(|| part.get(a - lo..b - lo)).flatten()
        })
    }
}

impl PlainValues for Parts<'_, i64> {
    type Value = i64;
    fn encode(&self, range: std::ops::Range<usize>, out: &mut Vec<u8>) {
        out.reserve(range.len() * 8);
        for part in self.slices(range) {
            part.iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        }
    }
    fn encoded_len(&self, range: std::ops::Range<usize>) -> usize {
        range.len() * 8
    }
    fn bounds(&self, range: std::ops::Range<usize>, signed: bool) -> Option<(i64, i64)> {
        least_and_greatest(self.slices(range).flatten(), signed).map(|(lo, hi)| (*lo, *hi))
    }
}

/// Up to 8 flags as a byte, the first in the lowest bit.
fn pack8(flags: &[bool]) -> u8 {
    (flags.iter().enumerate()).fold(0, |byte, (k, &f)| byte | u8::from(f) << k)
}

impl PlainValues for Parts<'_, bool> {
    type Value = bool;
    fn encode(&self, range: std::ops::Range<usize>, out: &mut Vec<u8>) {
        // Eight flags a byte, the first in the lowest bit; the last byte padded with zeros.
        let mut pending: Vec<bool> = Vec::new();
        for part in self.slices(range) {
            let mut part = part;
            if !pending.is_empty() {
                let take = (8 - pending.len()).min(part.len());
                pending.extend_from_slice(part.get(..take).unwrap_or_default());
                part = part.get(take..).unwrap_or_default();
                if pending.len() < 8 {
                    continue;
                }
                out.push(pack8(&pending));
                pending.clear();
            }
            let bytes = part.chunks_exact(8);
            pending.extend_from_slice(bytes.remainder());
            out.extend(bytes.map(pack8));
        }
        if !pending.is_empty() {
            out.push(pack8(&pending));
        }
    }
    fn encoded_len(&self, range: std::ops::Range<usize>) -> usize {
        range.len().div_ceil(8)
    }
    fn bounds(&self, range: std::ops::Range<usize>, _signed: bool) -> Option<(bool, bool)> {
        let (mut any, mut all_true, mut any_true) = (false, true, false);
        for part in self.slices(range) {
            any |= !part.is_empty();
            all_true &= part.iter().all(|&v| v);
            any_true |= part.iter().any(|&v| v);
        }
        any.then_some((all_true, any_true))
    }
}

/// The payloads of chunks kept end to end ([`Values::Blob`]).
pub(super) struct Payloads<'c> {
    /// Each chunk's bytes, its first value, and where its bytes start in all chunks' bytes
    /// end to end.
    parts: Vec<(&'c [u8], usize, usize)>,
    /// Each value's end in all chunks' bytes end to end (the first value starts at 0).
    ends: Vec<usize>,
}

impl<'c> Payloads<'c> {
    fn of(columns: &[&'c Column]) -> Option<Payloads<'c>> {
        let mut parts = Vec::with_capacity(columns.len());
        let mut ends = Vec::with_capacity(columns.iter().map(|c| c.rows).sum());
        let mut end = 0;
        for column in columns {
            let Values::Blob { data, lens } = &column.values else {
                return None;
            };
            parts.push((data.as_slice(), ends.len(), end));
            for &len in lens {
                end += usize::from(len);
                ends.push(end);
            }
            if end - parts.last().map_or(0, |p| p.2) != data.len() {
                // The payloads were taken by an earlier write that failed.
                return None;
            }
        }
        Some(Payloads { parts, ends })
    }

    /// Values `range`.
    fn values(&self, range: std::ops::Range<usize>) -> impl Iterator<Item = &'c [u8]> + '_ {
        let mut part = self
            .parts
            .partition_point(|p| p.1 <= range.start)
            .saturating_sub(1);
        range.filter_map(move |i| {
            while self.parts.get(part + 1).is_some_and(|p| p.1 <= i) {
                part += 1;
            }
            let &(data, _, base) = self.parts.get(part)?;
            let start = match i {
                0 => 0,
                _ => *self.ends.get(i - 1)?,
            };
            let end = *self.ends.get(i)?;
            data.get(start.checked_sub(base)?..end.checked_sub(base)?)
        })
    }
}

impl PlainValues for Payloads<'_> {
    type Value = ByteArray;
    fn encode(&self, range: std::ops::Range<usize>, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len(range.clone()));
        for v in self.values(range) {
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            out.extend_from_slice(v);
        }
    }
    fn encoded_len(&self, range: std::ops::Range<usize>) -> usize {
        let start = match range.start {
            0 => 0,
            i => self.ends.get(i - 1).copied().unwrap_or(0),
        };
        let end = match range.end {
            0 => 0,
            i => self.ends.get(i - 1).copied().unwrap_or(start),
        };
        end.saturating_sub(start) + 4 * range.len()
    }
    fn var_bytes(&self, range: std::ops::Range<usize>) -> Option<i64> {
        Some((self.encoded_len(range.clone()) - 4 * range.len()) as i64)
    }
    fn bounds(
        &self,
        range: std::ops::Range<usize>,
        _signed: bool,
    ) -> Option<(ByteArray, ByteArray)> {
        // Compared by their first 8 bytes as one number first (the same order), in full
        // only when those are equal.
        let key = |v: &[u8]| {
            let mut word = [0u8; 8];
            let n = v.len().min(8);
            if let (Some(to), Some(from)) = (word.get_mut(..n), v.get(..n)) {
                to.copy_from_slice(from);
            }
            u64::from_be_bytes(word)
        };
        let mut values = self.values(range).map(|v| (key(v), v));
        let first = values.next()?;
        let (min, max) = values.fold((first, first), |(lo, hi), v| {
            (if v < lo { v } else { lo }, if v > hi { v } else { hi })
        });
        Some((
            ByteArray::from(min.1.to_vec()),
            ByteArray::from(max.1.to_vec()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes the hybrid (a reader's view) of `count` values, `bits` wide.
    fn unhybrid(mut data: &[u8], bits: u8, count: usize) -> Vec<u32> {
        let mut out = Vec::new();
        let read_varint = |data: &mut &[u8]| {
            let (mut v, mut shift) = (0u64, 0);
            loop {
                let b = data[0];
                *data = &data[1..];
                v |= u64::from(b & 0x7f) << shift;
                shift += 7;
                if b < 0x80 {
                    return v;
                }
            }
        };
        while out.len() < count {
            let header = read_varint(&mut data);
            if header & 1 == 0 {
                let n = (header >> 1) as usize;
                let width = usize::from(bits).div_ceil(8);
                let mut v = [0u8; 4];
                v[..width].copy_from_slice(&data[..width]);
                data = &data[width..];
                out.extend(std::iter::repeat_n(u32::from_le_bytes(v), n));
            } else {
                let n = (header >> 1) as usize * 8;
                let (mut acc, mut held, mut taken) = (0u64, 0u8, 0);
                for _ in 0..n {
                    while held < bits {
                        acc |= u64::from(data[taken]) << held;
                        taken += 1;
                        held += 8;
                    }
                    let mask = if bits == 0 { 0 } else { (1u64 << bits) - 1 };
                    out.push((acc & mask) as u32);
                    acc >>= bits;
                    held -= bits;
                }
                data = &data[taken..];
            }
        }
        out.truncate(count);
        assert!(data.is_empty(), "{} bytes left", data.len());
        out
    }

    #[test]
    fn hybrid_round_trips_runs_and_mixed_values() {
        let cases: Vec<(Vec<u32>, u8)> = vec![
            (vec![], 0),
            (vec![0; 1], 0),
            (vec![0; 1000], 0),
            (vec![1; 7], 1),
            ((0..1000).map(|i| i % 2).collect(), 1),
            ((0..1000).map(|i| i % 300).collect(), 9),
            (
                [vec![3; 5], vec![7; 100], vec![1, 2, 3], vec![7; 9]].concat(),
                3,
            ),
            ((0..5000).map(|i| (i / 13) % 5).collect(), 3),
            (vec![u32::MAX >> 1; 20], 31),
        ];
        for (values, bits) in cases {
            let mut out = Vec::new();
            hybrid(&values, bits, &mut out);
            assert_eq!(unhybrid(&out, bits, values.len()), values, "{bits} bits");
        }
    }

    use super::super::tests::schema;
    use super::super::{column, string_column, write_chunk};
    use parquet::basic::{LogicalType, TimeUnit, Type as Physical, ZstdLevel};
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::serialized_reader::ReadOptionsBuilder;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::types::{ColumnPath, Type};
    use proptest::prelude::*;
    use std::sync::Arc;

    /// A table of every kind of column this module writes (and one it leaves to the crate: a
    /// string too long for whole statistics), `rows` rows in `parts` chunks.
    fn table(seed: u64, rows: usize, parts: usize, nulls: u64) -> (Vec<Type>, Vec<Vec<Column>>) {
        let mut rng = seed | 1;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let int = |name: &str| column(name, Physical::INT64, None, true).unwrap();
        let text = |name: &str, optional| string_column(name, optional).unwrap();
        let types = vec![
            column(
                "ts",
                Physical::INT64,
                Some(LogicalType::timestamp(true, TimeUnit::MICROS)),
                true,
            )
            .unwrap(),
            text("runs", false),
            text("keys", true),
            int("i8"),
            int("i16"),
            int("i32"),
            int("i64"),
            column(
                "u64",
                Physical::INT64,
                Some(LogicalType::integer(64, false)),
                true,
            )
            .unwrap(),
            column("dlc", Physical::INT32, None, false).unwrap(),
            column("flag", Physical::BOOLEAN, None, false).unwrap(),
            column("oflag", Physical::BOOLEAN, None, true).unwrap(),
            column("data", Physical::BYTE_ARRAY, None, false).unwrap(),
            text("long", true),
        ];
        let list: Arc<[ByteArray]> = ["Motor_01", "ACC_02", "Blinkmodi", "Airbag_01", "ESP_21"]
            .iter()
            .map(|s| ByteArray::from(*s))
            .collect();
        let long: Arc<[ByteArray]> = [
            ByteArray::from("short"),
            ByteArray::from("L".repeat(70).as_str()),
        ]
        .into_iter()
        .collect();
        let empty = || {
            vec![
                Column::new(Values::I64(Vec::new()), true),
                Column::new(Values::Runs(Vec::new()), false),
                Column::new(
                    Values::Keys {
                        keys: Vec::new(),
                        list: list.clone(),
                    },
                    true,
                ),
                Column::new(Values::I64In8(Vec::new()), true),
                Column::new(Values::I64In16(Vec::new()), true),
                Column::new(Values::I64In32(Vec::new()), true),
                Column::new(Values::I64(Vec::new()), true),
                Column::new(Values::I64(Vec::new()), true),
                Column::new(Values::I32(Vec::new()), false),
                Column::new(Values::Bool(Vec::new()), false),
                Column::new(Values::Bool(Vec::new()), true),
                Column::new(
                    Values::Blob {
                        data: Vec::new(),
                        lens: Vec::new(),
                    },
                    false,
                ),
                Column::new(
                    Values::Keys {
                        keys: Vec::new(),
                        list: long.clone(),
                    },
                    true,
                ),
            ]
        };
        let mut chunks = vec![empty()];
        let (mut time, mut iface) = (1_700_000_000_000_000i64, 0);
        for row in 0..rows {
            if row > 0 && row % rows.div_ceil(parts) == 0 {
                chunks.push(empty());
            }
            let c = chunks.last_mut().unwrap();
            let r = next();
            let null = |k: u64| nulls > 0 && (r >> k).is_multiple_of(nulls);
            time += (r % 5000) as i64;
            match null(1) {
                true => c[0].null(),
                false => c[0].i64(time),
            }
            if r % 997 == 0 {
                iface = 1 - iface;
            }
            c[1].run(["can0", "vcan1"][iface]);
            match null(2) {
                true => c[2].null(),
                false => c[2].key((r >> 20) as u32 % 5),
            }
            let v = (r >> 3) as i64;
            for (k, fit) in [
                (3, i64::from(v as i8)),
                (4, i64::from(v as i16)),
                (5, i64::from(v as i32)),
                (6, v),
                (7, v),
            ] {
                match null(k as u64) {
                    true => c[k].null(),
                    false => c[k].i64(if k == 4 { fit % 700 } else { fit }),
                }
            }
            c[8].i32((r >> 40) as i32 % 9);
            c[9].bool(r & 2 == 0);
            match null(9) {
                true => c[10].null(),
                false => c[10].bool(r & 4 == 0),
            }
            let payload: Vec<u8> = (0..(r >> 50) as usize % 65)
                .map(|b| (b as u64 ^ r) as u8)
                .collect();
            c[11].blob(&payload);
            match null(11) && row > 0 {
                true => c[12].null(),
                false => c[12].key(u32::from(row == 0 || r % 50 == 0)),
            }
        }
        (types, chunks)
    }

    /// The file of `chunks`, each column through this module (`own`) or the crate's writer.
    fn file(
        types: &[Type],
        chunks: &mut [Vec<Column>],
        props: WriterProperties,
        own: bool,
    ) -> (Vec<u8>, Vec<bool>) {
        let schema = schema(types.to_vec());
        let props = Arc::new(props);
        let mut w = SerializedFileWriter::new(Vec::new(), schema, props.clone()).unwrap();
        let descrs = w.schema_descr().columns().to_vec();
        let mut group = w.next_row_group().unwrap();
        let mut taken = Vec::new();
        for (k, descr) in descrs.iter().enumerate() {
            let columns: Vec<&Column> = chunks.iter().map(|c| &c[k]).collect();
            if own && append(&mut group, descr, &props, &columns).unwrap() {
                taken.push(true);
                continue;
            }
            taken.push(false);
            let mut col = group.next_column().unwrap().unwrap();
            for chunk in chunks.iter_mut() {
                write_chunk(&mut col, &mut chunk[k]).unwrap();
            }
            col.close().unwrap();
        }
        group.close().unwrap();
        (w.into_inner().unwrap(), taken)
    }

    /// Everything a reader sees of a file but its byte offsets and sizes (page bodies
    /// differ: a value sequence has more than one hybrid encoding).
    fn seen(bytes: Vec<u8>) -> (Vec<String>, Vec<String>) {
        let options = ReadOptionsBuilder::new().with_page_index().build();
        let r = SerializedFileReader::new_with_options(Bytes::from(bytes), options).unwrap();
        let rows = r
            .get_row_iter(None)
            .unwrap()
            .map(|row| format!("{:?}", row.unwrap()))
            .collect();
        let meta = r.metadata();
        let mut chunks = Vec::new();
        for (g, group) in meta.row_groups().iter().enumerate() {
            for (k, c) in group.columns().iter().enumerate() {
                chunks.push(format!(
                    "{} {:?} {:?} {:?} {} {:?} {:?} {:?} {:?}",
                    c.column_path(),
                    c.compression(),
                    c.encodings_mask(),
                    c.page_encoding_stats(),
                    c.num_values(),
                    c.statistics(),
                    c.definition_level_histogram(),
                    c.unencoded_byte_array_data_bytes(),
                    c.dictionary_page_offset().is_some(),
                ));
                let index = meta.page_index_for_row_group(g);
                chunks.push(format!("{:?}", index.column_index(k)));
                let pages = index.offset_index(k).map(|o| {
                    let first: Vec<i64> = o
                        .page_locations()
                        .iter()
                        .map(|p| p.first_row_index)
                        .collect();
                    format!("{first:?} {:?}", o.unencoded_byte_array_data_bytes())
                });
                chunks.push(format!("{pages:?}"));
            }
        }
        (rows, chunks)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// A chunk written here reads back as the crate's writer's chunk of the same values
        /// reads: rows, statistics, encodings, page breaks, column and offset indexes.
        #[test]
        fn test_own_chunks_read_back_as_the_crates(
            seed in any::<u64>(),
            rows in 1usize..5000,
            parts in 1usize..4,
            nulls in prop_oneof![Just(0u64), Just(1u64), 2u64..6],
            zstd in any::<bool>(),
            small_pages in any::<bool>(),
            small_dictionary in any::<bool>(),
        ) {
            // Twice: the crate's path takes the payloads out of their column.
            let (types, mut chunks) = table(seed, rows, parts, nulls);
            let (_, mut again) = table(seed, rows, parts, nulls);
            let props = || {
                let mut b = WriterProperties::builder()
                    .set_column_dictionary_enabled(ColumnPath::from("ts"), false)
                    .set_column_dictionary_enabled(ColumnPath::from("data"), false);
                if zstd {
                    b = b.set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap()));
                }
                if small_pages {
                    b = b.set_data_page_row_count_limit(300).set_write_batch_size(64);
                }
                if small_dictionary {
                    b = b.set_dictionary_page_size_limit(2048);
                }
                b.build()
            };
            let (theirs, _) = file(&types, &mut chunks, props(), false);
            let (ours, taken) = file(&types, &mut again, props(), true);
            // Every column but the long strings (and 64-bit values past a small dictionary).
            for (k, t) in taken.iter().enumerate() {
                let expected = match types[k].name() {
                    "long" => false,
                    "i64" | "u64" | "i32" | "i16" | "i8" if small_dictionary => *t,
                    _ => true,
                };
                prop_assert_eq!(*t, expected, "{}", types[k].name());
            }
            let (their_rows, their_chunks) = seen(theirs);
            let (our_rows, our_chunks) = seen(ours);
            prop_assert_eq!(our_rows, their_rows);
            for (ours, theirs) in our_chunks.iter().zip(&their_chunks) {
                prop_assert_eq!(ours, theirs);
            }
        }
    }

    proptest! {
        /// A page's payload bounds are the byte-wise least and greatest payloads, ties in the
        /// first 8 bytes included (short payloads of few distinct bytes make many).
        #[test]
        fn test_payload_bounds_are_the_bytewise_least_and_greatest(
            parts in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(0xff)], 0..12),
                    0..20,
                ),
                1..4,
            ),
            from in 0usize..30,
            len in 0usize..30,
        ) {
            let columns: Vec<Column> = parts
                .iter()
                .map(|payloads| {
                    let mut c = Column::new(Values::Blob { data: Vec::new(), lens: Vec::new() }, false);
                    payloads.iter().for_each(|p| c.blob(p));
                    c
                })
                .collect();
            let refs: Vec<&Column> = columns.iter().collect();
            let all: Vec<&Vec<u8>> = parts.iter().flatten().collect();
            let range = from.min(all.len())..(from + len).min(all.len());
            let payloads = Payloads::of(&refs).unwrap();
            let want = all.get(range.clone()).unwrap().iter().copied();
            let want = want.clone().min().zip(want.max());
            let got = payloads.bounds(range.clone(), false);
            prop_assert_eq!(
                got.as_ref().map(|(a, b)| (a.data().to_vec(), b.data().to_vec())),
                want.map(|(a, b)| (a.clone(), b.clone()))
            );
            let mut encoded = Vec::new();
            payloads.encode(range.clone(), &mut encoded);
            prop_assert_eq!(encoded.len(), payloads.encoded_len(range.clone()));
            let mut plain = Vec::new();
            for p in all.get(range).unwrap() {
                plain.extend_from_slice(&(p.len() as u32).to_le_bytes());
                plain.extend_from_slice(p);
            }
            prop_assert_eq!(encoded, plain);
        }
    }

    /// Values under a column of another physical type are left to the crate, never written
    /// in this type's `PLAIN` encoding.
    #[test]
    fn a_chunk_of_another_physical_type_is_left_to_the_crate() {
        let schema = schema(vec![column("n", Physical::INT32, None, true).unwrap()]);
        let props = Arc::new(WriterProperties::builder().build());
        let mut w = SerializedFileWriter::new(Vec::new(), schema, props.clone()).unwrap();
        let descr = w.schema_descr().column(0);
        let mut group = w.next_row_group().unwrap();
        let mut c = Column::new(Values::I64In8(Vec::new()), true);
        c.i64(5);
        assert!(!append(&mut group, &descr, &props, &[&c]).unwrap());
    }

    #[test]
    fn a_long_run_is_one_rle_run() {
        let mut out = Vec::new();
        hybrid(&[1; 20_000], 1, &mut out);
        // varint(40000) = 3 bytes, the value 1 byte.
        assert_eq!(out, [0xc0, 0xb8, 0x02, 0x01]);
    }
}
