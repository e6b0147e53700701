//! `herald init`: a starter project that validates at once.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::schema;

/// The starter files, relative to the new project's root.
const FILES: [(&str, &str); 6] = [
    ("herald.yaml", include_str!("starter/herald.yaml")),
    ("pricing.yaml", include_str!("starter/pricing.yaml")),
    (
        "campaigns/welcome.yaml",
        include_str!("starter/welcome.yaml"),
    ),
    ("audiences/testers.csv", include_str!("starter/testers.csv")),
    (
        "audiences/unsubscribed.csv",
        include_str!("starter/unsubscribed.csv"),
    ),
    (".gitignore", ""),
];

/// What the starter's `.gitignore` keeps out of git: the state, and saved plans, which hold
/// phones and message text.
const IGNORED: [&str; 4] = [".herald/", "*.plan", "plan.json", "*.plan.json"];

/// Why a project could not be created.
#[derive(Debug)]
pub(crate) enum InitError {
    /// The directory already holds a project.
    Exists(PathBuf),
    /// A file could not be written.
    Io(PathBuf, std::io::Error),
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::Exists(path) => write!(
                f,
                "{} already exists; herald init never overwrites files\n  help: choose another \
                 directory, e.g. `herald init my-campaigns`",
                path.display()
            ),
            InitError::Io(path, e) => write!(f, "cannot write {}: {e}", path.display()),
        }
    }
}

impl std::error::Error for InitError {}

/// A `.gitignore` with [`IGNORED`]: `existing` with the lines it lacks appended, or `None`
/// when it has them all.
fn gitignore(existing: Option<&str>) -> Option<String> {
    let existing = existing.unwrap_or_default();
    let missing: Vec<&str> = IGNORED
        .into_iter()
        .filter(|line| !existing.lines().any(|l| l.trim() == *line))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let mut text = existing.to_owned();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("# herald: the state, and saved plans (they hold phones and message text)\n");
    for line in missing {
        text.push_str(line);
        text.push('\n');
    }
    Some(text)
}

/// Creates the starter project in `dir`, returning the files written. Fails before writing
/// anything when one of them exists (a `.gitignore` is extended instead).
pub(crate) fn create(dir: &Path) -> Result<Vec<PathBuf>, InitError> {
    for (name, _) in FILES.iter().filter(|(name, _)| *name != ".gitignore") {
        let path = dir.join(name);
        if path.exists() {
            return Err(InitError::Exists(path));
        }
    }
    let mut written = Vec::new();
    for (name, text) in FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| InitError::Io(parent.to_path_buf(), e))?;
        }
        let text = if name == ".gitignore" {
            let existing = std::fs::read_to_string(&path).ok();
            match gitignore(existing.as_deref()) {
                Some(text) => text,
                None => continue,
            }
        } else {
            text.to_owned()
        };
        std::fs::write(&path, text).map_err(|e| InitError::Io(path.clone(), e))?;
        written.push(path);
    }
    written.extend(schema::write(dir).map_err(|e| InitError::Io(dir.join(schema::SCHEMA_DIR), e))?);
    Ok(written)
}
