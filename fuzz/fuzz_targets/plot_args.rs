//! Fuzzes plot's argument parsers and the collector: any time limit text, any pattern list
//! (globs or regular expressions) against a small DBC, and any frames fed to the collector
//! must never panic; a chart's series hold only finite values in time order.
#![no_main]

use canrelearn::dbc::Database;
use canrelearn::frame::{Frame, Id};
use canrelearn::output::FrameDecoder;
use canrelearn::plot::{Collector, Layout, Limit};
use canrelearn::Timestamp;
use libfuzzer_sys::fuzz_target;

const DBC: &str = "VERSION \"\"\nNS_ :\nBS_:\nBU_: A\nBO_ 256 M: 8 A\n SG_ S : 0|16@1- (0.5,-3) [0|0] \"u\" A\n SG_ T : 16|8@1+ (1,0) [0|0] \"\" A\nVAL_ 256 T 0 \"OFF\" 1 \"ON\" ;\n";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let _ = Limit::parse(&text);
    let args: Vec<String> = text.split(' ').map(str::to_string).collect();
    let Ok(layout) = Layout::parse(&args, mode & 1 == 1, mode & 2 == 2) else {
        return;
    };
    let db = Database::from_str_named(DBC, "f.dbc").unwrap();
    let Ok(mut c) = Collector::new(&db, &Layout::parse(&["S".into(), ",".into(), "T".into()], false, false).unwrap(), None, None) else {
        return;
    };
    let _ = Collector::new(&db, &layout, None, None);
    let mut decoder = FrameDecoder::new(&db);
    let mut t = 0u64;
    for chunk in rest.chunks(9) {
        t = t.wrapping_add(u64::from(chunk[0]) * 1_000_000);
        let frame = Frame::classic(Id::standard(0x100).unwrap(), chunk.get(1..).unwrap_or(&[])).unwrap();
        let m = decoder.decode(&frame);
        c.push(Timestamp::from_nanos(t), &m);
    }
    let chart = c.finish(None, usize::from(mode).max(8));
    for s in chart.series() {
        for seg in &s.segments {
            assert!(seg.iter().all(|p| p.1.is_finite()));
            assert!(seg.windows(2).all(|w| w[0].0 <= w[1].0));
        }
    }
});
