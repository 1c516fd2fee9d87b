//! The `canrelearn` command line.

fn main() {
    println!("canrelearn {}", env!("CARGO_PKG_VERSION"));
}
