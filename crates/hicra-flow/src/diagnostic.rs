//! Pipeline errors: every problem found, each with its place, a label and a help line.
//!
//! The library only collects [`Diagnostic`]s; rendering is the CLI's business (through miette,
//! whose `Diagnostic` trait [`Diagnostics`] implements), or plain `FILE:LINE:COL: message`
//! lines through `Display`.

use std::fmt;

use miette::{LabeledSpan, NamedSource, SourceSpan};

use crate::source::{Sources, Span};

#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub message: String,
    pub span: Option<Span>,
    /// Short text under the underlined snippet.
    pub label: Option<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>, span: Option<Span>) -> Self {
        Self {
            message: message.into(),
            span,
            label: None,
            help: None,
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// All problems of one pipeline, with the sources they point into.
#[derive(Clone, Debug)]
pub struct Diagnostics {
    pub sources: Sources,
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// One `FILE:LINE:COL: message` line per problem (plus its help), in order.
    pub fn plain(&self) -> String {
        self.to_string()
    }

    /// Each problem as its own miette report (what the CLI prints).
    pub fn reports(&self) -> Vec<miette::Report> {
        self.items
            .iter()
            .map(|d| miette::Report::new(Rendered::new(d, &self.sources)))
            .collect()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.items {
            let place = d
                .span
                .as_ref()
                .map_or_else(|| "pipeline".to_string(), |s| self.sources.location(s));
            writeln!(f, "{place}: error: {}", d.message)?;
            if let Some(help) = &d.help {
                writeln!(f, "  help: {help}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// One diagnostic bound to its source text, for miette.
#[derive(Debug)]
struct Rendered {
    message: String,
    help: Option<String>,
    source: Option<NamedSource<String>>,
    label: Option<LabeledSpan>,
}

impl Rendered {
    fn new(d: &Diagnostic, sources: &Sources) -> Self {
        let (source, label, message) = match &d.span {
            Some(span) => {
                let file = sources.get(span.file);
                let named = NamedSource::new(file.name.clone(), file.text.to_string());
                let at = SourceSpan::from(span.range.clone());
                let label = LabeledSpan::new_with_span(d.label.clone(), at);
                (
                    Some(named),
                    Some(label),
                    format!("{}: {}", sources.location(span), d.message),
                )
            }
            None => (None, None, d.message.clone()),
        };
        Self {
            message,
            help: d.help.clone(),
            source,
            label,
        }
    }
}

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Rendered {}

impl miette::Diagnostic for Rendered {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.label
            .clone()
            .map(|l| Box::new(std::iter::once(l)) as Box<dyn Iterator<Item = LabeledSpan>>)
    }
}
