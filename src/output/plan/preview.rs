//! Previews: a planned request as the recipient would read it — the template's header, its
//! approved body with the parameters filled in and its buttons; a broadcast's messages; the flow
//! a trigger starts and with what.
//!
//! Bodies are read as plain JSON ([`serde_json::Value`]), not as the api.rs types, so a
//! hand-edited plan file still previews; any shape this module does not recognise is shown as
//! the compact request instead. Nothing here panics on input.

use serde_json::Value;

use super::describe::clean;
use crate::engati::Request;
use crate::engati::trace::fill;
use crate::plan::{Campaign, TemplateText};

/// The message of `request` as lines, as the recipient would read it.
pub fn preview(campaign: &Campaign, request: &Request) -> Vec<String> {
    let body: Option<Value> = request
        .body
        .as_ref()
        .and_then(|b| serde_json::from_str(b.get()).ok());
    let body = body.as_ref();
    let template = campaign.template.as_ref();
    let lines = match campaign.send.as_str() {
        "template" => body.and_then(|b| template_message(template, b)),
        "template_broadcast" => body.and_then(|b| template_broadcast(template, b)),
        "broadcast" => body.and_then(broadcast),
        "trigger" => trigger(request, body),
        _ => None,
    };
    // A campaign kind this herald does not know (a newer plan): go by the body's shape.
    let lines = lines.or_else(|| {
        let b = body?;
        template_broadcast(template, b)
            .or_else(|| {
                b.get("phoneNumber")
                    .and_then(|_| template_message(template, b))
            })
            .or_else(|| broadcast(b))
    });
    let lines = lines.unwrap_or_else(|| fallback(request));
    lines
        .iter()
        .flat_map(|l| l.split('\n'))
        .map(|l| clean(l.strip_suffix('\r').unwrap_or(l)))
        .collect()
}

/// `{phoneNumber, payload: {name, language, components}}`.
fn template_message(text: Option<&TemplateText>, body: &Value) -> Option<Vec<String>> {
    template(text, body.get("payload")?)
}

/// A v2 broadcast: the template at `payload.content[0].template`, then `to N users`.
fn template_broadcast(text: Option<&TemplateText>, body: &Value) -> Option<Vec<String>> {
    let payload = body.pointer("/payload/content/0/template")?;
    let mut lines = template(text, payload)?;
    if let Some(users) = body.get("users").and_then(Value::as_array) {
        lines.push(format!("to {}", crate::words::count(users.len(), "user")));
    }
    Some(lines)
}

/// A template payload: header, filled-in body, buttons.
fn template(text: Option<&TemplateText>, payload: &Value) -> Option<Vec<String>> {
    let payload = payload.as_object()?;
    let components = match payload.get("components") {
        None => &[][..],
        Some(Value::Array(c)) => c.as_slice(),
        Some(_) => return None,
    };
    let mut header = None;
    let mut body: Vec<String> = Vec::new();
    let mut buttons: Vec<(Option<u64>, Option<String>)> = Vec::new();
    for component in components {
        let parameters = component.get("parameters").and_then(Value::as_array);
        let first = parameters.and_then(|p| p.first());
        match component.get("type").and_then(Value::as_str) {
            Some("header") => header = first.map(header_line),
            Some("body") => body = parameters.into_iter().flatten().map(value).collect(),
            Some("button") => buttons.push((
                component.get("index").and_then(Value::as_u64),
                first.map(value),
            )),
            _ => return None,
        }
    }
    let mut lines = Vec::new();
    lines.extend(header);
    match text {
        Some(t) => lines.push(fill(&t.body, |i| body.get(i).map(String::as_str))),
        None => {
            let name = payload.get("name").and_then(Value::as_str).unwrap_or("?");
            let mut line = format!("template {name}");
            if !body.is_empty() {
                line.push_str(&format!(": {}", body.join(" | ")));
            }
            lines.push(line);
        }
    }
    let labels = text.map_or(&[][..], |t| t.buttons.as_slice());
    let shown = button_line(labels, &buttons);
    if !shown.is_empty() {
        lines.push(shown);
    }
    Some(lines)
}

