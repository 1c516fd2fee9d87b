//! The `canrelearn` command line: a thin `main` over one module per subcommand in `cli/`.

mod cli;

fn main() -> std::process::ExitCode {
    pad_thread_heaps();
    cli::main()
}

/// glibc's allocator grows a thread's heap by what one allocation needs (plus 128 KiB) and
/// gives its top back to the kernel as soon as 128 KiB of it are free. Decoding allocates and
/// frees blocks of a few hundred KiB on several threads, so the heaps shrank and grew again
/// all run long, and the kernel zeroed and mapped the same pages again (`mprotect`, `madvise`
/// and page faults were a tenth of a Parquet decode's CPU time, measured with perf). A 16 MiB
/// pad keeps that much free at each heap's top (and, as any fixed setting does, turns off
/// glibc's sliding threshold for serving allocations from `mmap`): 200k frames decode to
/// Parquet with about 4% less CPU time, to text with about 3% less, and the peak memory of 2M
/// frames to Parquet does not grow (126-129 MB, was 136-137 MB).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn pad_thread_heaps() {
    // SAFETY: `mallopt` sets a parameter of glibc's allocator under its own lock; an unknown
    // parameter is refused with 0, which leaves the defaults.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 16 << 20);
    }
}

/// Other allocators have their own policies.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn pad_thread_heaps() {}
