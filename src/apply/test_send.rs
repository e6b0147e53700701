//! `herald send`: one test message of a campaign, rendered for one of its recipients (the
//! first, or the one asked for) and sent to another phone, a tester's.
//!
//! A test is never a delivery of its campaign: nothing is recorded among the campaign's
//! deliveries and the serial stays, so a plan made before it still applies and still sends to
//! every recipient. It is logged beside the applies ([`TestSend`]): written before the request
//! leaves and updated with its outcome, under the state's lock like every write (a write beside
//! a running apply would stop it), so a killed run leaves it `in_flight`, shown as unknown.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

use jiff::Timestamp;
use serde_json::Value;

use super::execute::{Executor, Job, Sent};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::engati::{ApiError, Request};
use crate::jinja::Budget;
use crate::model::Campaign;
use crate::plan::Project;
use crate::render::{Prepared, Recipient, UserFields, UsersSource, prepare, published_on};
use crate::state::{Locked, Outcome, Round, StateError, Store, TestSend, WHOLE_CAMPAIGN};
use crate::validate::{Item, phone};

/// What to send a test of, and to whom.
#[derive(Debug, Clone, Copy)]
pub struct Test<'a> {
    /// The campaign's name.
    pub campaign: &'a str,
    /// The phone the test goes to (E.164).
    pub to: &'a str,
    /// The recipient of the campaign's audience to render it for (default: the first).
    pub rendered_for: Option<&'a str>,
}

/// A test message, rendered and ready to send.
#[derive(Debug, Clone)]
pub struct TestMessage {
    /// The campaign's name.
    pub campaign: String,
    /// The recipient whose fields it was rendered with.
    pub rendered_for: String,
    /// The phone it goes to.
    pub to: String,
    /// The exact request: the campaign's message for `rendered_for`, addressed to `to`.
    pub request: Request,
    /// The campaign's name, then its `previously` names: where its deliveries are recorded.
    recorded_as: Vec<String>,
}

/// What came of a test message.
#[derive(Debug)]
pub struct Report {
    /// The test as logged, with its outcome: `sent`, `failed` (refused, or never sent) or
    /// `unknown`.
    pub record: TestSend,
    /// Why it failed or its outcome is unknown, when the API (or the connection) said.
    pub error: Option<ApiError>,
    /// The outcome could not be logged, or the lock released, after the request left.
    pub not_logged: Option<StateError>,
}

/// Why no test message was sent.
#[derive(Debug)]
pub enum TestSendError {
    /// A phone given is not E.164.
    BadPhone {
        /// The flag it was given with (`--to`, `--as`).
        flag: &'static str,
        /// As given.
        phone: String,
        /// How to write it.
        help: String,
    },
    /// The project has no campaign of that name.
    UnknownCampaign {
        /// As given.
        name: String,
        /// A close name, or the names defined.
        help: String,
    },
    /// The campaign's message or audience could not be prepared or rendered.
    Problems {
        /// The campaign.
        campaign: String,
        /// What is wrong, with file:line:column.
        problems: Vec<Diagnostic>,
    },
    /// The campaign's audience is empty: there is nobody to render the test for.
    EmptyAudience {
        /// The campaign.
        campaign: String,
    },
    /// The recipient asked for is not in the campaign's audience.
    NotInAudience {
        /// The campaign.
        campaign: String,
        /// The phone asked for.
        phone: String,
        /// The audience's first recipient.
        first: String,
    },
    /// The campaign's delivery to the phone (or its broadcast) has an unknown outcome, which
    /// reconciling judges by the phone's conversation history: the test would be taken for it.
    UnknownDelivery {
        /// The campaign (or the name its deliveries are recorded under).
        campaign: String,
        /// The phone, or [`WHOLE_CAMPAIGN`].
        recipient: String,
    },
    /// State could not be read or written (the lock included).
    State(StateError),
}

impl TestSendError {
    /// How to fix it.
    pub fn help(&self) -> String {
        match self {
            TestSendError::BadPhone { help, .. } | TestSendError::UnknownCampaign { help, .. } => {
                help.clone()
            }
            TestSendError::Problems { campaign, .. } => format!(
                "fix what is shown above (`herald plan --campaign {campaign}` shows it too), then \
                 send again"
            ),
            TestSendError::EmptyAudience { .. } => {
                "add recipients to the campaign's audience, or send a test of another campaign"
                    .to_owned()
            }
            TestSendError::NotInAudience { first, .. } => format!(
                "give --as a phone of the campaign's audience (its first is {first}; opt-outs \
                 are left out), or leave --as out to render the test for the first"
            ),
            TestSendError::UnknownDelivery {
                campaign,
                recipient,
            } => {
                let quoted = match recipient.as_str() {
                    WHOLE_CAMPAIGN => "'*'",
                    phone => phone,
                };
                format!(
                    "settle it first (`herald state reconcile`, or `herald state \
                     mark-sent|forget {campaign} {quoted}` after checking with Engati), or send \
                     the test to another phone"
                )
            }
            TestSendError::State(e) => e.help(),
        }
    }
}

