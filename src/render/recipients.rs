//! Audience resolution: the recipients of an audience, in first-seen order, one per E.164 phone.
//!
//! CSV files are streamed record by record (never read whole), Users API audiences are fetched
//! through a [`UsersSource`] once per query, and `include`/`exclude` are set algebra keyed by
//! phone. A phone listed twice collapses to its first listing, with a warning naming both.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::diagnostic::{Code, Diagnostic, Severity};
use crate::engati::ReadError;
use crate::engati::api::BotUser;
use crate::load::audience_file::{self, AudienceFile};
use crate::load::{Confinement, SourceFile};
use crate::model::{Audience, AudienceRef, VarValue};
use crate::validate::{Catalog, Loc, phone};

mod counted;
mod fields;
mod streamed;

pub use fields::{Recipient, UserFields};
pub use streamed::{Batch, Batches, SourceError, Streamed};

/// Duplicate recipients reported per audience before the rest are counted in one line.
const MAX_DUPLICATE_WARNINGS: usize = 5;

/// Where the Users API audiences come from: the Engati client, or a test's fixed answer.
/// `Send`: audiences are resolved on a thread of their own while state is read.
pub trait UsersSource: Send {
    /// Every user whose `attribute` equals `value`.
    fn users(&mut self, attribute: &str, value: &str) -> Result<Vec<BotUser>, ReadError>;
}

/// A source for projects without Users API audiences; asking it is an error.
#[derive(Debug, Default)]
pub struct NoUsersApi;

impl UsersSource for NoUsersApi {
    fn users(&mut self, attribute: &str, value: &str) -> Result<Vec<BotUser>, ReadError> {
        Err(ReadError::Unavailable(format!(
            "the Users API ({attribute} = {value}) is not available in this run"
        )))
    }
}

/// An audience's recipients, unique by phone, in first-seen order: listed, or (for a plan's
/// CSV audiences) counted and read again as they are rendered ([`Streamed`]).
#[derive(Debug, Default)]
pub struct Resolved {
    /// The recipients, when they are listed; empty when they are streamed.
    pub recipients: Vec<Recipient>,
    /// Where the recipients are read from again, when they are not listed.
    pub streamed: Option<Arc<Streamed>>,
}

impl Resolved {
    /// Listed recipients.
    pub fn listed(recipients: Vec<Recipient>) -> Resolved {
        Resolved {
            recipients,
            streamed: None,
        }
    }

    /// How many recipients the audience has.
    pub fn len(&self) -> usize {
        self.streamed
            .as_ref()
            .map_or(self.recipients.len(), |s| s.len())
    }

    /// Whether the audience has no recipients.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The recipients in batches of `batch`, in audience order: slices of the list, or read
    /// again from the file (which can fail: the file changed since it was counted).
    pub fn batches<'r>(&'r self, files: &'r Confinement, batch: usize) -> Batches<'r> {
        match &self.streamed {
            Some(streamed) => Batches::Read(Box::new(streamed.reader(files, batch))),
            None => Batches::Listed(self.recipients.chunks(batch.max(1))),
        }
    }
}

/// Resolves audiences, caching each named one and each Users API query for the run.
pub struct Resolver<'a> {
    catalog: &'a Catalog,
    files: &'a [SourceFile],
    users: &'a mut dyn UsersSource,
    named: HashMap<String, Arc<Resolved>>,
    queries: HashMap<(String, String), Arc<Resolved>>,
    /// Named CSV audiences counted to be streamed ([`Streamed`]).
    streamed: HashMap<String, Arc<Resolved>>,
    /// Named audiences whose problems have been reported.
    reported: HashSet<String>,
    /// Problems found: duplicate recipients (warnings), unreadable sources (errors).
    pub diagnostics: Vec<Diagnostic>,
}

