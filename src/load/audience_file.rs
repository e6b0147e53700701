//! Audience files: a CSV file a project names with `csv:`, opened within the project's reach
//! ([`Confinement`]), whose header row must have a `phone` column. Until the header has shown
//! the file is an audience, nothing of it is quoted in errors: the path may lead anywhere the
//! project reaches, and these messages end up in CI logs and pull-request comments.

use std::fs::File;
use std::path::Path;

use super::confine::{Capped, Confinement, Refusal};
use super::csv::{Error, ErrorKind, Reader};

/// An audience file, opened within its project's reach, with its header read.
pub struct AudienceFile {
    /// The rows after the header.
    pub rows: Reader<Capped<File>>,
    /// The header's column names, trimmed.
    pub columns: Vec<String>,
    /// Which column is `phone`.
    pub phone: usize,
    /// The file's size when opened.
    pub size: u64,
}

/// Why an audience file cannot be used; never quotes the file's contents.
#[derive(Debug)]
pub enum AudienceError {
    /// The path may not be read.
    Refused(Refusal),
    /// The file is empty.
    Empty,
    /// The header row cannot be read.
    Header(Error),
    /// The header has no `phone` column.
    NoPhone {
        /// How many columns it has.
        columns: usize,
        /// A column that is probably meant to be `phone` (a usual name for one).
        suggestion: Option<String>,
    },
    /// The header names a column twice: `user.NAME` would be ambiguous.
    DuplicateColumn {
        /// The name.
        column: String,
    },
}

impl AudienceError {
    /// One line saying what is wrong with the file shown as `name`.
    pub fn message(&self, name: &str) -> String {
        match self {
            AudienceError::Refused(refusal) => refusal.message(name),
            AudienceError::Empty => {
                format!("{name} is empty; it needs a header row with a `phone` column")
            }
            // The header's text is not shown: the file may be anything the path led to.
            AudienceError::Header(e) => {
                let problem = match &e.kind {
                    ErrorKind::Io(io) => return format!("cannot read {name}: {io}"),
                    ErrorKind::NotUtf8 => "is not UTF-8 text",
                    ErrorKind::Nul => "holds NUL bytes (binary data)",
                    ErrorKind::UnclosedQuote | ErrorKind::QuotedTooLong => {
                        "has a quote that is never closed"
                    }
                    _ => "is too long for a CSV header",
                };
                format!("{name} is not a CSV audience: its first line {problem}")
            }
            AudienceError::DuplicateColumn { column } => {
                format!("{name} has two columns named `{column}`")
            }
            AudienceError::NoPhone { columns, .. } => format!(
                "{name} has no `phone` column (its header row has {columns} column{})",
                crate::words::s(*columns)
            ),
        }
    }

    /// How to fix it.
    pub fn help(&self) -> String {
        match self {
            AudienceError::Refused(refusal) => refusal.help().to_owned(),
            AudienceError::NoPhone {
                suggestion: Some(column),
                ..
            } => format!("rename the column `{column}` to `phone`"),
            AudienceError::DuplicateColumn { .. } => {
                "give every column its own name: templates read them as `user.NAME`".to_owned()
            }
            _ => "an audience file is CSV text whose first row names the columns, one of them \
                  `phone` holding E.164 numbers (e.g. +919019486731)"
                .to_owned(),
        }
    }

    /// The diagnostic code.
    pub fn code(&self) -> crate::diagnostic::Code {
        match self {
            AudienceError::Refused(Refusal::Missing(_)) => crate::diagnostic::Code::Csv,
            AudienceError::Refused(refusal) => refusal.code(),
            _ => crate::diagnostic::Code::Csv,
        }
    }
}

/// Whether a column name is a usual name for the phone column (`Phone`, `mobile_number`,
/// `MSISDN`, ...): the one text of a file that is not an audience a message may repeat, since
/// it can only be one of these words.
fn is_phone_alias(column: &str) -> bool {
    const ALIASES: [&str; 10] = [
        "phone",
        "phonenumber",
        "phoneno",
        "mobile",
        "mobilenumber",
        "mobileno",
        "msisdn",
        "whatsapp",
        "whatsappnumber",
        "cell",
    ];
    let folded: String = column
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' ' | '.'))
        .flat_map(char::to_lowercase)
        .collect();
    ALIASES.contains(&folded.as_str())
}

/// Opens an audience file within `confinement` and reads its header.
pub fn open(confinement: &Confinement, path: &Path) -> Result<AudienceFile, AudienceError> {
    let opened = confinement.open(path).map_err(AudienceError::Refused)?;
    let mut rows = Reader::new(opened.reader);
    let header = rows.next_record().map_err(AudienceError::Header)?;
    let Some(header) = header else {
        return Err(AudienceError::Empty);
    };
    let columns: Vec<String> = header.iter().map(|c| c.trim().to_owned()).collect();
    let Some(phone) = columns.iter().position(|c| c == "phone") else {
        return Err(AudienceError::NoPhone {
            columns: columns.len(),
            suggestion: columns.iter().find(|c| is_phone_alias(c)).cloned(),
        });
    };
    // From here on the file is an audience: its header may be quoted.
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = columns.iter().find(|c| !seen.insert(c.as_str())) {
        return Err(AudienceError::DuplicateColumn {
            column: twice.clone(),
        });
    }
    Ok(AudienceFile {
        rows,
        columns,
        phone,
        size: opened.size,
    })
}
