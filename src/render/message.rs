//! [`Message`]: a campaign's `send`, compiled once, that builds the exact API request for a
//! recipient (template messages, triggers) or for the whole audience (broadcasts).

use std::collections::BTreeMap;

use super::compile::{compile_template, field, fixed};
use super::recipients::Recipient;
use super::skeleton::{PHONE_MARKER, Skeleton, field_marker};
use super::text::{Compiler, Renderer, Text, TextError};
use super::user_paths;
use crate::engati::Request;
use crate::engati::api::{
    AudienceRule, BroadcastAudience, BroadcastContent, BroadcastPayload, BroadcastUser,
    BroadcastV1, BroadcastV2, Component, Language, Media, Parameter, TemplateBroadcastPayload,
    TemplateContent, TemplateMessage, TemplatePayload, TextData,
};
use crate::engati::rules::{Breach, Param};
use crate::fingerprint::Fingerprint;
use crate::model::{Send, Template, TriggerApi};

/// A compile or render failure at a string of the campaign: its JSON pointer below the
/// campaign, and what went wrong (minijinja's message, or the WhatsApp rule the value breaks).
#[derive(Debug, Clone, PartialEq)]
pub struct MessageError {
    /// e.g. `/send/template/body/0`.
    pub pointer: String,
    /// What went wrong.
    pub message: String,
    /// The WhatsApp rule the rendered value breaks, when that is the problem; then `message`
    /// does not quote the value.
    pub breach: Option<Breach>,
}

impl MessageError {
    /// A failure to compile or render the string at `pointer`.
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> MessageError {
        MessageError {
            pointer: pointer.into(),
            message: message.into(),
            breach: None,
        }
    }
}

/// A compiled string, where it was written, and the WhatsApp rule its value follows.
#[derive(Debug, Clone)]
pub(super) struct Field {
    pub(super) text: Text,
    pub(super) pointer: String,
    pub(super) param: Option<Param>,
}

impl Field {
    /// The string for one recipient, checked against its rule (fixed text was checked once,
    /// when it was compiled).
    pub(super) fn render<'t>(
        &'t self,
        renderer: &Renderer,
        recipient: &Recipient,
    ) -> Result<std::borrow::Cow<'t, str>, MessageError> {
        let value = renderer
            .render(&self.text, recipient)
            .map_err(|TextError(message)| MessageError::new(&self.pointer, message))?;
        if !matches!(self.text, Text::Fixed(_)) {
            self.check(&value)?;
        }
        Ok(value)
    }

    /// Checks a value of this string against its rule.
    pub(super) fn check(&self, value: &str) -> Result<(), MessageError> {
        let Some(param) = self.param else {
            return Ok(());
        };
        param.check(value).map_err(|breach| MessageError {
            pointer: self.pointer.clone(),
            message: format!("{} {}", param.name(), breach.problem),
            breach: Some(breach),
        })
    }
}

/// Where the API is: the customer and bot every path is scoped by.
#[derive(Debug, Clone)]
pub struct Target {
    /// `api.customer_id`.
    pub customer_id: u64,
    /// `api.bot_key`.
    pub bot_key: String,
    /// `api.trigger_api`.
    pub trigger_api: TriggerApi,
}

/// A template and its compiled parameters.
#[derive(Debug, Clone)]
pub(super) struct CompiledTemplate {
    pub(super) name: String,
    pub(super) namespace: Option<String>,
    pub(super) language: String,
    pub(super) header: Option<Header>,
    pub(super) body: Vec<Field>,
    pub(super) buttons: Vec<(u32, &'static str, Button)>,
}

#[derive(Debug, Clone)]
pub(super) enum Header {
    Text(Field),
    Image(Field),
    Video(Field),
    Document {
        link: Field,
        filename: Option<Field>,
    },
}

#[derive(Debug, Clone)]
pub(super) enum Button {
    Flow {
        flow: Field,
        data: Vec<(String, Field)>,
    },
    Payload(Field),
    Url(Field),
    Code(Field),
}

/// What a campaign sends, compiled.
#[derive(Debug, Clone)]
enum Kind {
    Template(CompiledTemplate),
    Trigger {
        flow: String,
        attributes: Vec<(String, Field)>,
    },
    Broadcast {
        title: String,
        channels: Vec<String>,
        messages: Vec<String>,
    },
    TemplateBroadcast {
        title: String,
        template: CompiledTemplate,
    },
}

/// A campaign's message, compiled once and rendered per recipient or per audience.
pub struct Message {
    kind: Kind,
    target: Target,
    renderer: Renderer,
    /// Template sends: the body's JSON with holes for the per-recipient values.
    skeleton: Option<Skeleton>,
}

/// A delivery rendered as far as its fingerprint, from [`Message::draft`].
pub struct Draft<'a> {
    /// The fingerprint of the delivery's request.
    pub fingerprint: Fingerprint,
    rest: Rest<'a>,
}

