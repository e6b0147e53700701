//! [`Body`]: a request's JSON body as text, exactly the bytes sent.
//!
//! Bodies are checked once, where they are made: serialized by serde_json, parsed from a plan
//! file, or spliced from a skeleton that is valid by construction (render's skeletons, tested
//! byte for byte against serde_json). Serializing a body writes its text as raw JSON.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// One JSON value as text.
#[derive(Clone, PartialEq, Eq)]
pub struct Body(Box<str>);

impl Body {
    /// A value's compact JSON, as `serde_json::to_string` writes it.
    pub fn of<T: Serialize + ?Sized>(value: &T) -> Body {
        // The bodies made here are derived `Serialize` impls of structs, enums, strings and
        // string-keyed maps, which serde_json always represents; `null` is never reached (the
        // unit tests serialize every body type) but is no panic path.
        Body(
            serde_json::to_string(value)
                .unwrap_or_else(|_| "null".to_owned())
                .into_boxed_str(),
        )
    }

    /// Text that must be one JSON value (surrounding whitespace is dropped).
    pub fn parse(text: &str) -> Result<Body, serde_json::Error> {
        let raw: Box<RawValue> = serde_json::from_str(text)?;
        Ok(Body(raw.into()))
    }

    /// JSON text its maker guarantees is one valid value, compact, without surrounding
    /// whitespace (a skeleton's splice). Checked in debug builds only: this runs once per
    /// recipient.
    pub(crate) fn assembled(text: String) -> Body {
        debug_assert!(
            serde_json::from_str::<&RawValue>(&text).is_ok(),
            "assembled body is not JSON: {text}"
        );
        Body(text.into_boxed_str())
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Body")
            .field(&format_args!("{}", self.0))
            .finish()
    }
}

impl Serialize for Body {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // serde_json writes a `RawValue` as it is; borrowing one checks the text again, which
        // costs only where whole documents are written (plan files), not per render.
        let raw: &RawValue = serde_json::from_str(&self.0).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Body, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Ok(Body(raw.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::Body;

    #[test]
    fn bodies_are_written_as_they_are() {
        let body = Body::parse(" {\"b\": 1,\"a\":[true]} ").unwrap();
        assert_eq!(body.get(), "{\"b\": 1,\"a\":[true]}");
        let request = serde_json::json!({"x": 1});
        let written = serde_json::to_string(&(&body, Body::of(&request))).unwrap();
        assert_eq!(written, "[{\"b\": 1,\"a\":[true]},{\"x\":1}]");
        let back: (Body, Body) = serde_json::from_str(&written).unwrap();
        assert_eq!(back.0, body);
        assert!(Body::parse("{\"a\":").is_err());
        assert!(serde_json::from_str::<Body>("[1,").is_err());
    }
}
