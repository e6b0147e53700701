//! Where a request holds values rendered from a recipient's data: the JSON pointers (or query
//! parameters) `--redact` hides.

use super::message::{Button, CompiledTemplate, Field, Header};
use super::text::Text;
use crate::model::TriggerApi;

/// The trigger attributes rendered from `user`: query parameters (`?NAME`) for the v1 API,
/// body members for v2.
pub(super) fn trigger(attributes: &[(String, Field)], api: TriggerApi) -> Vec<String> {
    attributes
        .iter()
        .filter(|(_, value)| is_per_user(&value.text))
        .map(|(name, _)| match api {
            TriggerApi::V1 => format!("?{name}"),
            TriggerApi::V2 => format!("/{}", crate::load::node::escape_token(name)),
        })
        .collect()
}

fn is_per_user(text: &Text) -> bool {
    !matches!(text, Text::Fixed(_))
}

/// The parameters of a template message rendered from `user`, below `base`.
pub(super) fn template(template: &CompiledTemplate, base: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut component = 0;
    if let Some(header) = &template.header {
        let p = format!("{base}/components/0/parameters/0");
        match header {
            Header::Text(f) if is_per_user(&f.text) => paths.push(format!("{p}/text")),
            Header::Image(f) if is_per_user(&f.text) => paths.push(format!("{p}/image/link")),
            Header::Video(f) if is_per_user(&f.text) => paths.push(format!("{p}/video/link")),
            Header::Document { link, filename } => {
                if is_per_user(&link.text) {
                    paths.push(format!("{p}/document/link"));
                }
                if filename.as_ref().is_some_and(|f| is_per_user(&f.text)) {
                    paths.push(format!("{p}/document/filename"));
                }
            }
            _ => {}
        }
        component += 1;
    }
    if !template.body.is_empty() {
        for (i, f) in template.body.iter().enumerate() {
            if is_per_user(&f.text) {
                paths.push(format!("{base}/components/{component}/parameters/{i}/text"));
            }
        }
        component += 1;
    }
    for (_, _, button) in &template.buttons {
        let p = format!("{base}/components/{component}/parameters/0");
        let per_user = match button {
            Button::Flow { flow, data } => {
                is_per_user(&flow.text) || data.iter().any(|(_, f)| is_per_user(&f.text))
            }
            Button::Payload(f) | Button::Url(f) | Button::Code(f) => is_per_user(&f.text),
        };
        if per_user {
            paths.push(match button {
                Button::Flow { .. } | Button::Payload(_) => format!("{p}/payload"),
                Button::Url(_) => format!("{p}/text"),
                Button::Code(_) => format!("{p}/coupon_code"),
            });
        }
        component += 1;
    }
    paths
}
