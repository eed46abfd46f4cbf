//! Stage kinds by name. Each family crate registers its own, so adding a stage never edits
//! the core.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use crate::de::{DeError, from_value};
use crate::port::Ports;
use crate::stage::{BoxError, BuildContext, Invalid, Stage, StageConfig};
use crate::value::Value;

/// What `hicra stages` prints about a kind.
#[derive(Clone, Copy, Debug)]
pub struct KindInfo {
    pub kind: &'static str,
    pub summary: &'static str,
    pub example: &'static str,
    /// The keys the config accepts (`None` when its shape is not a plain struct).
    pub fields: Option<&'static [&'static str]>,
}

/// A parsed, typed stage config with its type erased.
pub trait ConfiguredStage: Send {
    fn ports(&self) -> Ports;
    fn check(&self, ctx: &BuildContext) -> Vec<Invalid>;
    fn endless(&self) -> bool;
    fn replication(&self) -> crate::world::Replication;
    fn build(self: Box<Self>, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError>;
}

impl<C: StageConfig> ConfiguredStage for C {
    fn ports(&self) -> Ports {
        StageConfig::ports(self)
    }

    fn check(&self, ctx: &BuildContext) -> Vec<Invalid> {
        StageConfig::check(self, ctx)
    }

    fn endless(&self) -> bool {
        StageConfig::endless(self)
    }

    fn replication(&self) -> crate::world::Replication {
        StageConfig::replication(self)
    }

    fn build(self: Box<Self>, ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        StageConfig::build(*self, ctx)
    }
}

/// One stage of a pipeline, parsed and typed.
pub struct PlannedStage {
    pub id: String,
    pub kind: String,
    pub ports: Ports,
    pub config: Box<dyn ConfiguredStage>,
}

trait Factory: Send + Sync {
    fn info(&self) -> KindInfo;
    fn parse(&self, params: &Value) -> Result<Box<dyn ConfiguredStage>, DeError>;
    /// The parsed config, printed with `Debug` (to compare two parses).
    fn describe(&self, params: &Value) -> Result<String, DeError>;
}

struct TypedFactory<C>(PhantomData<fn() -> C>);

impl<C: StageConfig> Factory for TypedFactory<C> {
    fn info(&self) -> KindInfo {
        KindInfo {
            kind: C::KIND,
            summary: C::SUMMARY,
            example: C::EXAMPLE,
            fields: crate::fields::struct_fields::<C>(),
        }
    }

    fn parse(&self, params: &Value) -> Result<Box<dyn ConfiguredStage>, DeError> {
        Ok(Box::new(from_value::<C>(params)?))
    }

    fn describe(&self, params: &Value) -> Result<String, DeError> {
        Ok(format!("{:?}", from_value::<C>(params)?))
    }
}

#[derive(Default)]
pub struct Registry {
    kinds: BTreeMap<&'static str, Box<dyn Factory>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `C` under `C::KIND`.
    ///
    /// # Panics
    /// If the kind is already registered or is not of the form `family.name`: both are
    /// programming errors caught by the first test that builds the registry.
    pub fn register<C: StageConfig>(&mut self) -> &mut Self {
        let kind = C::KIND;
        assert!(
            kind.split_once('.')
                .is_some_and(|(f, n)| !f.is_empty() && !n.is_empty()),
            "stage kind `{kind}` must be `family.name`"
        );
        let previous = self
            .kinds
            .insert(kind, Box::new(TypedFactory::<C>(PhantomData)));
        assert!(previous.is_none(), "stage kind `{kind}` registered twice");
        self
    }

    pub fn contains(&self, kind: &str) -> bool {
        self.kinds.contains_key(kind)
    }

    /// Every registered kind, sorted by name.
    pub fn kinds(&self) -> impl Iterator<Item = KindInfo> + '_ {
        self.kinds.values().map(|f| f.info())
    }

    pub fn info(&self, kind: &str) -> Option<KindInfo> {
        self.kinds.get(kind).map(|f| f.info())
    }