impl fmt::Display for TestSendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestSendError::BadPhone { flag, phone, .. } => {
                write!(f, "{flag} `{phone}` is not an E.164 phone number")
            }
            TestSendError::UnknownCampaign { name, .. } => write!(f, "no campaign named `{name}`"),
            TestSendError::Problems { campaign, problems } => write!(
                f,
                "campaign `{campaign}` cannot be rendered for a test: {} (see above)",
                crate::words::count(problems.len(), "problem")
            ),
            TestSendError::EmptyAudience { campaign } => write!(
                f,
                "campaign `{campaign}` has nobody to render a test for: its audience is empty"
            ),
            TestSendError::NotInAudience {
                campaign, phone, ..
            } => write!(
                f,
                "{phone} is not a recipient of campaign `{campaign}`, so the test cannot be \
                 rendered for it"
            ),
            TestSendError::UnknownDelivery {
                campaign,
                recipient,
            } if recipient == WHOLE_CAMPAIGN => write!(
                f,
                "campaign `{campaign}`'s broadcast has an unknown outcome: reconciling reads its \
                 recipients' histories, and would take a test message there for it"
            ),
            TestSendError::UnknownDelivery {
                campaign,
                recipient,
            } => write!(
                f,
                "campaign `{campaign}`'s delivery to {recipient} has an unknown outcome: \
                 reconciling reads that phone's history, and would take a test message there \
                 for it"
            ),
            TestSendError::State(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for TestSendError {}

impl From<StateError> for TestSendError {
    fn from(e: StateError) -> TestSendError {
        TestSendError::State(e)
    }
}

/// Renders a test of `test.campaign`: its message compiled and its audience resolved as a
/// plan does (the project's `suppress` list applied), the recipient picked, and the message
/// rendered with that recipient's fields but `phone` replaced by `test.to`, addressed to
/// `test.to`. A broadcast goes to that one phone, published at `now`: a test is looked at now,
/// whatever the campaign's schedule. `users` answers Users API audiences.
pub fn render(
    project: &Project<'_>,
    test: &Test<'_>,
    users: &mut dyn UsersSource,
    now: Timestamp,
) -> Result<TestMessage, TestSendError> {
    check_phone("--to", test.to)?;
    if let Some(phone) = test.rendered_for {
        check_phone("--as", phone)?;
    }
    let item = campaign(project, test.campaign)?;
    let problems = |problems| TestSendError::Problems {
        campaign: item.name.clone(),
        problems,
    };
    let mut budget = Budget::plan();
    let (prepared, _) = prepare(
        project.loaded,
        project.catalog,
        project.api,
        now,
        &[item],
        users,
        &mut budget,
    )
    .map_err(problems)?;
    let Some(p) = prepared.first() else {
        return Err(problems(Vec::new()));
    };
    let (index, chosen) = pick(p, test)?;
    let synthetic = addressed_to(chosen, test.to);
    let request = if p.render.message.per_recipient() {
        render_one(project, p, index, &synthetic, &mut budget)?
    } else {
        let audience = std::slice::from_ref(&synthetic);
        p.render
            .message
            .for_audience(audience, &published_on(now))
            .map_err(|e| {
                let problem = crate::plan::problems::render_problem(project.loaded, p, e);
                problems(vec![problem])
            })?
    };
    Ok(TestMessage {
        campaign: item.name.clone(),
        rendered_for: chosen.phone.to_string(),
        to: test.to.to_owned(),
        request,
        recorded_as: std::iter::once(&item.name)
            .chain(&item.value.previously)
            .cloned()
            .collect(),
    })
}

/// Sends a rendered test through `executor` (its rate limit and retries), logged in `store`
/// beside the applies, under its lock (taken for `who`): before the request leaves, and again
/// with its outcome. Refused while the campaign's delivery to the phone (or its broadcast) is
/// unknown: reconciling would take the test for it.
pub fn send(
    store: Box<dyn Store>,
    who: &str,
    message: &TestMessage,
    executor: &Executor,
) -> Result<Report, TestSendError> {
    let mut state = Locked::take(store, &format!("herald send ({who})"))?;
    for name in &message.recorded_as {
        for recipient in [message.to.as_str(), WHOLE_CAMPAIGN] {
            let unknown = state
                .delivery(Round::one_off(name), recipient)?
                .is_some_and(|d| matches!(d.outcome, Outcome::Unknown | Outcome::InFlight));
            if unknown {
                return Err(TestSendError::UnknownDelivery {
                    campaign: name.clone(),
                    recipient: recipient.to_owned(),
                });
            }
        }
    }
    let mut record = TestSend {
        id: state.id().to_owned(),
        who: who.to_owned(),
        at: Timestamp::now(),
        campaign: message.campaign.clone(),
        rendered_for: message.rendered_for.clone(),
        phone: message.to.clone(),
        outcome: Outcome::InFlight,
        api_code: None,
        detail: None,
    };
    state.log_test_send(&record)?;
    let (done, finished) = std::sync::mpsc::channel();
    let job = Job {
        index: 0,
        request: message.request.clone(),
    };
    executor.launch(job, done);
    let error = match finished.recv().map(|f| f.result) {
        Ok(Sent::Accepted(code)) => {
            record.outcome = Outcome::Sent;
            record.api_code = Some(code);
            None
        }
        Ok(Sent::Failed(error)) => {
            record.outcome = Outcome::Failed;
            record.api_code = super::api_code(&error);
            record.detail = Some(super::describe(&error));
            Some(error)
        }
        Ok(Sent::Unknown(error)) => {
            record.outcome = Outcome::Unknown;
            record.api_code = super::api_code(&error);
            record.detail = Some(super::describe(&error));
            Some(error)
        }
        Ok(Sent::NotSent) => {
            record.outcome = Outcome::Failed;
            record.detail = Some("not sent: stopped before the request left".to_owned());
            None
        }
        Err(_) => {
            record.outcome = Outcome::Unknown;
            record.detail = Some("the request ended without an outcome".to_owned());
            None
        }
    };
    let not_logged = state
        .log_test_send(&record)
        .and_then(|()| state.release())
        .err();
    Ok(Report {
        record,
        error,
        not_logged,
    })
}

/// `phone` as E.164, or why not.
fn check_phone(flag: &'static str, text: &str) -> Result<(), TestSendError> {
    phone::check(text).map_err(|e| TestSendError::BadPhone {
        flag,
        phone: text.to_owned(),
        help: e.help,
    })
}

/// The campaign named `name`, or which one was meant.
fn campaign<'a>(project: &Project<'a>, name: &str) -> Result<&'a Item<Campaign>, TestSendError> {
    let campaigns = &project.catalog.campaigns;
    campaigns.get(name).ok_or_else(|| {
        let names = campaigns.keys().map(String::as_str);
        let help = match did_you_mean(name, names.clone()) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!(
                "campaigns defined: {}",
                names.collect::<Vec<_>>().join(", ")
            ),
        };
        TestSendError::UnknownCampaign {
            name: name.to_owned(),
            help,
        }
    })
}

