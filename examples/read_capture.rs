//! Reads a capture with canrelearn's reader and counts what it holds, to time a reader end to
//! end: `read_capture FORMAT FILE` (FORMAT: `asc` or `candump`). Prints the counters and the
//! time taken. (The `convert` command will do this properly.)

use std::fs::File;
use std::io::BufReader;
use std::time::Instant;

use anyhow::{Context, bail};
use canrelearn::log::{FrameReader, Item, asc, candump};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [format, path] = args.as_slice() else {
        bail!("usage: read_capture asc|candump FILE");
    };
    let file = File::open(path).with_context(|| format!("cannot open {path}"))?;
    let input = BufReader::with_capacity(256 * 1024, file);
    let mut reader: Box<dyn FrameReader> = match format.as_str() {
        "asc" => Box::new(asc::Reader::new(input).with_source_name(path.as_str())),
        "candump" => Box::new(candump::Reader::new(input).with_source_name(path.as_str())),
        other => bail!("unknown format {other}"),
    };
    let started = Instant::now();
    let mut checksum = 0u64;
    while let Some(item) = reader.read_item()? {
        if let Item::Record(r) = item {
            checksum = checksum.wrapping_add(
                r.timestamp.as_nanos() ^ u64::from(r.frame.data().first().copied().unwrap_or(0)),
            );
        }
    }
    let s = reader.stats();
    println!(
        "records {} other {} skipped {} bad {} in {:.3} s (checksum {checksum:x})",
        s.records,
        s.other,
        s.skipped,
        s.bad,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
