//! WhatsApp's rules for template parameters and messages, in one place: validate checks literal
//! values and the sample recipient's, render checks every recipient's message before it can be
//! planned, and the emulator refuses requests that break them (engati-api.md, "WhatsApp
//! template rules").
//!
//! A [`Breach`] never quotes the value: the value is often a recipient's data, and these
//! messages reach CI logs.

/// Characters in a header text parameter.
pub const HEADER_TEXT: usize = 60;
/// Characters in a body text parameter, and in an approved body.
pub const BODY_TEXT: usize = 1024;
/// Characters in a button label.
pub const BUTTON_LABEL: usize = 25;
/// Characters in a URL.
pub const URL: usize = 2000;
/// Buttons on one template.
pub const BUTTONS: usize = 10;
/// URL buttons on one template.
pub const URL_BUTTONS: usize = 2;
/// Characters in a copy-code button's code.
pub const COUPON_CODE: usize = 15;
/// Characters in a text message.
pub const TEXT_MESSAGE: usize = 4096;

/// What a value is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// A text header's parameter.
    HeaderText,
    /// A body `{{N}}` parameter.
    BodyText,
    /// An image, video or document header's link.
    MediaLink,
    /// A document header's file name.
    Filename,
    /// A URL button's `{{1}}`.
    UrlSuffix,
    /// A copy-code button's code.
    CouponCode,
    /// A quick-reply button's payload, written whole as literal text.
    Payload,
    /// A quick-reply button's payload with template expressions: the values filled in may
    /// come from recipients' data.
    RenderedPayload,
    /// The flow a quick-reply button starts (`flow_KEY`).
    FlowKey,
    /// The name of a value a quick-reply button sets (`data_NAME=`).
    FlowDataName,
    /// A value a quick-reply button sets (`data_NAME=VALUE`).
    FlowDataValue,
    /// A text message of a broadcast.
    BroadcastText,
}

/// A rule a value breaks: what is wrong with it (without the value) and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    /// e.g. "has 1,200 characters; WhatsApp allows 1024".
    pub problem: String,
    /// How to fix it.
    pub help: &'static str,
}

impl Param {
    /// The rule of a quick-reply payload: stricter when it is `templated` (has template
    /// expressions), since the values filled in may come from recipients' data.
    pub fn payload(templated: bool) -> Param {
        if templated {
            Param::RenderedPayload
        } else {
            Param::Payload
        }
    }

