//! A serde deserializer over [`Value`] whose errors point at the offending key or value.
//!
//! Each stage config is deserialized from its own table, so a misspelt key, a wrong type or a
//! missing field is reported at its exact place in whichever file it came from.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use crate::source::Span;
use crate::value::{Key, Table, Value, ValueKind};

/// A deserialization error, with the span it belongs to once known.
#[derive(Debug, Clone)]
pub struct DeError {
    pub message: String,
    pub span: Option<Span>,
    pub help: Option<String>,
}

impl DeError {
    fn at(mut self, span: &Span) -> Self {
        self.span.get_or_insert_with(|| span.clone());
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            message: msg.to_string(),
            span: None,
            help: None,
        }
    }

    fn invalid_type(unexpected: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        Self::custom(format_args!(
            "wrong type: expected {expected}, found {unexpected}"
        ))
    }

    fn invalid_value(unexpected: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        Self::custom(format_args!(
            "invalid value: expected {expected}, found {unexpected}"
        ))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let mut err = Self::custom(format_args!("unknown key `{field}`"));
        err.help = Some(valid_choices_help(
            field,
            expected.iter().copied(),
            "valid keys",
        ));
        err
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let mut err = Self::custom(format_args!("unknown value `{variant}`"));
        err.help = Some(valid_choices_help(
            variant,
            expected.iter().copied(),
            "valid values",
        ));
        err
    }

    fn missing_field(field: &'static str) -> Self {
        Self::custom(format_args!("missing required key `{field}`"))
    }
}

/// "did you mean `x`? valid keys: a, b, c" (the suggestion only when one is close enough).
pub fn valid_choices_help<'a>(
    given: &str,
    choices: impl Iterator<Item = &'a str>,
    what: &str,
) -> String {
    let choices: Vec<&str> = choices.collect();
    let list = if choices.is_empty() {
        "(none)".to_string()
    } else {
        choices.join(", ")
    };
    match closest_choice(given, choices.iter().copied()) {
        Some(best) => format!("did you mean `{best}`? {what}: {list}"),
        None => format!("{what}: {list}"),
    }
}

/// The choice most similar to `given` (Jaro-Winkler above 0.8), for "did you mean".
pub fn closest_choice<'a>(given: &str, choices: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    choices
        .map(|c| (strsim::jaro_winkler(given, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, best)| best)
}

/// Deserializes `T` from a spanned value.
pub fn from_value<T: de::DeserializeOwned>(value: &Value) -> Result<T, DeError> {
    T::deserialize(ValueDeserializer(value))
}

pub struct ValueDeserializer<'a>(pub &'a Value);

impl<'de> de::Deserializer<'de> for ValueDeserializer<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let v = self.0;
        let result = match &v.kind {
            ValueKind::String(s) | ValueKind::Datetime(s) => visitor.visit_str(s),
            ValueKind::Integer(i) => visitor.visit_i64(*i),
            ValueKind::Float(f) => visitor.visit_f64(*f),
            ValueKind::Boolean(b) => visitor.visit_bool(*b),
            ValueKind::Array(items) => visitor.visit_seq(SeqAccess {
                items: items.iter(),
            }),
            ValueKind::Table(table) => visitor.visit_map(MapAccess::new(table)),
        };
        result.map_err(|e| e.at(&v.span))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let v = self.0;
        let result = match &v.kind {
            ValueKind::String(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            ValueKind::Table(t) if t.entries.len() == 1 => {
                let (key, value) = &t.entries[0];
                visitor.visit_enum(EnumAccess { key, value })
            }
            _ => Err(de::Error::custom(format_args!(
                "wrong type: expected a string or a table with one key, found {}",
                v.type_name()
            ))),
        };
        result.map_err(|e| e.at(&v.span))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

struct SeqAccess<'a> {
    items: std::slice::Iter<'a, Value>,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'_> {
    type Error = DeError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, DeError> {
        match self.items.next() {
            Some(v) => seed
                .deserialize(ValueDeserializer(v))
                .map(Some)
                .map_err(|e| e.at(&v.span)),
            None => Ok(None),
        }
    }
}

struct MapAccess<'a> {
    entries: std::slice::Iter<'a, (Key, Value)>,
    pending: Option<&'a Value>,
}

