//! engage's decision engine.
//!
//! Pure: no I/O, no clock and no randomness of its own. Time (milliseconds since the Unix epoch,
//! UTC) and the visitor id are inputs. The same crate runs natively in the server (with the
//! `native` feature: validation, compiler, `regex`) and in the browser as wasm (without it).

pub mod availability;
pub mod bundle;
pub mod condition;
pub mod hash;
pub mod html;
pub mod index;
pub mod interval;
pub mod model;
pub mod offsite;
pub mod outbound;
pub mod regexp;
pub mod sms;
mod text;
pub mod urlmatch;
pub mod visit;

#[cfg(feature = "native")]
pub mod compile;
#[cfg(feature = "native")]
pub mod schedule;
#[cfg(feature = "native")]
pub mod script;
#[cfg(feature = "native")]
mod urlpattern;
#[cfg(feature = "native")]
pub mod validate;

pub use bundle::Bundle;
pub use regexp::RegexEngine;

/// An instant: milliseconds since the Unix epoch, UTC.
pub type Millis = i64;
