//! ISO-TP throughput of the sans-IO machines alone: a 4095-byte message through two channels
//! on the zero-delay virtual link (classic CAN, STmin 0, BS 0 and BS 8), and through the passive
//! reassembler. Frames per second here are far above any CAN bus (about 8k frames/s at 1 Mbit/s).

use std::hint::black_box;
use std::time::Duration;

use canrelearn::frame::{Frame, Id};
use canrelearn::isotp::virtual_link::{Loss, TraceKind, VirtualLink};
use canrelearn::isotp::{Channel, ChannelEvent, Config, FrameFormat, Reassembler};
use canrelearn::time::Timestamp;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn link(bs: u8, format: FrameFormat) -> VirtualLink {
    let a_id = Id::standard(0x745).expect("standard id");
    let b_id = Id::standard(0x765).expect("standard id");
    let mut a = Config::new(a_id, b_id);
    a.format = format;
    a.padding = Some(0xAA);
    let mut b = Config::new(b_id, a_id);
    b.block_size = bs;
    b.format = format;
    let mut l = VirtualLink::new(
        Channel::new(a).expect("config"),
        Channel::new(b).expect("config"),
        Duration::ZERO,
        Loss::None,
    );
    l.record = false;
    l
}

fn transfer(l: &mut VirtualLink, data: &[u8]) {
    l.a.send(l.now(), data).expect("idle");
    l.run_for(Duration::from_secs(10));
}

fn bench(c: &mut Criterion) {
    let data: Vec<u8> = (0..4095u32).map(|i| i as u8).collect();
    let classic_frames = 1 + (4095u64 - 6).div_ceil(7);

    let mut g = c.benchmark_group("isotp_4095");
    g.throughput(Throughput::Bytes(4095));
    for (name, bs, fmt) in [
        ("classic_bs0", 0u8, FrameFormat::Classic),
        ("classic_bs8", 8, FrameFormat::Classic),
        (
            "fd64_bs0",
            0,
            FrameFormat::Fd {
                tx_dl: 64,
                brs: true,
            },
        ),
    ] {
        let mut l = link(bs, fmt);
        // Sanity: the transfer completes.
        l.record = true;
        transfer(&mut l, &data);
        assert!(l.trace().iter().any(
            |e| matches!(&e.kind, TraceKind::Event(ChannelEvent::Received(d)) if d.len() == 4095)
        ));
        l.record = false;
        g.bench_function(name, |b| b.iter(|| transfer(&mut l, black_box(&data))));
    }
    g.finish();

    // Reassembler over the frames of one classic transfer.
    let mut l = link(0, FrameFormat::Classic);
    l.record = true;
    transfer(&mut l, &data);
    let frames: Vec<(Timestamp, Frame)> = l
        .trace()
        .iter()
        .filter_map(|e| match &e.kind {
            TraceKind::Transmitted { frame, .. } => Some((e.at, *frame)),
            _ => None,
        })
        .collect();
    let mut g = c.benchmark_group("isotp_reassembler");
    g.throughput(Throughput::Elements(classic_frames + 1));
    g.bench_function("classic_4095", |b| {
        let mut r = Reassembler::default();
        b.iter(|| {
            for (t, f) in &frames {
                r.handle_frame(*t, black_box(f));
            }
            while let Some(o) = r.poll_event() {
                black_box(o);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
