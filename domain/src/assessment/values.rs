//! Value types of an assessment: the score of one criterion, and the trace of how the model
//! arrived at the assessment.
//!
//! The content hash is SHA-256 over [`canonical_content`] of the input snapshot and the raw
//! response; the application computes it (hashing is not the domain's business) and every read
//! recomputes it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The score of one criterion, out of `max`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionScore {
    pub criterion: String,
    pub score: f64,
    pub max: f64,
}

/// How the model produced the assessment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    pub model: String,
    pub prompt_hash: String,
    pub input_snapshot: Value,
    pub raw_response: String,
    pub parsed_result: Value,
    /// Hex SHA-256 of [`canonical_content`]`(input_snapshot, raw_response)`.
    pub content_hash: String,
}

/// The exact bytes the content hash covers: `{"input":…,"response":…}` as JSON with object
/// keys sorted (recursively), no whitespace, numbers and strings as serde_json writes them.
/// Stable across storage round trips (jsonb reorders keys; this does not care).
pub fn canonical_content(input_snapshot: &Value, raw_response: &str) -> String {
    let mut out = String::from("{\"input\":");
    out.push_str(&write_sorted(input_snapshot));
    out.push_str(",\"response\":");
    out.push_str(&Value::String(raw_response.to_owned()).to_string());
    out.push('}');
    out
}

/// JSON text with object keys sorted at every level, whatever order the map keeps.
fn write_sorted(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), write_sorted(&map[k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(write_sorted).collect();
            format!("[{}]", parts.join(","))
        }
        // A whole number written as a float (`1e16`, `3.0`, `-0.0`) is written as the integer
        // it is: storage (jsonb) gives it back in that form.
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1.8e19 => format!("{}", f as i128),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_content_ignores_key_order_and_whitespace() {
        let a: Value = serde_json::from_str(r#"{"b": [1, {"y": 2, "x": 1}], "a": "é"}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":"é","b":[1,{"x":1,"y":2}]}"#).unwrap();
        assert_eq!(canonical_content(&a, "r"), canonical_content(&b, "r"));
        assert_eq!(
            canonical_content(&b, "say \"hi\""),
            r#"{"input":{"a":"é","b":[1,{"x":1,"y":2}]},"response":"say \"hi\""}"#
        );
        assert_ne!(canonical_content(&b, "r"), canonical_content(&b, "r "));
    }

    #[test]
    fn canonical_numbers_survive_a_storage_round_trip() {
        let written: Value = serde_json::from_str(r#"[1e16, 3.0, -0.0, 0.1, 1.5e-7]"#).unwrap();
        let stored: Value =
            serde_json::from_str(r#"[10000000000000000, 3, 0, 0.1, 0.00000015]"#).unwrap();
        assert_eq!(
            canonical_content(&written, ""),
            canonical_content(&stored, "")
        );
    }
}