impl<'a> MapAccess<'a> {
    fn new(table: &'a Table) -> Self {
        Self {
            entries: table.entries.iter(),
            pending: None,
        }
    }
}

impl<'de> de::MapAccess<'de> for MapAccess<'_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.pending = Some(value);
        let de: de::value::StrDeserializer<'_, DeError> = key.name.as_str().into_deserializer();
        seed.deserialize(de).map(Some).map_err(|e| e.at(&key.span))
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, DeError> {
        let value = self
            .pending
            .take()
            .expect("serde calls next_key before next_value");
        seed.deserialize(ValueDeserializer(value))
            .map_err(|e| e.at(&value.span))
    }
}

struct EnumAccess<'a> {
    key: &'a Key,
    value: &'a Value,
}

impl<'de, 'a> de::EnumAccess<'de> for EnumAccess<'a> {
    type Error = DeError;
    type Variant = ValueDeserializer<'a>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), DeError> {
        let de: de::value::StrDeserializer<'_, DeError> =
            self.key.name.as_str().into_deserializer();
        let variant = seed.deserialize(de).map_err(|e| e.at(&self.key.span))?;
        Ok((variant, ValueDeserializer(self.value)))
    }
}

impl<'de> de::VariantAccess<'de> for ValueDeserializer<'_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        Err(
            <DeError as de::Error>::custom("expected a bare string for this value")
                .at(&self.0.span),
        )
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, DeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_map(self, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Params {
        learning_rate: f64,
        #[serde(default)]
        steps: u32,
        #[serde(default)]
        mode: Option<Mode>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        TokenMean,
        SeqMean,
    }

    fn parse(text: &str) -> (Value, Result<Params, DeError>) {
        let v = Value::parse_document(text, 0).unwrap();
        let r = from_value::<Params>(&v);
        (v, r)
    }

    fn spanned<'t>(text: &'t str, e: &DeError) -> &'t str {
        &text[e.span.clone().unwrap().range]
    }

    #[test]
    fn reads_values_and_integers_as_floats() {
        let (_, r) = parse("learning_rate = 1\nsteps = 3\nmode = \"seq_mean\"\n");
        let p = r.unwrap();
        assert_eq!(p.learning_rate, 1.0);
        assert_eq!(p.steps, 3);
        assert_eq!(p.mode, Some(Mode::SeqMean));
    }

    #[test]
    fn misspelt_key_points_at_the_key_and_suggests() {
        let text = "lerning_rate = 0.1\n";
        let (_, r) = parse(text);
        let e = r.unwrap_err();
        assert_eq!(spanned(text, &e), "lerning_rate");
        assert!(e.help.unwrap().starts_with("did you mean `learning_rate`?"));
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        let text = "learning_rate = 0.1\nsteps = \"many\"\n";
        let e = parse(text).1.unwrap_err();
        assert_eq!(spanned(text, &e), "\"many\"");
        assert!(e.message.contains("expected u32"), "{}", e.message);
    }

    #[test]
    fn negative_into_unsigned_and_bad_variant_are_errors() {
        let text = "learning_rate = 0.1\nsteps = -2\n";
        assert_eq!(spanned(text, &parse(text).1.unwrap_err()), "-2");
        let text = "learning_rate = 0.1\nmode = \"tokenmean\"\n";
        let e = parse(text).1.unwrap_err();
        assert!(e.help.unwrap().contains("token_mean"));
    }

    #[test]
    fn missing_key_is_reported() {
        let e = parse("steps = 1\n").1.unwrap_err();
        assert!(e.message.contains("learning_rate"));
        assert!(e.span.is_some());
    }
}
