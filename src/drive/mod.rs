//! Drivers: small async loops that run the pure state machines (ISO-TP, the diagnostic link,
//! the simulator, the procedure tester, the watcher) on a [`crate::bus::Bus`]. This layer may
//! use tokio and clocks; the machines it drives may not.
//!
//! Every machine that exchanges CAN frames follows one calling contract
//! ([`crate::machine::Machine`]), and one loop runs any of them ([`machine::run`]); the
//! drivers here ([`diag`], [`sim`], [`procedure`]) are that loop plus their own
//! [`machine::Hooks`].

pub mod console;
pub mod dataset;
pub mod diag;
pub mod dump;
pub mod isotp;
pub mod machine;
pub mod monitor;
pub mod precise;
pub mod procedure;
pub mod record;
pub mod replay;
pub mod screen;
pub mod sim;
pub mod sniff;
pub mod stream;
pub mod watch;

/// A writer a test keeps a clone of, to read what the code under test wrote through the
/// other (the stream consumers here own their writer).
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct SharedWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(test)]
impl std::io::Write for SharedWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
impl SharedWriter {
    /// What was written, as UTF-8.
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}
