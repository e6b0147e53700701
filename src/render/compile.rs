//! Compiling a campaign's `send` strings into [`Field`]s: each templated string once, with the
//! JSON pointer it was written at, so render errors can point at the file, line and column,
//! and the WhatsApp rule its value follows. Text that is the same for every recipient is
//! checked against its rule here, once.

use std::collections::BTreeMap;

use super::message::{Button, CompiledTemplate, Field, Header, MessageError};
use super::text::{Compiler, Text, TextError};
use crate::engati::rules::Param;
use crate::model::{ButtonParam, HeaderParam, Template, TemplateParams};

pub(super) fn field(
    compiler: &mut Compiler,
    source: &str,
    pointer: String,
    per_user: bool,
    param: Option<Param>,
) -> Result<Field, MessageError> {
    let text = compiler
        .compile(source, per_user)
        .map_err(|TextError(message)| MessageError::new(&pointer, message))?;
    let field = Field {
        text,
        pointer,
        param,
    };
    if let Text::Fixed(value) = &field.text {
        field.check(value)?;
    }
    Ok(field)
}

/// A string rendered once for the whole audience (broadcasts).
pub(super) fn fixed(
    compiler: &mut Compiler,
    source: &str,
    pointer: &str,
    param: Option<Param>,
) -> Result<String, MessageError> {
    match field(compiler, source, pointer.to_owned(), false, param)?.text {
        Text::Fixed(s) => Ok(s),
        _ => Err(MessageError::new(
            pointer,
            "`user` is not available in a broadcast",
        )),
    }
}

pub(super) fn compile_template(
    compiler: &mut Compiler,
    templates: &BTreeMap<String, crate::validate::Item<Template>>,
    params: TemplateParams<'_>,
    base: &str,
    per_user: bool,
) -> Result<CompiledTemplate, MessageError> {
    let Some(item) = templates.get(params.use_) else {
        return Err(MessageError::new(
            format!("{base}/use"),
            format!("no template named `{}`", params.use_),
        ));
    };
    let approved = &item.value;
    let mut f = |source: &str, pointer: String, param: Param| {
        field(compiler, source, pointer, per_user, Some(param))
    };
    let header = match params.header {
        None => None,
        Some(h) => Some(compile_header(h, &format!("{base}/header"), &mut f)?),
    };
    let body = params
        .body
        .iter()
        .enumerate()
        .map(|(i, s)| f(s, format!("{base}/body/{i}"), Param::BodyText))
        .collect::<Result<_, _>>()?;
    let mut buttons = Vec::with_capacity(params.buttons.len());
    for (i, (param, approved_button)) in params.buttons.iter().zip(&approved.buttons).enumerate() {
        let sub_type = approved_button
            .kinds()
            .first()
            .copied()
            .unwrap_or("quick_reply");
        let pointer = format!("{base}/buttons/{i}");
        buttons.push((
            u32::try_from(i).unwrap_or(u32::MAX),
            sub_type,
            compile_button(param, &pointer, &mut f)?,
        ));
    }
    Ok(CompiledTemplate {
        name: approved.name.clone().unwrap_or_else(|| item.name.clone()),
        namespace: approved.namespace.clone(),
        language: approved.language.clone(),
        header,
        body,
        buttons,
    })
}

type Compile<'a> = dyn FnMut(&str, String, Param) -> Result<Field, MessageError> + 'a;

fn compile_header(
    h: &HeaderParam,
    base: &str,
    f: &mut Compile<'_>,
) -> Result<Header, MessageError> {
    if let Some(text) = &h.text {
        return Ok(Header::Text(f(
            text,
            format!("{base}/text"),
            Param::HeaderText,
        )?));
    }
    if let Some(image) = &h.image {
        return Ok(Header::Image(f(
            &image.link,
            format!("{base}/image/link"),
            Param::MediaLink,
        )?));
    }
    if let Some(video) = &h.video {
        return Ok(Header::Video(f(
            &video.link,
            format!("{base}/video/link"),
            Param::MediaLink,
        )?));
    }
    match &h.document {
        Some(doc) => Ok(Header::Document {
            link: f(&doc.link, format!("{base}/document/link"), Param::MediaLink)?,
            filename: doc
                .filename
                .as_ref()
                .map(|name| f(name, format!("{base}/document/filename"), Param::Filename))
                .transpose()?,
        }),
        None => Err(MessageError::new(base, "the header gives no parameter")),
    }
}

fn compile_button(
    b: &ButtonParam,
    base: &str,
    f: &mut Compile<'_>,
) -> Result<Button, MessageError> {
    if let Some(flow) = &b.flow {
        let data = b
            .data
            .iter()
            .flatten()
            .map(|(k, v)| {
                let pointer = format!("{base}/data/{}", crate::load::node::escape_token(k));
                Ok((k.clone(), f(v, pointer, Param::FlowDataValue)?))
            })
            .collect::<Result<_, MessageError>>()?;
        return Ok(Button::Flow {
            flow: f(flow, format!("{base}/flow"), Param::FlowKey)?,
            data,
        });
    }
    if let Some(payload) = &b.payload {
        return Ok(Button::Payload(f(
            payload,
            format!("{base}/payload"),
            Param::payload(crate::jinja::is_template(payload)),
        )?));
    }
    if let Some(url) = &b.url {
        return Ok(Button::Url(f(
            url,
            format!("{base}/url"),
            Param::UrlSuffix,
        )?));
    }
    match &b.code {
        Some(code) => Ok(Button::Code(f(
            code,
            format!("{base}/code"),
            Param::CouponCode,
        )?)),
        None => Err(MessageError::new(base, "the button gives no parameter")),
    }
}
