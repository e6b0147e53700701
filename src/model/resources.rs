//! Resource files under `campaigns/`: templates, audiences and campaigns.
//!
//! Maps whose entries must hold exactly one of several keys (a `send`, an audience source, a
//! button) are structs of optional fields rather than enums: the schema stays simple, and the
//! "exactly one" rule is a semantic check with a message that names the keys found.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::project::VarValue;

/// One resource file: any mix of templates, audiences and campaigns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "herald resource file")]
pub struct ResourceFile {
    /// WhatsApp templates as approved by Meta, keyed by a name unique in the project.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub templates: BTreeMap<String, Template>,
    /// Who receives campaigns, keyed by a name unique in the project.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub audiences: BTreeMap<String, Audience>,
    /// What is sent to whom and when, keyed by a name unique in the project.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub campaigns: BTreeMap<String, Campaign>,
}

/// A WhatsApp template exactly as Meta approved it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// The template's name at WhatsApp. Default: the key this template is listed under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The WhatsApp namespace, used by older (on-premises) setups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The approved language code, e.g. `en` or `en_US`.
    #[schemars(regex(pattern = r"^[a-z]{2,3}(_[A-Z]{2})?$"))]
    pub language: String,
    /// The kind of header the template was approved with.
    #[serde(default)]
    pub header: HeaderKind,
    /// The approved body text; `{{1}}`, `{{2}}`, ... are the slots a campaign fills.
    pub body: String,
    /// The approved buttons, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<ApprovedButton>,
    /// The category Meta approved the template in: `marketing`, `utility` or
    /// `authentication`. Default: `marketing`, the category that needs opt-outs honoured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
}

/// A WhatsApp template category, as Meta approves it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Offers, announcements, invitations (default): people who opted out must not get them.
    #[default]
    Marketing,
    /// Updates about something the person asked for: an order, an invoice, an appointment.
    Utility,
    /// One-time passwords.
    Authentication,
}

impl Category {
    /// The category's name, as files write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Marketing => "marketing",
            Category::Utility => "utility",
            Category::Authentication => "authentication",
        }
    }
}

impl Template {
    /// The template's category (`marketing` when it says none).
    pub fn category(&self) -> Category {
        self.category.unwrap_or_default()
    }

    /// The distinct `{{N}}` slot numbers of the approved body, sorted. Valid templates number
    /// them 1..=n, so the length is the number of body parameters a message must give.
    pub fn slot_numbers(&self) -> Vec<usize> {
        let mut found = Vec::new();
        let mut rest = self.body.as_str();
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            if let Some(end) = after.find("}}")
                && let Ok(n) = after[..end].trim().parse::<usize>()
            {
                found.push(n);
            }
            rest = after;
        }
        found.sort_unstable();
        found.dedup();
        found
    }
}

/// The kind of a template's header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HeaderKind {
    /// No header (default).
    #[default]
    None,
    /// A text header with one parameter.
    Text,
    /// An image (JPEG or PNG, at most 5 MB).
    Image,
    /// A video (MP4, at most 16 MB).
    Video,
    /// A document (PDF).
    Document,
}

/// One approved button: exactly one of `quick_reply`, `url` or `copy_code`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovedButton {
    /// A quick-reply button with this label (at most 25 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quick_reply: Option<String>,
    /// A URL button.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<UrlButton>,
    /// A copy-code button with this label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_code: Option<String>,
}

impl ApprovedButton {
    /// The kinds this button was written with (`quick_reply`, `url`, `copy_code`); a valid
    /// button has exactly one, which is also its WhatsApp `sub_type`.
    pub fn kinds(&self) -> Vec<&'static str> {
        [
            ("quick_reply", self.quick_reply.is_some()),
            ("url", self.url.is_some()),
            ("copy_code", self.copy_code.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(kind, _)| kind)
        .collect()
    }
}

/// An approved URL button.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UrlButton {
    /// The button's label (at most 25 characters).
    pub text: String,
    /// The approved URL (at most 2000 characters); a trailing `{{1}}` is filled by the campaign.
    pub url: String,
}

/// A set of recipients: exactly one of `users_api`, `csv`, `users` or `include`, optionally
/// with `exclude`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    /// The bot's users whose attribute equals a value, fetched from the Users API during plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users_api: Option<UsersApi>,
    /// A CSV file, relative to this file. Its header row must hold a `phone` column; every other
    /// column becomes `user.<column>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<String>,
    /// Recipients listed inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<InlineUser>>,
    /// The union of these audiences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<String>>,
    /// Minus the recipients of these audiences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<Vec<String>>,
}

