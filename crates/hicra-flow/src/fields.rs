//! The top-level keys a stage config accepts, read from its serde derive without a value:
//! a deserializer that only records the field list `deserialize_struct` is called with. Used
//! to hold every stage's documented EXAMPLE to naming every key (a stale example fails).

use serde::de::{self, Deserialize, Visitor};

/// Field names of a `#[derive(Deserialize)]` struct (`None` for other shapes).
pub fn struct_fields<'de, T: Deserialize<'de>>() -> Option<&'static [&'static str]> {
    let mut probe = Probe(None);
    let _ = T::deserialize(&mut probe);
    probe.0
}

struct Probe(Option<&'static [&'static str]>);

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field probe")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Stop
    }
}

impl<'de> de::Deserializer<'de> for &mut Probe {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        self.0 = Some(fields);
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Example {
        alpha: f64,
        #[serde(default)]
        beta: Option<u32>,
    }

    #[test]
    fn the_probe_reads_a_derived_structs_keys() {
        assert_eq!(struct_fields::<Example>(), Some(&["alpha", "beta"][..]));
        assert_eq!(struct_fields::<u32>(), None);
    }
}
