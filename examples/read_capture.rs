//! Reads a capture with one of canrelearn's readers and counts what it holds, to time readers
//! end to end: `cargo run --release --example read_capture -- FORMAT FILE` (FORMAT: `candump`,
//! `asc`, `csv`, `candump-screen`, `blf`, `pcap`, `pcapng`, `mf4`, `trc`).
//!
//! Prints the frames, other, skipped and bad items and the time the read took (from opening
//! the file to its end); `benches/compare_asc.py` and `benches/compare_blf.py` run it against
//! python-can.

use std::fs::File;
use std::io::BufReader;
use std::time::Instant;

use anyhow::{Context, bail};
use canrelearn::log::{Format, FrameReader, Item, asc, blf, candump, csv, mf4, pcap, screen, trc};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [format, path] = args.as_slice() else {
        bail!("usage: read_capture FORMAT FILE");
    };
    let format = Format::from_name(format).with_context(|| format!("unknown format {format}"))?;
    let started = Instant::now();
    let file = BufReader::with_capacity(256 * 1024, File::open(path).context("open")?);
    let name = path.as_str();
    let mut reader: Box<dyn FrameReader> = match format {
        Format::Candump => Box::new(candump::Reader::new(file).with_source_name(name)),
        Format::Asc => Box::new(asc::Reader::new(file).with_source_name(name)),
        Format::Csv => Box::new(csv::Reader::new(file).with_source_name(name)),
        Format::CandumpScreen => Box::new(screen::Reader::new(file).with_source_name(name)),
        Format::Blf => Box::new(blf::Reader::new(file).with_source_name(name)),
        Format::Pcap | Format::Pcapng => Box::new(pcap::Reader::new(file).with_source_name(name)),
        Format::Mf4 => Box::new(mf4::Reader::new(file).with_source_name(name)),
        Format::Trc => Box::new(trc::Reader::new(file).with_source_name(name)),
    };
    let mut frames = 0u64;
    let mut payload = 0u64;
    while let Some(item) = reader.read_item()? {
        match item {
            Item::Record(r) => {
                frames += 1;
                payload += r.frame.data().len() as u64;
            }
            Item::Bad(_) | Item::Other(_) | Item::Skipped(_) => {}
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
