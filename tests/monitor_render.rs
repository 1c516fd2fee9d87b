//! Rendering snapshots: the monitor model over the bundled J11 sample, drawn into ratatui's
//! `TestBackend`, compared line by line with the expected text.

use std::path::Path;
use std::time::Duration;

use canrelearn::Timestamp;
use canrelearn::log::candump::{self, Item};
use canrelearn::monitor::render;
use canrelearn::monitor::view::{NameFilter, SortKey, ViewState, snapshot};
use canrelearn::monitor::{Monitor, MonitorConfig};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The bundled sample fed into a monitor up to `secs` after its first frame.
fn monitor_at(secs: f64) -> (Monitor, Timestamp) {
    let db = load_dbc_file(root().join("dbc/nissan_qashqai_j11.dbc")).unwrap();
    let mut m = Monitor::new(MonitorConfig::default(), db).unwrap();
    let mut reader = candump::Reader::new(std::io::BufReader::new(
        std::fs::File::open(root().join("tests/data/j11-sample.log")).unwrap(),
    ));
    let mut end = None;
    while let Some(item) = reader.read_item().unwrap() {
        let Item::Record(r) = item else { continue };
        let end = *end.get_or_insert(r.timestamp + Duration::from_secs_f64(secs));
        if r.timestamp > end {
            break;
        }
        m.handle_frame(r.timestamp, &r.frame);
    }
    let now = end.unwrap();
    m.handle_timeout(now);
    (m, now)
}

fn draw(m: &Monitor, view: &ViewState, now: Timestamp) -> Buffer {
    draw_sized(m, view, now, 160, 40)
}

fn draw_sized(m: &Monitor, view: &ViewState, now: Timestamp, w: u16, h: u16) -> Buffer {
    let screen = snapshot(m, view, now);
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| render::draw(f, &screen, view)).unwrap();
    terminal.backend().buffer().clone()
}

