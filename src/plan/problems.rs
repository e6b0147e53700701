//! The problems a plan finds while rendering: recipients whose message cannot be rendered or
//! breaks a WhatsApp rule (grouped by what went wrong, the first few named), a campaign whose
//! templates used up the run's budget, and a broadcast that fails to render.

use crate::diagnostic::{Code, Diagnostic, Severity};
use crate::load::LoadedProject;
use crate::render::Prepared;
use crate::render::{FailureGroup, Failures};

/// The problems of a campaign's recipients that failed to render: one per distinct problem,
/// naming its first recipients, and a count of those failing in other ways.
pub(crate) fn failures(
    loaded: &LoadedProject,
    p: &Prepared<'_>,
    failures: &Failures,
) -> Vec<Diagnostic> {
    let mut problems: Vec<Diagnostic> = failures
        .groups
        .iter()
        .map(|group| recipients_problem(loaded, p, group))
        .collect();
    let campaign_error = |pointer: &str, message: String, help: &str| {
        p.item
            .loc
            .diagnostic(
                &loaded.resources,
                Severity::Error,
                Code::RenderError,
                pointer,
                format!("campaign `{}`: {message}", p.item.name),
            )
            .help(help)
    };
    if let Some(unreadable) = &failures.unreadable {
        problems.push(campaign_error(
            "/audience",
            unreadable.to_string(),
            "plan again once the audience file is no longer being written",
        ));
    }
    if let Some((index, exhausted)) = failures.exhausted {
        problems.push(campaign_error(
            "/send",
            format!(
                "its templates {} for {} recipients (stopped at recipient {})",
                exhausted.describe(),
                p.audience.len(),
                index + 1
            ),
            "simplify the loops and filters of its strings; campaign strings fill in a few values",
        ));
    }
    let grouped: usize = failures.groups.iter().map(|g| g.count).sum();
    let more = failures.total - grouped;
    if more > 0 {
        let pointer = failures
            .groups
            .first()
            .map_or("/send", |g| g.error.pointer.as_str());
        problems.push(campaign_error(
            pointer,
            format!(
                "{more} more recipient{} fail in other ways",
                crate::words::s(more)
            ),
            "fix the problems above and plan again to see the rest",
        ));
    }
    problems
}

/// Why a broadcast (rendered once for its whole audience) failed to render.
pub(crate) fn render_problem(
    loaded: &LoadedProject,
    p: &Prepared<'_>,
    e: crate::render::MessageError,
) -> Diagnostic {
    let code = if e.breach.is_some() {
        Code::Limit
    } else {
        Code::RenderError
    };
    let d = p.item.loc.diagnostic(
        &loaded.resources,
        Severity::Error,
        code,
        &e.pointer,
        format!("campaign `{}` fails to render: {}", p.item.name, e.message),
    );
    match e.breach {
        Some(breach) => d.help(breach.help),
        None => d,
    }
}

/// Recipients whose message fails the same way. A WhatsApp rule the message breaks is a
/// `whatsapp::limit`, anything else a `render::error`; recipients are named by number and phone
/// (only the number under `--redact`, which also hides what minijinja said about their data).
fn recipients_problem(
    loaded: &LoadedProject,
    p: &Prepared<'_>,
    group: &FailureGroup,
) -> Diagnostic {
    let e = &group.error;
    let name = &p.item.name;
    let named = |with_phones: bool| {
        // A listed audience names its recipients by index; a streamed one only through the
        // phones rendering kept.
        let phone = |k: usize, i: usize| match p.audience.recipients.get(i) {
            Some(r) => Some(&*r.phone),
            None => group.phones.get(k).and_then(Option::as_deref),
        };
        let mut listed: Vec<String> = group
            .first
            .iter()
            .enumerate()
            .map(|(k, &i)| match phone(k, i) {
                Some(phone) if with_phones => format!("{} ({phone})", i + 1),
                _ => (i + 1).to_string(),
            })
            .collect();
        let more = group.count.saturating_sub(group.first.len());
        if more > 0 {
            listed.push(format!("and {more} more"));
        }
        match group.count {
            1 => format!("recipient {}", listed.join(", ")),
            n => format!("{n} recipients ({})", listed.join(", ")),
        }
    };
    let message =
        |with_phones: bool| format!("campaign `{name}`, {}: {}", named(with_phones), e.message);
    let (code, help, redacted) = match &e.breach {
        Some(breach) => (
            Code::Limit,
            format!(
                "{}; the plan stops so that no message WhatsApp would refuse is reviewed",
                breach.help
            ),
            message(false),
        ),
        None => (
            Code::RenderError,
            "fix the expression or the recipients' data; the plan stops so that nothing \
             half-rendered is reviewed"
                .to_owned(),
            format!(
                "campaign `{name}`, {}: the message fails to render (the reason may quote their \
                 data; plan without --redact in a private log to see it)",
                named(false)
            ),
        ),
    };
    p.item
        .loc
        .diagnostic(
            &loaded.resources,
            Severity::Error,
            code,
            &e.pointer,
            message(true),
        )
        .help(help)
        .private(redacted)
}