    /// What the value is, for messages: "the body parameter".
    pub fn name(self) -> &'static str {
        match self {
            Param::HeaderText => "the header text",
            Param::BodyText => "the body parameter",
            Param::MediaLink => "the header link",
            Param::Filename => "the document's file name",
            Param::UrlSuffix => "the URL button's parameter",
            Param::CouponCode => "the copy-code button's code",
            Param::Payload | Param::RenderedPayload => "the quick-reply payload",
            Param::FlowKey => "the flow key",
            Param::FlowDataName => "the quick-reply data name",
            Param::FlowDataValue => "the quick-reply data value",
            Param::BroadcastText => "the broadcast message",
        }
    }

    /// Checks a value sent as this parameter.
    // Long because it is one arm per WhatsApp rule, each with its limit and help: the rules
    // read as one table here, as docs/emulator.md lists them.
    pub fn check(self, value: &str) -> Result<(), Breach> {
        match self {
            Param::HeaderText => {
                length(value, 1, HEADER_TEXT, "shorten the header text")?;
                no_line_breaks(value, "keep the header text on one line")
            }
            Param::BodyText => {
                length(
                    value,
                    1,
                    BODY_TEXT,
                    "shorten the parameter; a value longer than the approved template allows cannot be sent",
                )?;
                if value
                    .chars()
                    .any(|c| c == '\t' || is_line_break(c) || c.is_control())
                {
                    return Err(breach(
                        "holds a new line, a tab or a control character, which WhatsApp refuses",
                        "put line breaks in the approved body text, not in its parameters; `| replace(\"\\n\", \" \")` removes them",
                    ));
                }
                if value.contains("     ") {
                    return Err(breach(
                        "holds more than 4 spaces in a row, which WhatsApp refuses",
                        "collapse the spaces, e.g. with `| trim`",
                    ));
                }
                Ok(())
            }
            Param::MediaLink => link(value),
            Param::Filename => {
                length(value, 1, 240, "shorten the file name")?;
                no_controls(value, "keep the file name to one line of text")
            }
            Param::UrlSuffix => {
                length(value, 1, URL, "shorten the URL parameter")?;
                no_spaces(
                    value,
                    "URL parameters cannot hold spaces; encode them with `| urlencode`",
                )
            }
            Param::CouponCode => {
                length(value, 1, COUPON_CODE, "shorten the code")?;
                no_spaces(value, "codes cannot hold spaces or line breaks")
            }
            Param::Payload => {
                length(value, 1, URL, "shorten the payload")?;
                no_controls(value, "keep the payload to one line of text")
            }
            Param::RenderedPayload => {
                Param::Payload.check(value)?;
                // A payload `flow_KEY||data_NAME=VALUE` starts a flow and sets attributes; built
                // from templates, a recipient's value could add `||data_...` of its own.
                if value.starts_with("flow_") || value.contains('|') {
                    return Err(breach(
                        "starts a flow or holds `|`, which a payload filled in from templates may not: a recipient's value could add data to it",
                        "write a quick reply that starts a flow as `{flow: KEY, data: {NAME: VALUE}}`, whose values herald checks one by one",
                    ));
                }
                Ok(())
            }
            Param::FlowKey | Param::FlowDataName => {
                let ok = !value.is_empty()
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
                if ok {
                    Ok(())
                } else {
                    Err(breach(
                        "is not a name of letters, digits, `_`, `-` and `.`",
                        "flow keys and attribute names are identifiers, e.g. 7bbb608c3b4b4e848f36cd2ccd7cfa35 or invoice_no",
                    ))
                }
            }
            Param::FlowDataValue => {
                // `flow_KEY||data_a=1||data_b=2`: a `|` in a value could end it and set other
                // attributes (or override one) when the recipient taps the button.
                if value.contains('|') {
                    return Err(breach(
                        "holds `|`, which would end the value and start another (`||data_...`) in the button's payload",
                        "remove `|` from the value, e.g. with `| replace(\"|\", \"/\")`",
                    ));
                }
                length(value, 0, URL, "shorten the value")?;
                no_controls(value, "keep the value to one line of text")
            }
            Param::BroadcastText => {
                length(value, 1, TEXT_MESSAGE, "shorten the message")?;
                if value.trim().is_empty() {
                    return Err(breach("is blank", "write the message's text"));
                }
                Ok(())
            }
        }
    }
}

fn breach(problem: impl Into<String>, help: &'static str) -> Breach {
    Breach {
        problem: problem.into(),
        help,
    }
}

/// Between `min` and `max` characters.
fn length(value: &str, min: usize, max: usize, help: &'static str) -> Result<(), Breach> {
    if value.len() < min {
        return Err(breach(
            "is empty; WhatsApp refuses empty parameters",
            "give every recipient a value, e.g. with `| default(\"...\", true)` (`true` also replaces an empty one), or leave out the recipients without one",
        ));
    }
    // Counting characters is the slow part; a value this short in bytes is short enough.
    if value.len() <= max {
        return Ok(());
    }
    let chars = value.chars().count();
    if chars > max {
        return Err(breach(
            format!("has {chars} characters; WhatsApp allows {max}"),
            help,
        ));
    }
    Ok(())
}

/// Whether a character ends a line anywhere text is shown: the ASCII ones, NEL, and
/// Unicode's line and paragraph separators.
fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

