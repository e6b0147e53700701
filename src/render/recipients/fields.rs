//! A recipient and the fields templates read as `user.<field>`: a CSV row kept compact (a
//! million rows are a normal audience), or a map for inline and Users API users.

use std::sync::Arc;

use minijinja::value::{Enumerator, Object, Serde, Value as JValue};
use serde_json::Value;

/// One recipient: a phone number and the fields templates read as `user.<field>`.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// E.164, with the `+`.
    pub phone: Box<str>,
    /// Every field, `phone` included.
    pub fields: Arc<UserFields>,
}

impl Recipient {
    /// The recipient's fields as a template value (shares the fields; no copy).
    pub fn user_value(&self) -> JValue {
        JValue::from_dyn_object(self.fields.clone())
    }
}

/// A recipient's fields: a CSV row (sharing its file's header) or a map.
#[derive(Debug)]
pub enum UserFields {
    /// A CSV record and its file's column names, compact: a million rows are a normal
    /// audience, and each row costs two allocations.
    Row {
        /// The header row, trimmed.
        columns: Arc<[String]>,
        /// The values, concatenated.
        text: Box<str>,
        /// Where each value ends in `text`.
        ends: Box<[u32]>,
    },
    /// Inline users and Users API users.
    Map(serde_json::Map<String, Value>),
}

impl UserFields {
    /// A CSV record's fields: their text concatenated, and where each ends in it.
    pub fn row(columns: Arc<[String]>, text: &str, ends: &[usize]) -> UserFields {
        // Records are at most MAX_RECORD_BYTES long, so every end fits.
        let ends = ends
            .iter()
            .map(|&end| u32::try_from(end).unwrap_or(u32::MAX))
            .collect();
        UserFields::Row {
            columns,
            text: text.into(),
            ends,
        }
    }

    /// The `i`th value of a row.
    fn value<'t>(text: &'t str, ends: &[u32], i: usize) -> Option<&'t str> {
        let end = *ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { ends[i - 1] as usize };
        text.get(start..end)
    }

    /// The field's text when it is a string (every CSV value is), for the fast path of simple
    /// templates; `None` for missing and non-string fields.
    pub fn text(&self, field: &str) -> Option<&str> {
        match self {
            UserFields::Row {
                columns,
                text,
                ends,
            } => {
                let i = columns.iter().position(|c| c == field)?;
                UserFields::value(text, ends, i)
            }
            UserFields::Map(map) => map.get(field)?.as_str(),
        }
    }

    /// Every field as a map, in column order (a CSV row's values are strings).
    pub fn to_map(&self) -> serde_json::Map<String, Value> {
        match self {
            UserFields::Row {
                columns,
                text,
                ends,
            } => columns
                .iter()
                .enumerate()
                .filter_map(|(i, column)| {
                    let value = UserFields::value(text, ends, i)?;
                    Some((column.clone(), Value::String(value.to_owned())))
                })
                .collect(),
            UserFields::Map(map) => map.clone(),
        }
    }
}

impl Object for UserFields {
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        let key = key.as_str()?;
        match &**self {
            UserFields::Row { .. } => self.text(key).map(JValue::from),
            UserFields::Map(map) => map.get(key).map(|v| JValue::from(Serde(v))),
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let keys: Vec<JValue> = match &**self {
            UserFields::Row { columns, .. } => columns.iter().map(|c| JValue::from(&**c)).collect(),
            UserFields::Map(map) => map.keys().map(|k| JValue::from(&**k)).collect(),
        };
        Enumerator::Values(keys)
    }
}