enum Rest<'a> {
    /// A template send's body, spliced but not yet a request.
    Spliced {
        skeleton: &'a Skeleton,
        body: &'a mut Vec<u8>,
    },
    /// A request built in full.
    Built(Request),
}

impl Draft<'_> {
    /// The delivery's request.
    pub fn request(self) -> Result<Request, MessageError> {
        match self.rest {
            Rest::Spliced { skeleton, body } => skeleton.request(body),
            Rest::Built(request) => Ok(request),
        }
    }
}

/// Where [`Message::text`] gets values: a recipient's fields, or (building a [`Skeleton`])
/// markers standing for every per-recipient field, recorded in order.
#[derive(Clone, Copy)]
enum Source<'a> {
    Recipient(Option<&'a Recipient>),
    Markers(&'a std::cell::RefCell<Vec<Field>>),
}

impl Message {
    /// Compiles a campaign's `send`. `templates` are the project's approved templates.
    pub fn compile(
        send: &Send,
        templates: &BTreeMap<String, crate::validate::Item<Template>>,
        target: Target,
        mut compiler: Compiler,
    ) -> Result<Message, MessageError> {
        let kind = if let Some(t) = &send.template {
            Kind::Template(compile_template(
                &mut compiler,
                templates,
                t.params(),
                "/send/template",
                true,
            )?)
        } else if let Some(t) = &send.template_broadcast {
            Kind::TemplateBroadcast {
                title: t.title.clone(),
                template: compile_template(
                    &mut compiler,
                    templates,
                    t.params(),
                    "/send/template_broadcast",
                    false,
                )?,
            }
        } else if let Some(b) = &send.broadcast {
            let messages = b
                .messages
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let pointer = format!("/send/broadcast/messages/{i}");
                    fixed(&mut compiler, m, &pointer, Some(Param::BroadcastText))
                })
                .collect::<Result<_, _>>()?;
            Kind::Broadcast {
                title: b.title.clone(),
                channels: b.channels.clone(),
                messages,
            }
        } else if let Some(t) = &send.trigger {
            let attributes = t
                .attributes
                .iter()
                .map(|(k, v)| {
                    let pointer = format!(
                        "/send/trigger/attributes/{}",
                        crate::load::node::escape_token(k)
                    );
                    Ok((k.clone(), field(&mut compiler, v, pointer, true, None)?))
                })
                .collect::<Result<_, MessageError>>()?;
            Kind::Trigger {
                flow: t.flow.clone(),
                attributes,
            }
        } else {
            return Err(MessageError::new("/send", "the campaign has no send kind"));
        };
        let mut message = Message {
            kind,
            target,
            renderer: compiler.finish(),
            skeleton: None,
        };
        message.skeleton = message.skeleton()?;
        Ok(message)
    }

    /// The skeleton of a template send's request, or `None` for other kinds.
    fn skeleton(&self) -> Result<Option<Skeleton>, MessageError> {
        let Kind::Template(template) = &self.kind else {
            return Ok(None);
        };
        let fields = std::cell::RefCell::new(Vec::new());
        let message = TemplateMessage {
            phone_number: PHONE_MARKER.to_owned(),
            payload: self.payload(template, Source::Markers(&fields))?,
        };
        let t = &self.target;
        let request = Request::template(t.customer_id, &t.bot_key, &message);
        Ok(Skeleton::cut(&request, &fields.into_inner()))
    }

    /// Renders one recipient's delivery as far as its fingerprint (template and trigger
    /// campaigns). For template sends that is the body spliced into `scratch` and hashed: the
    /// request itself is built only if [`Draft::request`] is called, which a plan skips for
    /// the deliveries state already holds.
    pub fn draft<'a>(
        &'a self,
        recipient: &Recipient,
        scratch: &'a mut Vec<u8>,
    ) -> Result<Draft<'a>, MessageError> {
        match (&self.kind, &self.skeleton) {
            (Kind::Template(_), Some(skeleton)) => {
                skeleton.fill(&self.renderer, recipient, scratch)?;
                Ok(Draft {
                    fingerprint: skeleton.fingerprint(scratch),
                    rest: Rest::Spliced {
                        skeleton,
                        body: scratch,
                    },
                })
            }
            _ => {
                let request = self.for_recipient_unspliced(recipient)?;
                Ok(Draft {
                    fingerprint: request.fingerprint(),
                    rest: Rest::Built(request),
                })
            }
        }
    }

    /// The request for one recipient built by serializing the whole message, without the
    /// skeleton: the reference the skeleton is tested against, and the way triggers are built.
    pub fn for_recipient_unspliced(&self, recipient: &Recipient) -> Result<Request, MessageError> {
        let t = &self.target;
        match &self.kind {
            Kind::Template(template) => {
                let message = TemplateMessage {
                    phone_number: recipient.phone.to_string(),
                    payload: self.payload(template, Source::Recipient(Some(recipient)))?,
                };
                Ok(Request::template(t.customer_id, &t.bot_key, &message))
            }
            Kind::Trigger { flow, attributes } => {
                let mut attrs = BTreeMap::new();
                for (name, value) in attributes {
                    attrs.insert(
                        name.clone(),
                        self.text(value, Source::Recipient(Some(recipient)))?,
                    );
                }
                attrs
                    .entry("user.channel".to_owned())
                    .or_insert_with(|| "whatsapp".to_owned());
                attrs.insert("user.phone_no".to_owned(), recipient.phone.to_string());
                Ok(Request::trigger(
                    t.customer_id,
                    &t.bot_key,
                    flow,
                    &attrs,
                    t.trigger_api,
                ))
            }
            _ => Err(MessageError::new(
                "/send",
                "a broadcast is sent to the whole audience at once",
            )),
        }
    }

    /// Whether the campaign sends one request per recipient (template, trigger) rather than
    /// one for its whole audience (broadcasts).
    pub fn per_recipient(&self) -> bool {
        matches!(self.kind, Kind::Template(_) | Kind::Trigger { .. })
    }

    /// The `send` kind's name: `template`, `trigger`, `broadcast`, `template_broadcast`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Template(_) => "template",
            Kind::Trigger { .. } => "trigger",
            Kind::Broadcast { .. } => "broadcast",
            Kind::TemplateBroadcast { .. } => "template_broadcast",
        }
    }

    /// The request for one recipient (template and trigger campaigns).
    pub fn for_recipient(&self, recipient: &Recipient) -> Result<Request, MessageError> {
        self.draft(recipient, &mut Vec::new())?.request()
    }

    /// The request for the whole audience (broadcast campaigns), published at `published_on`
    /// (UTC, with milliseconds).
    pub fn for_audience(
        &self,
        recipients: &[Recipient],
        published_on: &str,
    ) -> Result<Request, MessageError> {
        let t = &self.target;
        match &self.kind {
            Kind::Broadcast {
                title,
                channels,
                messages,
            } => {
                let broadcast = BroadcastV1 {
                    broadcast_id: None,
                    broadcast_title: title.clone(),
                    published_on: published_on.to_owned(),
                    audience: BroadcastAudience {
                        rule: AudienceRule {
                            channels: channels.clone(),
                            channel_user_ids: recipients
                                .iter()
                                .map(|r| r.phone.trim_start_matches('+').to_owned())
                                .collect(),
                        },
                    },
                    payload: BroadcastPayload {
                        kind: "DIRECT".to_owned(),
                        content: messages
                            .iter()
                            .map(|m| BroadcastContent {
                                kind: "TEXT".to_owned(),
                                data: TextData { message: m.clone() },
                            })
                            .collect(),
                    },
                    status: None,
                };
                Ok(Request::broadcast_v1(t.customer_id, &t.bot_key, &broadcast))
            }
            Kind::TemplateBroadcast { title, template } => {
                let broadcast = BroadcastV2 {
                    broadcast_id: None,
                    broadcast_title: title.clone(),
                    published_on: published_on.to_owned(),
                    platform: "whatsapp".to_owned(),
                    users: recipients.iter().map(broadcast_user).collect(),
                    payload: TemplateBroadcastPayload {
                        kind: "WHATSAPP_TEMPLATE".to_owned(),
                        content: vec![TemplateContent {
                            kind: "TEMPLATE".to_owned(),
                            template: self.payload(template, Source::Recipient(None))?,
                        }],
                    },
                    status: None,
                };
                Ok(Request::broadcast_v2(t.customer_id, &t.bot_key, &broadcast))
            }
            _ => Err(MessageError::new(
                "/send",
                "template messages and triggers go to one recipient at a time",
            )),
        }
    }

    /// JSON pointers (in the request body; `?NAME` for a query parameter) of the values
    /// rendered from `user`: what `--redact` hides.
    pub fn user_paths(&self) -> Vec<String> {
        match &self.kind {
            Kind::Template(template) => user_paths::template(template, "/payload"),
            Kind::Trigger { attributes, .. } => {
                user_paths::trigger(attributes, self.target.trigger_api)
            }
            Kind::Broadcast { .. } | Kind::TemplateBroadcast { .. } => Vec::new(),
        }
    }

    fn text(&self, field: &Field, source: Source<'_>) -> Result<String, MessageError> {
        match (&field.text, source) {
            (Text::Fixed(s), _) => Ok(s.clone()),
            (_, Source::Markers(fields)) => {
                let mut fields = fields.borrow_mut();
                fields.push(field.clone());
                Ok(field_marker(fields.len() - 1))
            }
            (_, Source::Recipient(Some(r))) => field
                .render(&self.renderer, r)
                .map(std::borrow::Cow::into_owned),
            (_, Source::Recipient(None)) => Err(MessageError::new(
                &field.pointer,
                "`user` is not available here",
            )),
        }
    }

    fn payload(
        &self,
        template: &CompiledTemplate,
        recipient: Source<'_>,
    ) -> Result<TemplatePayload, MessageError> {
        let mut components = Vec::with_capacity(2 + template.buttons.len());
        if let Some(header) = &template.header {
            let parameter = match header {
                Header::Text(f) => Parameter::Text {
                    text: self.text(f, recipient)?,
                },
                Header::Image(f) => Parameter::Image {
                    image: media(self.text(f, recipient)?, None),
                },
                Header::Video(f) => Parameter::Video {
                    video: media(self.text(f, recipient)?, None),
                },
                Header::Document { link, filename } => Parameter::Document {
                    document: media(
                        self.text(link, recipient)?,
                        filename
                            .as_ref()
                            .map(|f| self.text(f, recipient))
                            .transpose()?,
                    ),
                },
            };
            components.push(Component::Header {
                parameters: vec![parameter],
            });
        }
        if !template.body.is_empty() {
            let parameters = template
                .body
                .iter()
                .map(|f| {
                    Ok(Parameter::Text {
                        text: self.text(f, recipient)?,
                    })
                })
                .collect::<Result<_, MessageError>>()?;
            components.push(Component::Body { parameters });
        }
        for (index, sub_type, button) in &template.buttons {
            let parameter = match button {
                Button::Flow { flow, data } => {
                    let mut payload = format!("flow_{}", self.text(flow, recipient)?);
                    for (name, value) in data {
                        payload.push_str("||data_");
                        payload.push_str(name);
                        payload.push('=');
                        payload.push_str(&self.text(value, recipient)?);
                    }
                    Parameter::Payload { payload }
                }
                Button::Payload(f) => Parameter::Payload {
                    payload: self.text(f, recipient)?,
                },
                Button::Url(f) => Parameter::Text {
                    text: self.text(f, recipient)?,
                },
                Button::Code(f) => Parameter::CouponCode {
                    coupon_code: self.text(f, recipient)?,
                },
            };
            components.push(Component::Button {
                sub_type: (*sub_type).to_owned(),
                index: *index,
                parameters: vec![parameter],
            });
        }
        Ok(TemplatePayload {
            name: template.name.clone(),
            namespace: template.namespace.clone(),
            language: Language::deterministic(template.language.clone()),
            components,
        })
    }
}

fn media(link: String, filename: Option<String>) -> Media {
    Media { link, filename }
}

/// A v2 broadcast user: the phone and the profile fields Engati takes, when the recipient has them.
fn broadcast_user(recipient: &Recipient) -> BroadcastUser {
    let get = |name: &str| recipient.fields.text(name).map(str::to_owned);
    BroadcastUser {
        phone_number: recipient.phone.to_string(),
        email: get("email"),
        organization: get("organization"),
        title: get("title"),
        last_name: get("last_name"),
        first_name: get("first_name"),
        user_name: get("user_name"),
    }
}
