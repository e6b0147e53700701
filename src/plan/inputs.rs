//! The inputs hash: the SHA-256 of everything a plan was made from (herald.yaml, every resource
//! file, every CSV an audience reads, the rate card, and the options), so apply can tell that a
//! saved plan no longer matches the files.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::load::{Confinement, LoadedProject};
use crate::validate::Catalog;

/// What besides the files shaped the plan.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    /// `--env`.
    pub environment: Option<&'a str>,
    /// `HERALD_VAR_*` and `--var`, in order.
    pub vars: &'a [(String, String)],
    /// `--campaign`, if given.
    pub campaigns: &'a [String],
}

/// The hash of a project's files and the options, as 64 hex digits.
pub fn hash(loaded: &LoadedProject, catalog: &Catalog, options: &Options<'_>) -> String {
    let mut hasher = Sha256::new();
    let mut files: Vec<(String, PathBuf)> = std::iter::once(&loaded.settings)
        .chain(&loaded.resources)
        .map(|f| (f.name.clone(), f.path.clone()))
        .collect();
    for item in catalog.audiences.values() {
        if let (Some(csv), Some(file)) = (&item.value.csv, loaded.resources.get(item.loc.file)) {
            let path = file.path.parent().unwrap_or(Path::new(".")).join(csv);
            files.push((format!("{}#csv:{csv}", file.name), path));
        }
    }
    for item in catalog.campaigns.values() {
        if let (crate::model::AudienceRef::Inline(a), Some(file)) =
            (&item.value.audience, loaded.resources.get(item.loc.file))
            && let Some(csv) = &a.csv
        {
            let path = file.path.parent().unwrap_or(Path::new(".")).join(csv);
            files.push((format!("{}#csv:{csv}", file.name), path));
        }
    }
    // The rate card prices the plan: a changed rate changes its costs and breaches.
    if let Some(pricing) = catalog.settings.as_ref().and_then(|s| s.pricing.as_ref()) {
        let name = format!("{}#pricing:{pricing}", loaded.settings.name);
        files.push((name, loaded.root.join(pricing)));
    }
    files.sort();
    files.dedup();
    // The YAML files were read whole when loaded: their bytes are hashed from memory rather
    // than read again (50,000 campaign files are 50,000 opens, each path checked).
    let loaded_text: std::collections::HashMap<&Path, &str> = std::iter::once(&loaded.settings)
        .chain(&loaded.resources)
        .filter_map(|f| Some((f.path.as_path(), &*f.source.as_ref()?.text)))
        .filter(|(_, text)| text.len() as u64 <= catalog.files.max_bytes())
        .collect();
    let mut buf = vec![0u8; 1 << 16];
    for (name, path) in &files {
        field(&mut hasher, "file", name.as_bytes());
        match loaded_text.get(path.as_path()) {
            Some(text) => {
                hasher.update(text.as_bytes());
                hasher.update((text.len() as u64).to_le_bytes());
            }
            None => hash_file(&mut hasher, &catalog.files, path, &mut buf),
        }
    }
    field(
        &mut hasher,
        "env",
        options.environment.unwrap_or_default().as_bytes(),
    );
    for (name, value) in options.vars {
        field(&mut hasher, "var", name.as_bytes());
        field(&mut hasher, "value", value.as_bytes());
    }
    let mut selection = options.campaigns.to_vec();
    selection.sort();
    for name in &selection {
        field(&mut hasher, "campaign", name.as_bytes());
    }
    let digest: [u8; 32] = hasher.finalize().into();
    crate::fingerprint::Fingerprint(digest).to_string()
}

/// A length-prefixed field, so `ab`+`c` and `a`+`bc` hash differently.
fn field(hasher: &mut Sha256, tag: &str, bytes: &[u8]) {
    hasher.update(tag.as_bytes());
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

/// A file's bytes, streamed, if the project may read it; a file it may not (or that cannot be
/// read) hashes as such: validation reports why.
fn hash_file(hasher: &mut Sha256, files: &Confinement, path: &Path, buf: &mut [u8]) {
    let Ok(opened) = files.open(path) else {
        field(hasher, "missing", b"");
        return;
    };
    let mut file = opened.reader;
    let mut total = 0u64;
    loop {
        match file.read(buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                total += n as u64;
            }
            Err(_) => {
                field(hasher, "unreadable", b"");
                break;
            }
        }
    }
    hasher.update(total.to_le_bytes());
}
