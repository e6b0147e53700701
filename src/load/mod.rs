//! Finding a project and reading its files into position-aware YAML trees.
//!
//! Everything here is about bytes and syntax; what the documents mean is `validate`'s job.

pub mod audience_file;
pub mod confine;
pub mod csv;
pub mod git;
pub mod node;
pub mod yaml;

use std::cell::RefCell;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{Code, Diagnostic, SourceText};
pub use confine::{Confinement, Refusal};
use node::{Node, Pos, Span};

/// The project settings file at the root of every project.
pub const SETTINGS_FILE: &str = "herald.yaml";
/// The folder resource files live in, below the root.
pub const RESOURCE_DIR: &str = "campaigns";
/// The largest YAML file herald reads. Campaign files are kilobytes; audiences that big belong
/// in a CSV file, which is streamed and has no limit.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// A problem that stops herald before any file can be judged: exit code 2.
#[derive(Debug)]
pub enum LoadError {
    /// No herald.yaml in the directory or any parent.
    NoProject {
        /// Where the search started.
        start: PathBuf,
    },
    /// `--project` names something that is not a directory with herald.yaml.
    NotAProject {
        /// The directory given.
        dir: PathBuf,
        /// The project it lies inside, when a parent holds herald.yaml (a common slip:
        /// `--project campaigns` for the folder of resource files).
        inside: Option<PathBuf>,
    },
    /// A directory could not be listed.
    Io {
        /// What could not be read.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NoProject { start } => write!(
                f,
                "no {SETTINGS_FILE} in {} or any parent directory\n  help: run `herald init` to \
                 start a project, or pass --project DIR",
                start.display()
            ),
            LoadError::NotAProject {
                dir,
                inside: Some(root),
            } => write!(
                f,
                "{} has no {SETTINGS_FILE}; it is inside the project at {}\n  help: pass \
                 --project {} (the directory that holds {SETTINGS_FILE}), or leave --project out \
                 when running from inside it",
                dir.display(),
                root.display(),
                root.display()
            ),
            LoadError::NotAProject { dir, inside: None } => write!(
                f,
                "{} has no {SETTINGS_FILE}\n  help: pass the directory that holds {SETTINGS_FILE}, \
                 or run `herald init {}`",
                dir.display(),
                dir.display()
            ),
            LoadError::Io { path, error } => write!(f, "cannot read {}: {error}", path.display()),
        }
    }
}

impl std::error::Error for LoadError {}

/// One YAML file, read and parsed.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as shown to users: relative to the project root, with `/` separators.
    pub name: String,
    /// The absolute (or as-given) path on disk.
    pub path: PathBuf,
    /// Its text, for snippets; `None` when the file could not be read as text.
    pub source: Option<Arc<SourceText>>,
    /// Its YAML documents (empty after a syntax error), parsed again from `source` when asked
    /// for after [`SourceFile::release`].
    documents: std::sync::OnceLock<Vec<Node>>,
}

impl SourceFile {
    /// Its YAML documents (empty after a syntax error or when it could not be read).
    pub fn documents(&self) -> &[Node] {
        self.documents.get_or_init(|| match &self.source {
            // Parsing is deterministic: the same text gives the same trees and problems, and
            // the problems were reported when the file was first read.
            Some(source) => yaml::parse(&self.name, source).0,
            None => Vec::new(),
        })
    }

    /// Frees the documents' trees, which are parsed again if asked for. A tree costs about
    /// seven times its text, and once a project is validated its trees serve only to place
    /// the rare message; a plan of 50,000 campaign files would otherwise keep half a gigabyte
    /// of them.
    pub fn release(&mut self) {
        if self.source.is_some() {
            self.documents = std::sync::OnceLock::new();
        }
    }
}