fn no_line_breaks(value: &str, help: &'static str) -> Result<(), Breach> {
    if value.chars().any(|c| is_line_break(c) || c.is_control()) {
        return Err(breach("holds a line break or a control character", help));
    }
    Ok(())
}

/// Whether a character reorders the text around it when shown (a file name `…\u{202e}fdp.exe`
/// reads as `…exe.pdf`).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Whether `value` holds a character `bad` finds, or, when it is ASCII (as links, codes and
/// payloads nearly always are), a byte `bad_ascii` finds: bytes are checked many at a time, and
/// checking each character took a twentieth of rendering a campaign with a link.
fn holds(value: &str, bad_ascii: fn(u8) -> bool, bad: fn(char) -> bool) -> bool {
    if value.is_ascii() {
        value.bytes().any(bad_ascii)
    } else {
        value.chars().any(bad)
    }
}

fn no_controls(value: &str, help: &'static str) -> Result<(), Breach> {
    // ASCII's line breaks are controls, and it has no character that reorders text.
    if holds(
        value,
        |b| b.is_ascii_control(),
        |c| c.is_control() || is_line_break(c) || is_bidi_control(c),
    ) {
        return Err(breach(
            "holds a line break, a control character or a character that reorders text",
            help,
        ));
    }
    Ok(())
}

fn no_spaces(value: &str, help: &'static str) -> Result<(), Breach> {
    // ASCII's spaces are the space and controls (`u8::is_ascii_whitespace` leaves out \x0b).
    if holds(
        value,
        |b| b == b' ' || b.is_ascii_control(),
        |c| c.is_whitespace() || c.is_control() || is_bidi_control(c),
    ) {
        return Err(breach(
            "holds a space, a line break or a control character",
            help,
        ));
    }
    Ok(())
}

/// An absolute `https://` URL without spaces, at most [`URL`] characters.
fn link(value: &str) -> Result<(), Breach> {
    length(value, 1, URL, "shorten the link")?;
    no_spaces(value, "encode spaces in the link as %20")?;
    // Written out as `https://` (`https:host` and `https:\\host` parse as URLs too, differently
    // by different readers), and parsing to a host.
    let written = value
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
    let https = written
        && (plain_https(value)
            || url::Url::parse(value).is_ok_and(|u| {
                u.scheme() == "https" && u.host_str().is_some_and(|h| !h.is_empty())
            }));
    if !https {
        return Err(breach(
            "is not an absolute https:// URL",
            "WhatsApp fetches media over HTTPS: write the whole link, starting with https://",
        ));
    }
    Ok(())
}

