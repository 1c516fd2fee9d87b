use super::*;
use crate::frame::{ErrorFrame, FdFlags, FdFrame, Id, RemoteFrame};
use crate::log::Precision;
use crate::output::FrameDecoder;
use crate::time::Timestamp;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Mutex;

const DBC: &str = r#"VERSION ""
NS_ :
BS_:
BU_: A B
BO_ 256 PLAIN: 8 A
 SG_ Small : 0|8@1+ (1,0) [0|255] "" B
 SG_ Scaled : 8|12@1- (0.5,-3) [0|0] "km/h" B
 SG_ timestamp : 20|4@1+ (1,0) [0|15] "" B
BO_ 257 BIG: 8 A
 SG_ U64 : 0|64@1+ (1,0) [0|0] "" B
BO_ 258 MUXED: 8 A
 SG_ Sel M : 0|8@1+ (1,0) [0|0] "" B
 SG_ Zero m0 : 8|16@1+ (1,0) [0|0] "" B
 SG_ One m1 : 8|16@1- (1,0) [0|0] "" B
"#;

/// A data set in memory: published files, and how many are still staged.
#[derive(Default)]
struct Mem {
    files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    staged: Arc<Mutex<usize>>,
}

struct MemFile {
    path: String,
    bytes: Vec<u8>,
    files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    staged: Arc<Mutex<usize>>,
}

impl Store for Mem {
    fn create(&self, path: &str) -> io::Result<Box<dyn StagedFile>> {
        *self.staged.lock().unwrap() += 1;
        Ok(Box::new(MemFile {
            path: path.to_string(),
            bytes: Vec::new(),
            files: self.files.clone(),
            staged: self.staged.clone(),
        }))
    }
}

impl Write for MemFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl StagedFile for MemFile {
    fn publish(self: Box<Self>) -> io::Result<()> {
        let mut files = self.files.lock().unwrap();
        if files.contains_key(&self.path) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "exists"));
        }
        files.insert(self.path.clone(), self.bytes);
        *self.staged.lock().unwrap() -= 1;
        Ok(())
    }
}

fn db() -> Database {
    Database::from_str_named(DBC, "test.dbc").unwrap()
}

fn sid(raw: u16) -> Id {
    Id::standard(raw).unwrap()
}

/// Decodes `frames` (at 1 ms steps from `t0` ns) into a data set in `store`.
fn write(
    db: &Database,
    store: &Mem,
    part: &str,
    t0: u64,
    frames: &[Frame],
    budget: usize,
) -> Written {
    let mut w = DatasetWriter::new(db, store, part, Resolution::Nanos)
        .unwrap()
        .with_budget(budget);
    let mut decoder = FrameDecoder::new(db);
    for (i, f) in frames.iter().enumerate() {
        w.push(&line(t0, i, f, decoder.decode(f))).unwrap();
    }
    w.finish().unwrap()
}

/// As [`write`] from `t0` = 5 ns, but decoded into batches of `chunk` frames (as workers do),
/// appended in order, with `encoders` background encoders (0: none).
fn write_in_batches(
    db: &Database,
    store: &Mem,
    part: &str,
    frames: &[Frame],
    budget: usize,
    chunk: usize,
    encoders: usize,
) -> Written {
    let t0 = 5;
    let mut w = DatasetWriter::new(db, store, part, Resolution::Nanos)
        .unwrap()
        .with_budget(budget)
        .with_background(encoders);
    let mut builder = BatchBuilder::new(db, Resolution::Nanos).unwrap();
    let mut decoder = FrameDecoder::new(db);
    for (k, block) in frames.chunks(chunk.max(1)).enumerate() {
        for (j, f) in block.iter().enumerate() {
            let i = k * chunk.max(1) + j;
            builder.push(&line(t0, i, f, decoder.decode(f))).unwrap();
        }
        w.append(builder.take()).unwrap();
    }
    w.finish().unwrap()
}

/// Frame `i` of a capture starting at `t0` ns, 1 ms apart, on two interfaces in turn.
fn line<'a>(t0: u64, i: usize, frame: &'a Frame, meaning: Meaning<'a>) -> Line<'a> {
    Line {
        raw: None,
        timestamp: Timestamp::from_nanos(t0 + i as u64 * 1_000_000),
        precision: Precision::Nanos,
        interface: if i.is_multiple_of(2) { "can0" } else { "vcan1" },
        frame,
        meaning,
    }
}

/// The rows of every file of a table folder, in file name order, as (column, field) lists.
fn rows(store: &Mem, dir: &str) -> Vec<Vec<(String, Field)>> {
    let files = store.files.lock().unwrap();
    let mut out = Vec::new();
    for (path, bytes) in files.iter() {
        let Some(name) = path.strip_prefix(&format!("{dir}/")) else {
            continue;
        };
        if name.contains('/') {
            continue;
        }
        assert!(
            name.starts_with("part-") && name.ends_with(".parquet"),
            "{path}"
        );
        let r = SerializedFileReader::new(bytes::Bytes::from(bytes.clone())).unwrap();
        for row in r.get_row_iter(None).unwrap() {
            let row = row.unwrap();
            out.push(
                row.get_column_iter()
                    .map(|(n, v)| (n.clone(), v.clone()))
                    .collect(),
            );
        }
    }
    out
}

