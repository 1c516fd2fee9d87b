//! The simulated car: data-driven ECU models that let every feature be tested, and every
//! procedure be rehearsed, without a vehicle.
//!
//! [`profile`] is the vehicle description (TOML, no vehicle facts in Rust); [`ecu`] is one
//! module's diagnostic server working on whole PDUs. Both are pure: time is an argument.

pub mod ecu;
pub mod profile;
pub mod story;
pub mod vehicle;
