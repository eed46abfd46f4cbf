//! What every layer of the core shares about a stage's outcome: the error it may return
//! ([`BoxError`], [`StageResult`]), the clean stop that channel operations report
//! ([`Stopped`]) and a parameter value its checks refuse ([`Invalid`], [`refuse`]).

/// Any error a stage may return; the runtime tags it with the stage id and kind.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What `Stage::run` returns. `Err(Stopped)` (or any error once the run is cancelled) is a clean
/// stop, not a failure.
pub type StageResult = Result<(), BoxError>;

/// Returned by channel operations when the run is being cancelled or every downstream consumer
/// has gone. Propagate it with `?`; the runtime treats it as a clean stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stage stopped: the run is shutting down")]
pub struct Stopped;

/// A parameter value a stage refuses.
#[derive(Clone, Debug, PartialEq)]
pub struct Invalid {
    /// Dotted path of the offending key in the stage's table (`learning_rate`, `sft.steps`);
    /// the diagnostic points at its value, or at the stage when the key is not written.
    pub field: String,
    pub message: String,
    pub help: Option<String>,
}

impl Invalid {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_string(),
            message: message.into(),
            help: None,
        }
    }

    /// A problem given as one message; when its first word is a key the stage table writes
    /// (`numbers must be in 2..=8`), the diagnostic points at that key's value.
    pub fn whole(message: impl Into<String>) -> Self {
        Self::new("", message)
    }

    /// The error of a one-message validation, if any, as [`whole`](Self::whole) problems.
    pub fn of(result: Result<(), String>) -> Vec<Self> {
        result.err().map(Self::whole).into_iter().collect()
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// `Ok` when nothing is refused, else the problems as one error (for `build`, so that a stage
/// built outside a validated pipeline refuses the same values).
pub fn refuse(problems: Vec<Invalid>) -> Result<(), BoxError> {
    if problems.is_empty() {
        return Ok(());
    }
    let text: Vec<String> = problems
        .iter()
        .map(|p| match &p.help {
            Some(h) => format!("{}: {} ({h})", p.field, p.message),
            None => format!("{}: {}", p.field, p.message),
        })
        .collect();
    Err(text.join("; ").into())
}