fn get<'a>(row: &'a [(String, Field)], name: &str) -> &'a Field {
    &row.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no column {name}: {row:?}"))
        .1
}

#[test]
fn test_frames_and_message_tables_hold_what_jsonl_says() {
    let db = db();
    let store = Mem::default();
    let frames = [
        Frame::classic(sid(0x100), &[0xFF, 0xFF, 0x0F, 0, 0, 0, 0, 0]).unwrap(),
        Frame::classic(sid(0x101), &[0xFF; 8]).unwrap(),
        Frame::classic(sid(0x102), &[1, 0xFE, 0xFF, 0, 0, 0, 0, 0]).unwrap(),
        Frame::classic(sid(0x102), &[7, 1, 0, 0, 0, 0, 0, 0]).unwrap(),
        Frame::classic(sid(0x100), &[1, 2]).unwrap(),
        Frame::Remote(RemoteFrame::new(sid(0x100), 8).unwrap()),
        Frame::Fd(
            FdFrame::new(
                Id::extended(0x1234_5678).unwrap(),
                &[9; 12],
                FdFlags::from_bits(FdFlags::BRS).unwrap(),
            )
            .unwrap(),
        ),
        Frame::Error(ErrorFrame::new(0x4, [0, 0x10, 0, 0, 0, 0, 0, 0]).unwrap()),
    ];
    let w = write(
        &db,
        &store,
        "t",
        1_700_000_000_123_456_789,
        &frames,
        MEMORY_BUDGET,
    );
    assert_eq!((w.frames, w.message_rows, w.messages), (8, 5, 3));
    assert_eq!(w.files.len(), 4);
    assert_eq!(w.truncated_times, 0);

    let f = rows(&store, "frames");
    assert_eq!(f.len(), 8);
    assert_eq!(
        get(&f[0], "timestamp"),
        &Field::Long(1_700_000_000_123_456_789)
    );
    assert_eq!(get(&f[1], "interface"), &Field::Str("vcan1".into()));
    assert_eq!(get(&f[0], "message"), &Field::Str("PLAIN".into()));
    assert_eq!(get(&f[5], "remote"), &Field::Bool(true));
    assert_eq!(get(&f[5], "message"), &Field::Str("PLAIN".into()));
    assert_eq!(get(&f[6], "id"), &Field::Long(0x1234_5678));
    assert_eq!(get(&f[6], "extended"), &Field::Bool(true));
    assert_eq!(
        (get(&f[6], "fd"), get(&f[6], "brs"), get(&f[6], "esi")),
        (&Field::Bool(true), &Field::Bool(true), &Field::Bool(false))
    );
    assert_eq!(get(&f[6], "dlc"), &Field::UByte(9));
    assert_eq!(get(&f[6], "data"), &Field::Bytes(vec![9u8; 12].into()));
    assert_eq!(get(&f[6], "message"), &Field::Null);
    assert_eq!(
        (get(&f[7], "id"), get(&f[7], "error")),
        (&Field::Null, &Field::Bool(true))
    );

    let plain = rows(&store, "messages/PLAIN");
    assert_eq!(plain.len(), 2);
    assert_eq!(get(&plain[0], "Small"), &Field::Long(255));
    // 12-bit signed 0xFFF = -1, * 0.5 - 3.
    assert_eq!(get(&plain[0], "Scaled"), &Field::Double(-3.5));
    // A signal named like a fixed column keeps its value under another name.
    assert_eq!(get(&plain[0], "signal_timestamp"), &Field::Long(0));
    assert_eq!(get(&plain[0], "partial"), &Field::Bool(false));
    assert_eq!(get(&plain[0], "error"), &Field::Null);
    // The 2-byte frame: not decoded at all, marked.
    assert_eq!(get(&plain[1], "Small"), &Field::Null);
    assert_eq!(get(&plain[1], "partial"), &Field::Bool(true));
    assert!(
        matches!(get(&plain[1], "error"), Field::Str(s) if s.contains("8")),
        "{plain:?}"
    );

    let big = rows(&store, "messages/BIG");
    assert_eq!(get(&big[0], "U64"), &Field::ULong(u64::MAX));

    let muxed = rows(&store, "messages/MUXED");
    assert_eq!(
        (get(&muxed[0], "Zero"), get(&muxed[0], "One")),
        (&Field::Null, &Field::Long(-2))
    );
    // Selector 7 selects no branch: the multiplexor stays, the frame is partial.
    assert_eq!(get(&muxed[1], "Sel"), &Field::Long(7));
    assert_eq!(get(&muxed[1], "partial"), &Field::Bool(true));
}

#[test]
fn test_microseconds_count_the_digits_they_drop() {
    let db = db();
    let store = Mem::default();
    let mut w = DatasetWriter::new(&db, &store, "t", Resolution::Micros).unwrap();
    let frame = Frame::classic(sid(0x100), &[0; 8]).unwrap();
    let mut decoder = FrameDecoder::new(&db);
    for nanos in [1_000_000_000_000u64, 1_000_000_000_001] {
        let meaning = decoder.decode(&frame);
        w.push(&Line {
            raw: None,
            timestamp: Timestamp::from_nanos(nanos),
            precision: Precision::Nanos,
            interface: "can0",
            frame: &frame,
            meaning,
        })
        .unwrap();
    }
    let written = w.finish().unwrap();
    assert_eq!(written.truncated_times, 1);
    let f = rows(&store, "frames");
    assert_eq!(
        get(&f[1], "timestamp"),
        &Field::TimestampMicros(1_000_000_000)
    );
}

