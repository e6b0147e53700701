//! A project as it was at a git revision, written out to a temporary directory so that the
//! loader reads it like any other. Files come from `git ls-tree` and `git cat-file --batch`:
//! the repository, its index and its working tree are never touched, and nothing runs that the
//! revision's files could influence (no checkout hooks, no filters), so reviewing a fork's pull
//! request is safe.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

/// The project directory at a revision.
#[derive(Debug)]
pub struct Snapshot {
    /// Holds the files; removed on drop.
    _dir: tempfile::TempDir,
    /// The project directory inside it (it may not exist: see [`Snapshot::exists`]).
    pub project: PathBuf,
    /// The full commit id the revision named.
    pub commit: String,
    /// Whether the revision had a herald.yaml in the project directory.
    pub exists: bool,
}

/// Why a revision could not be read.
#[derive(Debug)]
pub enum GitError {
    /// `git` could not be run at all.
    NoGit(std::io::Error),
    /// The project directory is not inside a git work tree.
    NotARepository {
        /// The project directory.
        dir: PathBuf,
        /// What git said.
        detail: String,
    },
    /// The revision names no commit.
    UnknownRevision {
        /// As given.
        rev: String,
        /// What git said.
        detail: String,
    },
    /// git failed or said something unexpected.
    Failed {
        /// The subcommand.
        command: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// The snapshot could not be written.
    Write {
        /// The revision.
        rev: String,
        /// Why.
        error: std::io::Error,
    },
}

impl fmt::Display for GitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GitError::NoGit(e) => write!(f, "cannot run git: {e}"),
            GitError::NotARepository { dir, detail } => write!(
                f,
                "{} is not inside a git repository: {detail}",
                dir.display()
            ),
            GitError::UnknownRevision { rev, detail } => {
                write!(f, "git knows no commit `{rev}`: {detail}")
            }
            GitError::Failed { command, detail } => write!(f, "git {command} failed: {detail}"),
            GitError::Write { rev, error } => write!(
                f,
                "cannot write the files of {rev} to a temporary directory: {error}"
            ),
        }
    }
}

impl std::error::Error for GitError {}

impl GitError {
    /// How to fix it.
    pub fn help(&self) -> &'static str {
        match self {
            GitError::NoGit(_) => "install git, or run herald where `git` is on PATH",
            GitError::NotARepository { .. } => {
                "run herald diff inside a clone of the repository that holds the project (or pass --project)"
            }
            GitError::UnknownRevision { .. } => {
                "fetch it first (in GitHub Actions, actions/checkout with `fetch-depth: 0`), or name a branch, tag or commit that exists"
            }
            GitError::Failed { .. } | GitError::Write { .. } => {
                "check that the repository is readable and the disk has room"
            }
        }
    }
}

/// Writes the files under `project_dir` as they were at `rev` to a temporary directory.
pub fn snapshot(project_dir: &Path, rev: &str) -> Result<Snapshot, GitError> {
    let top = run(project_dir, &["rev-parse", "--show-toplevel"])?.map_err(|detail| {
        GitError::NotARepository {
            dir: project_dir.to_path_buf(),
            detail,
        }
    })?;
    let prefix = git(project_dir, "rev-parse", &["rev-parse", "--show-prefix"])?;
    let top = PathBuf::from(top.trim_end_matches('\n'));
    let prefix = prefix.trim_end_matches('\n').to_owned();
    // `--end-of-options` keeps a revision that starts with `-` from being read as a flag.
    let commit = run(
        &top,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &format!("{rev}^{{commit}}"),
        ],
    )?
    .map_err(|detail| GitError::UnknownRevision {
        rev: rev.to_owned(),
        detail: if detail.is_empty() {
            "no such branch, tag or commit".to_owned()
        } else {
            detail
        },
    })?
    .trim()
    .to_owned();
    let spec = if prefix.is_empty() { "." } else { &prefix };
    let listing = git(
        &top,
        "ls-tree",
        &["ls-tree", "-r", "-z", "--full-tree", &commit, "--", spec],
    )?;
    let dir = tempfile::Builder::new()
        .prefix("herald-diff-")
        .tempdir()
        .map_err(|error| GitError::Write {
            rev: rev.to_owned(),
            error,
        })?;
    let entries = parse_listing(&listing)?;
    write_blobs(&top, dir.path(), &entries).map_err(|e| match e {
        Written::Git(e) => e,
        Written::Io(error) => GitError::Write {
            rev: rev.to_owned(),
            error,
        },
    })?;
    let project = dir.path().join(&prefix);
    let exists = project.join("herald.yaml").is_file();
    Ok(Snapshot {
        _dir: dir,
        project,
        commit,
        exists,
    })
}

