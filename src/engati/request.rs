//! [`Request`]: one call to the Engati API as plain data (method, path, query pairs, JSON body).
//!
//! Requests are values on purpose: `plan` stores them in plan files and `apply` sends them with
//! [`Client::execute`](super::Client::execute) byte for byte, so what the reviewed plan says is
//! exactly what goes over the wire. Their JSON form is deterministic: struct fields keep their
//! declaration order, attribute maps are `BTreeMap`s, and query pairs keep their order.
//!
//! The constructors here are the only place that knows which endpoint takes which body; the
//! paths and bodies themselves come from [`super::api`], shared with the emulator.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::Body;
use super::api::{self, BroadcastV1, BroadcastV2, TemplateMessage};
use crate::fingerprint::{Fingerprint, Hasher};
use crate::model::TriggerApi;

/// The page size the Conversations API defaults to, used for Users too.
pub const DEFAULT_PAGE_SIZE: u32 = 500;

/// An HTTP method herald uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// Reads: users, conversations.
    Get,
    /// Sends: templates, broadcasts, triggers.
    Post,
}

impl Method {
    /// `GET` or `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One call to the Engati API, relative to `api.base_url`. Requests are equal when they would
/// send the same bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// GET or POST.
    pub method: Method,
    /// The path from the base URL, starting with `/`, with dynamic segments percent-encoded.
    pub path: String,
    /// Query parameters, in the order they are sent (unencoded; encoded when sent).
    #[serde(default)]
    pub query: Vec<(String, String)>,
    /// The JSON body, exactly the bytes sent; `None` sends no body. Kept as text so a request
    /// read back from a plan file is sent byte for byte as it was written.
    #[serde(default)]
    pub body: Option<Body>,
}

impl Request {
    /// POST a WhatsApp template message to one phone number.
    pub fn template(customer_id: u64, bot_key: &str, message: &TemplateMessage) -> Request {
        Request::post(
            api::paths::template(customer_id, &segment(bot_key)),
            Vec::new(),
            Some(Body::of(message)),
        )
    }

    /// POST a v1 broadcast (text messages to channel user ids).
    pub fn broadcast_v1(customer_id: u64, bot_key: &str, broadcast: &BroadcastV1) -> Request {
        Request::post(
            api::paths::broadcast_v1(customer_id, &segment(bot_key)),
            Vec::new(),
            Some(Body::of(broadcast)),
        )
    }

    /// POST a v2 broadcast (a template to a list of users).
    pub fn broadcast_v2(customer_id: u64, bot_key: &str, broadcast: &BroadcastV2) -> Request {
        Request::post(
            api::paths::broadcast_v2(customer_id, &segment(bot_key)),
            Vec::new(),
            Some(Body::of(broadcast)),
        )
    }

    /// POST an API trigger that starts `flow_key` for a user. v1 sends the attributes as query
    /// parameters and no body; v2 sends them as a flat JSON object (e.g. `user.channel`,
    /// `user.phone_no`). Both in key order, so the same attributes always make the same request.
    pub fn trigger(
        customer_id: u64,
        bot_key: &str,
        flow_key: &str,
        attributes: &BTreeMap<String, String>,
        version: TriggerApi,
    ) -> Request {
        let path = api::paths::trigger(customer_id, &segment(bot_key), &segment(flow_key), version);
        match version {
            TriggerApi::V1 => Request::post(
                path,
                attributes
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                None,
            ),
            TriggerApi::V2 => Request::post(path, Vec::new(), Some(Body::of(attributes))),
        }
    }

    /// GET one page of the bot's users whose `attribute` equals `value`. Pages count from 0.
    pub fn users(
        customer_id: u64,
        bot_key: &str,
        attribute: &str,
        value: &str,
        page_number: u32,
        page_size: u32,
    ) -> Request {
        Request::get(
            api::paths::users(customer_id, &segment(bot_key)),
            vec![
                ("attribute_name".to_owned(), attribute.to_owned()),
                ("attribute_value".to_owned(), value.to_owned()),
                ("page_number".to_owned(), page_number.to_string()),
                ("page_size".to_owned(), page_size.to_string()),
            ],
        )
    }

