//! Interrupts: SIGINT (Ctrl-C), SIGTERM and SIGHUP end every command the same way.
//!
//! [`install`] runs first thing in `main`: one handler for the three signals counts them and
//! writes a byte to a self-pipe. It is installed without `SA_RESTART`, so a blocking read (a
//! log on a pipe, a FIFO, `/dev/zero`) returns `EINTR` and the reader sees the interrupt at
//! once. Synchronous code polls [`count`]; async code awaits [`Interrupts::recv`], which wakes
//! from the self-pipe. What an interrupt means is each command's business (a recorder stops
//! and flushes, a procedure aborts through cleanup, a second and third interrupt escalate),
//! but no command dies of one with work unsaved.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

static COUNT: AtomicUsize = AtomicUsize::new(0);
static LAST: AtomicI32 = AtomicI32::new(0);
/// The write end of the self-pipe (-1 until installed).
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
/// The read end, for [`Interrupts`].
static PIPE_READ: OnceLock<OwnedFd> = OnceLock::new();

/// The signals handled.
const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn on_signal(signo: libc::c_int) {
    // Only async-signal-safe work: atomics and write(2).
    COUNT.fetch_add(1, Ordering::SeqCst);
    LAST.store(signo, Ordering::SeqCst);
    let fd = PIPE_WRITE.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: writing one byte from a valid buffer to a non-blocking pipe; a full pipe
        // (EAGAIN) loses nothing, the count is in COUNT.
        unsafe {
            libc::write(fd, (&byte as *const u8).cast(), 1);
        }
    }
}

/// Installs the handler for SIGINT, SIGTERM and SIGHUP (idempotent). A failure leaves the
/// default behaviour (the process ends on the signal) and is logged.
pub fn install() {
    if PIPE_READ.get().is_some() {
        return;
    }
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills two descriptors on success.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
    if r != 0 {
        tracing::warn!(
            "cannot create the interrupt pipe: {}",
            std::io::Error::last_os_error()
        );
        return;
    }
    // SAFETY: both descriptors were just created and are owned here.
    let read = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    PIPE_WRITE.store(fds[1], Ordering::SeqCst);
    let _ = PIPE_READ.set(read);
    for signo in SIGNALS {
        // SAFETY: a zeroed sigaction with a handler and an empty mask is valid; no SA_RESTART
        // on purpose (blocking reads return EINTR).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_flags = 0;
            if libc::sigaction(signo, &action, std::ptr::null_mut()) != 0 {
                tracing::warn!(
                    "cannot handle signal {signo}: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
    }
}

/// Interrupts received so far.
pub fn count() -> usize {
    COUNT.load(Ordering::SeqCst)
}

/// Whether any interrupt was received.
pub fn interrupted() -> bool {
    count() > 0
}

/// The last signal received, if any.
pub fn last() -> Option<libc::c_int> {
    match LAST.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// The signal's name for messages: `Ctrl-C (SIGINT)`, `SIGTERM`, `SIGHUP`.
pub fn name(signo: libc::c_int) -> &'static str {
    match signo {
        libc::SIGINT => "Ctrl-C (SIGINT)",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// The exit status of a command cut short by the last signal: 128 + its number (130 for
/// Ctrl-C), as shells report a process killed by it.
pub fn exit_code() -> u8 {
    last().map_or(130, |s| 128u8.saturating_add(u8::try_from(s).unwrap_or(2)))
}

/// Async interrupts for one runtime: [`Interrupts::recv`] returns once per interrupt.
pub struct Interrupts {
    fd: Option<tokio::io::unix::AsyncFd<std::os::fd::RawFd>>,
    seen: usize,
}

impl Interrupts {
    /// Must be called inside a tokio runtime. Interrupts received before this are not
    /// reported again (see [`Interrupts::pending`]).
    pub fn new() -> Interrupts {
        let fd = PIPE_READ.get().and_then(|fd| {
            // SAFETY: the pipe's read end lives in a static for the whole process, so the
            // descriptor stays open as long as any registration of it.
            unsafe { tokio::io::unix::AsyncFd::register(fd.as_raw_fd()) }.ok()
        });
        Interrupts { fd, seen: count() }
    }

    /// Waits for the next interrupt; returns how many have been received in all.
    pub async fn recv(&mut self) -> usize {
        loop {
            let now = count();
            if now > self.seen {
                self.seen += 1;
                return self.seen;
            }
            match &self.fd {
                Some(fd) => match fd.readable().await {
                    Ok(mut guard) => {
                        let mut buf = [0u8; 64];
                        // SAFETY: reading into a local buffer from the non-blocking pipe.
                        let n = unsafe {
                            libc::read(*fd.get_ref(), buf.as_mut_ptr().cast(), buf.len())
                        };
                        if n <= 0 {
                            guard.clear_ready();
                        }
                    }
                    Err(_) => std::future::pending::<()>().await,
                },
                None => std::future::pending::<()>().await,
            }
        }
    }
}
