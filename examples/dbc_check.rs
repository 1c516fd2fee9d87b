//! Prints `dbc check` diagnostics for DBC files: `dbc_check FILE...`.

fn main() -> anyhow::Result<()> {
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path)?;
        for d in canrelearn::dbc::check(&bytes, &path) {
            println!("{d}");
        }
        if let Err(e) = canrelearn::dbc::Database::from_bytes(&bytes, &path) {
            println!("load: {e}");
        }
    }
    Ok(())
}
