//! Files a project may read: [`Confinement`] decides, before a byte is read, whether a path a
//! project names (`csv:`, a resource file found under `campaigns/`) may be opened.
//!
//! Campaign files arrive in pull requests and run on CI machines that hold secrets, so a path
//! is trusted only after it is resolved: every symbolic link followed, the result must be a
//! regular file inside the project root (or a directory `files.allow` lists), outside `.git/`
//! and `.herald/`, and no larger than `files.max_bytes`. The file is then opened without
//! blocking and checked again through its handle, so a file swapped between the check and the
//! open (for a FIFO that would hang, say) is refused too; reads through [`Capped`] stop at the
//! cap even when the file grows, or when its size was never known.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use crate::diagnostic::Code;

/// The largest data file herald reads unless `files.max_bytes` says otherwise.
pub const DEFAULT_MAX_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// Directory names herald never reads inside: git's data (a checkout's credentials live in
/// `.git/config`) and herald's own state.
const PRIVATE_DIRS: [&str; 2] = [".git", ".herald"];

/// Directories that may never be allowed, nor any directory holding one: kernel interfaces
/// (`/proc/self/environ` holds the process's secrets), devices, system configuration and
/// runtime secrets. The home directory (keys and cloud credentials) is added at run time.
const SYSTEM_DIRS: [&str; 7] = ["/proc", "/sys", "/dev", "/run", "/var/run", "/etc", "/boot"];

/// Where a project may read, and how much. The default reads nothing.
#[derive(Debug, Clone, Default)]
pub struct Confinement {
    /// The project root and `files.allow`, resolved.
    roots: Vec<PathBuf>,
    /// `files.max_bytes`.
    max_bytes: u64,
}

/// Why a path may not be read. Never carries the file's contents.
#[derive(Debug)]
pub enum Refusal {
    /// Nothing is there (or it cannot be reached).
    Missing(io::Error),
    /// It resolves outside the project root and every allowed directory.
    Outside {
        /// Where it resolves to.
        resolved: PathBuf,
    },
    /// It resolves inside `.git/` or `.herald/`.
    Private {
        /// The directory name.
        dir: &'static str,
    },
    /// It is not a regular file.
    NotRegular {
        /// What it is: `a directory`, `a FIFO`, ...
        kind: &'static str,
    },
    /// It is larger than the cap.
    TooLarge {
        /// Its size.
        size: u64,
        /// The cap.
        limit: u64,
    },
    /// It could not be opened or inspected.
    Io(io::Error),
}

impl Refusal {
    /// The diagnostic code of the refusal.
    pub fn code(&self) -> Code {
        match self {
            Refusal::Missing(_) | Refusal::Io(_) => Code::FileRead,
            Refusal::Outside { .. } | Refusal::Private { .. } => Code::FileOutside,
            Refusal::NotRegular { .. } => Code::FileNotRegular,
            Refusal::TooLarge { .. } => Code::FileTooLarge,
        }
    }

    /// One line saying what is wrong with the file shown as `name`.
    pub fn message(&self, name: &str) -> String {
        match self {
            Refusal::Missing(e) => format!("cannot open {name}: {}", io_reason(e)),
            Refusal::Outside { resolved } if resolved.as_os_str() == name => {
                format!("{name} is outside the project")
            }
            Refusal::Outside { resolved } => format!(
                "{name} is outside the project (it resolves to {})",
                resolved.display()
            ),
            Refusal::Private { dir } => {
                format!("{name} is inside {dir}/, which herald never reads")
            }
            Refusal::NotRegular { kind } => format!("{name} is {kind}, not a regular file"),
            Refusal::TooLarge { size, limit } => format!(
                "{name} is {}, larger than the {} herald reads (files.max_bytes)",
                human_bytes(*size),
                human_bytes(*limit)
            ),
            Refusal::Io(e) => format!("cannot read {name}: {}", io_reason(e)),
        }
    }

    /// How to fix it.
    pub fn help(&self) -> &'static str {
        match self {
            Refusal::Missing(_) => {
                "the path is relative to the file that names it; check the file name"
            }
            Refusal::Outside { .. } => {
                "herald reads only files inside the project (the directory holding herald.yaml) and \
                 in the directories listed under `files.allow` in herald.yaml; copy the file into \
                 the project or allow its directory"
            }
            Refusal::Private { .. } => {
                "git's files and herald's state are not audiences; keep data files elsewhere in the project"
            }
            Refusal::NotRegular { .. } => {
                "herald reads only regular files: not directories, devices, FIFOs or sockets"
            }
            Refusal::TooLarge { .. } => {
                "raise `files.max_bytes` in herald.yaml if the file is meant to be this large"
            }
            Refusal::Io(_) => "check that the file is readable",
        }
    }
}