/// `[image: <link>]`, `[document: invoice.pdf <link>]` or the header text.
fn header_line(parameter: &Value) -> String {
    let kind = parameter.get("type").and_then(Value::as_str).unwrap_or("");
    let media = parameter.get(kind);
    let link = media.and_then(|m| m.get("link")).and_then(Value::as_str);
    match (kind, link) {
        ("text", _) => value(parameter),
        ("document", Some(link)) => {
            match media
                .and_then(|m| m.get("filename"))
                .and_then(Value::as_str)
            {
                Some(name) => format!("[document: {name} <{link}>]"),
                None => format!("[document: {link}]"),
            }
        }
        (_, Some(link)) => format!("[{kind}: {link}]"),
        _ => format!("[header: {}]", compact(parameter)),
    }
}

/// A parameter's text: its `text`, `payload`, `coupon_code` or media link; else its JSON.
fn value(parameter: &Value) -> String {
    let kind = parameter.get("type").and_then(Value::as_str).unwrap_or("");
    let found = match kind {
        "text" | "payload" | "coupon_code" => parameter.get(kind),
        "image" | "video" | "document" => parameter.get(kind).and_then(|m| m.get("link")),
        _ => None,
    }
    .and_then(Value::as_str);
    match found {
        Some(s) if kind == "payload" => short_payload(s),
        Some(s) => s.to_owned(),
        None => compact(parameter),
    }
}

/// `flow_7bbb608c3b4b4e848f36cd2ccd7cfa35||data_x=1` as `flow_7bbb…||data_x=1`.
fn short_payload(payload: &str) -> String {
    let Some(rest) = payload.strip_prefix("flow_") else {
        return payload.to_owned();
    };
    let (key, data) = rest.split_at(rest.find("||").unwrap_or(rest.len()));
    if key.chars().count() <= 8 {
        return payload.to_owned();
    }
    let head: String = key.chars().take(4).collect();
    format!("flow_{head}…{data}")
}

/// `[Approve → flow_7bbb…||data_invoice_no=12345] [Decline]`: the approved labels with each
/// button's parameter; buttons beyond the labels by position.
fn button_line(labels: &[String], buttons: &[(Option<u64>, Option<String>)]) -> String {
    let find = |i: usize| {
        buttons
            .iter()
            .enumerate()
            .find(|(pos, (index, _))| index.map_or(*pos == i, |x| x == i as u64))
            .map(|(pos, (_, v))| (pos, v.as_deref()))
    };
    let mut used = vec![false; buttons.len()];
    let mut shown = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        let found = find(i);
        if let Some((pos, _)) = found {
            used[pos] = true;
        }
        shown.push(button(label, found.and_then(|(_, v)| v)));
    }
    for (pos, (index, v)) in buttons.iter().enumerate() {
        if !used[pos] {
            let label = format!("button {}", index.unwrap_or(pos as u64) + 1);
            shown.push(button(&label, v.as_deref()));
        }
    }
    shown.join(" ")
}

fn button(label: &str, value: Option<&str>) -> String {
    match value {
        Some(v) if !v.is_empty() => format!("[{label} → {v}]"),
        _ => format!("[{label}]"),
    }
}

/// A v1 broadcast: each message on its own line(s), then `to N channel users`.
fn broadcast(body: &Value) -> Option<Vec<String>> {
    let content = body.pointer("/payload/content")?.as_array()?;
    let mut lines = Vec::with_capacity(content.len() + 1);
    for item in content {
        lines.push(item.pointer("/data/message")?.as_str()?.to_owned());
    }
    if let Some(ids) = body
        .pointer("/audience/rule/channelUserIds")
        .and_then(Value::as_array)
    {
        lines.push(format!(
            "to {}",
            crate::words::count(ids.len(), "channel user")
        ));
    }
    Some(lines)
}

