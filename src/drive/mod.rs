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