fn text_lines(buffer: &Buffer) -> Vec<String> {
    (0..buffer.area.height)
        .map(|y| {
            (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect()
}

fn render(m: &Monitor, view: &ViewState, now: Timestamp) -> Vec<String> {
    text_lines(&draw(m, view, now))
}

/// The column (in cells) where `needle` starts in `line`.
fn column(line: &str, needle: &str) -> u16 {
    let byte = line
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} in {line:?}"));
    line[..byte].chars().count() as u16
}

fn line_with<'a>(lines: &'a [String], needle: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in\n{}", lines.join("\n")))
}

#[test]
fn test_render_table_nodes_and_status_at_12_s() {
    let (m, now) = monitor_at(12.0);
    let lines = render(&m, &ViewState::default(), now);
    assert_eq!(
        lines[0],
        " canrelearn monitor   +12.0 s   rows 14/14   sort: id"
    );
    assert_eq!(
        line_with(&lines, "│ID "),
        "│ID       NAME               COUNT   RATE/s  CYC ms DBC  JIT ms STATE DATA                        SIGNALS                    ││NODE      STATE     SINCE  LOSS │"
    );
    assert_eq!(
        line_with(&lines, "BODY_STATUS"),
        "│60D      BODY_STATUS            119    10.0  100.1  100   1.20 ok    00 06 00 00 00 00 00 00     HEADLIGHTS_ON=0 POSITION_LI││                                │"
    );
    // The AV unit is silent from 8 s: its message and node are lost, with the event listed.
    // Nodes are ok from their first frame once the watch is armed (ignition ON at +0.545 s),
    // exactly as `canrelearn watch` judges them.
    assert_eq!(
        line_with(&lines, "AV_STATUS"),
        "│35D      AV_STATUS               80     0.0      -  110      - LOST  80 03 00 00 00 00 00 00     AC_ON=0 REAR_DEFOG_ON=0 BLO││METER     ok         +0.6     0 │"
    );
    assert!(line_with(&lines, "AV        LOST").ends_with("│AV        LOST      +10.0     1 │"));
    assert!(line_with(&lines, "+9.986 AV lost").contains("││+9.986 AV lost "));
    assert_eq!(
        lines[38],
        " bus 324 fr/s  load 8.7% @ 500 kbit/s  frames 4125  errors 0  dropped 0"
    );
    assert_eq!(
        lines[39],
        " q quit  / filter  space pause  r reset  s sort  arrows/PgUp/PgDn scroll  ? help"
    );
}

#[test]
fn test_render_restored_node_and_state_colours() {
    let (m, now) = monitor_at(16.0);
    let buffer = draw(&m, &ViewState::default(), now);
    let lines = text_lines(&buffer);
    assert!(line_with(&lines, "│AV ").ends_with("│AV        ok        +14.0     1 │"));
    assert!(line_with(&lines, "AV restored").contains("+14.037 AV restored (4.1 s)"));
    // The state column is coloured: green ok on BODY_STATUS.
    let y = lines
        .iter()
        .position(|l| l.contains("BODY_STATUS"))
        .unwrap() as u16;
    let x = column(&lines[y as usize], " ok ") + 1;
    assert_eq!(buffer[(x, y)].fg, Color::Green);
    // Bytes that changed within the last second are highlighted, the others not.
    let screen = snapshot(&m, &ViewState::default(), now);
    let col = column(&lines[2], "DATA");
    let mut checked = 0;
    for (i, row) in screen.rows.iter().enumerate() {
        let y = 3 + i as u16;
        for byte in 0..row.data.len().min(8) {
            let x = col + 3 * byte as u16;
            let marked = buffer[(x, y)].bg == Color::Yellow;
            assert_eq!(
                marked,
                row.changed & (1 << byte) != 0,
                "{} byte {byte}",
                row.id
            );
            checked += usize::from(marked);
        }
    }
    assert!(checked > 0, "some bytes changed in the last second");
}

#[test]
fn test_render_lost_row_is_red() {
    let (m, now) = monitor_at(12.0);
    let buffer = draw(&m, &ViewState::default(), now);
    let lines = text_lines(&buffer);
    let y = lines.iter().position(|l| l.contains("AV_STATUS")).unwrap() as u16;
    let x = column(&lines[y as usize], "LOST");
    assert_eq!(buffer[(x, y)].fg, Color::Red);
}

#[test]
fn test_render_filter_sort_pause_and_help() {
    let (m, now) = monitor_at(12.0);
    let view = ViewState {
        filter: Some(NameFilter::new("ipdm").unwrap()),
        ..ViewState::default()
    };
    let lines = render(&m, &view, now);
    assert_eq!(
        lines[0],
        " canrelearn monitor   +12.0 s   rows 1/14   sort: id   filter: /ipdm/"
    );
    assert!(
        lines[3].starts_with("│625      IPDM_STATUS"),
        "{}",
        lines[3]
    );
    assert!(lines[4].starts_with("│    "), "one row only: {}", lines[4]);

    let view = ViewState {
        sort: SortKey::State,
        paused: true,
        ..ViewState::default()
    };
    let lines = render(&m, &view, now);
    assert!(lines[0].ends_with("sort: state   PAUSED"), "{}", lines[0]);
    assert!(
        lines[3].starts_with("│35D      AV_STATUS"),
        "lost first: {}",
        lines[3]
    );
    assert!(lines[4].starts_with("│540 "), "{}", lines[4]);
    assert!(lines[5].starts_with("│541 "), "{}", lines[5]);

    let view = ViewState {
        help: true,
        input: Some("BODY".into()),
        ..ViewState::default()
    };
    let lines = render(&m, &view, now);
    assert!(line_with(&lines, "Keys (any key closes)").contains("┌ Keys"));
    assert!(line_with(&lines, "space       pause").contains("counting goes on"));
    assert!(
        lines[39].starts_with(" filter /BODY_   (Enter apply, Esc cancel)"),
        "{}",
        lines[39]
    );
}

#[test]
fn test_render_scrolls_and_fits_small_terminals() {
    let (m, now) = monitor_at(12.0);
    // 12 lines: 6 table rows of 14.
    assert_eq!(render::table_height(12), 6);
    let view = ViewState {
        scroll: 5,
        ..ViewState::default()
    };
    let lines = text_lines(&draw_sized(&m, &view, now, 160, 12));
    assert!(lines[3].starts_with("│35D "), "{}", lines[3]);
    assert!(lines[8].starts_with("│60D "), "{}", lines[8]);
    // Scrolling past the end shows the last page, not an empty table.
    let view = ViewState {
        scroll: 1000,
        ..ViewState::default()
    };
    let last = text_lines(&draw_sized(&m, &view, now, 160, 12));
    assert!(last[3].starts_with("│551 "), "{}", last[3]);
    assert!(last[8].starts_with("│765 "), "{}", last[8]);
    // Tiny terminals do not panic.
    let help = ViewState {
        help: true,
        ..ViewState::default()
    };
    for (w, h) in [(20, 5), (1, 1), (80, 24)] {
        draw_sized(&m, &help, now, w, h);
    }
}

/// Reads and compiles a DBC file (the library takes bytes; reading is the caller's job).
fn load_dbc_file(
    path: impl AsRef<std::path::Path>,
) -> Result<canrelearn::dbc::Database, canrelearn::dbc::DbcError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).expect("read the DBC file");
    canrelearn::dbc::Database::from_bytes(&bytes, &path.display().to_string())
}

/// Regression: at 80x24 the cycle column showed its last digits only and names were cut to
/// 4 characters. The node panel goes under the table and columns are given up whole.
#[test]
fn test_render_80x24_keeps_whole_columns() {
    let (m, now) = monitor_at(12.0);
    let lines = text_lines(&draw_sized(&m, &ViewState::default(), now, 80, 24));
    let header = line_with(&lines, "│ID ");
    for col in ["NAME", "COUNT", "RATE/s", "CYC ms", "STATE", "DATA"] {
        assert!(header.contains(col), "{col} in {header}");
    }
    let keys = line_with(&lines, "│358 ");
    assert!(keys.contains(" 100.9 "), "the measured cycle whole: {keys}");
    assert!(
        keys.contains("01 00 00 00 00 00 00 00"),
        "all 8 bytes: {keys}"
    );
    let steering = line_with(&lines, "│002 ");
    assert!(
        steering.contains("STEERING_A"),
        "names keep 10 characters: {steering}"
    );
    // The node panel is there, under the table, with the AV unit lost.
    assert!(lines.iter().any(|l| l.contains("Nodes")), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("AV") && l.contains("LOST")),
        "{lines:#?}"
    );
}

/// Enter expands the first row shown into all its signals.
#[test]
fn test_render_expanded_row_shows_every_signal() {
    let (m, now) = monitor_at(12.0);
    let view = ViewState {
        expanded: true,
        ..ViewState::default()
    };
    let lines = text_lines(&draw_sized(&m, &view, now, 80, 24));
    let title = line_with(&lines, "Signals (Enter or Esc closes)");
    assert!(!title.is_empty());
    assert!(
        lines.iter().any(|l| l.contains("STEERING_ANGLE=")),
        "{lines:#?}"
    );
}
