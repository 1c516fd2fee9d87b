use super::*;
#[test]
fn placeholder() {
    let _ = sniff(b"");
}
