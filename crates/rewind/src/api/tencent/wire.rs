//! The cloud API's wire: where a request carries its action and parameters (TC3
//! headers with a JSON body or a query; or everything in the query or form, with the
//! older signature), and the answer envelope every SDK reads.

use super::params::{Params, TcError};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

/// Parameters every request may carry beside the action's own (the older signature's).
const COMMON: &[&str] = &[
    "Action",
    "Version",
    "Region",
    "Timestamp",
    "Nonce",
    "SecretId",
    "Signature",
    "SignatureMethod",
    "Token",
    "Language",
    "RequestClient",
];

/// How a request is signed.
pub enum Signing {
    /// TC3-HMAC-SHA256 in the `Authorization` header.
    Tc3,
    /// The older signature: these are every parameter, decoded, as sent.
    Legacy(Vec<(String, String)>),
}

/// One action call, as read off the request.
pub struct Call {
    /// The action (`CreateLiveRecordTemplate`, …).
    pub action: String,
    /// `X-TC-Version` or `Version` (may be empty).
    pub version: String,
    /// The action's parameters.
    pub params: Params,
    /// How it is signed.
    pub signing: Signing,
}

/// The action a request names, if any: the `X-TC-Action` header, or `Action` in the
/// query (a GET) — a POST's form is only read once its body is in.
pub fn action_in_head(headers: &HeaderMap, query: &str) -> Option<String> {
    if let Some(a) = headers.get("x-tc-action").and_then(|v| v.to_str().ok()) {
        return Some(a.to_string());
    }
    pairs(query).ok()?.into_iter().find(|(k, _)| k == "Action").map(|(_, v)| v)
}

fn pairs(s: &str) -> Result<Vec<(String, String)>, TcError> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(s).map_err(|e| {
        TcError::new("InvalidParameter", format!("the parameters are not URL-encoded pairs: {e}"))
    })
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Reads the call out of a request's method, headers, query and body.
pub fn read_call(method: &str, headers: &HeaderMap, query: &str, body: &[u8]) -> Result<Call, TcError> {
    let content_type = header(headers, "content-type").unwrap_or("").to_ascii_lowercase();
    let is_form = content_type.starts_with("application/x-www-form-urlencoded");
    if let Some(action) = header(headers, "x-tc-action") {
        let params = if method == "GET" {
            Params::from_flat(unflatten(pairs(query)?)?)
        } else if is_form {
            Params::from_flat(unflatten(pairs(body_text(body)?)?)?)
        } else if content_type.starts_with("application/json") || content_type.is_empty() {
            Params::from_json(json_object(body)?)
        } else {
            return Err(TcError::new(
                "InvalidParameter",
                format!("Content-Type {content_type:?} is not one this server reads: send application/json"),
            ));
        };
        let version = header(headers, "x-tc-version").unwrap_or("").to_string();
        return Ok(Call { action: action.to_string(), version, params, signing: Signing::Tc3 });
    }
    let all = if method == "GET" {
        pairs(query)?
    } else if is_form {
        pairs(body_text(body)?)?
    } else {
        Vec::new()
    };
    let get = |k: &str| all.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let Some(action) = get("Action") else {
        return Err(TcError::new(
            "MissingParameter",
            "no action: send X-TC-Action with a TC3 signature, or Action in the query or form",
        ));
    };
    let version = get("Version").unwrap_or_default();
    let own: Vec<(String, String)> =
        all.iter().filter(|(k, _)| !COMMON.contains(&k.as_str())).cloned().collect();
    let params = Params::from_flat(unflatten(own)?);
    Ok(Call { action, version, params, signing: Signing::Legacy(all) })
}

fn body_text(body: &[u8]) -> Result<&str, TcError> {
    std::str::from_utf8(body).map_err(|_| TcError::new("InvalidParameter", "the body is not UTF-8"))
}

fn json_object(body: &[u8]) -> Result<Map<String, Value>, TcError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(TcError::new("InvalidParameter", "the body must be a JSON object of parameters")),
        Err(e) => Err(TcError::new("InvalidParameter", format!("the body is not JSON: {e}"))),
    }
}

/// The most parts a flattened name may have (`A.0.B.1.C`), and the highest list index:
/// a peer's parameter names cannot make us build deep or huge values.
const MAX_DEPTH: usize = 6;
const MAX_INDEX: usize = 1000;

