//! Problems found in a project, each with the file, position and a help line.
//!
//! Every check in herald reports through [`Diagnostic`]; the `output` module turns them into
//! human text (with source snippets) or JSON for editors and CI annotations.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// A position in a source file: 1-based line, 0-based column in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 0-based column, counted in characters.
    pub col: usize,
}

/// The stretch of source a node was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Where the node starts.
    pub start: Pos,
    /// Where it ends (exclusive).
    pub end: Pos,
}

/// How bad a problem is: errors fail `herald validate`, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Must be fixed before herald will plan.
    Error,
    /// Worth a look; does not fail validation.
    Warning,
}

/// Stable identifiers of every kind of problem, for editors, CI filters and documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Code {
    /// A file could not be read.
    FileRead,
    /// A file is not UTF-8.
    FileEncoding,
    /// A file is larger than herald reads.
    FileTooLarge,
    /// A path resolves outside the directories a project may read.
    FileOutside,
    /// A path names a directory, device, FIFO or socket instead of a regular file.
    FileNotRegular,
    /// A resource file holds nothing.
    FileEmpty,
    /// The YAML parser rejected the text.
    YamlSyntax,
    /// A mapping has the same key twice.
    YamlDuplicateKey,
    /// Aliases expand to too many nodes.
    YamlAliasLimit,
    /// A YAML construct herald does not accept (complex keys, unknown tags).
    YamlUnsupported,
    /// A field herald does not know.
    SchemaUnknownField,
    /// A required field is missing.
    SchemaRequired,
    /// A value has the wrong type.
    SchemaType,
    /// A value is not one of the allowed ones.
    SchemaEnum,
    /// A value breaks a pattern, length or range rule.
    SchemaValue,
    /// Two resources of one kind share a name.
    DuplicateName,
    /// A reference to a template or audience that does not exist.
    UnknownReference,
    /// Audiences include or exclude each other in a loop.
    AudienceCycle,
    /// An audience has no source, or more than one.
    AudienceSource,
    /// A `send` holds no kind, or more than one.
    SendKind,
    /// A one-of map (button, header) holds no key, or more than one.
    OneOf,
    /// The body entries do not match the template's slots.
    TemplateSlots,
    /// The buttons do not match the approved ones.
    TemplateButtons,
    /// The header parameter does not match the template's header.
    TemplateHeader,
    /// A phone number is not E.164.
    Phone,
    /// A CSV file cannot be used as an audience.
    Csv,
    /// A schedule time is not RFC 3339 or `now`.
    Schedule,
    /// A template expression does not parse.
    RenderSyntax,
    /// A template expression uses a name that will not be defined.
    RenderUndefined,
    /// A template expression fails when rendered.
    RenderError,
    /// A WhatsApp limit is exceeded.
    Limit,
    /// An environment named with `--env` does not exist, or a `--var` is malformed.
    Settings,
    /// A recipient listed twice in one audience (the first wins).
    AudienceDuplicate,
    /// The Users API could not be read while resolving an audience.
    UsersApi,
    /// An environment sends to another API target but would record in the default state.
    SharedState,
    /// `files:` or a state path in herald.yaml reaches where a project may not.
    ProjectFiles,
    /// A one-off campaign's time passed long ago and nothing of it was sent.
    Late,
    /// `previously:` names a campaign that exists, or one another campaign claims too.
    Previously,
    /// A marketing campaign that honours no opt-outs (no `suppress`, no `exclude`).
    Unsuppressed,
    /// A template that does not say its category (counted as marketing).
    TemplateCategory,
    /// The rate card `pricing:` names does not exist, or is not a `.yaml` or `.yml` file.
    PricingFile,
    /// A rate card the schema accepts but that cannot price a plan: a key that is not a
    /// calling code of 1 to 3 digits (or `default`), a rate finer than a millionth, a date
    /// that does not exist, more or less than one YAML document.
    PricingRates,
    /// `budget:` without a rate card, or an amount that cannot be one.
    Budget,
    /// A send window that is malformed, or set on a broadcast (which Engati publishes to
    /// everyone at once).
    Window,
    /// A time zone that is not in the IANA database: herald.yaml's `timezone:`, or a
    /// recipient's `user.timezone`.
    TimeZone,
    /// A template broadcast to more recipients than `api.messaging_limit` lets one day reach:
    /// it could never go out.
    MessagingLimit,
}

