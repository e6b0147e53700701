//! The sample images in docs/images/ (shown in README.md and docs/ci.md) are screenshots of
//! sources kept beside them: `plan-comment.md`, the example project's plan as a pull-request
//! comment, and `plan-terminal.ansi`, its colored terminal view. Both must still be what herald
//! prints, so the pictures cannot silently go stale. This needs no browser: when it fails,
//! `docs/images/make.sh` makes the sources and the images again.

use std::path::{Path, PathBuf};
use std::process::Command;

const REGENERATE: &str = "run docs/images/make.sh (it installs Chromium, aha and the npm \
     packages it needs) and commit docs/images/";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn images() -> PathBuf {
    repo().join("docs/images")
}

/// The `NOW=` make.sh plans at, so that the two cannot disagree.
fn now() -> String {
    let script = std::fs::read_to_string(images().join("make.sh")).expect("make.sh is readable");
    script
        .lines()
        .find_map(|line| line.strip_prefix("NOW="))
        .expect("make.sh sets NOW=")
        .trim()
        .to_owned()
}

/// A copy of the example project, as make.sh plans it: no state, no local files.
fn example_project() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        if from.is_dir() {
            std::fs::create_dir_all(to).unwrap();
            for entry in std::fs::read_dir(from).unwrap() {
                let entry = entry.unwrap();
                copy(&entry.path(), &to.join(entry.file_name()));
            }
        } else {
            std::fs::copy(from, to).unwrap();
        }
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    for name in ["herald.yaml", "pricing.yaml", "campaigns", "audiences"] {
        copy(&repo().join(name), &dir.path().join(name));
    }
    dir
}

/// What `herald plan --emulator --now NOW EXTRA…` prints on stdout, with no color.
fn plan(extra: &[&str]) -> String {
    let project = example_project();
    let now = now();
    let mut args = vec!["plan", "--emulator", "--now", &now];
    args.extend_from_slice(extra);
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(&args)
        .current_dir(project.path())
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .expect("herald runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.is_empty(),
        "herald {} should plan the example cleanly for the sample images, but exited {} with:\n{stderr}",
        args.join(" "),
        output.status,
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// `text` without its SGR escape sequences (`ESC [ … m`), the only ones herald writes.
fn strip_sgr(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("\x1b[") {
        plain.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let end = after.find('m').expect("an escape sequence ends with m");
        rest = &after[end + 1..];
    }
    plain.push_str(rest);
    plain
}

/// Panics, saying how to regenerate, when `committed` is not `printed`.
fn assert_current(file: &str, committed: &str, printed: &str) {
    if committed == printed {
        return;
    }
    let line = committed
        .lines()
        .zip(printed.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| committed.lines().count().min(printed.lines().count()));
    panic!(
        "docs/images/{file} is not what herald prints now (first difference at line {}):\n\
         committed: {:?}\n\
         herald:    {:?}\n\
         The sample images are stale: {REGENERATE}.",
        line + 1,
        committed.lines().nth(line).unwrap_or("(end)"),
        printed.lines().nth(line).unwrap_or("(end)"),
    );
}

fn read(file: &str) -> String {
    std::fs::read_to_string(images().join(file))
        .unwrap_or_else(|e| panic!("docs/images/{file}: {e}; {REGENERATE}"))
}

#[test]
fn the_pull_request_comment_image_is_of_the_current_markdown_plan() {
    let printed = plan(&["--format", "markdown", "--redact"]);
    assert_current("plan-comment.md", &read("plan-comment.md"), &printed);
}

#[test]
fn the_terminal_image_is_of_the_current_human_plan() {
    let committed = read("plan-terminal.ansi");
    assert!(
        committed.contains("\x1b[32m"),
        "docs/images/plan-terminal.ansi has no color: it must be herald's output on a terminal; \
         {REGENERATE}"
    );
    assert_current("plan-terminal.ansi", &strip_sgr(&committed), &plan(&[]));
}

/// The images exist, are PNG files of a width that reads well on GitHub and stay small.
#[test]
fn the_images_are_small_pngs() {
    for file in ["plan-comment.png", "plan-terminal.png"] {
        let bytes = std::fs::read(images().join(file))
            .unwrap_or_else(|e| panic!("docs/images/{file}: {e}; {REGENERATE}"));
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR",
            "docs/images/{file} is not a PNG file"
        );
        let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        assert!(
            (800..=1000).contains(&width),
            "docs/images/{file} is {width} px wide"
        );
        assert!(
            bytes.len() < 300 * 1024,
            "docs/images/{file} is {} bytes: optimise it (make.sh runs optipng)",
            bytes.len()
        );
    }
}

/// The README and the CI page show both images (the comment one on both).
#[test]
fn the_docs_show_the_images_with_alt_text() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let ci = std::fs::read_to_string(repo().join("docs/ci.md")).unwrap();
    for (page, text, images) in [
        (
            "README.md",
            &readme,
            &[
                "docs/images/plan-comment.png",
                "docs/images/plan-terminal.png",
            ][..],
        ),
        ("docs/ci.md", &ci, &["images/plan-comment.png"][..]),
    ] {
        for image in images {
            let shown = text
                .lines()
                .any(|line| line.contains(&format!("]({image})")) && !line.contains("![]("));
            assert!(shown, "{page} does not show {image} with alt text");
        }
    }
}