/// An I/O error's reason without the raw OS error number.
fn io_reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// A size for people: `5.2 GiB`, `300 KiB`, `12 bytes`.
pub fn human_bytes(size: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (unit, scale) in UNITS {
        if size >= scale {
            let value = size as f64 / scale as f64;
            return if size.is_multiple_of(scale) {
                format!("{} {unit}", size / scale)
            } else {
                format!("{value:.1} {unit}")
            };
        }
    }
    format!("{size} bytes")
}

/// A problem with one `files.allow` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowProblem {
    /// Its index in the list.
    pub index: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

impl Confinement {
    /// The project root alone, with the default cap: what resource files are read under, and
    /// what data files are read under when herald.yaml cannot be read.
    pub fn project(root: &Path) -> Confinement {
        Confinement {
            roots: vec![resolve_dir(root)],
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }

    /// The project root and the allowed directories (relative to the root, as herald.yaml
    /// lists them), with a cap. Entries that cannot be allowed are left out and reported.
    pub fn new(root: &Path, allow: &[String], max_bytes: u64) -> (Confinement, Vec<AllowProblem>) {
        let mut confinement = Confinement {
            max_bytes,
            ..Confinement::project(root)
        };
        let mut problems = Vec::new();
        for (index, entry) in allow.iter().enumerate() {
            match allowed_dir(root, entry) {
                Ok(dir) => confinement.roots.push(dir),
                Err((message, help)) => problems.push(AllowProblem {
                    index,
                    message,
                    help,
                }),
            }
        }
        (confinement, problems)
    }

    /// The largest file it lets be read.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The same confinement with another cap (YAML files have a smaller one of their own).
    pub fn with_max_bytes(&self, max_bytes: u64) -> Confinement {
        Confinement {
            max_bytes,
            ..self.clone()
        }
    }

    /// Checks a file herald may create and write (a SQLite state): it must resolve inside the
    /// reach, through the directories that exist so far, and be a regular file if it exists.
    pub fn check_writable(&self, path: &Path) -> Result<(), Refusal> {
        let existing = path
            .ancestors()
            .find(|p| std::fs::symlink_metadata(p).is_ok())
            .unwrap_or(Path::new("/"));
        let rest = path.strip_prefix(existing).unwrap_or(Path::new(""));
        let mut resolved = std::fs::canonicalize(existing).map_err(Refusal::Io)?;
        for part in rest.components() {
            match part {
                Component::Normal(name) => resolved.push(name),
                Component::CurDir => {}
                // `..` below a directory that does not exist yet cannot be resolved.
                _ => return Err(Refusal::Outside { resolved }),
            }
        }
        if !self.roots.iter().any(|base| resolved.starts_with(base)) {
            return Err(Refusal::Outside { resolved });
        }
        match std::fs::metadata(&resolved) {
            Ok(meta) if !meta.is_file() => Err(Refusal::NotRegular {
                kind: describe_kind(&meta.file_type()),
            }),
            _ => Ok(()),
        }
    }

    /// Checks `path` and opens it for reading.
    pub fn open(&self, path: &Path) -> Result<Confined, Refusal> {
        let resolved = std::fs::canonicalize(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => Refusal::Missing(e),
            _ => Refusal::Io(e),
        })?;
        if !self.roots.iter().any(|base| resolved.starts_with(base)) {
            return Err(Refusal::Outside { resolved });
        }
        // The whole path: an allowed directory may itself lie in a repository's `.git/`.
        if let Some(dir) = private_dir(&resolved) {
            return Err(Refusal::Private { dir });
        }
        let checked = std::fs::symlink_metadata(&resolved).map_err(Refusal::Io)?;
        regular(&checked, self.max_bytes)?;
        let file = open_nonblocking(&resolved).map_err(Refusal::Io)?;
        // Checked again through the handle: the path may have been swapped since.
        let opened = file.metadata().map_err(Refusal::Io)?;
        regular(&opened, self.max_bytes)?;
        if !same_file(&checked, &opened) {
            return Err(Refusal::Io(io::Error::other(
                "the file changed while it was being opened",
            )));
        }
        // A directory on the path may have been swapped for a link between the resolving and
        // the opening: where the handle really leads is checked too, where the system says.
        if let Some(actual) = opened_path(&file)
            && (!self.roots.iter().any(|base| actual.starts_with(base))
                || private_dir(&actual).is_some())
        {
            return Err(Refusal::Outside { resolved: actual });
        }
        Ok(Confined {
            size: opened.len(),
            reader: Capped {
                inner: file,
                left: self.max_bytes,
                limit: self.max_bytes,
            },
        })
    }
}

