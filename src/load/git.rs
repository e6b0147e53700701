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
    /// The revision holds something a snapshot does not write (a link leaving it).
    Refused {
        /// What and why.
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
            GitError::Refused { detail } => f.write_str(detail),
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
            GitError::Refused { .. } => {
                "herald diff reads only the repository's own files: replace the link with the file it points to"
            }
            GitError::Failed { .. } | GitError::Write { .. } => {
                "check that the repository is readable and the disk has room"
            }
        }
    }
}

/// Writes the repository holding `project_dir` as it was at `rev` to a temporary directory:
/// the whole tree, since a project may read files outside its own directory
/// (`csv: ../data/customers.csv`).
pub fn snapshot(project_dir: &Path, rev: &str) -> Result<Snapshot, GitError> {
    let top = run(project_dir, &["rev-parse", "--show-toplevel"])?.or(|detail| {
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
    .or(|detail| GitError::UnknownRevision {
        rev: rev.to_owned(),
        detail: if detail.is_empty() {
            "no such branch, tag or commit".to_owned()
        } else {
            detail
        },
    })?
    .trim()
    .to_owned();
    let listing = git(
        &top,
        "ls-tree",
        &["ls-tree", "-r", "-z", "--full-tree", &commit],
    )?;
    let dir = tempfile::Builder::new()
        .prefix("herald-diff-")
        .tempdir()
        .map_err(|error| GitError::Write {
            rev: rev.to_owned(),
            error,
        })?;
    let entries = parse_listing(&listing)?;
    write_blobs(&top, dir.path(), &entries, rev).map_err(|e| match e {
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

/// Streams every blob through one `git cat-file --batch`: regular files first, each created
/// anew (never through an existing path), then symbolic links, each checked to stay inside the
/// snapshot, so no write can follow a link out of it.
fn write_blobs(top: &Path, dir: &Path, entries: &[Entry], rev: &str) -> Result<(), Written> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut child = Command::new("git")
        .arg("-C")
        .arg(top)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
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
    let mut links = Vec::new();
    let mut read = || -> Result<(), Written> {
        let mut line = String::new();
        for entry in entries {
            line.clear();
            reader.read_line(&mut line)?;
            let size = blob_size(&line, entry)?;
            let mut blob = (&mut reader).take(size);
            let written = if entry.link {
                let mut target = Vec::new();
                let n = blob.read_to_end(&mut target)?;
                links.push((entry, target));
                n as u64
            } else {
                write_file(dir, &entry.path, &mut blob)?
            };
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
        Ok(Ok(())) if status.success() => {}
        Ok(Err(e)) => return Err(Written::Io(e)),
        _ => {
            return Err(Written::Git(failed(
                "cat-file",
                &format!("exited with {status}"),
            )));
        }
    }
    for (entry, target) in links {
        link(dir, &entry.path, &target, rev)?;
    }
    Ok(())
}

/// The size in `<object> blob <size>`, git's answer for one object.
fn blob_size(line: &str, entry: &Entry) -> Result<u64, Written> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    match fields[..] {
        [_, "blob", size] => size
            .parse::<u64>()
            .map_err(|_| Written::Git(failed("cat-file", &format!("unexpected answer {line:?}")))),
        [_, "missing"] => Err(Written::Git(failed(
            "cat-file",
            &format!(
                "the object of {} is missing from the repository (a shallow or partial clone? fetch the revision's history)",
                entry.path.display()
            ),
        ))),
        _ => Err(Written::Git(failed(
            "cat-file",
            &format!("unexpected answer {line:?}"),
        ))),
    }
}

/// Writes one regular file (streamed: audiences can be large), refusing to replace anything;
/// returns its size.
fn write_file(dir: &Path, path: &Path, blob: &mut impl Read) -> Result<u64, Written> {
    let full = dir.join(path);
    let at = |e: std::io::Error| {
        Written::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))
    };
    if let Some(parent) = full.parent() {
        std::fs::create_dir_all(parent).map_err(at)?;
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&full)
        .map_err(at)?;
    let mut file = std::io::BufWriter::new(file);
    let size = std::io::copy(blob, &mut file).map_err(at)?;
    file.flush().map_err(at)?;
    Ok(size)
}

/// Creates a symbolic link, if it stays inside the snapshot: a relative target that does not
/// climb out of it, from a directory with no link on its way.
fn link(dir: &Path, path: &Path, target: &[u8], rev: &str) -> Result<(), Written> {
    let shown = String::from_utf8_lossy(target).into_owned();
    let refuse = || {
        Written::Git(GitError::Refused {
            detail: format!(
                "{} at {rev} is a symbolic link to {shown}, outside the repository",
                path.display()
            ),
        })
    };
    let mut depth = path.components().count().saturating_sub(1) as i64;
    for component in Path::new(&shown).components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return Err(refuse());
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err(refuse()),
        }
    }
    let mut ancestor = path.parent();
    while let Some(a) = ancestor.filter(|a| !a.as_os_str().is_empty()) {
        let meta = std::fs::symlink_metadata(dir.join(a));
        if meta.is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(refuse());
        }
        ancestor = a.parent();
    }
    let full = dir.join(path);
    if let Some(parent) = full.parent() {
        std::fs::create_dir_all(parent)?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), &full)?;
    }
    #[cfg(not(unix))]
    {
        return Err(refuse());
    }
    Ok(())
}

fn failed(command: &'static str, detail: &str) -> GitError {
    GitError::Failed {
        command,
        detail: detail.to_owned(),
    }
}

/// What a git command that ran said.
enum Said {
    /// It succeeded: its standard output.
    Out(String),
    /// It failed: its first error line.
    Refused(String),
}

impl Said {
    /// The output, or the error line made an error by `refused`.
    fn or(self, refused: impl FnOnce(String) -> GitError) -> Result<String, GitError> {
        match self {
            Said::Out(out) => Ok(out),
            Said::Refused(line) => Err(refused(line)),
        }
    }
}

/// Runs `git -C dir ARGS`.
fn run(dir: &Path, args: &[&str]) -> Result<Said, GitError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(GitError::NoGit)?;
    if output.status.success() {
        return Ok(Said::Out(
            String::from_utf8_lossy(&output.stdout).into_owned(),
        ));
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Ok(Said::Refused(
        stderr.lines().next().unwrap_or("").trim().to_owned(),
    ))
}

/// [`run`], with a failure as [`GitError::Failed`].
fn git(dir: &Path, command: &'static str, args: &[&str]) -> Result<String, GitError> {
    run(dir, args)?.or(|detail| GitError::Failed { command, detail })
}
