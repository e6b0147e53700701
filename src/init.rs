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
    (".gitignore", ".herald/\n"),
];

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
            match std::fs::read_to_string(&path) {
                Ok(existing) if existing.lines().any(|l| l.trim() == ".herald/") => continue,
                Ok(existing) if existing.ends_with('\n') || existing.is_empty() => {
                    format!("{existing}{text}")
                }
                Ok(existing) => format!("{existing}\n{text}"),
                Err(_) => text.to_owned(),
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