/// A project's files, read and parsed, with the problems found on the way.
#[derive(Debug)]
pub struct LoadedProject {
    /// The directory holding herald.yaml.
    pub root: PathBuf,
    /// herald.yaml.
    pub settings: SourceFile,
    /// The resource files, in sorted path order.
    pub resources: Vec<SourceFile>,
    /// Problems reading or parsing them.
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadedProject {
    /// Frees the resource files' trees once the project is validated ([`SourceFile::release`]).
    pub fn release_trees(&mut self) {
        for file in &mut self.resources {
            file.release();
        }
    }
}

/// The project root: `explicit` when given (it must hold herald.yaml), otherwise the nearest
/// directory from `cwd` upwards that holds one.
pub fn find_root(explicit: Option<&Path>, cwd: &Path) -> Result<PathBuf, LoadError> {
    if let Some(dir) = explicit {
        return if dir.join(SETTINGS_FILE).is_file() {
            Ok(dir.to_path_buf())
        } else {
            let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
            let inside = absolute
                .ancestors()
                .skip(1)
                .find(|d| d.join(SETTINGS_FILE).is_file())
                .map(|root| {
                    // Show the project as the user would type it: relative to where they are.
                    let cwd = std::path::absolute(cwd).unwrap_or_else(|_| cwd.to_path_buf());
                    match root.strip_prefix(&cwd) {
                        Ok(r) if r.as_os_str().is_empty() => PathBuf::from("."),
                        Ok(r) => r.to_path_buf(),
                        Err(_) => root.to_path_buf(),
                    }
                });
            Err(LoadError::NotAProject {
                dir: dir.to_path_buf(),
                inside,
            })
        };
    }
    cwd.ancestors()
        .find(|dir| dir.join(SETTINGS_FILE).is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| LoadError::NoProject {
            start: cwd.to_path_buf(),
        })
}

/// Reads herald.yaml and every `campaigns/**/*.yaml` and `*.yml` below `root`. Every file
/// must resolve inside the project root (symbolic links are followed only that far).
pub fn load(root: &Path) -> Result<LoadedProject, LoadError> {
    let mut diagnostics = Vec::new();
    let confinement = Confinement::project(root).with_max_bytes(MAX_FILE_BYTES);
    let settings = read_yaml(
        root,
        &root.join(SETTINGS_FILE),
        &confinement,
        &mut diagnostics,
    );
    let paths = resource_paths(root, &mut diagnostics)?;
    let resources = read_all(root, &paths, &confinement, &mut diagnostics);
    Ok(LoadedProject {
        root: root.to_path_buf(),
        settings,
        resources,
        diagnostics,
    })
}

/// What a failure to walk below the resource directory means: a loop or an unreadable entry
/// inside it is reported and skipped; the directory itself unreadable stops loading.
fn unwalkable(root: &Path, dir: &Path, e: walkdir::Error) -> Result<Diagnostic, LoadError> {
    if e.loop_ancestor().is_none() && e.depth() == 0 {
        return Err(LoadError::Io {
            path: e.path().unwrap_or(dir).to_path_buf(),
            error: e.into(),
        });
    }
    let name = display_name(root, e.path().unwrap_or(dir));
    let reason = if e.loop_ancestor().is_some() {
        "a directory link loops back to a directory above it".to_owned()
    } else {
        e.io_error()
            .map_or_else(|| e.to_string(), std::io::Error::to_string)
    };
    Ok(Diagnostic::error(
        Code::FileRead,
        &name,
        format!("cannot read {name}: {reason}"),
    )
    .help("check the directory's links and permissions"))
}

/// The resource files below `root`, sorted so every run reads them in the same order. A
/// directory link leading out of the project is not followed, and a `.yaml` name that is not
/// a regular file is not read: both are reported.
pub fn resource_paths(
    root: &Path,
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<Vec<PathBuf>, LoadError> {
    let dir = root.join(RESOURCE_DIR);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let inside = std::fs::canonicalize(root).map_err(|error| LoadError::Io {
        path: root.to_path_buf(),
        error,
    })?;
    let pruned = RefCell::new(Vec::new());
    // Each directory is walked once, however many links lead to it: links that fan out (two
    // to the next directory, at every level) would otherwise make the walk exponential.
    let walked = RefCell::new(std::collections::HashSet::new());
    let walk = walkdir::WalkDir::new(&dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            if !entry.file_type().is_dir() {
                return true;
            }
            if let Ok(resolved) = std::fs::canonicalize(entry.path())
                && resolved.starts_with(&inside)
            {
                return walked.borrow_mut().insert(resolved);
            }
            let name = display_name(root, entry.path());
            pruned.borrow_mut().push(
                Diagnostic::error(
                    Code::FileOutside,
                    &name,
                    format!("{name} links to a directory outside the project; it is not read"),
                )
                .help("keep resource files inside the project; link to shared data with `csv:` and `files.allow` instead"),
            );
            false
        });
    let mut paths = Vec::new();
    for entry in walk {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                diagnostics.push(unwalkable(root, &dir, e)?);
                continue;
            }
        };
        let is_yaml = entry
            .path()
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml");
        // Regular files, and names that should be but are not (reported when read).
        if is_yaml && !entry.file_type().is_dir() {
            paths.push(entry.into_path());
        }
    }
    diagnostics.extend(pruned.into_inner());
    Ok(paths)
}

/// The name a file is shown under: relative to the root when inside it, else as given.
pub fn display_name(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(relative) => relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
        Err(_) => path.display().to_string(),
    }
}