    /// GET one page of a user's conversation history between two UTC epoch-millisecond times;
    /// `None` leaves a bound out (all history / up to now). Pages count from 0.
    pub fn conversations(
        customer_id: u64,
        bot_key: &str,
        channel_user_id: &str,
        start_ms: Option<i64>,
        end_ms: Option<i64>,
        page_number: u32,
        page_size: u32,
    ) -> Request {
        let mut query = Vec::with_capacity(4);
        if let Some(start) = start_ms {
            query.push(("start_date".to_owned(), start.to_string()));
        }
        if let Some(end) = end_ms {
            query.push(("end_date".to_owned(), end.to_string()));
        }
        query.push(("page_number".to_owned(), page_number.to_string()));
        query.push(("page_size".to_owned(), page_size.to_string()));
        Request::get(
            api::paths::conversations(customer_id, &segment(bot_key), &segment(channel_user_id)),
            query,
        )
    }

    /// POST a JSON body built elsewhere (plan's per-campaign body skeletons) to `path`.
    pub fn post_raw(path: String, body: Body) -> Request {
        Request::post(path, Vec::new(), Some(body))
    }

    fn post(path: String, query: Vec<(String, String)>, body: Option<Body>) -> Request {
        Request {
            method: Method::Post,
            path,
            query,
            body,
        }
    }

    fn get(path: String, query: Vec<(String, String)>) -> Request {
        Request {
            method: Method::Get,
            path,
            query,
            body: None,
        }
    }

    /// The exact bytes [`Client::execute`](super::Client::execute) sends as the body, if any.
    /// Hash these to fingerprint a send.
    pub fn body_bytes(&self) -> Option<Vec<u8>> {
        self.body.as_ref().map(|b| b.get().as_bytes().to_vec())
    }

    /// The request as compact JSON (method, path, query, body): what state stores and what
    /// its fingerprint is the hash of. The same bytes as serializing it with serde_json.
    pub fn to_json(&self) -> String {
        // Sized up front: this runs once per recipient when planning.
        let body = self.body.as_ref().map_or(0, |b| b.get().len());
        let query: usize = self.query.iter().map(|(k, v)| k.len() + v.len() + 8).sum();
        let mut out = Vec::with_capacity(self.path.len() + query + body + 64);
        // Writing to a Vec cannot fail, and what is written is UTF-8; the fallbacks only
        // avoid a panic path.
        if self.write_json(&mut out).is_err() {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }

    /// The fingerprint of [`to_json`](Self::to_json), hashed as it is written.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut hasher = Hasher::new();
        // Writing to a hasher cannot fail.
        let _ = self.write_json(&mut hasher);
        hasher.finish()
    }

    /// Writes [`to_json`](Self::to_json)'s bytes: the body as it is, without parsing it again.
    fn write_json<W: std::io::Write>(&self, mut out: W) -> serde_json::Result<()> {
        out.write_all(b"{\"method\":")
            .map_err(serde_json::Error::io)?;
        serde_json::to_writer(&mut out, &self.method)?;
        out.write_all(b",\"path\":")
            .map_err(serde_json::Error::io)?;
        serde_json::to_writer(&mut out, &self.path)?;
        out.write_all(b",\"query\":")
            .map_err(serde_json::Error::io)?;
        serde_json::to_writer(&mut out, &self.query)?;
        out.write_all(b",\"body\":")
            .map_err(serde_json::Error::io)?;
        let body = self.body.as_ref().map_or("null", |b| b.get());
        out.write_all(body.as_bytes())
            .map_err(serde_json::Error::io)?;
        out.write_all(b"}").map_err(serde_json::Error::io)
    }