/// The recipient to render for, with its index in the audience: the one asked for, else the
/// first.
fn pick<'p>(p: &'p Prepared<'_>, test: &Test<'_>) -> Result<(usize, &'p Recipient), TestSendError> {
    let recipients = &p.audience.recipients;
    let Some(first) = recipients.first() else {
        return Err(TestSendError::EmptyAudience {
            campaign: p.item.name.clone(),
        });
    };
    let Some(phone) = test.rendered_for else {
        return Ok((0, first));
    };
    recipients
        .iter()
        .enumerate()
        .find(|(_, r)| &*r.phone == phone)
        .ok_or_else(|| TestSendError::NotInAudience {
            campaign: p.item.name.clone(),
            phone: phone.to_owned(),
            first: first.phone.to_string(),
        })
}

/// `recipient` with the phone `to`: its fields, `phone` among them replaced.
fn addressed_to(recipient: &Recipient, to: &str) -> Recipient {
    let mut fields = recipient.fields.to_map();
    fields.insert("phone".to_owned(), Value::String(to.to_owned()));
    Recipient {
        phone: to.into(),
        fields: Arc::new(UserFields::Map(fields)),
    }
}

/// A per-recipient campaign's request for `synthetic`, rendered as a plan renders each
/// recipient (its budget charged); a failure is reported as the chosen recipient's, the
/// audience's `index`th.
fn render_one(
    project: &Project<'_>,
    p: &Prepared<'_>,
    index: usize,
    synthetic: &Recipient,
    budget: &mut Budget,
) -> Result<Request, TestSendError> {
    let mut request = None;
    let rendered = p.render.render_each(
        std::slice::from_ref(synthetic),
        1,
        budget,
        |_, _| Ok(((), true)),
        |_, judged| {
            request = judged.request;
            Ok::<(), Infallible>(())
        },
    );
    let Ok(mut failures) = rendered;
    for group in &mut failures.groups {
        group.first.iter_mut().for_each(|i| *i = index);
    }
    if let Some((at, _)) = failures.exhausted.as_mut() {
        *at = index;
    }
    let problems = crate::plan::problems::failures(project.loaded, p, &failures);
    match request {
        Some(request) if problems.is_empty() => Ok(request),
        _ => Err(TestSendError::Problems {
            campaign: p.item.name.clone(),
            problems,
        }),
    }
}