/// `FlvParam.Enable=1&Vids.0=a` → `{"FlvParam":{"Enable":"1"},"Vids":["a"]}`: the form
/// the SDKs flatten nested parameters to in a query or form (values stay strings).
pub fn unflatten(pairs: Vec<(String, String)>) -> Result<Map<String, Value>, TcError> {
    let mut root = Value::Object(Map::new());
    for (name, value) in pairs {
        let parts: Vec<&str> = name.split('.').collect();
        if parts.len() > MAX_DEPTH || parts.iter().any(|p| p.is_empty()) {
            return Err(TcError::new(
                "InvalidParameter",
                format!("the parameter name {name:?} is malformed"),
            ));
        }
        let mut at = &mut root;
        for (i, p) in parts.iter().enumerate() {
            let Value::Object(m) = at else {
                return Err(TcError::new(
                    "InvalidParameter",
                    format!("the parameter {name:?} is given twice"),
                ));
            };
            if p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<usize>().map_or(true, |n| n > MAX_INDEX) {
                return Err(TcError::new(
                    "InvalidParameter",
                    format!("the list index in {name:?} is too large"),
                ));
            }
            let last = i + 1 == parts.len();
            let slot = m
                .entry(p.to_string())
                .or_insert_with(|| if last { Value::Null } else { Value::Object(Map::new()) });
            if last {
                if !slot.is_null() {
                    return Err(TcError::new(
                        "InvalidParameter",
                        format!("the parameter {name:?} is given twice"),
                    ));
                }
                *slot = Value::String(value.clone());
            }
            at = slot;
        }
    }
    let Value::Object(m) = lists(root) else { unreachable!("the root is an object") };
    Ok(m)
}

/// Objects whose keys are all list indexes become lists, in index order.
fn lists(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let indexed = !m.is_empty() && m.keys().all(|k| k.bytes().all(|b| b.is_ascii_digit()));
            if indexed {
                let mut items: Vec<(usize, Value)> =
                    m.into_iter().map(|(k, v)| (k.parse().unwrap_or(usize::MAX), lists(v))).collect();
                items.sort_by_key(|(i, _)| *i);
                Value::Array(items.into_iter().map(|(_, v)| v).collect())
            } else {
                Value::Object(m.into_iter().map(|(k, v)| (k, lists(v))).collect())
            }
        }
        other => other,
    }
}

/// A new request id (a random UUID, as the cloud's).
pub fn request_id() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!("{}-{}-4{}-{:x}{}-{}", &h[0..8], &h[8..12], &h[13..16], 8 | (b[8] & 3), &h[17..20], &h[20..32])
}

/// The answer: always HTTP 200, `Content-Type: application/json` exactly (the Python
/// SDK reads an error only with exactly that type), `{"Response":{…,"RequestId"}}`.
pub fn answer(result: Result<Value, TcError>, request_id: &str) -> Response {
    let mut inner = match result {
        Ok(Value::Object(m)) => m,
        Ok(_) => Map::new(),
        Err(e) => {
            let mut m = Map::new();
            m.insert("Error".into(), serde_json::json!({"Code": e.code, "Message": e.message}));
            m
        }
    };
    inner.insert("RequestId".into(), Value::String(request_id.to_string()));
    let body = serde_json::to_vec(&serde_json::json!({ "Response": inner })).unwrap_or_default();
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flat(s: &str) -> Value {
        Value::Object(unflatten(pairs(s).unwrap()).unwrap())
    }

    #[test]
    fn flattened_names_nest() {
        assert_eq!(
            flat("TemplateName=t&FlvParam.Enable=1&FlvParam.RecordInterval=60&Vids.1=b&Vids.0=a"),
            json!({"TemplateName":"t","FlvParam":{"Enable":"1","RecordInterval":"60"},"Vids":["a","b"]})
        );
        assert_eq!(
            flat("Sort.Field=CreateTime&Sort.Order=Desc"),
            json!({"Sort":{"Field":"CreateTime","Order":"Desc"}})
        );
        assert_eq!(flat(""), json!({}));
    }

    #[test]
    fn malformed_names_are_errors() {
        for bad in ["A..B=1", "A=1&A=2", "A=1&A.B=2", "A.99999=1", "a.b.c.d.e.f.g=1", ".A=1"] {
            assert!(unflatten(pairs(bad).unwrap()).is_err(), "{bad}");
        }
    }

    #[test]
    fn request_ids_are_uuids() {
        let id = request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, request_id());
    }

    #[test]
    fn legacy_calls_keep_common_parameters_apart() {
        let h = HeaderMap::new();
        let c = read_call("GET", &h, "Action=DropLiveStream&Version=2018-08-01&Nonce=1&DomainName=d", b"")
            .unwrap();
        assert_eq!(c.action, "DropLiveStream");
        assert_eq!(c.version, "2018-08-01");
        assert_eq!(c.params.names(), vec!["DomainName".to_string()]);
        assert!(matches!(c.signing, Signing::Legacy(ref all) if all.len() == 4));
        assert!(read_call("POST", &h, "", b"{}").is_err(), "no action anywhere");
    }
}
