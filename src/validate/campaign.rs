//! Campaign checks: audience and template references, one `send` kind, schedules, parameters
//! against the approved template, WhatsApp limits, and every template expression.

use std::collections::BTreeMap;

use super::audience::{self, Fields};
use super::jinja::{self, Scope};
use super::{Catalog, Checker, Item, Loc};
use crate::diagnostic::Code;
use crate::engati::rules::Param;
use crate::model::{
    ButtonParam, Campaign, HeaderKind, HeaderParam, Template, TemplateBroadcastSend,
    TemplateParams, TemplateSend,
};

pub(super) fn check(
    checker: &mut Checker<'_>,
    catalog: &Catalog,
    fields: &BTreeMap<String, Fields>,
) {
    let env = crate::jinja::shared();
    for item in catalog.campaigns.values() {
        check_one(checker, catalog, fields, env, item);
    }
}

/// The fields a campaign's recipients have, from its audience (named or inline), reporting
/// a name that is not defined.
fn audience_fields(
    checker: &mut Checker<'_>,
    catalog: &Catalog,
    fields: &BTreeMap<String, Fields>,
    loc: &Loc,
    audience: &crate::model::AudienceRef,
) -> Fields {
    match audience {
        crate::model::AudienceRef::Named(name) => {
            if !catalog.has("audiences", name) {
                let d = audience::unknown_reference(
                    checker,
                    catalog.audiences.keys(),
                    "audience",
                    name,
                    loc,
                    "/audience",
                );
                checker.report(d);
            }
            fields.get(name).cloned().unwrap_or(Fields::Any)
        }
        crate::model::AudienceRef::Inline(inline) => {
            audience::check_audience(checker, catalog, loc, "/audience", inline, &mut |_, n| {
                fields.get(n).cloned().unwrap_or(Fields::Any)
            })
        }
    }
}

fn check_one(
    checker: &mut Checker<'_>,
    catalog: &Catalog,
    fields: &BTreeMap<String, Fields>,
    env: &minijinja::Environment<'static>,
    item: &Item<Campaign>,
) {
    let loc = &item.loc;
    let campaign = &item.value;
    let user_fields = audience_fields(checker, catalog, fields, loc, &campaign.audience);

    if let Some(schedule) = &campaign.schedule {
        super::schedule::check_schedule(checker, loc, schedule);
    }

    check_send_kind(checker, loc, &campaign.send);

    let vars = catalog.settings.as_ref().map(|_| &catalog.vars);
    let per_recipient = Scope {
        user: Some(&user_fields),
        vars,
        campaign: &item.name,
        no_user_reason: "",
    };
    let once = Scope {
        user: None,
        vars,
        campaign: &item.name,
        no_user_reason: "this message is rendered once for the whole audience, so it can use `vars`, `campaign` and `now` but not `user`",
    };
    let send = &campaign.send;
    let mut strings: Strings<'_> = Vec::new();
    if let Some(t) = &send.template_broadcast {
        strings.push((
            "/send/template_broadcast/title".to_owned(),
            &t.title,
            &once,
            None,
        ));
    }
    let template_sends = [
        (
            send.template.as_ref().map(TemplateSend::params),
            "/send/template",
            &per_recipient,
        ),
        (
            send.template_broadcast
                .as_ref()
                .map(TemplateBroadcastSend::params),
            "/send/template_broadcast",
            &once,
        ),
    ];
    for (params, at, scope) in template_sends {
        let Some(params) = params else {
            continue;
        };
        if let Some(template) = lookup_template(checker, catalog, loc, params.use_, at) {
            check_params(checker, loc, at, template, &params);
        }
        collect_params(&mut strings, at, params, scope);
    }
    collect_plain_strings(&mut strings, send, &per_recipient, &once);
    for (sub, text, scope, param) in strings {
        jinja::check(checker, env, loc, &sub, text, scope, param);
    }
}