    /// `POST /whatsapp-api/...`: how errors and logs name the call (no query: it may hold
    /// attribute values).
    pub fn describe(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// Why this request cannot be sent as it stands (a hand-edited plan file, say), if it can't.
    pub fn check(&self) -> Result<(), Unsendable> {
        let unsendable = |why: String| Err(Unsendable(why));
        if !self.path.starts_with('/') {
            return unsendable(format!("the path `{}` does not start with `/`", self.path));
        }
        if let Some(c) = self
            .path
            .chars()
            .find(|c| matches!(c, '?' | '#') || !c.is_ascii_graphic())
        {
            return unsendable(format!(
                "the path `{}` holds {c:?}; it must be plain ASCII (dynamic segments \
                 percent-encoded), with query parameters in `query`",
                self.path.escape_debug()
            ));
        }
        if self.path.split('/').any(|s| s == ".." || s == ".") {
            return unsendable(format!("the path `{}` holds a dot segment", self.path));
        }
        if self.method == Method::Get && self.body.is_some() {
            return unsendable("a GET request carries a body".to_owned());
        }
        Ok(())
    }
}

message_error! {
    /// Why a request cannot be sent as it stands: its path or method is malformed.
    pub struct Unsendable;
}

/// Percent-encodes one path segment (everything but RFC 3986 unreserved characters), so a
/// channel user id or flow key with `/`, `?` or spaces cannot change which endpoint is called.
/// Digits and hex keys, the normal case, come out unchanged.
pub fn segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    // `.` and `..` alone are dot segments that URL parsers collapse; encode them too.
    if out == "." || out == ".." {
        out = out.replace('.', "%2E");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("919019486731"), "919019486731");
        assert_eq!(segment("bb67e0773bed4c7e"), "bb67e0773bed4c7e");
        assert_eq!(segment("a/b?c d"), "a%2Fb%3Fc%20d");
        assert_eq!(segment(".."), "%2E%2E");
        assert_eq!(segment("é"), "%C3%A9");
    }

    #[test]
    fn trigger_v1_uses_query_and_v2_a_body() {
        let attrs = BTreeMap::from([
            ("user.user_name".to_owned(), "Salman".to_owned()),
            ("user.language".to_owned(), "en".to_owned()),
        ]);
        let v1 = Request::trigger(61179, "bb67e0773bed4c7e", "flow1", &attrs, TriggerApi::V1);
        assert_eq!(
            v1.path,
            "/bot-api/v1.0/customer/61179/bot/bb67e0773bed4c7e/flow/flow1"
        );
        assert_eq!(v1.query[0].0, "user.language");
        assert!(v1.body.is_none());
        let v2 = Request::trigger(61179, "bb67e0773bed4c7e", "flow1", &attrs, TriggerApi::V2);
        assert!(v2.path.starts_with("/bot-api/v2.0/"));
        assert!(v2.query.is_empty());
        assert_eq!(
            v2.body_bytes().as_deref(),
            Some(&br#"{"user.language":"en","user.user_name":"Salman"}"#[..])
        );
    }

    #[test]
    fn requests_round_trip_through_json_byte_for_byte() {
        let attrs = BTreeMap::from([
            ("b".to_owned(), "2".to_owned()),
            ("a".to_owned(), "1".to_owned()),
        ]);
        let req = Request::trigger(1, "00000000000000aa", "f", &attrs, TriggerApi::V2);
        let text = serde_json::to_string(&req).unwrap();
        assert_eq!(
            text,
            r#"{"method":"POST","path":"/bot-api/v2.0/customer/1/bot/00000000000000aa/flow/f","query":[],"body":{"a":"1","b":"2"}}"#
        );
        let back: Request = serde_json::from_str(&text).unwrap();
        assert_eq!(back, req);
        assert_eq!(back.body_bytes(), req.body_bytes());
    }

    #[test]
    fn to_json_and_fingerprint_match_serde() {
        let attrs = BTreeMap::from([("k \"q\"".to_owned(), "v\n€".to_owned())]);
        let requests = [
            Request::trigger(1, "00000000000000aa", "f/x", &attrs, TriggerApi::V1),
            Request::trigger(1, "00000000000000aa", "f", &attrs, TriggerApi::V2),
            Request::users(1, "00000000000000aa", "opt1", "yes", 0, 500),
        ];
        for req in requests {
            let serde = serde_json::to_string(&req).unwrap();
            assert_eq!(req.to_json(), serde);
            assert_eq!(req.fingerprint(), Fingerprint::of(serde.as_bytes()));
        }
    }

    #[test]
    fn check_refuses_edited_paths() {
        let mut req = Request::users(1, "00000000000000aa", "opt1", "yes", 0, 500);
        assert!(req.check().is_ok());
        req.path = "/x?y=1".to_owned();
        assert!(req.check().is_err());
        req.path = "x".to_owned();
        assert!(req.check().is_err());
        req.path = "/a/../b".to_owned();
        assert!(req.check().is_err());
    }
}