/// A Users API query: everyone whose attribute equals the value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsersApi {
    /// The user attribute to match, e.g. `opt1`.
    pub attribute: String,
    /// The value it must equal, e.g. `"yes"`.
    pub value: String,
}

/// One recipient listed inline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InlineUser {
    /// The phone number in E.164 form: `+`, country code and number, 8 to 15 digits.
    pub phone: String,
    /// Any other field, available to templates as `user.<field>`.
    #[serde(flatten)]
    pub fields: BTreeMap<String, VarValue>,
}

/// A campaign's audience: the name of an audience, or an audience written inline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum AudienceRef {
    /// The name of an audience defined under `audiences:`.
    Named(String),
    /// An audience written inline.
    Inline(Audience),
}

/// When a campaign goes out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// A one-off campaign's time: RFC 3339 with an offset (e.g. `2026-12-01T09:00:00+05:30`),
    /// or `now`. Stored and sent as UTC. Give either `at` or `cron`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// A recurring campaign's times: a five-field cron pattern (minute hour day-of-month month
    /// day-of-week, e.g. `0 9 * * MON`), as in GitHub Actions and Kubernetes CronJobs. Each
    /// occurrence is its own round: every recipient gets each occurrence's message once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// The IANA time zone `cron` is read in (e.g. `Asia/Kolkata`). Default: UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The first day of a recurring campaign (`YYYY-MM-DD`, in `timezone`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The last day of a recurring campaign (`YYYY-MM-DD`, in `timezone`, inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

impl Schedule {
    /// The recurring schedule, when `cron` is given (validated: an error here is a bug in
    /// validation, and reads as no recurrence).
    pub fn recurrence(
        &self,
    ) -> Option<Result<crate::schedule::Recurrence, crate::schedule::ScheduleError>> {
        let cron = self.cron.as_deref()?;
        Some(crate::schedule::Recurrence::parse(
            cron,
            self.timezone.as_deref(),
            self.from.as_deref(),
            self.until.as_deref(),
        ))
    }
}

/// What a campaign does when a recipient already got an earlier version of its message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnChange {
    /// Recipients who got an earlier version are not sent again (default).
    #[default]
    Keep,
    /// A changed message is sent again to everyone it changed for.
    Resend,
}

/// A campaign: one message to every recipient of an audience.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    /// What this campaign is for; shown in plans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who receives it.
    pub audience: AudienceRef,
    /// When it goes out. Default: at the first apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// What is sent: exactly one of `template`, `broadcast`, `template_broadcast`, `trigger`.
    pub send: Send,
    /// `keep` (default) or `resend`: whether a changed message goes again to those who got the old one.
    #[serde(default)]
    pub on_change: OnChange,
    /// The most messages one apply may send for this campaign (a broadcast to 5,000 people
    /// is 5,000); a plan over it is unsafe and applied only with `--force`. Tighter than
    /// `safety.max_sends` of herald.yaml, which caps the whole apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_sends: Option<u64>,
    /// What a one-off campaign whose `schedule.at` passed more than `safety.late_after` ago,
    /// with nothing sent yet, does: `send` it now, or `skip` it (nothing is sent or
    /// recorded). Default: neither; validate and plan report it as an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late: Option<Late>,
    /// `false`: this campaign ignores the project's `suppress` list (one-time passwords,
    /// service messages); the plan says so. Default: `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress: Option<bool>,
    /// Names this campaign had before: deliveries recorded under them count as this
    /// campaign's, so a rename sends nothing again (like Terraform's `moved`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previously: Vec<String>,
    /// The hours and weekdays, in each recipient's local time, in which this campaign may
    /// message them; recipients outside it are `waiting` until it opens. Replaces herald.yaml's
    /// `window`. Template and trigger sends only: Engati publishes a broadcast to everyone at
    /// once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<super::window::Window>,
}

/// What a late one-off campaign does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Late {
    /// Send it now, as if it were on time.
    Send,
    /// Send nothing and record nothing: the moment has passed.
    Skip,
}

/// What a campaign sends: exactly one of the four kinds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Send {
    /// A WhatsApp template message, one request per recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateSend>,
    /// A v1 broadcast of text messages: one request for the whole audience; only reaches users
    /// inside WhatsApp's 24-hour window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast: Option<BroadcastSend>,
    /// A v2 broadcast: one request carrying the users list and a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_broadcast: Option<TemplateBroadcastSend>,
    /// An API trigger: starts a bot flow for each recipient, one request per recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<TriggerSend>,
}