impl Code {
    /// The code as printed, e.g. `schema::unknown-field`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::FileRead => "file::read",
            Code::FileEncoding => "file::encoding",
            Code::FileTooLarge => "file::too-large",
            Code::FileOutside => "file::outside",
            Code::FileNotRegular => "file::not-regular",
            Code::FileEmpty => "file::empty",
            Code::YamlSyntax => "yaml::syntax",
            Code::YamlDuplicateKey => "yaml::duplicate-key",
            Code::YamlAliasLimit => "yaml::alias-limit",
            Code::YamlUnsupported => "yaml::unsupported",
            Code::SchemaUnknownField => "schema::unknown-field",
            Code::SchemaRequired => "schema::required",
            Code::SchemaType => "schema::type",
            Code::SchemaEnum => "schema::enum",
            Code::SchemaValue => "schema::value",
            Code::DuplicateName => "name::duplicate",
            Code::UnknownReference => "name::unknown",
            Code::AudienceCycle => "audience::cycle",
            Code::AudienceSource => "audience::source",
            Code::SendKind => "send::kind",
            Code::OneOf => "schema::one-of",
            Code::TemplateSlots => "template::slots",
            Code::TemplateButtons => "template::buttons",
            Code::TemplateHeader => "template::header",
            Code::Phone => "audience::phone",
            Code::Csv => "audience::csv",
            Code::Schedule => "campaign::schedule",
            Code::RenderSyntax => "render::syntax",
            Code::RenderUndefined => "render::undefined",
            Code::RenderError => "render::error",
            Code::AudienceDuplicate => "audience::duplicate",
            Code::UsersApi => "audience::users-api",
            Code::Limit => "whatsapp::limit",
            Code::Settings => "project::settings",
            Code::SharedState => "project::shared-state",
            Code::ProjectFiles => "project::files",
            Code::Late => "campaign::late",
            Code::Previously => "campaign::previously",
            Code::Unsuppressed => "campaign::unsuppressed",
            Code::TemplateCategory => "template::category",
            Code::PricingFile => "pricing::file",
            Code::PricingRates => "pricing::rates",
            Code::Budget => "pricing::budget",
            Code::Window => "campaign::window",
            Code::TimeZone => "time::zone",
            Code::MessagingLimit => "campaign::messaging_limit",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The text of a file (or of an excerpt of one, such as a CSV row), with an index of where each
/// line starts so positions convert to byte offsets cheaply.
#[derive(Debug)]
pub struct SourceText {
    /// The text.
    pub text: Arc<str>,
    /// The line number (1-based) of the text's first line in the file.
    pub first_line: usize,
    line_starts: Vec<usize>,
}

impl SourceText {
    /// Indexes a text whose first line is line `first_line` of its file.
    pub fn new(text: Arc<str>, first_line: usize) -> Arc<SourceText> {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Arc::new(SourceText {
            text,
            first_line,
            line_starts,
        })
    }

    /// The byte offset of a position, clamped to the text.
    pub fn offset(&self, pos: Pos) -> usize {
        let Some(line_index) = pos.line.checked_sub(self.first_line) else {
            return 0;
        };
        let Some(&start) = self.line_starts.get(line_index) else {
            return self.text.len();
        };
        let line_end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |i| start + i);
        self.text[start..line_end]
            .char_indices()
            .nth(pos.col)
            .map_or(line_end, |(i, _)| start + i)
    }
}

/// Another place a diagnostic refers to, e.g. the first definition of a duplicate name.
#[derive(Debug, Clone)]
pub struct Related {
    /// The file, relative to the project root.
    pub file: String,
    /// Where in it.
    pub span: Span,
    /// What is there.
    pub message: String,
    /// The file's text, for a snippet.
    pub source: Option<Arc<SourceText>>,
}

/// One problem: what, where, and how to fix it.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Its stable code.
    pub code: Code,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
    /// The file, relative to the project root (or as given, outside it).
    pub file: String,
    /// Where in the file; `None` for problems with the file as a whole.
    pub span: Option<Span>,
    /// A short note shown at the span.
    pub label: Option<String>,
    /// The file's text, for a snippet.
    pub source: Option<Arc<SourceText>>,
    /// Other places involved.
    pub related: Vec<Related>,
    /// The message as `--redact` shows it, when this one quotes recipients' data (a phone, a
    /// field's value, a CSV row); under `--redact` such a diagnostic's snippet and label are
    /// left out too.
    pub redacted: Option<String>,
}

impl Diagnostic {
    /// A new error in `file`.
    pub fn error(code: Code, file: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            help: None,
            file: file.into(),
            span: None,
            label: None,
            source: None,
            related: Vec::new(),
            redacted: None,
        }
    }

    /// A new warning in `file`.
    pub fn warning(code: Code, file: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, file, message)
        }
    }

    /// Points the diagnostic at a span of its file.
    pub fn at(mut self, span: Span, source: Option<Arc<SourceText>>) -> Diagnostic {
        self.span = Some(span);
        self.source = source;
        self
    }

    /// Adds a help line.
    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Adds a label shown at the span.
    pub fn label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    /// Marks the diagnostic as quoting recipients' data: `--redact` shows `message` instead
    /// and leaves out the snippet.
    pub fn private(mut self, message: impl Into<String>) -> Diagnostic {
        self.redacted = Some(message.into());
        self
    }

    /// Adds a related place.
    pub fn related(mut self, related: Related) -> Diagnostic {
        self.related.push(related);
        self
    }

    /// 1-based line, or 1 for whole-file problems.
    pub fn line(&self) -> usize {
        self.span.map_or(1, |s| s.start.line)
    }

    /// 1-based column, or 1 for whole-file problems.
    pub fn column(&self) -> usize {
        self.span.map_or(1, |s| s.start.col + 1)
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The order diagnostics are shown in: by file, then position, then code and message.
    pub fn sort_key(&self) -> (&str, usize, usize, Code, &str) {
        (
            &self.file,
            self.line(),
            self.column(),
            self.code,
            &self.message,
        )
    }
}

/// Suggests the candidate closest to `given`, when one is close enough to be a likely typo.
pub fn did_you_mean<'a, I>(given: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(given, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, c)| c)
}