#[test]
fn test_a_second_run_adds_files_and_never_overwrites() {
    let db = db();
    let store = Mem::default();
    let frames = [Frame::classic(sid(0x100), &[1; 8]).unwrap()];
    write(&db, &store, "a", 0, &frames, MEMORY_BUDGET);
    write(&db, &store, "b", 0, &frames, MEMORY_BUDGET);
    assert_eq!(rows(&store, "frames").len(), 2);
    assert_eq!(rows(&store, "messages/PLAIN").len(), 2);
    // The same part name again: refused, the first files stay whole.
    let mut w = DatasetWriter::new(&db, &store, "a", Resolution::Nanos).unwrap();
    let mut decoder = FrameDecoder::new(&db);
    let meaning = decoder.decode(&frames[0]);
    w.push(&Line {
        raw: None,
        timestamp: Timestamp::ZERO,
        precision: Precision::Nanos,
        interface: "can0",
        frame: &frames[0],
        meaning,
    })
    .unwrap();
    let e = w.finish().unwrap_err();
    assert!(e.to_string().contains("part-a-00000.parquet"), "{e}");
}

#[test]
fn test_the_memory_budget_splits_tables_into_row_groups_and_files() {
    let db = db();
    let store = Mem::default();
    let frames: Vec<Frame> = (0..5000u32)
        .map(|i| Frame::classic(sid(0x100 + (i % 3) as u16), &(i as u64).to_le_bytes()).unwrap())
        .collect();
    let w = write(&db, &store, "t", 0, &frames, 64 << 10);
    assert!(w.files.len() > 5, "{:?}", w.files);
    let f = rows(&store, "frames");
    assert_eq!(f.len(), 5000);
    for (i, row) in f.iter().enumerate() {
        assert_eq!(get(row, "timestamp"), &Field::Long(i as i64 * 1_000_000));
    }
    let plain = rows(&store, "messages/PLAIN");
    assert_eq!(plain.len(), 1667);
    for (k, row) in plain.iter().enumerate() {
        assert_eq!(get(row, "Small"), &Field::Long(((k * 3) % 256) as i64));
    }
}