impl Send {
    /// The template parameters of a `template` or `template_broadcast` send.
    pub fn template_params(&self) -> Option<TemplateParams<'_>> {
        self.template
            .as_ref()
            .map(TemplateSend::params)
            .or_else(|| {
                self.template_broadcast
                    .as_ref()
                    .map(TemplateBroadcastSend::params)
            })
    }
}

/// The parameters of a template message, rendered per recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateSend {
    /// The template to send (a key under `templates:`).
    #[serde(rename = "use")]
    pub use_: String,
    /// The header parameter; required when the template has a header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderParam>,
    /// One entry per `{{N}}` slot of the template's body, in order.
    #[serde(default)]
    pub body: Vec<String>,
    /// One entry per approved button, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<ButtonParam>,
}

/// The template parameters shared by `template` and `template_broadcast` sends.
#[derive(Debug, Clone, Copy)]
pub struct TemplateParams<'a> {
    /// The template to send (a key under `templates:`).
    pub use_: &'a str,
    /// The header parameter.
    pub header: Option<&'a HeaderParam>,
    /// One entry per body slot.
    pub body: &'a [String],
    /// One entry per approved button.
    pub buttons: &'a [ButtonParam],
}

impl TemplateSend {
    /// The template and its parameters.
    pub fn params(&self) -> TemplateParams<'_> {
        TemplateParams {
            use_: &self.use_,
            header: self.header.as_ref(),
            body: &self.body,
            buttons: &self.buttons,
        }
    }
}

impl TemplateBroadcastSend {
    /// The template and its parameters.
    pub fn params(&self) -> TemplateParams<'_> {
        TemplateParams {
            use_: &self.use_,
            header: self.header.as_ref(),
            body: &self.body,
            buttons: &self.buttons,
        }
    }
}

/// A v2 template broadcast, rendered once (with `vars` only) for the whole audience.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateBroadcastSend {
    /// The broadcast's title, as shown in Engati's dashboard.
    pub title: String,
    /// The template to send (a key under `templates:`).
    #[serde(rename = "use")]
    pub use_: String,
    /// The header parameter; required when the template has a header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderParam>,
    /// One entry per `{{N}}` slot of the template's body, in order.
    #[serde(default)]
    pub body: Vec<String>,
    /// One entry per approved button, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<ButtonParam>,
}

/// A header parameter: exactly one of `text`, `image`, `video`, `document`, matching the
/// template's `header`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderParam {
    /// The header text (at most 60 characters once rendered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// An image header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Media>,
    /// A video header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<Media>,
    /// A document header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<Document>,
}

/// An image or video by URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Media {
    /// The public https URL of the file.
    pub link: String,
}

/// A document by URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// The public https URL of the PDF.
    pub link: String,
    /// The file name the recipient sees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

/// A button parameter, matching the approved button at the same index: `flow` (with optional
/// `data`) or `payload` for a quick reply, `url` for a URL button, `code` for a copy-code button.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ButtonParam {
    /// Quick reply: the Engati flow (its key) to start when the user taps the button.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    /// Quick reply with `flow`: attributes to set when the flow starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<BTreeMap<String, String>>,
    /// Quick reply: a raw payload, sent as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// URL button: the text that fills the approved URL's `{{1}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Copy-code button: the code to copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// A v1 broadcast of text messages, rendered once (with `vars` only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BroadcastSend {
    /// The broadcast's title, as shown in Engati's dashboard.
    pub title: String,
    /// Channels to broadcast on. Default: `[whatsapp]`.
    #[serde(default = "default_channels")]
    pub channels: Vec<String>,
    /// The text messages, in order.
    #[schemars(length(min = 1))]
    pub messages: Vec<String>,
}

fn default_channels() -> Vec<String> {
    vec!["whatsapp".to_owned()]
}

/// An API trigger: starts a flow for each recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerSend {
    /// The flow key shown in Engati's flow builder, e.g. `default_fallback_msg_74963`.
    pub flow: String,
    /// Attributes to set on the user before the flow runs (e.g. `user.user_name`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::{HeaderKind, Template};

    #[test]
    fn slot_numbers_are_the_distinct_numbered_placeholders() {
        let template = Template {
            name: None,
            namespace: None,
            language: "en".to_owned(),
            header: HeaderKind::None,
            body: "Hi {{2}}, invoice {{1}} for {{ 3 }} {{name}} {{1}}".to_owned(),
            buttons: Vec::new(),
            category: None,
        };
        assert_eq!(template.slot_numbers(), vec![1, 2, 3]);
    }
}
