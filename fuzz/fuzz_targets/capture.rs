//! Fuzz target: arbitrary text as a candump log through `script from-capture`'s analysis
//! (ISO-TP reassembly on 0x745/0x765, pairing, keep-alive and poll detection) and rendering;
//! every script it renders must load. Nothing may panic. Run with `cargo fuzz run capture`.
#![no_main]

use std::io::BufReader;

use canrelearn::frame::Id;
use canrelearn::log::candump::{Item, Reader};
use canrelearn::procedure::Script;
use canrelearn::procedure::capture::{Capture, CaptureConfig, ScriptOptions, plan, render_script};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (Some(tx), Some(rx)) = (Id::standard(0x745), Id::standard(0x765)) else {
        return;
    };
    let mut cap = Capture::new(CaptureConfig::new(tx, rx));
    let mut reader = Reader::new(BufReader::new(data)).with_max_line_len(512);
    while let Ok(Some(item)) = reader.read_item() {
        if let Item::Record(r) = item {
            cap.handle_frame(r.timestamp, &r.frame);
        }
    }
    let analysis = cap.finish();
    let p = plan(&analysis, 3);
    let opts = ScriptOptions {
        name: "fuzz".into(),
        module: "BCM".into(),
        log_name: "fuzz.log".into(),
    };
    if let Ok(text) = render_script(&analysis, &p, &opts) {
        if let Err(e) = Script::from_toml(&text, "rendered.toml") {
            panic!("a rendered script does not load: {e}\n{text}");
        }
    }
});