/// An audience's recipients as they are listed: unique by phone (the first listing wins),
/// minus the excluded ones. Built while the sources are read, so a million-row CSV is never
/// held twice.
struct Gathered<'x> {
    excluded: &'x HashSet<u64>,
    seen: HashSet<u64>,
    recipients: Vec<Recipient>,
    /// For a single list (a CSV, inline users, a Users API answer), where repeats are
    /// mistakes worth a warning: what its items are called (`big.csv line`, `user`) and each
    /// kept recipient's item number.
    items: Option<(String, Vec<u64>)>,
    /// The first few repeats: the phone, and the items of its first and repeated listings.
    repeats: Vec<(Box<str>, u64, u64)>,
    /// All repeats.
    repeated: usize,
}

impl<'x> Gathered<'x> {
    /// Gathers from several audiences: overlaps between them are normal (a VIP who also
    /// opted in) and collapse silently.
    fn merged(excluded: &'x HashSet<u64>, expected: usize) -> Gathered<'x> {
        Gathered {
            excluded,
            seen: HashSet::with_capacity(expected),
            recipients: Vec::with_capacity(expected),
            items: None,
            repeats: Vec::new(),
            repeated: 0,
        }
    }

    /// Gathers from one list whose items are called `item` (`big.csv line`, `user`).
    fn list(excluded: &'x HashSet<u64>, expected: usize, item: String) -> Gathered<'x> {
        Gathered {
            items: Some((item, Vec::with_capacity(expected))),
            ..Gathered::merged(excluded, expected)
        }
    }

    /// Adds item `item` of the list (ignored when merging).
    fn add(&mut self, recipient: Recipient, item: u64) {
        let key = phone_key(&recipient.phone);
        if self.excluded.contains(&key) {
            return;
        }
        if !self.seen.insert(key) {
            self.repeated += 1;
            if let Some((_, items)) = &self.items
                && self.repeats.len() < MAX_DUPLICATE_WARNINGS
            {
                // Only for the few repeats reported: a scan is cheaper than an index per phone.
                let first = self
                    .recipients
                    .iter()
                    .position(|r| phone_key(&r.phone) == key);
                let first_item = first.and_then(|i| items.get(i)).copied().unwrap_or(0);
                self.repeats.push((recipient.phone, first_item, item));
            }
            return;
        }
        if let Some((_, items)) = &mut self.items {
            items.push(item);
        }
        self.recipients.push(recipient);
    }
}

impl<'a> Resolver<'a> {
    /// A resolver over a validated project.
    pub fn new(
        catalog: &'a Catalog,
        files: &'a [SourceFile],
        users: &'a mut dyn UsersSource,
    ) -> Resolver<'a> {
        Resolver {
            catalog,
            files,
            users,
            named: HashMap::new(),
            queries: HashMap::new(),
            streamed: HashMap::new(),
            reported: HashSet::new(),
            diagnostics: Vec::new(),
        }
    }

    /// The recipients of a campaign's audience (`loc` is the campaign, for messages). `None`
    /// when a source could not be read (the error is in `diagnostics`).
    pub fn campaign_audience(
        &mut self,
        audience: &AudienceRef,
        loc: &Loc,
    ) -> Option<Arc<Resolved>> {
        match audience {
            AudienceRef::Named(name) => self.named(name),
            AudienceRef::Inline(inline) => {
                self.resolve(inline, loc, "/audience", "the campaign's audience")
            }
        }
    }

    /// The recipients of the audience called `name` (`None` when it is not defined or a
    /// source could not be read; the error is in `diagnostics`).
    pub fn named_audience(&mut self, name: &str) -> Option<Arc<Resolved>> {
        self.named(name)
    }

    fn named(&mut self, name: &str) -> Option<Arc<Resolved>> {
        if let Some(done) = self.named.get(name) {
            return Some(done.clone());
        }
        let item = self.catalog.audiences.get(name)?;
        let resolved = self.once(name, |resolver| {
            resolver.resolve(&item.value, &item.loc, "", &format!("audience `{name}`"))
        })?;
        self.named.insert(name.to_owned(), resolved.clone());
        Some(resolved)
    }

    /// Resolves the audience called `name` with `resolve`, reporting what it finds only the
    /// first time: a plan may read an audience both listed (to exclude it) and streamed (to
    /// render it), and its warnings are said once, where they were before.
    fn once<T>(&mut self, name: &str, resolve: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        let before = self.diagnostics.len();
        let resolved = resolve(self);
        if !self.reported.insert(name.to_owned()) {
            self.diagnostics.truncate(before);
        }
        resolved
    }

    fn resolve(
        &mut self,
        audience: &Audience,
        loc: &Loc,
        sub: &str,
        label: &str,
    ) -> Option<Arc<Resolved>> {
        let mut excluded: HashSet<u64> = HashSet::new();
        for name in audience.exclude.iter().flatten() {
            let resolved = self.named(name)?;
            excluded.extend(resolved.recipients.iter().map(|r| phone_key(&r.phone)));
        }
        let gathered = if let Some(users) = &audience.users {
            let mut gathered = Gathered::list(&excluded, users.len(), "user".to_owned());
            for (i, user) in users.iter().enumerate() {
                let mut map: serde_json::Map<String, Value> = user
                    .fields
                    .iter()
                    .map(|(k, v)| (k.clone(), var_json(v)))
                    .collect();
                map.insert("phone".to_owned(), Value::from(user.phone.clone()));
                let recipient = Recipient {
                    phone: user.phone.clone().into(),
                    fields: Arc::new(UserFields::Map(map)),
                };
                gathered.add(recipient, i as u64 + 1);
            }
            gathered
        } else if let Some(csv) = &audience.csv {
            let path = self.csv_path(loc, csv);
            self.read_csv(&path, loc, &format!("{sub}/csv"), &excluded)?
        } else if let Some(query) = &audience.users_api {
            let fetched = self.users_api(&query.attribute, &query.value, loc, sub, label)?;
            if excluded.is_empty() {
                return Some(fetched);
            }
            let mut gathered = Gathered::merged(&excluded, fetched.recipients.len());
            for r in &fetched.recipients {
                gathered.add(r.clone(), 0);
            }
            gathered
        } else {
            let mut gathered = Gathered::merged(&excluded, 0);
            for name in audience.include.iter().flatten() {
                let resolved = self.named(name)?;
                for r in &resolved.recipients {
                    gathered.add(r.clone(), 0);
                }
            }
            gathered
        };
        Some(Arc::new(self.finish(gathered, loc, sub, label)))
    }

    /// The gathered recipients, after warning about the repeats in a list.
    fn finish(&mut self, gathered: Gathered<'_>, loc: &Loc, sub: &str, label: &str) -> Resolved {
        if let Some((item, _)) = &gathered.items {
            self.warn_repeats(
                item,
                &gathered.repeats,
                gathered.repeated,
                (loc, sub, label),
            );
        }
        Resolved::listed(gathered.recipients)
    }

    /// Warns about the repeats of a list whose items are called `item`: the first few
    /// (`repeats`: the phone, its first and repeated items), then how many more of `repeated`.
    fn warn_repeats(
        &mut self,
        item: &str,
        repeats: &[(Box<str>, u64, u64)],
        repeated: usize,
        (loc, sub, label): (&Loc, &str, &str),
    ) {
        for (phone, first, repeat) in repeats {
            let listings = format!("{item} {first} and {item} {repeat}; the first is used");
            let message = format!("{label} lists {phone} more than once: {listings}");
            let help = "remove one of them; a person is messaged once per campaign";
            let d = self
                .duplicate(loc, sub, message, help)
                .private(format!("{label} lists a phone more than once: {listings}"));
            self.diagnostics.push(d);
        }
        let more = repeated.saturating_sub(repeats.len());
        if more > 0 {
            let listings = if more == 1 { "listing" } else { "listings" };
            let message = format!(
                "{label} has {more} more repeated {listings}, left out; the first listing of each phone is used"
            );
            let d = self.duplicate(loc, sub, message, "remove the repeated rows");
            self.diagnostics.push(d);
        }
    }

    fn duplicate(&self, loc: &Loc, sub: &str, message: String, help: &str) -> Diagnostic {
        loc.diagnostic(
            self.files,
            Severity::Warning,
            Code::AudienceDuplicate,
            sub,
            message,
        )
        .help(help)
    }

    fn csv_path(&self, loc: &Loc, csv: &str) -> PathBuf {
        let base = self
            .files
            .get(loc.file)
            .and_then(|f| f.path.parent())
            .unwrap_or(Path::new("."));
        base.join(csv)
    }

    /// Opens a CSV audience, with the name it is shown under and its file name (`None` after
    /// reporting why it cannot be read).
    fn open_csv(&mut self, path: &Path, loc: &Loc, sub: &str) -> Option<(AudienceFile, String)> {
        let name = path.display().to_string();
        match audience_file::open(&self.catalog.files, path) {
            Ok(file) => Some((file, name)),
            Err(e) => self.csv_failed(loc, sub, e.code(), e.message(&name)),
        }
    }

    /// Reports a CSV audience that cannot be read now, although validation read it (it changed
    /// since): the reason, never the file's contents.
    fn csv_failed<T>(&mut self, loc: &Loc, sub: &str, code: Code, message: String) -> Option<T> {
        let d = loc
            .diagnostic(self.files, Severity::Error, code, sub, message)
            .help("run `herald validate` for the details");
        self.diagnostics.push(d);
        None
    }

    /// The next row of a CSV audience and its phone, checked as validation checks them:
    /// `Some(None)` at the end, `None` after reporting what is wrong (the file changed since).
    fn next_csv_row<'f>(
        &mut self,
        rows: &'f mut crate::load::csv::Reader<crate::load::confine::Capped<std::fs::File>>,
        phone: usize,
        name: &str,
        (loc, sub): (&Loc, &str),
    ) -> Option<Option<(crate::load::csv::Record<'f>, &'f str)>> {
        let record = match rows.next_record() {
            Ok(Some(record)) => record,
            Ok(None) => return Some(None),
            Err(e) => return self.csv_failed(loc, sub, Code::Csv, e.message(name)),
        };
        let value = record.get(phone).unwrap_or_default();
        if !self.csv_phone_ok((loc, sub), name, value, record.line()) {
            return None;
        }
        Some(Some((record, value)))
    }

