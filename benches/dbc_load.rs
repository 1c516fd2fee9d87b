//! Loading a large DBC: can-dbc's sequential parse alone (the floor before this crate's own
//! work) against [`Database::from_bytes`], which parses large texts in chunks on every core
//! and then compiles the messages.
//!
//! The DBC is generated here (no file from elsewhere): 600 messages of 12 signals, with the
//! comments, value descriptions and attributes that follow messages in real files, about
//! 600 KB, the size of a big OEM powertrain DBC.

use std::hint::black_box;

use canrelearn::dbc::Database;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn big_dbc() -> String {
    let mut t = String::from(
        "VERSION \"\"\n\nNS_ :\n\tCM_\n\tBA_DEF_\n\tBA_\n\tVAL_\n\nBS_:\n\nBU_: ECU GW BODY\n\n",
    );
    for m in 0..600u32 {
        t.push_str(&format!("BO_ {} Message_{m}: 8 ECU\n", 0x100 + m));
        for s in 0..12u32 {
            let (start, order) = match s % 2 {
                0 => (s * 5, "1+"),
                _ => (s * 5 + 4, "0-"),
            };
            t.push_str(&format!(
                " SG_ Signal_{m}_{s} : {start}|5@{order} (0.5,-10) [-10|5.5] \"km/h\" GW,BODY\n"
            ));
        }
        t.push('\n');
    }
    for m in 0..600u32 {
        t.push_str(&format!(
            "CM_ BO_ {} \"Message {m}, sent by the ECU every 20 ms\";\n",
            0x100 + m
        ));
        t.push_str(&format!(
            "CM_ SG_ {} Signal_{m}_0 \"The first signal of message {m}\";\n",
            0x100 + m
        ));
    }
    t.push_str(
        "BA_DEF_ BO_ \"GenMsgCycleTime\" INT 0 65535;\nBA_DEF_DEF_ \"GenMsgCycleTime\" 0;\n",
    );
    for m in 0..600u32 {
        t.push_str(&format!(
            "BA_ \"GenMsgCycleTime\" BO_ {} 20;\nVAL_ {} Signal_{m}_1 3 \"three\" 2 \"two\" 1 \"one\" 0 \"zero\" ;\n",
            0x100 + m,
            0x100 + m
        ));
    }
    t
}

fn bench(c: &mut Criterion) {
    let text = big_dbc();
    let mut g = c.benchmark_group("dbc_load");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.sample_size(20);
    g.bench_function("can-dbc parse, sequential", |b| {
        b.iter(|| black_box(can_dbc::Dbc::try_from(black_box(text.as_str())).is_ok()))
    });
    g.bench_function("Database::from_bytes", |b| {
        b.iter(|| {
            black_box(
                Database::from_bytes(black_box(text.as_bytes()), "big.dbc")
                    .map(|db| db.messages().len())
                    .unwrap_or(0),
            )
        })
    });
    g.finish();
    // The bench measures a load, not an error path.
    assert_eq!(
        Database::from_bytes(text.as_bytes(), "big.dbc")
            .map(|db| db.messages().len())
            .ok(),
        Some(600)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