/// A campaign sends exactly one kind of message.
fn check_send_kind(checker: &mut Checker<'_>, loc: &Loc, send: &crate::model::Send) {
    let kinds: Vec<&str> = [
        ("template", send.template.is_some()),
        ("broadcast", send.broadcast.is_some()),
        ("template_broadcast", send.template_broadcast.is_some()),
        ("trigger", send.trigger.is_some()),
    ]
    .into_iter()
    .filter_map(|(kind, given)| given.then_some(kind))
    .collect();
    if kinds.len() == 1 {
        return;
    }
    let (message, help) = if kinds.is_empty() {
        (
            "`send` says nothing to send".to_owned(),
            "give one of `template`, `broadcast`, `template_broadcast` or `trigger`",
        )
    } else {
        (
            format!("`send` has {} kinds: {}", kinds.len(), kinds.join(", ")),
            "a campaign sends exactly one of `template`, `broadcast`, `template_broadcast` or `trigger`; split it into several campaigns",
        )
    };
    let d = checker
        .error(Code::SendKind, loc, "/send", message)
        .help(help);
    checker.report(d);
}

/// The strings of a broadcast (rendered once) and a trigger's attributes (per recipient).
fn collect_plain_strings<'a>(
    strings: &mut Strings<'a>,
    send: &'a crate::model::Send,
    per_recipient: &'a Scope<'a>,
    once: &'a Scope<'a>,
) {
    if let Some(b) = &send.broadcast {
        strings.push(("/send/broadcast/title".to_owned(), &b.title, once, None));
        for (i, message) in b.messages.iter().enumerate() {
            strings.push((
                format!("/send/broadcast/messages/{i}"),
                message,
                once,
                Some(Param::BroadcastText),
            ));
        }
    }
    if let Some(t) = &send.trigger {
        for (key, value) in &t.attributes {
            let key = crate::load::node::escape_token(key);
            strings.push((
                format!("/send/trigger/attributes/{key}"),
                value,
                per_recipient,
                None,
            ));
        }
    }
}

fn lookup_template<'c>(
    checker: &mut Checker<'_>,
    catalog: &'c Catalog,
    loc: &Loc,
    name: &str,
    at: &str,
) -> Option<&'c Item<Template>> {
    if let Some(t) = catalog.templates.get(name) {
        return Some(t);
    }
    if !catalog.has("templates", name) {
        let d = audience::unknown_reference(
            checker,
            catalog.templates.keys(),
            "template",
            name,
            loc,
            &format!("{at}/use"),
        );
        checker.report(d);
    }
    None
}

/// The templated strings of a campaign: where each is, its text, what it may read and the
/// WhatsApp rule its value must follow.
type Strings<'a> = Vec<(String, &'a str, &'a Scope<'a>, Option<Param>)>;

fn collect_params<'a>(
    strings: &mut Strings<'a>,
    at: &str,
    params: TemplateParams<'a>,
    scope: &'a Scope<'a>,
) {
    let TemplateParams {
        header,
        body,
        buttons,
        ..
    } = params;
    if let Some(h) = header {
        collect_header(strings, at, h, scope);
    }
    for (i, entry) in body.iter().enumerate() {
        strings.push((
            format!("{at}/body/{i}"),
            entry,
            scope,
            Some(Param::BodyText),
        ));
    }
    for (i, b) in buttons.iter().enumerate() {
        let fields = [
            ("flow", &b.flow, Param::FlowKey),
            (
                "payload",
                &b.payload,
                Param::payload(b.payload.as_deref().is_some_and(crate::jinja::is_template)),
            ),
            ("url", &b.url, Param::UrlSuffix),
            ("code", &b.code, Param::CouponCode),
        ];
        for (field, value, param) in fields {
            if let Some(v) = value {
                strings.push((format!("{at}/buttons/{i}/{field}"), v, scope, Some(param)));
            }
        }
        for (key, value) in b.data.iter().flatten() {
            let key = crate::load::node::escape_token(key);
            strings.push((
                format!("{at}/buttons/{i}/data/{key}"),
                value,
                scope,
                Some(Param::FlowDataValue),
            ));
        }
    }
}

