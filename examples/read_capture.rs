//! Reads a capture and counts what it holds, to time readers end to end:
//! `cargo run --release --example read_capture -- FORMAT FILE` (FORMAT: `candump`, `blf`).
//!
//! Prints the frames, other, skipped and bad items and the time the read took (from opening
//! the file to its end); `benches/compare_blf.py` runs it against python-can.

use std::fs::File;
use std::io::BufReader;
use std::time::Instant;

use anyhow::{Context, bail};
use canrelearn::log::{Format, FrameReader, Item, blf, candump};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [format, path] = args.as_slice() else {
        bail!("usage: read_capture FORMAT FILE (FORMAT: candump, blf)");
    };
    let format = Format::from_name(format).with_context(|| format!("unknown format {format}"))?;
    let started = Instant::now();
    let file = BufReader::with_capacity(256 * 1024, File::open(path).context("open")?);
    #[allow(
        unreachable_patterns,
        reason = "formats added later are not read here yet"
    )]
    let mut reader: Box<dyn FrameReader> = match format {
        Format::Candump => Box::new(candump::Reader::new(file)),
        Format::Blf => Box::new(blf::Reader::new(file).with_source_name(path.as_str())),
        other => bail!("read_capture does not read {other} yet"),
    };
    let mut frames = 0u64;
    let mut payload = 0u64;
    while let Some(item) = reader.read_item()? {
        match item {
            Item::Record(r) => {
                frames += 1;
                payload += r.frame.data().len() as u64;
            }
            Item::Bad(e) => eprintln!("{e}"),
            Item::Other(_) | Item::Skipped(_) => {}
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let s = reader.stats();
    println!(
        "{frames} frames ({payload} payload bytes), {} other, {} skipped, {} bad in {elapsed:.3} s ({:.2} M frames/s)",
        s.other,
        s.skipped,
        s.bad,
        frames as f64 / elapsed / 1e6
    );
    Ok(())
}