/// Reads and parses `paths` in order, on all cores when there are many: a project of 50,000
/// campaign files spends most of its load in the YAML parser. Files and their problems come
/// out in the order of `paths` whatever thread read them.
fn read_all(
    root: &Path,
    paths: &[PathBuf],
    confinement: &Confinement,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<SourceFile> {
    /// Below this many files per thread, starting threads costs more than they save.
    const FILES_PER_THREAD: usize = 256;
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(paths.len() / FILES_PER_THREAD)
        .min(8);
    let read = |part: &[PathBuf]| {
        let mut problems = Vec::new();
        let files: Vec<_> = part
            .iter()
            .map(|path| read_yaml(root, path, confinement, &mut problems))
            .collect();
        (files, problems)
    };
    if threads <= 1 {
        let (files, problems) = read(paths);
        diagnostics.extend(problems);
        return files;
    }
    let parts: Vec<_> = std::thread::scope(|scope| {
        let workers: Vec<_> = paths
            .chunks(paths.len().div_ceil(threads))
            .map(|part| scope.spawn(move || read(part)))
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut resources = Vec::with_capacity(paths.len());
    for (files, problems) in parts {
        resources.extend(files);
        diagnostics.extend(problems);
    }
    resources
}

/// Reads and parses one YAML file, if `confinement` lets it be read; every problem becomes a
/// diagnostic, never a panic.
pub fn read_yaml(
    root: &Path,
    path: &Path,
    confinement: &Confinement,
    diagnostics: &mut Vec<Diagnostic>,
) -> SourceFile {
    let name = display_name(root, path);
    let mut file = SourceFile {
        name: name.clone(),
        path: path.to_path_buf(),
        source: None,
        documents: std::sync::OnceLock::from(Vec::new()),
    };
    let text = match read_text(path, &name, confinement) {
        Ok(text) => text,
        Err(diagnostic) => {
            diagnostics.push(*diagnostic);
            return file;
        }
    };
    let source = SourceText::new(Arc::from(text), 1);
    let (documents, problems) = yaml::parse(&name, &source);
    diagnostics.extend(problems);
    file.source = Some(source);
    file.documents = std::sync::OnceLock::from(documents);
    file
}

/// Reads a file as UTF-8 text, within `confinement` (whose cap is [`MAX_FILE_BYTES`]).
fn read_text(
    path: &Path,
    name: &str,
    confinement: &Confinement,
) -> Result<String, Box<Diagnostic>> {
    let mut opened = match confinement.open(path) {
        Ok(opened) => opened,
        Err(Refusal::TooLarge { size, .. }) => {
            return Err(Box::new(
                Diagnostic::error(
                    Code::FileTooLarge,
                    name,
                    format!(
                        "{name} is {:.1} MiB; herald reads YAML files of at most {} MiB",
                        size as f64 / 1024.0 / 1024.0,
                        MAX_FILE_BYTES / 1024 / 1024
                    ),
                )
                .help("put large recipient lists in a CSV file and reference it with `csv:`"),
            ));
        }
        Err(refusal) => {
            return Err(Box::new(
                Diagnostic::error(refusal.code(), name, refusal.message(name)).help(refusal.help()),
            ));
        }
    };
    let mut bytes = Vec::with_capacity(usize::try_from(opened.size).unwrap_or(0));
    opened.reader.read_to_end(&mut bytes).map_err(|error| {
        Box::new(
            Diagnostic::error(Code::FileRead, name, format!("cannot read {name}: {error}"))
                .help("check that the file is readable"),
        )
    })?;
    String::from_utf8(bytes)
        .map_err(|e| Box::new(encoding_error(name, e.as_bytes(), e.utf8_error())))
}

/// Points at the first byte that is not UTF-8, showing its line decoded lossily (the bad byte
/// as U+FFFD) so the snippet shows the whole line and underlines the byte.
fn encoding_error(name: &str, bytes: &[u8], error: std::str::Utf8Error) -> Diagnostic {
    let bad = error.valid_up_to();
    let line_start = bytes[..bad]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line_end = bytes[bad..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |i| bad + i);
    // Everything before `bad` is valid UTF-8, so these conversions lose nothing.
    let line = bytes[..line_start].iter().filter(|&&b| b == b'\n').count() + 1;
    let col = String::from_utf8_lossy(&bytes[line_start..bad])
        .chars()
        .count();
    let text = String::from_utf8_lossy(&bytes[line_start..line_end]);
    let start = Pos { line, col };
    let end = Pos { line, col: col + 1 };
    Diagnostic::error(
        Code::FileEncoding,
        name,
        format!(
            "{name} is not valid UTF-8 (byte 0x{:02X} is not part of a UTF-8 character)",
            bytes[bad]
        ),
    )
    .at(
        Span { start, end },
        Some(SourceText::new(Arc::from(text.as_ref()), line)),
    )
    .label("not UTF-8")
    .help("save the file as UTF-8 (it may be in Latin-1 or UTF-16)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_errors_point_at_the_bad_byte_and_show_its_line() {
        let bytes = b"a: 1\nb: caf\xe9!\nc: 3\n";
        let error = String::from_utf8(bytes.to_vec()).unwrap_err().utf8_error();
        let d = encoding_error("x.yaml", bytes, error);
        let span = d.span.unwrap();
        assert_eq!(span.start, Pos { line: 2, col: 6 });
        assert_eq!(span.end, Pos { line: 2, col: 7 });
        let source = d.source.unwrap();
        assert_eq!(&*source.text, "b: caf\u{FFFD}!");
        assert_eq!(source.first_line, 2);
        assert!(d.message.contains("0xE9"), "{}", d.message);
    }
}
