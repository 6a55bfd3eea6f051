//! An action's parameters with the cloud's errors: typed reads that name the field
//! (`MissingParameter`, `InvalidParameterValue`, `UnknownParameter`), whether the
//! parameters came as JSON or flattened into a query (where every value is a string).

use serde_json::{Map, Value};

/// An error in the cloud's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcError {
    /// The cloud's code (`InvalidParameterValue`, `ResourceNotFound.…`).
    pub code: String,
    /// A sentence for humans.
    pub message: String,
}

impl TcError {
    /// An error with `code` and `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        TcError { code: code.into(), message: message.into() }
    }

    /// A field rewind has no counterpart for, set to a value that asks for something.
    pub fn unsupported(field: &str, why: &str) -> Self {
        TcError::new("UnsupportedOperation", format!("{field}: {why}"))
    }
}

/// `/v1` errors carry cloud-style codes already; the few of our own are named as the
/// cloud would.
impl From<crate::error::Error> for TcError {
    fn from(e: crate::error::Error) -> Self {
        TcError::new(cloud_code(e.code.as_str()), e.message)
    }
}

/// The cloud's code for one of the `/v1` API's codes.
pub fn cloud_code(code: &str) -> &str {
    match code {
        "InvalidParameter.Body" => "InvalidParameter",
        "UnsupportedOperation.Method" => "UnsupportedOperation",
        other => other,
    }
}

/// Parameters of one call.
#[derive(Debug, Clone)]
pub struct Params {
    map: Map<String, Value>,
    /// Flattened (query or form): values are strings, numbers included.
    flat: bool,
    /// Where these sit in the request (`FlvParam.`), for messages.
    prefix: String,
}

fn invalid(field: &str, want: &str) -> TcError {
    TcError::new("InvalidParameterValue", format!("{field} must be {want}"))
}

impl Params {
    /// From a JSON body.
    pub fn from_json(map: Map<String, Value>) -> Self {
        Params { map, flat: false, prefix: String::new() }
    }

    /// From a query or form, unflattened.
    pub fn from_flat(map: Map<String, Value>) -> Self {
        Params { map, flat: true, prefix: String::new() }
    }

    /// The names given.
    #[cfg(test)]
    pub fn names(&self) -> Vec<String> {
        self.map.keys().cloned().collect()
    }

    /// Whether `name` is set to something (not absent, null, `""`, `[]` or `{}`).
    pub fn asks(&self, name: &str) -> bool {
        match self.get(name) {
            None => false,
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Object(o)) => !o.is_empty(),
            Some(_) => true,
        }
    }

    fn field(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// Refuses any parameter not in `known` (the cloud's `UnknownParameter`).
    pub fn only(&self, action: &str, known: &[&str]) -> Result<(), TcError> {
        match self.map.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(TcError::new(
                "UnknownParameter",
                format!("{} is not a parameter of {action}", self.field(k)),
            )),
            None => Ok(()),
        }
    }

    /// A string, if given.
    pub fn str(&self, name: &str) -> Result<Option<String>, TcError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(&self.field(name), "a string")),
        }
    }

    /// A string that must be given.
    pub fn need_str(&self, name: &str) -> Result<String, TcError> {
        self.str(name)?.ok_or_else(|| self.missing(name))
    }

    fn missing(&self, name: &str) -> TcError {
        TcError::new("MissingParameter", format!("the parameter {} is required", self.field(name)))
    }

    /// An integer, if given (a string of digits when flattened).
    pub fn int(&self, name: &str) -> Result<Option<i64>, TcError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => {
                n.as_i64().map(Some).ok_or_else(|| invalid(&self.field(name), "an integer"))
            }
            Some(Value::String(s)) if self.flat => {
                s.trim().parse().map(Some).map_err(|_| invalid(&self.field(name), "an integer"))
            }
            Some(_) => Err(invalid(&self.field(name), "an integer")),
        }
    }

    /// An integer that must be given.
    pub fn need_int(&self, name: &str) -> Result<i64, TcError> {
        self.int(name)?.ok_or_else(|| self.missing(name))
    }

    /// A `TemplateId` that must be given: an id is `min` or more.
    pub fn need_template_id(&self, min: i64) -> Result<i64, TcError> {
        let id = self.need_int("TemplateId")?;
        if id < min {
            return Err(TcError::new(
                "InvalidParameterValue",
                format!("TemplateId must be a template's id, not {id}"),
            ));
        }
        Ok(id)
    }

    /// An integer in `lo..=hi`, if given.
    pub fn int_in(&self, name: &str, lo: i64, hi: i64) -> Result<Option<i64>, TcError> {
        match self.int(name)? {
            Some(v) if !(lo..=hi).contains(&v) => {
                Err(invalid(&self.field(name), &format!("{lo} to {hi}, not {v}")))
            }
            v => Ok(v),
        }
    }

    /// A boolean, if given.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, TcError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if self.flat && (s == "true" || s == "false") => Ok(Some(s == "true")),
            Some(_) => Err(invalid(&self.field(name), "true or false")),
        }
    }

    /// A nested structure, if given.
    pub fn obj(&self, name: &str) -> Result<Option<Params>, TcError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(Params {
                map: m.clone(),
                flat: self.flat,
                prefix: format!("{}{name}.", self.prefix),
            })),
            Some(_) => Err(invalid(&self.field(name), "a structure")),
        }
    }

    /// A list of strings (empty when not given).
    pub fn str_list(&self, name: &str) -> Result<Vec<String>, TcError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| invalid(&self.field(name), "a list of strings"))
                })
                .collect(),
            Some(_) => Err(invalid(&self.field(name), "a list of strings")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(v: Value, flat: bool) -> Params {
        let Value::Object(m) = v else { panic!() };
        if flat { Params::from_flat(m) } else { Params::from_json(m) }
    }

    #[test]
    fn typed_reads_name_the_field() {
        let j = p(json!({"A": 1, "S": "x", "O": {"E": "1"}, "N": null}), false);
        assert_eq!(j.int("A").unwrap(), Some(1));
        assert_eq!(j.int("N").unwrap(), None, "null is not given");
        assert_eq!(j.int("S").unwrap_err().code, "InvalidParameterValue");
        assert_eq!(j.need_str("Z").unwrap_err().code, "MissingParameter");
        let e = j.obj("O").unwrap().unwrap().int("E").unwrap_err();
        assert!(e.message.contains("O.E"), "{}", e.message);
        assert_eq!(j.int_in("A", 2, 3).unwrap_err().code, "InvalidParameterValue");
        assert_eq!(j.only("X", &["A", "S", "O"]).unwrap_err().code, "UnknownParameter");
        let f = p(json!({"A": "7", "B": "true", "L": ["a", "b"]}), true);
        assert_eq!(f.int("A").unwrap(), Some(7));
        assert_eq!(f.bool("B").unwrap(), Some(true));
        assert_eq!(f.str_list("L").unwrap(), vec!["a", "b"]);
    }
}
