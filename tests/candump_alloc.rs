//! The candump reader and writer do not allocate per line: after the first lines have sized the
//! buffers, reading and writing thousands of records (lenient, with bad and other lines mixed
//! in) performs no heap allocation on this thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use canrelearn::log::candump::{Item, Reader, Writer};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    let _ = COUNTING.try_with(|c| {
        if c.get() {
            let _ = ALLOCATIONS.try_with(|a| a.set(a.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn test_no_allocation_per_line() {
    let mut log = String::new();
    // A long first line sizes the reader's and the writer's buffers.
    log.push_str(&format!(
        "(1700000000.000000) can0 123##5{}\n",
        "AB".repeat(64)
    ));
    for i in 0..5_000u32 {
        log.push_str(&match i % 6 {
            0 => format!("(1700000000.{:06}) can0 123#1122334455667788\n", i),
            1 => format!(
                "(1700000000.{:06})  vcan1 1ABCDEF0##5{} R\n",
                i,
                "01".repeat(64)
            ),
            2 => format!("(1700000000.{:06}) can0 321#R5\n", i),
            3 => "DROPCOUNT: dropped 1 CAN frame on 'can0' socket (total drops 1)\n".to_string(),
            4 => format!("(1700000000.{:06}) can0 800#11\n", i),
            _ => format!("(1700000000.{:06}) can0 20000004#0004000000000000\n", i),
        });
    }
    let mut reader = Reader::new(log.as_bytes()).with_source_name("mem.log");
    let mut out: Vec<u8> = Vec::with_capacity(log.len() * 2);
    let mut writer = Writer::new(&mut out);

    // Warm up on the first line.
    match reader.read_item().unwrap() {
        Some(Item::Record(r)) => writer.write_record(&r).unwrap(),
        other => panic!("{other:?}"),
    }

    COUNTING.with(|c| c.set(true));
    let mut records = 0u32;
    let mut bad = 0u32;
    while let Some(item) = reader.read_item().unwrap() {
        match item {
            Item::Record(r) => {
                writer.write_record(&r).unwrap();
                records += 1;
            }
            Item::Bad(_) => bad += 1,
            Item::Other(_) => {}
        }
    }
    COUNTING.with(|c| c.set(false));

    let expected_bad = (0..5_000u32).filter(|i| i % 6 == 4).count() as u32;
    let expected_other = (0..5_000u32).filter(|i| i % 6 == 3).count() as u32;
    assert_eq!(
        (records, bad),
        (5_000 - expected_bad - expected_other, expected_bad)
    );
    assert_eq!(
        ALLOCATIONS.with(|a| a.get()),
        0,
        "allocations while streaming"
    );
}
