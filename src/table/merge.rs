//! The widget settings of the configuration as JSON, merged from the defaults down to a
//! language (later wins): what a pair's answer carries as its `appConfig`.

use serde_json::{Map, Value};

/// TOML widget settings as JSON. Dates have no JSON form and become their TOML text.
pub fn from_toml(table: &toml::Table) -> Map<String, Value> {
    table
        .iter()
        .map(|(k, v)| (k.clone(), value_from_toml(v)))
        .collect()
}

fn value_from_toml(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(value_from_toml).collect()),
        toml::Value::Table(table) => Value::Object(from_toml(table)),
    }
}

/// Later wins; objects merge key by key at every depth, anything else is replaced whole.
pub fn deep_merge(base: &mut Map<String, Value>, overlay: Map<String, Value>) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(incoming)) => {
                deep_merge(existing, incoming)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deep_merge_merges_objects_and_replaces_the_rest() {
        let mut base = json!({"a": {"x": 1, "y": [1, 2]}, "b": true})
            .as_object()
            .unwrap()
            .clone();
        let overlay = json!({"a": {"y": [3], "z": {"k": "v"}}, "b": false})
            .as_object()
            .unwrap()
            .clone();
        deep_merge(&mut base, overlay);
        assert_eq!(
            Value::Object(base),
            json!({"a": {"x": 1, "y": [3], "z": {"k": "v"}}, "b": false})
        );
    }
}