    /// Parses `kind`'s documented TOML example as a pipeline document would be parsed: it must
    /// contain exactly one stage table, of this kind, that shows every key the config accepts
    /// (written with its default, or commented out as `# key = value` when it has none) and
    /// whose parameters deserialize, each written key at the value the config takes when the
    /// key is left out (so the example, the docs that point at it and `impl Default` agree).
    pub fn check_example(&self, kind: &str) -> Result<(), String> {
        let info = self
            .info(kind)
            .ok_or_else(|| format!("unknown kind `{kind}`"))?;
        let root = Value::parse_document(info.example, 0)
            .map_err(|(m, _)| format!("{kind}: invalid TOML: {m}"))?;
        let mut diags = Vec::new();
        let spec = crate::spec::read_spec(&root, &mut diags);
        if let Some(d) = diags.first() {
            return Err(format!("{kind}: {}", d.message));
        }
        let [stage] = spec.stages.as_slice() else {
            return Err(format!(
                "{kind}: the example must hold exactly one [stages.<id>] table"
            ));
        };
        if stage.kind != kind {
            return Err(format!("{kind}: the example's kind is `{}`", stage.kind));
        }
        let written = stage.params.as_table().map(|t| {
            t.entries
                .iter()
                .map(|(k, _)| k.name.as_str())
                .collect::<Vec<_>>()
        });
        if let (Some(fields), Some(written)) = (info.fields, written) {
            let missing: Vec<&str> = fields
                .iter()
                .copied()
                .filter(|f| !written.contains(f))
                // a key without a default (an optional value) is shown commented out
                .filter(|f| !info.example.contains(&format!("# {f} =")))
                .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "{kind}: the example leaves out {}; it must show every key, with its default \
                     or, for an optional one, as a comment (`# key = value`)",
                    missing.join(", ")
                ));
            }
        }
        let factory = &self.kinds[kind];
        let whole = factory
            .describe(&stage.params)
            .map_err(|e| format!("{kind}: {e} ({:?})", e.help))?;
        let stale = keys_not_at_default(factory.as_ref(), &stage.params, &whole);
        if !stale.is_empty() {
            return Err(format!(
                "{kind}: the example writes {} with a value other than the default the config \
                 gives when the key is left out; write the default (or change `impl Default`)",
                stale.join(", ")
            ));
        }
        Ok(())
    }

    /// Parses the parameters of a stage of `kind` (reserved keys already removed).
    pub fn parse(
        &self,
        kind: &str,
        params: &Value,
    ) -> Option<Result<Box<dyn ConfiguredStage>, DeError>> {
        self.kinds.get(kind).map(|f| f.parse(params))
    }
}

/// Keys of `params` whose removal changes the parsed config (keys without a default, whose
/// removal fails to parse, are the example's to choose).
fn keys_not_at_default(factory: &dyn Factory, params: &Value, whole: &str) -> Vec<String> {
    let Some(table) = params.as_table() else {
        return Vec::new();
    };
    let mut stale = Vec::new();
    for (i, (key, _)) in table.entries.iter().enumerate() {
        let mut without = params.clone();
        if let Some(t) = without.as_table_mut() {
            t.entries.remove(i);
        }
        if factory.describe(&without).is_ok_and(|d| d != whole) {
            stale.push(key.name.clone());
        }
    }
    stale
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    /// A config with a literal default, an optional value and a required key; each `EXAMPLE`
    /// below is one way of writing it.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(
        dead_code,
        reason = "only parsed: the tests check which examples parse"
    )]
    struct Params {
        /// Required.
        path: String,
        /// Added to each number.
        #[serde(default = "Params::one")]
        add: u64,
        /// Stop after this many; absent = never.
        #[serde(default)]
        stop_after: Option<u64>,
    }

    impl Params {
        fn one() -> u64 {
            1
        }
    }

    macro_rules! kind {
        ($name:ident, $kind:literal, $example:literal) => {
            #[derive(Debug, Deserialize)]
            #[serde(transparent)]
            struct $name(Params);

            impl StageConfig for $name {
                const KIND: &'static str = $kind;
                const SUMMARY: &'static str = "test";
                const EXAMPLE: &'static str = $example;

                fn ports(&self) -> Ports {
                    Ports::new()
                }

                fn build(self, _ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
                    Err(format!("{:?}", self.0).into())
                }
            }
        };
    }

    kind!(
        AtDefaults,
        "test.at_defaults",
        "[stages.t]\nkind = \"test.at_defaults\"\npath = \"a\"\nadd = 1\n# stop_after = 3\n"
    );
    kind!(
        Stale,
        "test.stale",
        "[stages.t]\nkind = \"test.stale\"\npath = \"a\"\nadd = 2\n# stop_after = 3\n"
    );
    kind!(
        OptionWritten,
        "test.option_written",
        "[stages.t]\nkind = \"test.option_written\"\npath = \"a\"\nadd = 1\nstop_after = 3\n"
    );

    fn registry() -> Registry {
        let mut r = Registry::new();
        r.register::<AtDefaults>()
            .register::<Stale>()
            .register::<OptionWritten>();
        r
    }

    #[test]
    fn an_example_at_the_defaults_passes_with_its_required_key_written() {
        assert_eq!(registry().check_example("test.at_defaults"), Ok(()));
    }

    #[test]
    fn an_example_writing_a_value_other_than_the_default_names_that_key() {
        let e = registry().check_example("test.stale").unwrap_err();
        assert!(
            e.contains("writes add with a value other than the default"),
            "{e}"
        );
        assert!(
            !e.contains("path"),
            "a required key is the example's to choose: {e}"
        );
    }

    #[test]
    fn an_optional_value_must_be_commented_out() {
        let e = registry().check_example("test.option_written").unwrap_err();
        assert!(e.contains("writes stop_after"), "{e}");
    }
}
