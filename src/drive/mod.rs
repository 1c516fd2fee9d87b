//! Drivers: small async loops that run the pure state machines (ISO-TP, the diagnostic client,
//! the simulator, the watcher) on a [`crate::bus::Bus`]. This layer may use tokio and clocks;
//! the machines it drives may not.

pub mod dataset;
pub mod diag;
pub mod isotp;
pub mod precise;
pub mod procedure;
pub mod sim;