    /// Whether a CSV row's phone is E.164, after reporting it when not.
    fn csv_phone_ok(
        &mut self,
        (loc, sub): (&Loc, &str),
        name: &str,
        phone: &str,
        row: u64,
    ) -> bool {
        if phone::check(phone).is_ok() {
            return true;
        }
        let d = loc
            .diagnostic(
                self.files,
                Severity::Error,
                Code::Phone,
                sub,
                format!("{name} line {row}: `{phone}` is not an E.164 phone number"),
            )
            .help("run `herald validate` for the details")
            .private(format!(
                "{name} line {row}: the phone is not an E.164 phone number"
            ));
        self.diagnostics.push(d);
        false
    }

    /// Streams a CSV audience. Validation has checked the file; anything wrong now (it changed
    /// since) stops the plan with the reason, never with the file's contents.
    fn read_csv<'x>(
        &mut self,
        path: &Path,
        loc: &Loc,
        sub: &str,
        excluded: &'x HashSet<u64>,
    ) -> Option<Gathered<'x>> {
        let (mut file, name) = self.open_csv(path, loc, sub)?;
        let columns: Arc<[String]> = std::mem::take(&mut file.columns).into();
        let file_name = file_name(path);
        let mut gathered: Option<Gathered<'x>> = None;
        let phone_column = file.phone;
        while let Some((record, phone)) =
            self.next_csv_row(&mut file.rows, phone_column, &name, (loc, sub))?
        {
            let row = record.line();
            let (text, ends) = record.parts();
            let gathered = gathered.get_or_insert_with(|| {
                let expected = expected_rows(file.size, text.len() + ends.len());
                Gathered::list(excluded, expected, format!("{file_name} line"))
            });
            let recipient = Recipient {
                phone: phone.into(),
                fields: Arc::new(UserFields::row(columns.clone(), text, ends)),
            };
            gathered.add(recipient, row);
        }
        Some(gathered.unwrap_or_else(|| Gathered::list(excluded, 0, format!("{file_name} line"))))
    }

    fn users_api(
        &mut self,
        attribute: &str,
        value: &str,
        loc: &Loc,
        sub: &str,
        label: &str,
    ) -> Option<Arc<Resolved>> {
        let key = (attribute.to_owned(), value.to_owned());
        if let Some(done) = self.queries.get(&key) {
            return Some(done.clone());
        }
        let users = match self.users.users(attribute, value) {
            Ok(users) => users,
            Err(message) => {
                let d = loc
                    .diagnostic(
                        self.files,
                        Severity::Error,
                        Code::UsersApi,
                        &format!("{sub}/users_api"),
                        format!("cannot read {label} from the Users API: {message}"),
                    )
                    .help("check api.base_url and the API key variable in herald.yaml, or plan with --emulator to try the project locally");
                self.diagnostics.push(d);
                return None;
            }
        };
        let none_excluded = HashSet::new();
        let item = "Users API user".to_owned();
        let mut gathered = Gathered::list(&none_excluded, users.len(), item);
        let mut skipped = 0usize;
        for (i, user) in users.into_iter().enumerate() {
            let Some(phone) = bot_user_phone(&user) else {
                skipped += 1;
                continue;
            };
            let mut map: serde_json::Map<String, Value> = user.attributes.into_iter().collect();
            map.insert("phone".to_owned(), Value::from(phone.clone()));
            let recipient = Recipient {
                phone: phone.into(),
                fields: Arc::new(UserFields::Map(map)),
            };
            gathered.add(recipient, i as u64 + 1);
        }
        if skipped > 0 {
            let d = loc
                .diagnostic(
                    self.files,
                    Severity::Warning,
                    Code::UsersApi,
                    &format!("{sub}/users_api"),
                    format!(
                        "the Users API returned {skipped} user{} of {label} without an E.164 phone number; they are left out",
                        crate::words::s(skipped)
                    ),
                )
                .help("only WhatsApp users with a phone number can be messaged");
            self.diagnostics.push(d);
        }
        let resolved = Arc::new(self.finish(gathered, loc, sub, label));
        self.queries.insert(key, resolved.clone());
        Some(resolved)
    }
}