/// Whether `value`, written out as `https://` and without spaces or control characters, is
/// plainly an https URL with a host, as [`url::Url::parse`] would find: a host name of ASCII
/// letters, digits and `-` in non-empty labels, none punycode (`xn--`), the last starting with
/// a letter (so no IP address), then a path, query or fragment, which parse whatever they hold.
/// Most media links are; parsing them took a tenth of the time of rendering a campaign with
/// one, so the parser gets only the rest.
fn plain_https(value: &str) -> bool {
    let Some(rest) = value.get(8..) else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let label = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--"))
    };
    host.split('.').all(label)
        && host
            .rsplit('.')
            .next()
            .and_then(|last| last.bytes().next())
            .is_some_and(|b| b.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::Param;

    #[test]
    fn body_parameters_follow_whatsapp() {
        assert!(Param::BodyText.check("John").is_ok());
        for bad in ["", "a\nb", "a\tb", "a     b", &"x".repeat(1025)] {
            assert!(Param::BodyText.check(bad).is_err(), "{bad:?}");
        }
        assert!(Param::BodyText.check(&"é".repeat(1024)).is_ok());
    }

    #[test]
    fn links_are_absolute_https_without_spaces() {
        assert!(
            Param::MediaLink
                .check("https://cdn.example.com/i/1.pdf")
                .is_ok()
        );
        for bad in [
            "http://cdn.example.com/1.pdf",
            "cdn.example.com/1.pdf",
            "https://cdn.example.com/a b.pdf",
            "/inv/1.pdf",
            "https://",
            "javascript:alert(1)",
            "https:x.example/a.pdf",
            "https:\\\\evil.example/a.pdf",
        ] {
            assert!(Param::MediaLink.check(bad).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        /// The shortcut past the URL parser takes only links the parser takes.
        #[test]
        fn plain_links_are_links_the_url_parser_takes(
            scheme in "(https|HTTPS|hTtPs)://",
            host in "[a-zA-Z0-9.xX-]{0,20}",
            rest in "([/?#:@%\\\\\\[][!-~é]{0,15})?",
        ) {
            let value = format!("{scheme}{host}{rest}");
            if super::plain_https(&value) {
                let parsed = url::Url::parse(&value).unwrap();
                proptest::prop_assert_eq!(parsed.scheme(), "https");
                proptest::prop_assert!(parsed.host_str().is_some_and(|h| !h.is_empty()));
            }
        }
    }

    #[test]
    fn ascii_values_are_checked_as_their_characters_are() {
        for b in 0..=127u8 {
            let value = format!("a{}b", char::from(b));
            let c = char::from(b);
            let space = c.is_whitespace() || c.is_control();
            let control = c.is_control() || super::is_line_break(c);
            assert_eq!(super::no_spaces(&value, "").is_err(), space, "{b}");
            assert_eq!(super::no_controls(&value, "").is_err(), control, "{b}");
        }
    }

    #[test]
    fn plain_links_skip_the_url_parser_and_the_rest_do_not() {
        for plain in [
            "https://cdn.example.com/i/1.pdf",
            "HTTPS://CDN.example.com",
            "https://a-b.example?x=1#y",
            "https://localhost/a%zz",
        ] {
            assert!(super::plain_https(plain), "{plain:?}");
        }
        for parsed in [
            "https://1.2.3.4/a.pdf",
            "https://example.com:8443/a.pdf",
            "https://example.com./a.pdf",
            "https://a..b/",
            "https://xn--nxasmq6b.example/",
            "https://user@example.com/",
            "https://example.123/",
            "https://",
        ] {
            assert!(!super::plain_https(parsed), "{parsed:?}");
        }
    }

    #[test]
    fn payloads_filled_in_from_templates_cannot_start_flows() {
        assert!(Param::Payload.check("flow_abc||data_x=1").is_ok());
        assert!(Param::RenderedPayload.check("yes-12345").is_ok());
        for bad in ["flow_abc||data_x=1", "yes||data_x=1", "a|b"] {
            assert!(Param::RenderedPayload.check(bad).is_err(), "{bad:?}");
        }
        assert!(Param::Filename.check("invoice\u{202e}fdp.exe").is_err());
        assert!(Param::BodyText.check("a\u{1b}[31mb").is_err());
        for separator in ['\u{2028}', '\u{85}', '\u{b}'] {
            assert!(Param::BodyText.check(&format!("a{separator}b")).is_err());
            assert!(Param::HeaderText.check(&format!("a{separator}b")).is_err());
        }
    }

    #[test]
    fn flow_data_cannot_smuggle_more_data() {
        assert!(Param::FlowDataValue.check("approved").is_ok());
        assert!(Param::FlowDataValue.check("").is_ok());
        for bad in ["x||data_response=approved", "x|", "a\nb"] {
            let breach = Param::FlowDataValue.check(bad).unwrap_err();
            assert!(!breach.problem.contains(bad), "{breach:?} quotes the value");
        }
        assert!(
            Param::FlowKey
                .check("7bbb608c3b4b4e848f36cd2ccd7cfa35")
                .is_ok()
        );
        assert!(Param::FlowKey.check("x||data_a").is_err());
        assert!(Param::FlowDataName.check("invoice_no").is_ok());
        assert!(Param::FlowDataName.check("a=b").is_err());
    }
}
