//! Named, typed ports: what a stage consumes and produces, and the checked edges that join
//! an output to an input.

use std::any::{Any, TypeId};
use std::fmt;

/// Anything that can travel on an edge. Messages are shared (`Arc`) when an output fans out to
/// several inputs, so they must be `Send + Sync`.
pub trait Message: Any + Send + Sync {}
impl<T: Any + Send + Sync> Message for T {}

/// The Rust type carried by a port; two ports connect only when their types are identical.
#[derive(Clone, Copy)]
pub struct PortType {
    id: TypeId,
    name: &'static str,
}

impl PortType {
    pub fn of<T: Message>() -> Self {
        Self {
            id: TypeId::of::<T>(),
            name: std::any::type_name::<T>(),
        }
    }

    pub fn id(&self) -> TypeId {
        self.id
    }

    /// The type's name without module paths, e.g. `RolloutBatch` or `Vec<Prompt>`.
    pub fn short_name(&self) -> String {
        let mut out = String::new();
        let mut segment = String::new();
        for c in self.name.chars() {
            if c.is_alphanumeric() || c == '_' || c == ':' {
                segment.push(c);
            } else {
                out.push_str(segment.rsplit("::").next().unwrap_or(""));
                segment.clear();
                out.push(c);
            }
        }
        out.push_str(segment.rsplit("::").next().unwrap_or(""));
        out
    }
}

impl PartialEq for PortType {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl fmt::Debug for PortType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short_name())
    }
}

/// How an input receives messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputMode {
    /// A bounded FIFO queue: senders block when it is full (backpressure).
    Queue,
    /// Keeps only the newest message: senders never block, older unread values are dropped.
    /// The only kind of edge allowed to close a cycle (the weights edge back to the sampler).
    Latest,
}

#[derive(Clone, Debug)]
pub struct InputPort {
    pub name: &'static str,
    pub ty: PortType,
    pub mode: InputMode,
    /// A required input must be connected for the pipeline to validate.
    pub required: bool,
    /// Whether several upstream outputs may feed this input (their messages are interleaved).
    pub fan_in: bool,
    pub doc: &'static str,
}

#[derive(Clone, Debug)]
pub struct OutputPort {
    pub name: &'static str,
    pub ty: PortType,
    pub doc: &'static str,
}

/// The ports a configured stage declares. Built with a small fluent API:
///
/// ```
/// # use hicra_flow::Ports;
/// let ports = Ports::new()
///     .input::<String>("prompts", "questions to answer")
///     .latest::<u64>("weights", "newest policy version")
///     .output::<Vec<String>>("answers", "one answer per prompt");
/// assert_eq!(ports.inputs.len(), 2);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Ports {
    pub inputs: Vec<InputPort>,
    pub outputs: Vec<OutputPort>,
}

impl Ports {
    pub fn new() -> Self {
        Self::default()
    }

    /// A required queue input.
    pub fn input<T: Message>(self, name: &'static str, doc: &'static str) -> Self {
        self.with_input::<T>(name, doc, InputMode::Queue, true, false)
    }

    /// A queue input that may be left unconnected (it then reads as closed).
    pub fn optional_input<T: Message>(self, name: &'static str, doc: &'static str) -> Self {
        self.with_input::<T>(name, doc, InputMode::Queue, false, false)
    }

    /// A queue input fed by any number of outputs (zero included), e.g. a metrics sink.
    pub fn fan_in<T: Message>(self, name: &'static str, doc: &'static str) -> Self {
        self.with_input::<T>(name, doc, InputMode::Queue, false, true)
    }

    /// An optional keep-latest input (never blocks its sender; may close a cycle).
    pub fn latest<T: Message>(self, name: &'static str, doc: &'static str) -> Self {
        self.with_input::<T>(name, doc, InputMode::Latest, false, false)
    }

    pub fn output<T: Message>(mut self, name: &'static str, doc: &'static str) -> Self {
        self.outputs.push(OutputPort {
            name,
            ty: PortType::of::<T>(),
            doc,
        });
        self
    }

    fn with_input<T: Message>(
        mut self,
        name: &'static str,
        doc: &'static str,
        mode: InputMode,
        required: bool,
        fan_in: bool,
    ) -> Self {
        let ty = PortType::of::<T>();
        self.inputs.push(InputPort {
            name,
            ty,
            mode,
            required,
            fan_in,
            doc,
        });
        self
    }

    pub fn find_input(&self, name: &str) -> Option<&InputPort> {
        self.inputs.iter().find(|p| p.name == name)
    }

    pub fn find_output(&self, name: &str) -> Option<&OutputPort> {
        self.outputs.iter().find(|p| p.name == name)
    }
}

/// One checked edge `from_stage.from_port -> to_stage.to_port` (indices into the pipeline's
/// stages).
#[derive(Clone, Debug)]
pub struct Edge {
    pub from_stage: usize,
    pub from_port: String,
    pub to_stage: usize,
    pub to_port: String,
    pub ty: PortType,
    pub mode: InputMode,
    pub capacity: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_drop_module_paths() {
        assert_eq!(PortType::of::<Vec<String>>().short_name(), "Vec<String>");
        assert_eq!(PortType::of::<u64>().short_name(), "u64");
    }

    #[test]
    fn types_compare_by_identity() {
        assert_eq!(PortType::of::<u32>(), PortType::of::<u32>());
        assert_ne!(PortType::of::<u32>(), PortType::of::<i32>());
    }
}
