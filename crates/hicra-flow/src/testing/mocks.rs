//! Mock stages (`mock.*` kinds) for runtime tests: a numbered source, a mapper that can fail,
//! panic or dawdle, and a sink that can be slow and acknowledges on a keep-latest edge.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde::Deserialize;

use crate::io::StageContext;
use crate::port::Ports;
use crate::registry::Registry;
use crate::stage::{BoxError, BuildContext, Stage, StageConfig, StageResult};

/// Registers `mock.source`, `mock.map` and `mock.sink`.
pub fn register_mocks(registry: &mut Registry) {
    registry
        .register::<MockSource>()
        .register::<MockMap>()
        .register::<MockSink>();
}

fn sinks() -> &'static Mutex<HashMap<String, Vec<u64>>> {
    static SINKS: OnceLock<Mutex<HashMap<String, Vec<u64>>>> = OnceLock::new();
    SINKS.get_or_init(Default::default)
}

/// What the `mock.sink` with `tag = tag` has received so far.
pub fn collected(tag: &str) -> Vec<u64> {
    sinks()
        .lock()
        .unwrap()
        .get(tag)
        .cloned()
        .unwrap_or_default()
}

/// Emits 0, 1, 2, ... on `numbers`.
///
/// Defaults: `Default` (derived) below; the kind's EXAMPLE shows each one.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MockSource {
    /// How many numbers to emit; absent = endless.
    count: Option<u64>,
    /// Pause between numbers, in milliseconds.
    interval_ms: u64,
}

impl StageConfig for MockSource {
    const KIND: &'static str = "mock.source";
    const SUMMARY: &'static str = "test source emitting 0, 1, 2, ...";
    const EXAMPLE: &'static str = "[stages.numbers]\nkind = \"mock.source\"\ninterval_ms = 0\n# count = 10  # default: endless\n";

    fn ports(&self) -> Ports {
        Ports::new().output::<u64>("numbers", "consecutive integers")
    }

    fn endless(&self) -> bool {
        self.count.is_none()
    }

    fn build(self, _ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        Ok(Box::new(self))
    }
}

impl Stage for MockSource {
    fn run(self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        let out = ctx.output::<u64>("numbers");
        for n in (0..).take_while(|n| self.count.is_none_or(|c| *n < c)) {
            if self.interval_ms > 0 {
                std::thread::sleep(Duration::from_millis(self.interval_ms));
            }
            out.send(n)?;
        }
        Ok(())
    }
}

/// Adds `add` to every number; can fail or panic on a given input.
///
/// Defaults: `impl Default` below; the kind's EXAMPLE shows each one.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MockMap {
    /// Added to each number.
    add: u64,
    /// Return an error when this number arrives. Default: never.
    fail_at: Option<u64>,
    /// Panic when this number arrives. Default: never.
    panic_at: Option<u64>,
    /// Panic while the stage is being built.
    panic_in_build: bool,
}

impl Default for MockMap {
    fn default() -> Self {
        Self {
            add: 1,
            fail_at: None,
            panic_at: None,
            panic_in_build: false,
        }
    }
}

impl StageConfig for MockMap {
    const KIND: &'static str = "mock.map";
    const SUMMARY: &'static str = "test mapper adding a constant; can fail or panic on demand";
    const EXAMPLE: &'static str = "[stages.map]\nkind = \"mock.map\"\ninputs = { numbers = \"numbers.numbers\" }\nadd = 1\npanic_in_build = false\n# fail_at = 3\n# panic_at = 4\n";

    fn ports(&self) -> Ports {
        Ports::new()
            .input::<u64>("numbers", "numbers to map")
            .latest::<usize>("feedback", "latest acknowledgement from downstream")
            .output::<u64>("numbers", "mapped numbers")
    }

    fn build(self, _ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        assert!(!self.panic_in_build, "mock panic while building");
        Ok(Box::new(self))
    }
}

impl Stage for MockMap {
    fn run(self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        let input = ctx.input::<u64>("numbers");
        let feedback = ctx.latest::<usize>("feedback");
        let out = ctx.output::<u64>("numbers");
        while let Some(n) = input.recv() {
            let _ = feedback.try_take();
            if self.fail_at == Some(*n) {
                return Err(format!("mock failure at {n}").into());
            }
            if self.panic_at == Some(*n) {
                panic!("mock panic at {n}");
            }
            out.send(*n + self.add)?;
        }
        Ok(())
    }
}

/// Records numbers under `tag` (see [`collected`]); acknowledges each on `acks`.
///
/// Defaults: `Default` (derived) below; the kind's EXAMPLE shows each one.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MockSink {
    /// Key under which received numbers are recorded. Default: the stage id.
    tag: Option<String>,
    /// Time spent on each message, in milliseconds (a slow consumer).
    delay_ms: u64,
    /// Stop after this many messages. Default: never.
    stop_after: Option<usize>,
}

impl StageConfig for MockSink {
    const KIND: &'static str = "mock.sink";
    const SUMMARY: &'static str = "test sink recording what it receives; can be slow";
    const EXAMPLE: &'static str = "[stages.sink]\nkind = \"mock.sink\"\ninputs = { numbers = \"map.numbers\" }\ndelay_ms = 0\n# tag = \"sink\"\n# stop_after = 10\n";

    fn ports(&self) -> Ports {
        Ports::new()
            .fan_in::<u64>("numbers", "numbers to record")
            .output::<usize>("acks", "count received so far")
    }

    fn build(self, _ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        Ok(Box::new(self))
    }
}

impl Stage for MockSink {
    fn run(self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        let tag = self.tag.clone().unwrap_or_else(|| ctx.id().to_string());
        sinks().lock().unwrap().insert(tag.clone(), Vec::new());
        let input = ctx.input::<u64>("numbers");
        let acks = ctx.output::<usize>("acks");
        let mut count = 0;
        while let Some(n) = input.recv() {
            if self.delay_ms > 0 {
                std::thread::sleep(Duration::from_millis(self.delay_ms));
            }
            sinks()
                .lock()
                .unwrap()
                .entry(tag.clone())
                .or_default()
                .push(*n);
            count += 1;
            acks.send(count)?;
            if self.stop_after == Some(count) {
                break;
            }
        }
        Ok(())
    }
}

#[doc(hidden)]
pub mod doc_support {
    pub use super::MockMap as AddOne;
}