/// A phone number as a number: sets of a million phones need no string per entry.
///
/// Each digit `d` is written as `d + 1` in base 11, padded on the right with zeros to 18
/// places, so distinct E.164 numbers (at most 15 digits, every phone reaching here was
/// checked by `phone::check`) get distinct keys, and keys sort as the phones' text does: state
/// lists a campaign's deliveries in that order, and plan looks them up by binary search. Text
/// without digits (the whole-campaign recipient `*`) is key 0, which no phone has.
pub fn phone_key(phone: &str) -> u64 {
    const PLACES: u32 = 18;
    let mut key = 0u64;
    let mut places = 0;
    for d in phone
        .bytes()
        .filter(u8::is_ascii_digit)
        .take(PLACES as usize)
    {
        key = key * 11 + u64::from(d - b'0') + 1;
        places += 1;
    }
    key * 11u64.pow(PLACES - places)
}

/// How many rows a CSV file of `size` bytes holds at most, judged from its first row's
/// `row_bytes`, to size sets and lists up front: growing a million-entry set by doubling costs
/// more than the reading. Never more than the file can hold: the first row has a valid phone,
/// so it is at least 10 bytes long.
fn expected_rows(size: u64, row_bytes: usize) -> usize {
    let expected = size / (row_bytes as u64 + 1);
    usize::try_from(expected.min(1 << 26)).unwrap_or(0)
}

/// A CSV audience's file name, as its rows are named in warnings (`big.csv line 12`).
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// A Users API user's phone: `phoneNumber` when E.164, else `+` and the channel user id's digits.
fn bot_user_phone(user: &BotUser) -> Option<String> {
    let candidates = [
        user.phone_number.clone(),
        user.channel_user_id.as_ref().map(|id| format!("+{id}")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| phone::check(p).is_ok())
}

fn var_json(value: &VarValue) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}