/// `start flow <key> with a=b, c=d`: attributes from the JSON body (v2) or the query (v1).
fn trigger(request: &Request, body: Option<&Value>) -> Option<Vec<String>> {
    let flow = percent_decode(request.path.rsplit('/').next().unwrap_or(""));
    let attributes: Vec<String> = match (body, &request.body) {
        (Some(Value::Object(map)), _) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect(),
        (None, None) => request
            .query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        _ => return None,
    };
    let mut line = format!("start flow {flow}");
    if !attributes.is_empty() {
        line.push_str(" with ");
        line.push_str(&attributes.join(", "));
    }
    Some(vec![line])
}

/// The request as it is: `POST /path?query` and the compact body.
fn fallback(request: &Request) -> Vec<String> {
    let mut first = format!("{} {}", request.method, request.path);
    for (i, (k, v)) in request.query.iter().enumerate() {
        first.push(if i == 0 { '?' } else { '&' });
        first.push_str(&format!("{k}={v}"));
    }
    let mut lines = vec![first];
    if let Some(body) = &request.body {
        lines.push(
            serde_json::from_str::<Value>(body.get())
                .map(|v| compact(&v))
                .unwrap_or_else(|_| body.get().to_owned()),
        );
    }
    lines
}

fn compact(value: &Value) -> String {
    value.to_string()
}

/// Decodes `%XX` escapes of a path segment for display (invalid UTF-8 shown lossily).
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::plan::fixtures;

    #[test]
    fn template_send_reads_like_the_message() {
        let campaign = fixtures::invoice_campaign();
        let request = fixtures::invoice_request("+919019486731", "John", "12345");
        assert_eq!(
            preview(&campaign, &request),
            [
                "[document: invoice-12345.pdf <https://cdn.example.com/inv/12345.pdf>]",
                "Hi John, invoice 12345 for Acme is due.",
                "[Approve → flow_7bbb…||data_response=approved||data_invoice_no=12345] \
                 [Decline → flow_e30d…||data_response=declined||data_invoice_no=12345]",
            ]
        );
    }

    #[test]
    fn template_broadcast_names_its_users() {
        let campaign = fixtures::template_broadcast_campaign();
        let request = fixtures::template_broadcast_request();
        assert_eq!(
            preview(&campaign, &request),
            [
                "[image: https://cdn.example.com/december.png]",
                "Season's greetings from Acme! Your statement for December is ready.",
                "[View statement → december] [Copy code → XMAS25]",
                "to 2 users",
            ]
        );
    }

    #[test]
    fn broadcast_lists_its_messages() {
        let campaign = fixtures::broadcast_campaign();
        let request = fixtures::broadcast_request();
        assert_eq!(
            preview(&campaign, &request),
            [
                "Hi from Acme",
                "Offer ends Sunday",
                "Reply STOP to opt out",
                "to 3 channel users"
            ]
        );
    }

    #[test]
    fn triggers_name_the_flow_and_attributes() {
        let campaign = fixtures::trigger_campaign();
        let v2 = fixtures::trigger_request("+919019486731", "John", crate::model::TriggerApi::V2);
        assert_eq!(
            preview(&campaign, &v2),
            ["start flow winback_74963 with invoice_no=12345, user.user_name=John"]
        );
        let v1 = fixtures::trigger_request("+919019486731", "John", crate::model::TriggerApi::V1);
        assert_eq!(preview(&campaign, &v1), preview(&campaign, &v2));
    }

    #[test]
    fn odd_bodies_fall_back_to_the_request() {
        let campaign = fixtures::invoice_campaign();
        let mut request = fixtures::invoice_request("+919019486731", "John", "12345");
        request.body = Some(crate::engati::Body::of(&[1, 2]));
        let lines = preview(&campaign, &request);
        assert!(lines[0].starts_with("POST /whatsapp-api/"), "{lines:?}");
        assert_eq!(lines[1], "[1,2]");
        request.body = Some(
            crate::engati::Body::parse(
                r#"{"payload":{"components":[{"type":"body","parameters":[{"type":"text","text":"\u001b[2J"}]},{"type":"button"}]}}"#,
            )
            .unwrap(),
        );
        let lines = preview(&campaign, &request);
        assert!(lines.iter().all(|l| !l.contains('\u{1b}')), "{lines:?}");
        assert_eq!(lines[1], "[Approve] [Decline]");
    }
}