/// Frames of every kind the tables know: each message, an unknown id, remote and error
/// frames, a partly decoded one.
fn mixed(payloads: &[(u16, Vec<u8>)]) -> Vec<Frame> {
    payloads
        .iter()
        .map(|(id, d)| match id % 7 {
            5 => Frame::Remote(RemoteFrame::new(sid(0x100 + id % 3), 8).unwrap()),
            6 => Frame::Error(ErrorFrame::new(0x4, [0; 8]).unwrap()),
            k => Frame::classic(sid(0x100 + k), d).unwrap(),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Any frames, any budget: the frames table reads back as the frames, in order.
    #[test]
    fn test_frames_read_back_in_order(
        payloads in proptest::collection::vec((0u16..0x104, proptest::collection::vec(any::<u8>(), 0..=8)), 1..300),
        budget in 1usize..200_000,
    ) {
        let db = db();
        let store = Mem::default();
        let frames: Vec<Frame> = payloads.iter().map(|(id, d)| Frame::classic(sid(0x100 + id % 4), d).unwrap()).collect();
        let w = write(&db, &store, "p", 5, &frames, budget);
        prop_assert_eq!(w.frames, frames.len() as u64);
        let f = rows(&store, "frames");
        prop_assert_eq!(f.len(), frames.len());
        for (row, frame) in f.iter().zip(&frames) {
            prop_assert_eq!(get(row, "data"), &Field::Bytes(frame.data().to_vec().into()));
            prop_assert_eq!(get(row, "id"), &Field::Long(i64::from(frame.id().unwrap().raw())));
        }
        prop_assert_eq!(*store.staged.lock().unwrap(), 0, "files left unpublished");
    }

    /// Decoded in batches and appended, a capture gives the same data set as pushed frame by
    /// frame: byte for byte when nothing is written out early, the same rows otherwise.
    #[test]
    fn test_batches_give_the_same_data_set(
        payloads in proptest::collection::vec((0u16..40, proptest::collection::vec(any::<u8>(), 0..=8)), 1..400),
        chunk in 1usize..150,
        budget in 1usize..50_000,
    ) {
        let db = db();
        let frames = mixed(&payloads);
        let (one, many) = (Mem::default(), Mem::default());
        let a = write(&db, &one, "p", 5, &frames, usize::MAX);
        let b = write_in_batches(&db, &many, "p", &frames, usize::MAX, chunk, 0);
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(&*one.files.lock().unwrap(), &*many.files.lock().unwrap());
        let (one, many) = (Mem::default(), Mem::default());
        let a = write(&db, &one, "q", 5, &frames, budget);
        let b = write_in_batches(&db, &many, "q", &frames, budget, chunk, 0);
        prop_assert_eq!((a.frames, a.message_rows, a.messages), (b.frames, b.message_rows, b.messages));
        for dir in ["frames", "messages/PLAIN", "messages/BIG", "messages/MUXED"] {
            prop_assert_eq!(rows(&one, dir), rows(&many, dir), "{}", dir);
        }
        prop_assert_eq!(*many.staged.lock().unwrap(), 0, "files left unpublished");
    }

    /// Row groups written out early by background encoders (one, or several that take them
    /// in any order) give the data set of those written on the writer's thread, byte for
    /// byte: the same row groups, in the same files, in the same order.
    #[test]
    fn test_background_encoders_write_what_the_writer_would(
        payloads in proptest::collection::vec((0u16..40, proptest::collection::vec(any::<u8>(), 0..=8)), 1..400),
        chunk in 1usize..150,
        budget in 1usize..50_000,
        encoders in 1usize..4,
    ) {
        let db = db();
        let frames = mixed(&payloads);
        let (here, there) = (Mem::default(), Mem::default());
        let a = write_in_batches(&db, &here, "b", &frames, budget, chunk, 0);
        let b = write_in_batches(&db, &there, "b", &frames, budget, chunk, encoders);
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(&*here.files.lock().unwrap(), &*there.files.lock().unwrap());
        prop_assert_eq!(*there.staged.lock().unwrap(), 0, "files left unpublished");
    }
}

/// Frames pushed one by one with a budget small enough to write a row group out every few
/// frames, on background encoders: the frames table's many row groups keep their order.
#[test]
fn test_background_encoders_keep_the_frames_in_order() {
    let db = db();
    let frames = numbered(3000);
    let (here, there) = (Mem::default(), Mem::default());
    let a = write(&db, &here, "o", 0, &frames, 2 << 10);
    let mut w = DatasetWriter::new(&db, &there, "o", Resolution::Nanos)
        .unwrap()
        .with_budget(2 << 10)
        .with_background(3);
    let mut decoder = FrameDecoder::new(&db);
    for (i, f) in frames.iter().enumerate() {
        w.push(&line(0, i, f, decoder.decode(f))).unwrap();
    }
    let b = w.finish().unwrap();
    assert_eq!(a, b);
    assert!(b.files.len() > 100, "{}", b.files.len());
    assert_eq!(*here.files.lock().unwrap(), *there.files.lock().unwrap());
    let times: Vec<Field> = rows(&there, "frames")
        .iter()
        .map(|r| get(r, "timestamp").clone())
        .collect();
    let want: Vec<Field> = (0..3000).map(|i| Field::Long(i * 1_000_000)).collect();
    assert_eq!(times, want);
}

/// Frames pushed one by one, then a batch, then more frames: the rows stay in that order.
#[test]
fn test_pushed_rows_and_batches_mix_in_order() {
    let db = db();
    let store = Mem::default();
    let frames: Vec<Frame> = (0..30u8)
        .map(|i| Frame::classic(sid(0x100), &[i; 8]).unwrap())
        .collect();
    let mut w = DatasetWriter::new(&db, &store, "m", Resolution::Nanos).unwrap();
    let mut builder = BatchBuilder::new(&db, Resolution::Nanos).unwrap();
    let mut decoder = FrameDecoder::new(&db);
    for (i, f) in frames.iter().enumerate() {
        let l = line(0, i, f, decoder.decode(f));
        if (10..20).contains(&i) {
            builder.push(&l).unwrap();
        } else {
            w.push(&l).unwrap();
        }
        if i == 19 {
            w.append(builder.take()).unwrap();
        }
    }
    let written = w.finish().unwrap();
    assert_eq!((written.frames, written.message_rows), (30, 30));
    for dir in ["frames", "messages/PLAIN"] {
        let times: Vec<Field> = rows(&store, dir)
            .iter()
            .map(|r| get(r, "timestamp").clone())
            .collect();
        let want: Vec<Field> = (0..30).map(|i| Field::Long(i * 1_000_000)).collect();
        assert_eq!(times, want, "{dir}");
    }
}

#[test]
fn test_written_adds_up_and_says_what_was_lost() {
    let mut total = Written::default();
    assert!(total.warnings().is_empty());
    assert_eq!(
        total.summary(),
        "0 frames into frames/, 0 rows into 0 message tables (0 new files)"
    );
    total.add(Written {
        frames: 1,
        message_rows: 1,
        messages: 1,
        files: vec!["frames/a.parquet".into()],
        truncated_times: 1,
        unrepresentable_times: 0,
    });
    assert_eq!(
        total.summary(),
        "1 frame into frames/, 1 row into 1 message table (1 new file)"
    );
    total.add(Written {
        frames: 2,
        unrepresentable_times: 3,
        ..Written::default()
    });
    assert_eq!(total.frames, 3);
    let w = total.warnings();
    assert_eq!(w.len(), 2);
    assert!(
        w[0].starts_with("1 timestamp had digits below a microsecond"),
        "{w:?}"
    );
    assert!(w[1].starts_with("3 timestamps lie after 2262"), "{w:?}");
}

#[test]
fn test_part_stems_are_safe_names() {
    assert_eq!(part_stem("-"), "-");
    assert_eq!(part_stem("drive 1.log.gz"), "drive_1_log_gz");
    assert_eq!(part_stem(""), "log");
    assert_eq!(part_stem(&"a".repeat(50)).len(), 40);
    assert_eq!(part_stem("évreux.asc"), "_vreux_asc");
}

/// One value of a column under test: `None` a null.
#[derive(Debug, Clone)]
enum Cell {
    Int(Option<i64>),
    Text(Option<u8>),
    Payload(Vec<u8>),
}

/// A file's schema of `fields`.
pub(super) fn schema(fields: Vec<Type>) -> Arc<Type> {
    let fields = fields.into_iter().map(Arc::new).collect();
    Arc::new(
        Type::group_type_builder("schema")
            .with_fields(fields)
            .build()
            .unwrap(),
    )
}

/// Writes `column` alone into a file and reads its values back.
fn round_trip(name: &str, t: Type, mut column: Column) -> Vec<Field> {
    let schema = schema(vec![t]);
    let props = Arc::new(WriterProperties::builder().build());
    let mut w = SerializedFileWriter::new(Vec::new(), schema, props).unwrap();
    let mut group = w.next_row_group().unwrap();
    let mut col = group.next_column().unwrap().unwrap();
    write_chunk(&mut col, &mut column).unwrap();
    col.close().unwrap();
    group.close().unwrap();
    let bytes = w.into_inner().unwrap();
    let r = SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
    r.get_row_iter(None)
        .unwrap()
        .map(|row| {
            get(
                &row.unwrap()
                    .get_column_iter()
                    .map(|(n, v)| (n.clone(), v.clone()))
                    .collect::<Vec<_>>(),
                name,
            )
            .clone()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// Integers buffered narrow (8, 16 or 32 bits) read back as the `INT64` values pushed,
    /// nulls included; a value too wide for the buffer (which a signal's range rules out)
    /// widens it without losing those before.
    #[test]
    fn test_narrow_integer_columns_read_back_as_pushed(
        width in 0usize..3,
        values in proptest::collection::vec(proptest::option::of(any::<i64>()), 1..6000),
        narrow_until in 0usize..7000,
    ) {
        let fit = |v: i64| match width {
            0 => i64::from(v as i8),
            1 => i64::from(v as i16),
            _ => i64::from(v as i32),
        };
        let mut col = Column::new(
            match width {
                0 => Values::I64In8(Vec::new()),
                1 => Values::I64In16(Vec::new()),
                _ => Values::I64In32(Vec::new()),
            },
            true,
        );
        // Values that fit up to `narrow_until`, any value after.
        let want: Vec<Option<i64>> = values
            .iter()
            .enumerate()
            .map(|(i, v)| v.map(|v| if i < narrow_until { fit(v) } else { v }))
            .collect();
        for v in &want {
            match v {
                Some(v) => col.i64(*v),
                None => col.null(),
            }
        }
        let widened = matches!(col.values, Values::I64(_));
        prop_assert_eq!(widened, want.iter().flatten().any(|&v| fit(v) != v));
        let got = round_trip("n", column("n", Physical::INT64, None, true).unwrap(), col);
        prop_assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            match w {
                Some(v) => prop_assert_eq!(g, &Field::Long(*v)),
                None => prop_assert_eq!(g, &Field::Null),
            }
        }
    }

    /// The compact columns (lazy definition levels, runs of a string, keys into a list,
    /// payloads end to end) read back as the values pushed, across the batches they are
    /// written in: nulls that first come late, runs and payloads that span batches.
    #[test]
    fn test_compact_columns_read_back_as_pushed(
        first_null in 0usize..10_000,
        rows in 1usize..10_000,
        seed in any::<u64>(),
    ) {
        let mut rng = seed;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let list: Arc<[ByteArray]> = ["A", "BB", "CCC"].iter().map(|s| ByteArray::from(*s)).collect();
        let names = ["can0", "vcan1"];
        let mut ints = Column::new(Values::I64(Vec::new()), true);
        let mut keys = Column::new(Values::Keys { keys: Vec::new(), list: list.clone() }, true);
        let mut runs = Column::new(Values::Runs(Vec::new()), false);
        let mut blob = Column::new(Values::Blob { data: Vec::new(), lens: Vec::new() }, false);
        let (mut want_ints, mut want_keys, mut want_runs, mut want_blob) = (vec![], vec![], vec![], vec![]);
        let mut iface = 0;
        for i in 0..rows {
            let r = next();
            // Nulls only from `first_null` on; the interface changes now and then.
            let null = i >= first_null && r % 3 == 0;
            let v = (r >> 8) as i64;
            match null {
                true => ints.null(),
                false => ints.i64(v),
            }
            want_ints.push(Cell::Int((!null).then_some(v)));
            let k = (r >> 16) as u8 % 3;
            match null {
                true => keys.null(),
                false => keys.key(u32::from(k)),
            }
            want_keys.push(Cell::Text((!null).then_some(k)));
            if r % 1500 == 0 {
                iface = 1 - iface;
            }
            runs.run(names[iface]);
            want_runs.push(Cell::Text(Some(iface as u8)));
            let payload: Vec<u8> = (0..(r >> 24) as usize % 65).map(|b| b as u8 ^ k).collect();
            blob.blob(&payload);
            want_blob.push(Cell::Payload(payload));
        }
        let text = |n: &str, optional| string_column(n, optional).unwrap();
        let got = round_trip("v", column("v", Physical::INT64, None, true).unwrap(), ints);
        for (g, w) in got.iter().zip(&want_ints) {
            match w {
                Cell::Int(Some(v)) => prop_assert_eq!(g, &Field::Long(*v)),
                _ => prop_assert_eq!(g, &Field::Null),
            }
        }
        prop_assert_eq!(got.len(), rows);
        let got = round_trip("k", text("k", true), keys);
        prop_assert_eq!(got.len(), rows);
        for (g, w) in got.iter().zip(&want_keys) {
            match w {
                Cell::Text(Some(k)) => prop_assert_eq!(g, &Field::Str(["A", "BB", "CCC"][*k as usize].into())),
                _ => prop_assert_eq!(g, &Field::Null),
            }
        }
        let got = round_trip("i", text("i", false), runs);
        prop_assert_eq!(got.len(), rows);
        for (g, w) in got.iter().zip(&want_runs) {
            if let Cell::Text(Some(k)) = w {
                prop_assert_eq!(g, &Field::Str(names[*k as usize].into()));
            }
        }
        let got = round_trip("d", column("d", Physical::BYTE_ARRAY, None, false).unwrap(), blob);
        prop_assert_eq!(got.len(), rows);
        for (g, w) in got.iter().zip(&want_blob) {
            if let Cell::Payload(p) = w {
                prop_assert_eq!(g, &Field::Bytes(p.clone().into()));
            }
        }
    }
}

/// Messages for the fused path: scaled and signed signals, big-endian bits, a float scale, a
/// 64-bit unsigned signal, one level of multiplexing with a branch missing, a message longer
/// than its frames and one with an IEEE float (both left to the general path).
const FUSED_DBC: &str = r#"VERSION ""
NS_ :
BS_:
BU_: A B
BO_ 256 PLAIN: 8 A
 SG_ Small : 0|8@1+ (1,0) [0|255] "" B
 SG_ Scaled : 8|12@1- (2,-3) [0|0] "km/h" B
 SG_ Motorola : 23|10@0- (1,0) [0|0] "" B
 SG_ Fraction : 40|16@1+ (0.01,-5) [0|0] "" B
BO_ 257 BIG: 8 A
 SG_ U64 : 0|64@1+ (1,0) [0|0] "" B
BO_ 258 MUXED: 8 A
 SG_ Sel M : 0|8@1+ (1,0) [0|0] "" B
 SG_ Always : 56|8@1+ (1,0) [0|0] "" B
 SG_ Zero m0 : 8|16@1+ (1,0) [0|0] "" B
 SG_ One m1 : 8|16@1- (1,0) [0|0] "" B
 SG_ OneToo m1 : 24|8@1+ (0.5,0) [0|0] "" B
BO_ 259 LONG: 6 A
 SG_ Word : 0|16@1+ (1,0) [0|0] "" B
BO_ 2147484160 EXT: 8 A
 SG_ Ieee : 0|32@1- (1,0) [0|0] "" B
SIG_VALTYPE_ 2147484160 Ieee : 1;
"#;

/// The rows of `lines` (candump text), each line through the fused path unless `general`
/// (or the fused path declines it), in batches of `chunk` lines: the files, and how many
/// lines the fused path took.
fn write_lines(
    db: &Database,
    lines: &[String],
    general: bool,
    chunk: usize,
) -> (Mem, Written, usize) {
    let store = Mem::default();
    let fused = FusedRows::new(db);
    let mut w = DatasetWriter::new(db, &store, "p", Resolution::Micros).unwrap();
    let mut builder = BatchBuilder::new(db, Resolution::Micros).unwrap();
    let mut decoder = FrameDecoder::new(db);
    let mut taken = 0;
    for block in lines.chunks(chunk.max(1)) {
        for text in block {
            let bytes = text.as_bytes();
            if !general
                && let Some((scan, len)) = crate::log::candump::scan_data_frame_in(bytes)
                && let Some(r) = builder.push_scanned(&fused, &bytes[..len], &scan)
            {
                r.unwrap();
                taken += 1;
                continue;
            }
            let Ok(crate::log::candump::Line::Record(rec)) = crate::log::candump::parse_line(bytes)
            else {
                continue;
            };
            let meaning = decoder.decode(&rec.frame);
            builder.push(&Line::of_record(&rec, meaning)).unwrap();
        }
        w.append(builder.take()).unwrap();
    }
    let written = w.finish().unwrap();
    (store, written, taken)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Candump lines through the fused path give the files the general path gives, byte for
    /// byte: every message shape, short and long payloads, unknown ids, six and nine fraction
    /// digits, seconds past what a nanosecond timestamp holds, interfaces that change.
    #[test]
    fn test_the_fused_path_writes_what_the_general_path_writes(
        frames in proptest::collection::vec(
            (0usize..7, proptest::collection::vec(any::<u8>(), 0..=8), any::<bool>(), 0u64..20_000_000_000, 0usize..3),
            1..120,
        ),
        chunk in 1usize..40,
    ) {
        let db = Database::from_str_named(FUSED_DBC, "fused.dbc").unwrap();
        let ids = ["100", "101", "102", "103", "80000200", "7DF", "102"];
        let lines: Vec<String> = frames
            .iter()
            .map(|(k, data, nanos, secs, iface)| {
                let time = match nanos {
                    true => format!("{}.{:09}", secs / 1000, secs % 1000 * 997),
                    false => format!("{}.{:06}", secs / 1000, secs % 1000),
                };
                let hex: String = data.iter().map(|b| format!("{b:02X}")).collect();
                format!("({time}) {} {}#{hex}", ["can0", "vcan1", "x"][*iface], ids[*k])
            })
            .collect();
        let (general, a, _) = write_lines(&db, &lines, true, chunk);
        let (fused, b, taken) = write_lines(&db, &lines, false, chunk);
        prop_assert_eq!(a, b);
        prop_assert_eq!(&*general.files.lock().unwrap(), &*fused.files.lock().unwrap());
        // The fused path takes the common lines it can: every full-length frame of PLAIN.
        let plain = frames.iter().filter(|(k, d, ..)| *k == 0 && d.len() == 8).count();
        prop_assert!(taken >= plain, "fused path took {} lines of {} full PLAIN frames", taken, plain);
    }
}

/// A payload column written a second time (its first write failed after taking the
/// payloads, and the data set is finished anyway) is an error, not a panic.
#[test]
fn test_payloads_written_twice_are_an_error() {
    let schema = schema(vec![
        column("d", Physical::BYTE_ARRAY, None, false).unwrap(),
    ]);
    let mut blob = Column::new(
        Values::Blob {
            data: Vec::new(),
            lens: Vec::new(),
        },
        false,
    );
    blob.blob(&[1, 2, 3]);
    blob.blob(&[4]);
    let props = Arc::new(WriterProperties::builder().build());
    let mut w = SerializedFileWriter::new(Vec::new(), schema, props).unwrap();
    let mut group = w.next_row_group().unwrap();
    let mut col = group.next_column().unwrap().unwrap();
    write_chunk(&mut col, &mut blob).unwrap();
    let again = write_chunk(&mut col, &mut blob);
    assert!(
        again
            .unwrap_err()
            .to_string()
            .contains("taken by an earlier write")
    );
}

/// A store in memory whose `n`-th file made (from 1) is `broken(n)` when that gives one.
struct Broken {
    mem: Mem,
    made: Mutex<usize>,
    broken: Box<dyn Fn(usize) -> Option<Box<dyn StagedFile>> + Send + Sync>,
}

impl Broken {
    fn new(broken: impl Fn(usize) -> Option<Box<dyn StagedFile>> + Send + Sync + 'static) -> Self {
        Broken {
            mem: Mem::default(),
            made: Mutex::new(0),
            broken: Box::new(broken),
        }
    }
}

impl Store for Broken {
    fn create(&self, path: &str) -> io::Result<Box<dyn StagedFile>> {
        let mut made = self.made.lock().unwrap();
        *made += 1;
        match (self.broken)(*made) {
            Some(file) => Ok(file),
            None => self.mem.create(path),
        }
    }
}

/// A file that cannot be written to (a full disk).
struct FailingFile;

impl Write for FailingFile {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::other("disk full"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl StagedFile for FailingFile {
    fn publish(self: Box<Self>) -> io::Result<()> {
        Err(io::Error::other("disk full"))
    }
}

/// A file on a disk that fills after `room` bytes.
struct FullAfter {
    room: usize,
    written: usize,
}

impl Write for FullAfter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.room - self.written);
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::other("disk full"));
        }
        self.written += n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl StagedFile for FullAfter {
    fn publish(self: Box<Self>) -> io::Result<()> {
        Ok(())
    }
}

/// `n` frames of three ids, each carrying its number.
fn numbered(n: u32) -> Vec<Frame> {
    (0..n)
        .map(|i| Frame::classic(sid(0x100 + (i % 3) as u16), &u64::from(i).to_le_bytes()).unwrap())
        .collect()
}

/// `frames` pushed into a writer of `part` on `store` with a budget of 4 KiB (a row group
/// written out every few frames) and `encoders` background encoders: what it wrote, or the
/// first error of a push or of the finish.
fn write_on_encoders(
    db: &Database,
    store: &dyn Store,
    part: &str,
    frames: &[Frame],
    encoders: usize,
) -> Result<Written, DatasetError> {
    let mut w = DatasetWriter::new(db, store, part, Resolution::Nanos)
        .unwrap()
        .with_budget(4 << 10)
        .with_background(encoders);
    let mut decoder = FrameDecoder::new(db);
    for (i, f) in frames.iter().enumerate() {
        w.push(&line(0, i, f, decoder.decode(f)))?;
    }
    w.finish()
}

/// A row group that fails on a background encoder is the writer's error (at a later row
/// or at the end), never lost and never a hang; the files written before it are published.
#[test]
fn test_a_background_encoder_failure_is_the_writers_error() {
    let db = db();
    let frames = numbered(3000);
    for from in [0, 1, 5, 40] {
        for encoders in [1, 2] {
            // Files from the `from`-th on fail.
            let store = Broken::new(move |n| {
                (n > from).then(|| Box::new(FailingFile) as Box<dyn StagedFile>)
            });
            let error = write_on_encoders(&db, &store, "f", &frames, encoders).err();
            let error = error.unwrap_or_else(|| panic!("from {from}: no error"));
            assert!(error.to_string().contains("disk full"), "{error}");
            let published = store.mem.files.lock().unwrap().len();
            assert!(published <= from, "from {from}: {published} published");
            assert!(from < 5 || published > 0, "from {from}: nothing published");
        }
    }
}

/// As `decode --format parquet` does after a failure: rows keep coming until the error
/// reaches the caller, then the writer is finished, to publish what was complete. That
/// finish never hangs (it did: a frames row group dropped by the writer after an encoder's
/// error never ended its turn, and the frames file's close waited for it forever), the error
/// is said, and a published frames file holds every frame pushed, never all but a lost row
/// group.
#[test]
fn test_finishing_after_a_background_failure_neither_hangs_nor_publishes_a_gap() {
    let frames = numbered(3000);
    // The disk fills after `room` bytes of the frames file (the first made), or of each file.
    for (room, every) in [(100, false), (3000, false), (30_000, false), (3000, true)] {
        for encoders in [1, 2] {
            let frames = frames.clone();
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let db = db();
                let store = Broken::new(move |n| {
                    (every || n == 1)
                        .then(|| Box::new(FullAfter { room, written: 0 }) as Box<dyn StagedFile>)
                });
                let mut w = DatasetWriter::new(&db, &store, "g", Resolution::Nanos)
                    .unwrap()
                    .with_budget(4 << 10)
                    .with_background(encoders);
                let mut decoder = FrameDecoder::new(&db);
                let mut error = None;
                for (i, f) in frames.iter().enumerate() {
                    if let Err(e) = w.push(&line(0, i, f, decoder.decode(f))) {
                        error = Some(e);
                        break;
                    }
                }
                let finished = w.finish();
                let error = error.or(finished.err()).map(|e| e.to_string());
                let files = store.mem.files.lock().unwrap().clone();
                let _ = tx.send((error, files));
            });
            let case = format!("room {room} (every file: {every}), {encoders} encoders");
            let Ok((error, files)) = rx.recv_timeout(std::time::Duration::from_secs(60)) else {
                panic!("{case}: the writer hangs");
            };
            let error = error.unwrap_or_else(|| panic!("{case}: no error"));
            assert!(error.contains("disk full"), "{case}: {error}");
            // Each frame carries its number: a published frames file holds frames 0, 1, 2...
            // with none missing.
            for (path, bytes) in files.iter().filter(|(p, _)| p.starts_with("frames/")) {
                let r = SerializedFileReader::new(bytes::Bytes::from(bytes.clone())).unwrap();
                for (k, row) in r.get_row_iter(None).unwrap().enumerate() {
                    let row = row.unwrap();
                    let data = row
                        .get_column_iter()
                        .find(|(name, _)| name.as_str() == "data")
                        .map(|(_, v)| v.clone());
                    let want = Field::Bytes(ByteArray::from((k as u64).to_le_bytes().to_vec()));
                    assert_eq!(data, Some(want), "{case}: {path}, row {k}");
                }
            }
        }
    }
}

