//! Test support: run one stage on the real runtime ([`StageHarness`]), and mock stages
//! ([`register_mocks`]) for tests of backpressure, shutdown, errors and panics.

mod harness;
mod mocks;

pub use harness::{Outputs, StageHarness};
pub use mocks::{collected, register_mocks};

#[doc(hidden)]
pub use mocks::doc_support as __doc;