/// A blob of the tree: where it goes and whether it is a symbolic link.
struct Entry {
    object: String,
    path: PathBuf,
    link: bool,
}

/// `<mode> SP <type> SP <object> TAB <path> NUL` records; submodules are left out.
fn parse_listing(listing: &str) -> Result<Vec<Entry>, GitError> {
    let odd = |record: &str| GitError::Failed {
        command: "ls-tree",
        detail: format!("unexpected output {record:?}"),
    };
    let mut entries = Vec::new();
    for record in listing.split('\0').filter(|r| !r.is_empty()) {
        let (meta, path) = record.split_once('\t').ok_or_else(|| odd(record))?;
        let mut fields = meta.split(' ');
        let (Some(mode), Some(kind), Some(object)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(odd(record));
        };
        if kind != "blob" {
            continue;
        }
        let path = PathBuf::from(path);
        // git never stores such paths; a tree that does could write outside the snapshot.
        if !path.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(odd(record));
        }
        entries.push(Entry {
            object: object.to_owned(),
            path,
            link: mode == "120000",
        });
    }
    Ok(entries)
}

enum Written {
    Git(GitError),
    Io(std::io::Error),
}

impl From<std::io::Error> for Written {
    fn from(e: std::io::Error) -> Written {
        Written::Io(e)
    }
}

/// Streams every blob through one `git cat-file --batch`.
fn write_blobs(top: &Path, dir: &Path, entries: &[Entry]) -> Result<(), Written> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut child = Command::new("git")
        .arg("-C")
        .arg(top)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Written::Git(GitError::NoGit(e)))?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(Written::Git(failed("cat-file", "no pipes to git")));
    };
    let objects: Vec<String> = entries.iter().map(|e| format!("{}\n", e.object)).collect();
    // Written from another thread: git answers while we ask, and both pipes have limits.
    let asking = std::thread::spawn(move || -> std::io::Result<()> {
        for object in objects {
            stdin.write_all(object.as_bytes())?;
        }
        Ok(())
    });
    let mut reader = BufReader::new(stdout);
    let mut read = || -> Result<(), Written> {
        let mut line = String::new();
        for entry in entries {
            line.clear();
            reader.read_line(&mut line)?;
            let size = line
                .trim_end()
                .rsplit(' ')
                .next()
                .and_then(|s| s.parse::<u64>().ok())
                .filter(|_| line.contains(" blob "))
                .ok_or_else(|| {
                    Written::Git(failed("cat-file", &format!("unexpected answer {line:?}")))
                })?;
            let mut blob = (&mut reader).take(size);
            let written = place(dir, entry, &mut blob)?;
            if written != size {
                return Err(Written::Git(failed(
                    "cat-file",
                    &format!(
                        "{} ended after {written} of {size} bytes",
                        entry.path.display()
                    ),
                )));
            }
            let mut newline = [0u8; 1];
            reader.read_exact(&mut newline)?;
        }
        Ok(())
    };
    let result = read();
    drop(reader);
    let asked = asking.join();
    let status = child.wait()?;
    result?;
    match asked {
        Ok(Ok(())) if status.success() => Ok(()),
        Ok(Err(e)) => Err(Written::Io(e)),
        _ => Err(Written::Git(failed(
            "cat-file",
            &format!("exited with {status}"),
        ))),
    }
}

/// Writes one blob (streamed: audiences can be large) where it belongs; returns its size.
fn place(dir: &Path, entry: &Entry, blob: &mut impl Read) -> std::io::Result<u64> {
    let path = dir.join(&entry.path);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    #[cfg(unix)]
    if entry.link {
        use std::os::unix::ffi::OsStrExt;
        let mut target = Vec::new();
        let size = blob.read_to_end(&mut target)?;
        std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), &path)?;
        return Ok(size as u64);
    }
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let size = std::io::copy(blob, &mut file)?;
    file.flush()?;
    Ok(size)
}

fn failed(command: &'static str, detail: &str) -> GitError {
    GitError::Failed {
        command,
        detail: detail.to_owned(),
    }
}

/// Runs `git -C dir ARGS`: its standard output, or (`Err` inside) its first error line.
fn run(dir: &Path, args: &[&str]) -> Result<Result<String, String>, GitError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(GitError::NoGit)?;
    if output.status.success() {
        return Ok(Ok(String::from_utf8_lossy(&output.stdout).into_owned()));
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Ok(Err(stderr.lines().next().unwrap_or("").trim().to_owned()))
}

/// [`run`], with a failure as [`GitError::Failed`].
fn git(dir: &Path, command: &'static str, args: &[&str]) -> Result<String, GitError> {
    run(dir, args)?.map_err(|detail| GitError::Failed { command, detail })
}