/// A file that panics when written to, after the four bytes of the magic that opens a Parquet
/// file (a bug in a writer, say).
struct PanickingFile {
    written: usize,
}

impl Write for PanickingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written += buf.len();
        assert!(self.written <= 4, "a panicking file was written to");
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl StagedFile for PanickingFile {
    fn publish(self: Box<Self>) -> io::Result<()> {
        Ok(())
    }
}

/// A row group whose writing panics on a background encoder is an error (or the panic,
/// where the writer's own thread was writing), never lost and never a hang: not the writer
/// waiting for room in flight that the row group's bytes never give back, nor an encoder
/// waiting for its turn at the frames file after the row group before it.
#[test]
fn test_a_panicking_background_encoder_is_an_error_not_a_hang() {
    let frames = numbered(3000);
    for at in [1, 2, 5, 40] {
        for encoders in [1, 2, 3] {
            let frames = frames.clone();
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let ended = std::panic::catch_unwind(move || {
                    let db = db();
                    // The `at`-th file panics.
                    let store = Broken::new(move |n| {
                        (n == at)
                            .then(|| Box::new(PanickingFile { written: 0 }) as Box<dyn StagedFile>)
                    });
                    write_on_encoders(&db, &store, "p", &frames, encoders)
                        .err()
                        .map(|e| e.to_string())
                });
                let _ = tx.send(ended);
            });
            let case = format!("file {at}, {encoders} encoders");
            match rx.recv_timeout(std::time::Duration::from_secs(60)) {
                Ok(Ok(Some(error))) => assert!(error.contains("failed"), "{case}: {error}"),
                Ok(Ok(None)) => panic!("{case}: no error"),
                // The panic reached the writer's thread: said, not hidden.
                Ok(Err(_)) => {}
                Err(_) => panic!("{case}: the writer hangs"),
            }
        }
    }
}

/// An integer signal is buffered as narrow as its whole range allows, and no narrower.
#[test]
fn test_integer_signals_are_buffered_as_narrow_as_their_range() {
    let db = db();
    let width = |message: &str, signal: &str| {
        let m = db.messages().iter().find(|m| m.name() == message).unwrap();
        let s = m.signals().iter().find(|s| s.name() == signal).unwrap();
        match int_values(s) {
            Values::I64In8(_) => 8,
            Values::I64In16(_) => 16,
            Values::I64In32(_) => 32,
            Values::I64(_) => 64,
            other => panic!("{other:?}"),
        }
    };
    // 0..=15 fits 8 bits; 0..=255 and -32768..=32767 16 (signed); 0..=65535 32; 0..2^64 64.
    assert_eq!(width("PLAIN", "Small"), 16);
    assert_eq!(width("PLAIN", "timestamp"), 8);
    assert_eq!(width("MUXED", "One"), 16);
    assert_eq!(width("MUXED", "Zero"), 32);
    assert_eq!(width("BIG", "U64"), 64);
}