/// The strings of a template's header parameter: its text, or its media's link (and a
/// document's file name).
fn collect_header<'a>(
    strings: &mut Strings<'a>,
    at: &str,
    h: &'a crate::model::HeaderParam,
    scope: &'a Scope<'a>,
) {
    if let Some(text) = &h.text {
        strings.push((
            format!("{at}/header/text"),
            text,
            scope,
            Some(Param::HeaderText),
        ));
    }
    for (kind, media) in [("image", &h.image), ("video", &h.video)] {
        if let Some(m) = media {
            strings.push((
                format!("{at}/header/{kind}/link"),
                &m.link,
                scope,
                Some(Param::MediaLink),
            ));
        }
    }
    if let Some(d) = &h.document {
        strings.push((
            format!("{at}/header/document/link"),
            &d.link,
            scope,
            Some(Param::MediaLink),
        ));
        if let Some(f) = &d.filename {
            strings.push((
                format!("{at}/header/document/filename"),
                f,
                scope,
                Some(Param::Filename),
            ));
        }
    }
}

/// Body, header and buttons against the approved template.
fn check_params(
    checker: &mut Checker<'_>,
    loc: &Loc,
    at: &str,
    template: &Item<Template>,
    params: &TemplateParams<'_>,
) {
    let TemplateParams {
        header,
        body,
        buttons,
        ..
    } = *params;
    let approved = &template.value;
    let name = &template.name;
    let slot_count = approved.slot_numbers().len();
    if body.len() != slot_count {
        let d = checker
            .error(
                Code::TemplateSlots,
                loc,
                &format!("{at}/body"),
                format!(
                    "template `{name}` has {slot_count} slot{} but `body` has {} entr{}",
                    crate::words::s(slot_count),
                    body.len(),
                    if body.len() == 1 { "y" } else { "ies" }
                ),
            )
            .help(format!(
                "give one entry per {{{{N}}}} in the approved text, in order: \"{}\"",
                approved.body
            ))
            .related(checker.related(&template.loc, "/body", "the approved text"));
        checker.report(d);
    }
    check_header(checker, loc, at, template, header);
    check_buttons(checker, loc, at, template, buttons);
}