/// An opened file that passed the checks.
#[derive(Debug)]
pub struct Confined {
    /// Its size when it was opened.
    pub size: u64,
    /// Its contents, read no further than the cap.
    pub reader: Capped<File>,
}

/// A reader that fails, rather than reading on, past a cap: a file whose size was checked can
/// still grow while it is read.
#[derive(Debug)]
pub struct Capped<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(format!(
                    "it grew past {} while it was read (files.max_bytes)",
                    human_bytes(self.limit)
                ))),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// A directory resolved, or as given when it cannot be (it is then reported elsewhere).
fn resolve_dir(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir)
        .or_else(|_| std::path::absolute(dir))
        .unwrap_or_else(|_| dir.to_path_buf())
}

/// The first private directory a path passes through.
fn private_dir(path: &Path) -> Option<&'static str> {
    path.components().find_map(|c| match c {
        Component::Normal(name) => PRIVATE_DIRS.iter().copied().find(|d| name == *d),
        _ => None,
    })
}

/// A `files.allow` entry resolved, or why it cannot be allowed.
fn allowed_dir(root: &Path, entry: &str) -> Result<PathBuf, (String, String)> {
    let resolved = std::fs::canonicalize(root.join(entry)).map_err(|e| {
        (
            format!("files.allow: `{entry}` cannot be found: {}", io_reason(&e)),
            "list directories that exist, relative to the project root (e.g. ../shared-data)"
                .to_owned(),
        )
    })?;
    if !resolved.is_dir() {
        return Err((
            format!("files.allow: `{entry}` is not a directory"),
            "list directories, not files; every file below an allowed directory may be read"
                .to_owned(),
        ));
    }
    if let Some(dir) = private_dir(&resolved) {
        return Err((
            format!(
                "files.allow: `{entry}` resolves to {}, inside {dir}/",
                resolved.display()
            ),
            "git's files and herald's state are never read; allow a directory of shared data"
                .to_owned(),
        ));
    }
    // Compared resolved, as `resolved` is: /etc may be a link (/private/etc on macOS), and so
    // may the home directory (/home -> /var/home).
    let resolve = |dir: &Path| std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| resolve(Path::new(&h)));
    let system = resolved.parent().is_none()
        || SYSTEM_DIRS.iter().any(|dir| {
            let dir = resolve(Path::new(dir));
            resolved.starts_with(&dir) || dir.starts_with(&resolved)
        })
        || home.as_ref().is_some_and(|home| {
            // The home directory, what holds it, and its hidden directories (~/.ssh, ~/.aws).
            home.starts_with(&resolved)
                || resolved.strip_prefix(home).is_ok_and(|below| {
                    below
                        .components()
                        .next()
                        .is_some_and(|first| first.as_os_str().to_string_lossy().starts_with('.'))
                })
        });
    if system {
        return Err((
            format!(
                "files.allow: `{entry}` resolves to {}, which is or holds a system directory, \
                 the home directory or one of its hidden directories",
                resolved.display()
            ),
            "allow only directories of shared data, e.g. ../shared-data; never /, /proc, /dev, \
             /etc, the home directory, its hidden directories (~/.ssh, ~/.aws) or a directory \
             that contains one of them"
                .to_owned(),
        ));
    }
    Ok(resolved)
}

/// Checks file metadata: a regular file no larger than `max_bytes`.
fn regular(meta: &std::fs::Metadata, max_bytes: u64) -> Result<(), Refusal> {
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(Refusal::NotRegular {
            kind: describe_kind(&kind),
        });
    }
    if meta.len() > max_bytes {
        return Err(Refusal::TooLarge {
            size: meta.len(),
            limit: max_bytes,
        });
    }
    Ok(())
}

fn describe_kind(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_block_device() || kind.is_char_device() {
            return "a device";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// Opens without blocking: opening a FIFO would otherwise wait for a writer forever.
fn open_nonblocking(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    options.open(path)
}

/// The path an open file really has, on Linux (`/proc/self/fd`); `None` where that cannot be
/// told.
#[cfg(target_os = "linux")]
fn opened_path(file: &File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

#[cfg(not(target_os = "linux"))]
fn opened_path(_: &File) -> Option<PathBuf> {
    None
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    true
}

#[cfg(test)]
mod tests;
