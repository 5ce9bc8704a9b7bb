//! Reading fields of an object's JSON by path, with errors that name the
//! field. Absent and `null` are the same (as in Go's decoder); a value of
//! the wrong type is an error, never a panic.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::Value;

/// A field that cannot be read, e.g. `status.lastScheduleTime: not an RFC
/// 3339 time: "soon"`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct FieldError {
    pub path: String,
    pub problem: String,
}

impl FieldError {
    pub fn new(path: &[&str], problem: impl Into<String>) -> Self {
        FieldError {
            path: path.join("."),
            problem: problem.into(),
        }
    }
}

/// The value at `path`, or None when it or any parent is absent or null.
pub fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter()
        .try_fold(v, |v, key| v.get(key))
        .filter(|v| !v.is_null())
}

fn wrong(path: &[&str], expected: &str, found: &Value) -> FieldError {
    let mut shown = found.to_string();
    if shown.len() > 64 {
        let cut = (0..=64)
            .rev()
            .find(|&i| shown.is_char_boundary(i))
            .unwrap_or(0);
        shown.truncate(cut);
        shown.push('…');
    }
    FieldError::new(path, format!("expected {expected}, found {shown}"))
}

pub fn string(v: &Value, path: &[&str]) -> Result<Option<String>, FieldError> {
    string_value(get(v, path), path)
}

/// [`string`] of a value already found at `path`.
pub fn string_value(found: Option<&Value>, path: &[&str]) -> Result<Option<String>, FieldError> {
    match found.filter(|v| !v.is_null()) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(wrong(path, "a string", other)),
    }
}

pub fn boolean(v: &Value, path: &[&str]) -> Result<Option<bool>, FieldError> {
    match get(v, path) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(wrong(path, "a boolean", other)),
    }
}

/// An integer. JSON integers beyond i64 saturate (they mean "huge"); a
/// number with a fraction is an error.
pub fn integer(v: &Value, path: &[&str]) -> Result<Option<i64>, FieldError> {
    match get(v, path) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else if n.as_u64().is_some() {
                Ok(Some(i64::MAX))
            } else {
                match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.is_finite() => {
                        // `as` saturates: 1e30 means "huge" as well.
                        Ok(Some(f as i64))
                    }
                    _ => Err(wrong(path, "an integer", &Value::Number(n.clone()))),
                }
            }
        }
        Some(other) => Err(wrong(path, "an integer", other)),
    }
}

/// An RFC 3339 instant, read as [`super::time::parse`] does.
pub fn time(v: &Value, path: &[&str]) -> Result<Option<Timestamp>, FieldError> {
    time_value(get(v, path), path)
}

/// [`time`] of a value already found at `path`.
pub fn time_value(found: Option<&Value>, path: &[&str]) -> Result<Option<Timestamp>, FieldError> {
    match found.filter(|v| !v.is_null()) {
        None => Ok(None),
        Some(Value::String(s)) => super::time::parse(s)
            .map(Some)
            .map_err(|e| FieldError::new(path, e)),
        Some(other) => Err(wrong(path, "an RFC 3339 time", other)),
    }
}

/// A map of strings (labels, annotations).
pub fn string_map(
    v: &Value,
    path: &[&str],
) -> Result<Option<BTreeMap<String, String>>, FieldError> {
    match get(v, path) {
        None => Ok(None),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(wrong(&[path, &[k.as_str()]].concat(), "a string", other)),
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(other) => Err(wrong(path, "an object", other)),
    }
}

/// The items of an array (empty when absent).
pub fn array<'a>(v: &'a Value, path: &[&str]) -> Result<&'a [Value], FieldError> {
    match get(v, path) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(wrong(path, "a list", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_by_path_and_names_the_field_in_errors() {
        let v = json!({"spec": {"n": 5, "big": 18446744073709551615u64, "f": 2.0, "half": 2.5,
                                "s": "x", "b": true, "null": null, "m": {"a": "b"}, "bad": {"a": 1}}});
        assert_eq!(integer(&v, &["spec", "n"]), Ok(Some(5)));
        assert_eq!(integer(&v, &["spec", "big"]), Ok(Some(i64::MAX)));
        assert_eq!(integer(&v, &["spec", "f"]), Ok(Some(2)));
        assert_eq!(
            integer(&v, &["spec", "half"]).unwrap_err().to_string(),
            "spec.half: expected an integer, found 2.5"
        );
        assert_eq!(integer(&v, &["spec", "null"]), Ok(None));
        assert_eq!(integer(&v, &["nothing", "here"]), Ok(None));
        assert_eq!(string(&v, &["spec", "s"]), Ok(Some("x".into())));
        assert!(string(&v, &["spec", "n"]).is_err());
        assert_eq!(boolean(&v, &["spec", "b"]), Ok(Some(true)));
        assert_eq!(string_map(&v, &["spec", "m"]).unwrap().unwrap()["a"], "b");
        assert_eq!(
            string_map(&v, &["spec", "bad"]).unwrap_err().path,
            "spec.bad.a"
        );
        assert!(array(&v, &["spec", "s"]).is_err());
        assert!(array(&v, &["spec", "absent"]).unwrap().is_empty());
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let v = json!({"x": "é".repeat(100)});
        let e = integer(&v, &["x"]).unwrap_err().to_string();
        assert!(e.len() < 100 && e.ends_with('…'), "{e}");
    }
}