fn check_header(
    checker: &mut Checker<'_>,
    loc: &Loc,
    at: &str,
    template: &Item<Template>,
    header: Option<&HeaderParam>,
) {
    let expected = template.value.header;
    let expected_name = match expected {
        HeaderKind::None => "none",
        HeaderKind::Text => "text",
        HeaderKind::Image => "image",
        HeaderKind::Video => "video",
        HeaderKind::Document => "document",
    };
    let given: Vec<&str> = header.map_or_else(Vec::new, |h| {
        [
            ("text", h.text.is_some()),
            ("image", h.image.is_some()),
            ("video", h.video.is_some()),
            ("document", h.document.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| k)
        .collect()
    });
    let related = checker.related(&template.loc, "/header", "the approved header");
    let name = &template.name;
    let problem = match (expected, given.as_slice()) {
        (HeaderKind::None, []) => None,
        (HeaderKind::None, _) => Some((
            format!("template `{name}` has no header, but a header parameter is given"),
            "remove `header:` from the campaign".to_owned(),
        )),
        (_, []) => Some((
            format!(
                "template `{name}` has a {expected_name} header, but no header parameter is given"
            ),
            format!("add `header: {{{expected_name}: ...}}`"),
        )),
        (_, [one]) if *one == expected_name => None,
        (_, [one]) => Some((
            format!("template `{name}` has a {expected_name} header, but the parameter is {one}"),
            format!("write `header: {{{expected_name}: ...}}`"),
        )),
        (_, many) => Some((
            format!(
                "the header parameter has several kinds: {}",
                many.join(", ")
            ),
            format!("keep only `{expected_name}`"),
        )),
    };
    if let Some((message, help)) = problem {
        let d = checker
            .error(Code::TemplateHeader, loc, &format!("{at}/header"), message)
            .help(help)
            .related(related);
        checker.report(d);
    }
}

fn check_buttons(
    checker: &mut Checker<'_>,
    loc: &Loc,
    at: &str,
    template: &Item<Template>,
    buttons: &[ButtonParam],
) {
    let approved = &template.value.buttons;
    let name = &template.name;
    if buttons.len() != approved.len() {
        let d = checker
            .error(
                Code::TemplateButtons,
                loc,
                &format!("{at}/buttons"),
                format!(
                    "template `{name}` has {} button{} but {} button parameter{} given",
                    approved.len(),
                    crate::words::s(approved.len()),
                    buttons.len(),
                    if buttons.len() == 1 { " is" } else { "s are" }
                ),
            )
            .help("give one entry per approved button, in the same order")
            .related(checker.related(&template.loc, "/buttons", "the approved buttons"));
        checker.report(d);
    }
    for (i, (param, approved)) in buttons.iter().zip(approved).enumerate() {
        check_button(checker, loc, at, template, i, param, approved);
    }
}

/// One button parameter against its approved button: the kind it gives, and its data names.
fn check_button(
    checker: &mut Checker<'_>,
    loc: &Loc,
    at: &str,
    template: &Item<Template>,
    i: usize,
    param: &ButtonParam,
    approved: &crate::model::ApprovedButton,
) {
    let name = &template.name;
    let sub = format!("{at}/buttons/{i}");
    let given: Vec<&str> = [
        ("flow", param.flow.is_some()),
        ("payload", param.payload.is_some()),
        ("url", param.url.is_some()),
        ("code", param.code.is_some()),
    ]
    .into_iter()
    .filter(|(_, set)| *set)
    .map(|(k, _)| k)
    .collect();
    let kind = approved.kinds();
    let wanted: &[&str] = match kind.first().copied() {
        Some("quick_reply") => &["flow", "payload"],
        Some("url") => &["url"],
        Some("copy_code") => &["code"],
        _ => return,
    };
    let problem = match given.as_slice() {
        [one] if wanted.contains(one) => None,
        [] => Some(format!("button {i} parameter is empty")),
        [one] => Some(format!(
            "button {i} of template `{name}` is {}, but the parameter gives `{one}`",
            kind[0]
        )),
        many => Some(format!(
            "button {i} parameter has several kinds: {}",
            many.join(", ")
        )),
    };
    if let Some(message) = problem {
        let help = match wanted {
            ["flow", "payload"] => {
                "a quick-reply button takes `{flow: FLOW_KEY, data: {...}}` or `{payload: TEXT}`"
            }
            ["url"] => {
                "a URL button takes `{url: SUFFIX}`, the text that fills the approved URL's {{1}}"
            }
            _ => "a copy-code button takes `{code: TEXT}`",
        };
        let d = checker
            .error(Code::TemplateButtons, loc, &sub, message)
            .help(help)
            .related(checker.related(
                &template.loc,
                &format!("/buttons/{i}"),
                "the approved button",
            ));
        checker.report(d);
    } else if param.data.is_some() && param.flow.is_none() {
        let d = checker
            .error(
                Code::TemplateButtons,
                loc,
                &format!("{sub}/data"),
                "`data` is only used with `flow`",
            )
            .help("add `flow: FLOW_KEY`, or remove `data`");
        checker.report(d);
    }
    check_data_names(checker, loc, &sub, param);
}

/// The names of a quick-reply button's `data`, which WhatsApp restricts.
fn check_data_names(checker: &mut Checker<'_>, loc: &Loc, sub: &str, param: &ButtonParam) {
    for key in param.data.iter().flatten().map(|(key, _)| key) {
        if let Err(breach) = Param::FlowDataName.check(key) {
            let pointer = format!("{sub}/data/{}", crate::load::node::escape_token(key));
            let d = checker
                .error(
                    Code::Limit,
                    loc,
                    &pointer,
                    format!("the quick-reply data name `{key}` {}", breach.problem),
                )
                .help(breach.help);
            checker.report(d);
        }
    }
}
