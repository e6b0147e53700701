//! Prebuilt herald: the install script (scripts/install.sh) that the GitHub action
//! (action.yml) and the GitLab template (templates/herald.yml) run, against a fake release
//! served on loopback and made from this build's own herald; the structure of the action, the
//! template, the release workflow (.github/workflows/release.yml) and the Dockerfile.
//!
//! What cannot run here: the release workflow itself (it needs GitHub's runners and the musl
//! and macOS targets) and the Dockerfile's builder stage (it pulls the Rust image); their
//! files are checked for consistency with each other and with the script instead. The image's
//! final stage is built and run with podman, when it is installed, on a stand-in builder.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use herald::diagnostic::SourceText;
use herald::load::yaml;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The version this build is, and so the version of the fake release.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The four builds a release has, as release.yml names them.
const TARGETS: [&str; 4] = [
    "x86_64-unknown-linux-musl",
    "aarch64-unknown-linux-musl",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn script() -> PathBuf {
    root().join("scripts/install.sh")
}

/// The release target of the machine running the tests, as install.sh picks it.
fn host_target() -> String {
    let arch = std::env::consts::ARCH;
    match std::env::consts::OS {
        "macos" => format!("{arch}-apple-darwin"),
        _ => format!("{arch}-unknown-linux-musl"),
    }
}

/// Every YAML document of a repository file, as JSON.
fn yaml_documents(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(root().join(path)).expect("the file exists");
    let source = SourceText::new(Arc::from(text), 1);
    let (documents, problems) = yaml::parse(path, &source);
    assert!(
        problems.is_empty(),
        "{path} is not valid YAML: {problems:?}"
    );
    documents
        .iter()
        .map(herald::load::node::Node::to_json)
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A GitHub-like release tree served over HTTP on loopback:
/// `/releases/download/vVERSION/FILE` and `/releases/latest/download/FILE`.
struct FakeRelease {
    dir: tempfile::TempDir,
    url: String,
    /// The paths requested, in order.
    requests: Arc<Mutex<Vec<String>>>,
}

impl FakeRelease {
    /// A release of this build's herald for the machine's target, with its SHA256SUMS and the
    /// install script, as release.yml's publish job makes it.
    fn new() -> FakeRelease {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let tag = dir.path().join(format!("releases/download/v{VERSION}"));
        let name = format!("herald-{VERSION}-{}", host_target());
        let staging = dir.path().join("staging").join(&name);
        std::fs::create_dir_all(&staging).expect("created");
        std::fs::create_dir_all(&tag).expect("created");
        std::fs::copy(env!("CARGO_BIN_EXE_herald"), staging.join("herald")).expect("copied");
        let archive = tag.join(format!("{name}.tar.gz"));
        let status = Command::new("tar")
            .arg("-czf")
            .arg(&archive)
            .arg("-C")
            .arg(dir.path().join("staging"))
            .arg(&name)
            .status()
            .expect("tar runs");
        assert!(status.success());
        std::fs::copy(script(), tag.join("install.sh")).expect("copied");
        let release = FakeRelease {
            url: String::new(),
            dir,
            requests: Arc::default(),
        };
        release.write_sums();
        release.serve()
    }

    fn tag_dir(&self) -> PathBuf {
        self.dir
            .path()
            .join(format!("releases/download/v{VERSION}"))
    }

    fn archive(&self) -> PathBuf {
        self.tag_dir()
            .join(format!("herald-{VERSION}-{}.tar.gz", host_target()))
    }

    /// SHA256SUMS as `sha256sum` writes it, in the release and as the latest release's.
    fn write_sums(&self) {
        let mut sums = String::new();
        for file in [self.archive(), self.tag_dir().join("install.sh")] {
            let bytes = std::fs::read(&file).expect("readable");
            let name = file.file_name().expect("a name").to_string_lossy();
            sums.push_str(&format!("{}  {name}\n", sha256_hex(&bytes)));
        }
        std::fs::write(self.tag_dir().join("SHA256SUMS"), &sums).expect("written");
        let latest = self.dir.path().join("releases/latest/download");
        std::fs::create_dir_all(&latest).expect("created");
        std::fs::write(latest.join("SHA256SUMS"), &sums).expect("written");
        std::fs::copy(script(), latest.join("install.sh")).expect("copied");
    }

    /// Serves the tree until the test ends (the thread is left to the process's exit).
    fn serve(mut self) -> FakeRelease {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        self.url = format!("http://{}/releases", listener.local_addr().expect("bound"));
        let root = self.dir.path().to_path_buf();
        let requests = Arc::clone(&self.requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("a stream"));
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                // The headers, up to the blank line.
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                requests.lock().expect("not poisoned").push(path.clone());
                let file = root.join(path.trim_start_matches('/'));
                let reply = match std::fs::read(&file) {
                    Ok(body) if !path.contains("..") => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        [head.into_bytes(), body].concat()
                    }
                    _ => {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec()
                    }
                };
                let _ = stream.write_all(&reply);
            }
        });
        self
    }

    fn requested(&self) -> Vec<String> {
        self.requests.lock().expect("not poisoned").clone()
    }
}

/// A scratch directory, and a PATH that finds the system's tools (and, first, any fake ones
/// put in `bin/`).
struct Machine {
    dir: tempfile::TempDir,
}

impl Machine {
    fn new() -> Machine {
        let machine = Machine {
            dir: tempfile::tempdir().expect("a temporary directory"),
        };
        std::fs::create_dir(machine.bin()).expect("created");
        machine
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn path(&self) -> String {
        format!("{}:/usr/local/bin:/usr/bin:/bin", self.bin().display())
    }

    /// A `uname` that says this OS and CPU.
    fn fake_uname(&self, os: &str, cpu: &str) {
        let uname = self.bin().join("uname");
        std::fs::write(
            &uname,
            format!("#!/bin/sh\ncase \"$1\" in -s) echo {os} ;; -m) echo {cpu} ;; *) echo {os} ;; esac\n"),
        )
        .expect("written");
        chmod_x(&uname);
    }

    /// Runs install.sh with these arguments and variables.
    fn install(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new("sh")
            .arg(script())
            .args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", self.path())
            .env("HOME", self.dir.path())
            .env("TMPDIR", self.dir.path())
            .envs(env.iter().copied())
            .output()
            .expect("sh runs")
    }
}

fn chmod_x(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_install_script_installs_a_checked_release_whose_herald_runs() {
    let release = FakeRelease::new();
    let machine = Machine::new();
    let dir = machine.dir.path().join("tools/bin");
    let dir_arg = dir.display().to_string();
    let args = [
        "--releases-url",
        &release.url,
        "--version",
        "v0.1.0",
        "--dir",
        &dir_arg,
    ];
    let output = machine.install(&args, &[]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        text(&output.stdout).lines().next(),
        Some(
            format!(
                "installed herald {VERSION} ({}) in {dir_arg}, SHA-256 checked",
                host_target()
            )
            .as_str()
        ),
        "{output:?}"
    );
    let version = Command::new(dir.join("herald"))
        .arg("--version")
        .output()
        .expect("the installed herald runs");
    assert_eq!(text(&version.stdout).trim(), format!("herald {VERSION}"));
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("the directory")
        .map(|e| e.expect("an entry").file_name())
        .collect();
    assert_eq!(leftovers, ["herald"], "only herald is installed");
    assert!(
        !std::fs::read_dir(machine.dir.path())
            .expect("the scratch directory")
            .any(|e| e
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .starts_with("herald-install")),
        "the download directory is removed"
    );

    // Run again (a cached directory): nothing is downloaded.
    let before = release.requested().len();
    let again = machine.install(&args, &[]);
    assert!(again.status.success(), "{again:?}");
    assert_eq!(
        text(&again.stdout).trim(),
        format!("herald {VERSION} is already installed in {dir_arg}")
    );
    assert_eq!(release.requested().len(), before, "nothing downloaded");

    // `latest` is the version the latest release's SHA256SUMS names for this target; the
    // variables stand for the options.
    let other = machine.dir.path().join("other");
    let other_arg = other.display().to_string();
    let latest = machine.install(
        &[],
        &[
            ("HERALD_RELEASES_URL", &release.url),
            ("HERALD_INSTALL_DIR", &other_arg),
        ],
    );
    assert!(latest.status.success(), "{latest:?}");
    assert!(other.join("herald").is_file());
    let printed = machine.install(&["--print", "--releases-url", &release.url], &[]);
    let archive = format!("herald-{VERSION}-{}.tar.gz", host_target());
    assert_eq!(
        text(&printed.stdout),
        format!(
            "version={VERSION}\ntarget={}\narchive={archive}\n",
            host_target()
        )
    );
    assert!(
        release
            .requested()
            .contains(&format!("/releases/download/v{VERSION}/{archive}")),
        "{:?}",
        release.requested()
    );
}

#[test]
fn the_install_script_refuses_an_archive_whose_checksum_differs_and_installs_nothing() {
    let release = FakeRelease::new();
    // The archive changed after SHA256SUMS was written (a tampered or truncated download).
    let mut bytes = std::fs::read(release.archive()).expect("the archive");
    bytes.truncate(bytes.len() - 100);
    std::fs::write(release.archive(), &bytes).expect("written");
    let machine = Machine::new();
    let dir = machine.dir.path().join("bin-installed");
    let output = machine.install(
        &[
            "--releases-url",
            &release.url,
            "--version",
            VERSION,
            "--dir",
            &dir.display().to_string(),
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = text(&output.stderr);
    let archive = format!("herald-{VERSION}-{}.tar.gz", host_target());
    assert!(
        stderr.starts_with(&format!(
            "error: checksum mismatch for {archive}: SHA256SUMS says "
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            ", the download is {}; nothing was installed",
            sha256_hex(&bytes)
        )),
        "{stderr}"
    );
    assert!(stderr.contains("\nhelp: the download was corrupted or tampered with"));
    assert!(
        !dir.exists(),
        "nothing is installed, not even the directory"
    );

    // A release that does not list the archive at all is refused too.
    std::fs::write(release.tag_dir().join("SHA256SUMS"), "").expect("written");
    let output = machine.install(&["--releases-url", &release.url, "--version", VERSION], &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        text(&output.stderr).starts_with(&format!(
            "error: release v{VERSION} has no {archive} (SHA256SUMS does not list it)"
        )),
        "{output:?}"
    );
    assert!(!machine.dir.path().join(".local/bin/herald").exists());
}

#[test]
fn the_install_script_names_the_target_of_each_os_and_cpu_and_refuses_others() {
    let machine = Machine::new();
    let print = |os: &str, cpu: &str| {
        machine.fake_uname(os, cpu);
        machine.install(
            &["--print", "--version", "v1.2.3", "--repository", "o/herald"],
            &[],
        )
    };
    let mut targets = BTreeSet::new();
    for (os, cpu, target) in [
        ("Linux", "x86_64", "x86_64-unknown-linux-musl"),
        ("Linux", "amd64", "x86_64-unknown-linux-musl"),
        ("Linux", "aarch64", "aarch64-unknown-linux-musl"),
        ("Linux", "arm64", "aarch64-unknown-linux-musl"),
        ("Darwin", "x86_64", "x86_64-apple-darwin"),
        ("Darwin", "arm64", "aarch64-apple-darwin"),
    ] {
        let output = print(os, cpu);
        assert_eq!(
            text(&output.stdout),
            format!("version=1.2.3\ntarget={target}\narchive=herald-1.2.3-{target}.tar.gz\n"),
            "{os} {cpu}: {output:?}"
        );
        targets.insert(target);
    }
    assert_eq!(
        targets,
        BTreeSet::from(TARGETS),
        "the release's four builds"
    );

    for (os, cpu, message) in [
        (
            "FreeBSD",
            "x86_64",
            "error: herald has no release binary for the OS FreeBSD (only Linux and macOS)\n",
        ),
        (
            "Linux",
            "riscv64",
            "error: herald has no release binary for the CPU riscv64 (only x86_64 and aarch64)\n",
        ),
    ] {
        let output = print(os, cpu);
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        assert_eq!(
            text(&output.stderr),
            format!(
                "{message}help: build it from source instead: cargo install --locked --git https://github.com/o/herald herald\n"
            )
        );
        assert!(output.stdout.is_empty());
    }

    // Without a repository or a releases URL there is nowhere to download from.
    machine.fake_uname("Linux", "x86_64");
    let output = machine.install(&["--version", "v1.2.3"], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        "error: no repository to download herald from\nhelp: name it with --repository OWNER/NAME or HERALD_REPOSITORY (or --releases-url URL)\n"
    );
}

/// The `${{ }}` expressions of action.yml, as GitHub evaluates them in this test's run.
struct ActionContext {
    inputs: BTreeMap<String, String>,
    outputs: BTreeMap<String, BTreeMap<String, String>>,
    github: BTreeMap<&'static str, String>,
}

impl ActionContext {
    fn value(&self, operand: &str) -> String {
        let operand = operand.trim();
        if let Some(literal) = operand
            .strip_prefix('\'')
            .and_then(|o| o.strip_suffix('\''))
        {
            return literal.to_owned();
        }
        if let Some(input) = operand.strip_prefix("inputs.") {
            return self
                .inputs
                .get(input)
                .unwrap_or_else(|| panic!("action.yml reads the undeclared input {input}"))
                .clone();
        }
        if let Some(rest) = operand.strip_prefix("steps.") {
            let (step, output) = rest.split_once(".outputs.").expect("steps.ID.outputs.NAME");
            return self
                .outputs
                .get(step)
                .and_then(|o| o.get(output))
                .cloned()
                .unwrap_or_default();
        }
        if let Some(name) = operand.strip_prefix("github.") {
            return self
                .github
                .get(name)
                .unwrap_or_else(|| panic!("this test cannot evaluate github.{name}"))
                .clone();
        }
        panic!("this test cannot evaluate `{operand}`")
    }

    /// `a`, `a || b`, `a != b`.
    fn evaluate(&self, expression: &str) -> String {
        if let Some((left, right)) = expression.split_once("!=") {
            return (self.value(left) != self.value(right)).to_string();
        }
        expression
            .split("||")
            .map(|operand| self.value(operand))
            .find(|v| !v.is_empty())
            .unwrap_or_default()
    }

    fn substitute(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").expect("a closed expression");
            out.push_str(&self.evaluate(&rest[start + 3..start + end]));
            rest = &rest[start + end + 2..];
        }
        out.push_str(rest);
        out
    }
}

/// Runs action.yml's steps as GitHub's runner does, with `actions/cache` answering `hit`;
/// returns the names of the steps run and what the last one printed.
fn run_action(
    action: &Value,
    context: &mut ActionContext,
    runner: &Path,
    env: &BTreeMap<String, String>,
    hit: bool,
) -> (Vec<String>, String) {
    let mut ran = Vec::new();
    let mut printed = String::new();
    for (i, step) in action["runs"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .enumerate()
    {
        let id = step["id"]
            .as_str()
            .map_or_else(|| format!("step{i}"), str::to_owned);
        if let Some(uses) = step["uses"].as_str() {
            assert!(uses.starts_with("actions/cache@"), "{uses}");
            let hit = if hit { "true" } else { "false" };
            context.outputs.insert(
                id,
                BTreeMap::from([("cache-hit".to_owned(), hit.to_owned())]),
            );
            ran.push("cache".to_owned());
            continue;
        }
        if let Some(condition) = step["if"].as_str()
            && context.evaluate(condition) != "true"
        {
            continue;
        }
        let output_file = runner.join("output");
        std::fs::write(&output_file, "").expect("written");
        let mut step_env = env.clone();
        step_env.insert("GITHUB_OUTPUT".into(), output_file.display().to_string());
        if let Some(vars) = step["env"].as_object() {
            for (k, v) in vars {
                step_env.insert(k.clone(), context.substitute(v.as_str().expect("a string")));
            }
        }
        let dir = step["working-directory"]
            .as_str()
            .map_or_else(|| ".".to_owned(), |d| context.substitute(d));
        let script = context.substitute(step["run"].as_str().expect("a run step"));
        assert_eq!(
            step["shell"], "bash",
            "composite run steps name their shell"
        );
        let output = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &script])
            .current_dir(runner.join("workspace").join(dir))
            .env_clear()
            .envs(&step_env)
            .output()
            .expect("bash runs");
        assert!(output.status.success(), "step {id} failed: {output:?}");
        printed = text(&output.stdout);
        let outputs: BTreeMap<String, String> = std::fs::read_to_string(&output_file)
            .expect("readable")
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        context.outputs.insert(id.clone(), outputs);
        ran.push(step["name"].as_str().unwrap_or(&id).to_owned());
    }
    (ran, printed)
}

#[test]
fn the_action_installs_the_release_once_per_version_and_runs_herald() {
    let documents = yaml_documents("action.yml");
    let action = &documents[0];
    assert_eq!(action["runs"]["using"], "composite");
    let declared: BTreeSet<&str> = action["inputs"]
        .as_object()
        .expect("inputs")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        declared,
        BTreeSet::from(["version", "args", "working-directory", "repository"])
    );
    let text_of_action = std::fs::read_to_string(root().join("action.yml")).expect("readable");
    for (at, _) in text_of_action.match_indices("inputs.") {
        let name: String = text_of_action[at + 7..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        assert!(
            declared.contains(name.as_str()),
            "action.yml reads inputs.{name}"
        );
    }
    let steps = action["runs"]["steps"].as_array().expect("steps");
    let scripted: Vec<&str> = steps
        .iter()
        .filter_map(|s| s["run"].as_str())
        .filter(|r| r.contains("\"$GITHUB_ACTION_PATH/scripts/install.sh\""))
        .collect();
    assert_eq!(
        scripted.len(),
        2,
        "resolving and installing are the script's"
    );
    let cache = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/cache@"))
        })
        .expect("a cache step");
    assert_eq!(
        cache["with"]["key"],
        "herald-${{ steps.resolve.outputs.version }}-${{ steps.resolve.outputs.target }}"
    );

    let release = FakeRelease::new();
    let runner = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir_all(runner.path().join("workspace")).expect("created");
    let tool_cache = runner.path().join("tool-cache");
    let github_path = runner.path().join("path");
    let env: BTreeMap<String, String> = [
        ("PATH", "/usr/local/bin:/usr/bin:/bin".to_owned()),
        ("HOME", runner.path().display().to_string()),
        ("GITHUB_ACTION_PATH", root().display().to_string()),
        ("GITHUB_PATH", github_path.display().to_string()),
        ("RUNNER_TEMP", runner.path().display().to_string()),
        ("RUNNER_TOOL_CACHE", tool_cache.display().to_string()),
        // Where this test's release is, instead of github.com's.
        ("HERALD_RELEASES_URL", release.url.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut context = ActionContext {
        // `uses: your-org/herald@v0.1.0` with `args: --version`: the version is the ref's.
        inputs: declared
            .iter()
            .map(|i| (i.to_string(), String::new()))
            .collect(),
        outputs: BTreeMap::new(),
        github: BTreeMap::from([
            ("action_ref", format!("v{VERSION}")),
            ("action_repository", "your-org/herald".to_owned()),
        ]),
    };
    context.inputs.insert("args".into(), "--version".into());
    context
        .inputs
        .insert("working-directory".into(), ".".into());
    let (ran, printed) = run_action(action, &mut context, runner.path(), &env, false);
    assert_eq!(
        ran,
        [
            "resolve",
            "cache",
            "Download and verify herald",
            "step3",
            "Run herald"
        ]
    );
    assert_eq!(printed.trim(), format!("herald {VERSION}"));
    let installed = tool_cache.join(format!("herald/{VERSION}/{}", host_target()));
    assert!(installed.join("herald").is_file());
    assert_eq!(
        std::fs::read_to_string(&github_path).expect("GITHUB_PATH"),
        format!("{}\n", installed.display())
    );

    // The next run hits the cache: nothing is downloaded. From a SHA (not a tag), with no
    // version given, the latest release is resolved; a command with quoted words runs.
    let downloads = release.requested().len();
    context.github.insert(
        "action_ref",
        "0123456789abcdef0123456789abcdef01234567".into(),
    );
    context
        .inputs
        .insert("args".into(), "schema --settings".into());
    let (ran, printed) = run_action(action, &mut context, runner.path(), &env, true);
    assert_eq!(ran, ["resolve", "cache", "step3", "Run herald"]);
    assert!(printed.contains("\"$schema\""), "{printed}");
    assert_eq!(
        release.requested()[downloads..],
        ["/releases/latest/download/SHA256SUMS"],
        "only the latest version is looked up"
    );
}

#[test]
fn the_gitlab_template_installs_the_release_in_its_cache_and_starts_in_the_project() {
    let documents = yaml_documents("templates/herald.yml");
    assert_eq!(documents.len(), 2, "a spec header, then the configuration");
    let inputs = documents[0]["spec"]["inputs"]
        .as_object()
        .expect("spec:inputs");
    for name in ["version", "stage", "project-dir"] {
        assert!(
            inputs.contains_key(name),
            "the template has the input {name}"
        );
    }
    for (name, input) in inputs {
        assert!(input["default"].is_string(), "{name} has a default");
    }
    let text_of_template =
        std::fs::read_to_string(root().join("templates/herald.yml")).expect("readable");
    let configuration = &text_of_template[text_of_template.find("\n---\n").expect("a header")..];
    let mut used = BTreeSet::new();
    for (at, _) in configuration.match_indices("$[[ inputs.") {
        let name: String = configuration[at + 11..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        assert!(
            inputs.contains_key(&name),
            "templates/herald.yml uses inputs.{name}"
        );
        used.insert(name);
    }
    assert_eq!(used.len(), inputs.len(), "every input is used");
    let job = &documents[1][".herald"];
    assert_eq!(job["cache"][0]["paths"][0], ".cache/herald/");

    // The before_script with the inputs a project gives, then a job's script.
    let release = FakeRelease::new();
    let project = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir(project.path().join("campaigns-repo")).expect("created");
    let given = BTreeMap::from([
        ("version", format!("v{VERSION}")),
        ("project-dir", "campaigns-repo".to_owned()),
    ]);
    let interpolate = |line: &str| {
        let mut line = line.to_owned();
        for (name, input) in inputs {
            let value = given
                .get(name.as_str())
                .cloned()
                .unwrap_or_else(|| input["default"].as_str().unwrap_or_default().to_owned());
            line = line.replace(&format!("$[[ inputs.{name} ]]"), &value);
        }
        line
    };
    let mut script: Vec<String> = job["variables"]
        .as_object()
        .expect("variables")
        .iter()
        .map(|(k, v)| {
            format!(
                "export {k}=\"{}\"",
                interpolate(v.as_str().expect("a string"))
            )
        })
        .collect();
    script.extend(
        job["before_script"]
            .as_array()
            .expect("before_script")
            .iter()
            .map(|l| interpolate(l.as_str().expect("a string"))),
    );
    script.push("pwd".into());
    script.push("herald --version".into());
    let run = |script: &[String]| {
        Command::new("sh")
            .args(["-ec", &script.join("\n")])
            .current_dir(project.path())
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("CI_PROJECT_DIR", project.path())
            .env("HERALD_RELEASES_URL", &release.url)
            .output()
            .expect("sh runs")
    };
    let output = run(&script);
    assert!(output.status.success(), "{output:?}");
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            format!(
                "installed herald {VERSION} ({}) in {}/.cache/herald, SHA-256 checked",
                host_target(),
                project.path().display()
            ),
            project.path().join("campaigns-repo").display().to_string(),
            format!("herald {VERSION}"),
        ]
    );
    assert!(
        release
            .requested()
            .contains(&format!("/releases/download/v{VERSION}/install.sh")),
        "the script is the release's own"
    );
    // The cached binary is kept: the next job downloads the script, not herald.
    let before = release.requested().len();
    let output = run(&script);
    assert!(output.status.success(), "{output:?}");
    assert!(text(&output.stdout).contains("is already installed"));
    assert_eq!(
        release.requested()[before..],
        [format!("/releases/download/v{VERSION}/install.sh")]
    );
}

#[test]
fn the_release_workflow_tests_then_builds_the_four_targets_and_publishes_their_checksums() {
    let documents = yaml_documents(".github/workflows/release.yml");
    let workflow = &documents[0];
    assert_eq!(workflow["on"]["push"]["tags"], serde_json::json!(["v*"]));
    let jobs = workflow["jobs"].as_object().expect("jobs");
    assert_eq!(
        jobs["build"]["needs"], "test",
        "nothing is built before the tests pass"
    );
    assert_eq!(jobs["image"]["needs"], "test");
    assert_eq!(jobs["publish"]["needs"], "build");
    let test_steps = jobs["test"]["steps"].to_string();
    assert!(
        test_steps.contains(".ci/run"),
        "the release runs what CI runs"
    );
    let targets: BTreeSet<&str> = jobs["build"]["strategy"]["matrix"]["include"]
        .as_array()
        .expect("a matrix")
        .iter()
        .map(|entry| entry["target"].as_str().expect("a target"))
        .collect();
    assert_eq!(targets, BTreeSet::from(TARGETS));
    let build = jobs["build"]["steps"].to_string();
    assert!(
        build.contains(r#"name=\"herald-$version-$TARGET\""#),
        "{build}"
    );
    assert!(build.contains("--locked"));
    let publish = jobs["publish"]["steps"].to_string();
    assert!(publish.contains("sha256sum herald-*.tar.gz install.sh > SHA256SUMS"));
    assert!(publish.contains("dist/herald-*.tar.gz dist/install.sh dist/SHA256SUMS"));

    // Every action is pinned to a full version (or a commit).
    let text_of_workflow =
        std::fs::read_to_string(root().join(".github/workflows/release.yml")).expect("readable");
    let text_of_action = std::fs::read_to_string(root().join("action.yml")).expect("readable");
    let mut checked = 0;
    for line in text_of_workflow.lines().chain(text_of_action.lines()) {
        let key = line.trim_start().trim_start_matches("- ");
        let Some(uses) = key.strip_prefix("uses: ") else {
            continue;
        };
        let uses = uses.split_whitespace().next().unwrap_or_default();
        let (_, reference) = uses.split_once('@').expect("an action@ref");
        let pinned = reference.len() == 40 && reference.chars().all(|c| c.is_ascii_hexdigit())
            || reference.strip_prefix('v').is_some_and(|v| {
                v.split('.').count() == 3 && v.split('.').all(|n| n.parse::<u32>().is_ok())
            });
        assert!(pinned, "{uses} is not pinned to a version");
        checked += 1;
    }
    assert_eq!(checked, 13, "the actions release.yml and action.yml use");
}

/// The Dockerfile's instructions (continuation lines joined), comments left out.
fn dockerfile() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root().join("Dockerfile")).expect("a Dockerfile");
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || (current.is_empty() && line.trim().is_empty()) {
            continue;
        }
        if let Some(part) = line.strip_suffix('\\') {
            current.push_str(part);
            continue;
        }
        current.push_str(line);
        let (keyword, rest) = current.trim().split_once(' ').expect("KEYWORD arguments");
        instructions.push((keyword.to_owned(), rest.trim().to_owned()));
        current.clear();
    }
    instructions
}

#[test]
fn the_dockerfile_builds_a_static_binary_into_a_non_root_image_from_sources_in_its_context() {
    let instructions = dockerfile();
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).expect(".dockerignore");
    let admitted: Vec<&str> = ignore
        .lines()
        .filter_map(|l| l.strip_prefix('!'))
        .map(|p| p.trim_end_matches('/'))
        .collect();
    assert!(
        ignore.lines().any(|l| l == "*"),
        "the context is only what is listed"
    );

    let mut stages: Vec<String> = Vec::new();
    let mut last_base = String::new();
    for (keyword, args) in &instructions {
        match keyword.as_str() {
            "FROM" => {
                let words: Vec<&str> = args.split_whitespace().collect();
                assert_eq!(words.len(), 3, "every stage is named: FROM {args}");
                assert_eq!(words[1], "AS");
                assert!(
                    !stages.contains(&words[2].to_owned()),
                    "stage {} twice",
                    words[2]
                );
                stages.push(words[2].to_owned());
                last_base = words[0].to_owned();
            }
            "COPY" => {
                let words: Vec<&str> = args.split_whitespace().collect();
                if let Some(from) = words[0].strip_prefix("--from=") {
                    assert!(
                        stages[..stages.len() - 1].contains(&from.to_owned()),
                        "COPY --from={from} names an earlier stage"
                    );
                    continue;
                }
                for source in &words[..words.len() - 1] {
                    assert!(root().join(source).exists(), "COPY {source}: no such file");
                    assert!(
                        admitted.contains(&source.trim_end_matches('/')),
                        "COPY {source}: .dockerignore leaves it out of the context"
                    );
                }
            }
            _ => {}
        }
    }
    assert_eq!(stages, ["builder", "herald"]);
    assert_eq!(
        last_base, "scratch",
        "the image holds herald and nothing else to run"
    );
    let builder_base = &instructions
        .iter()
        .find(|(k, _)| k == "FROM")
        .expect("a builder")
        .1;
    assert!(
        builder_base.starts_with("rust:${RUST_VERSION}-alpine"),
        "{builder_base}"
    );

    let final_stage: Vec<&(String, String)> = instructions
        .iter()
        .skip_while(|(k, a)| !(k == "FROM" && a.starts_with("scratch")))
        .collect();
    let value = |keyword: &str| {
        final_stage
            .iter()
            .find(|(k, _)| k == keyword)
            .map(|(_, a)| a.as_str())
            .unwrap_or_else(|| panic!("the image sets {keyword}"))
    };
    assert_eq!(value("USER"), "65532:65532", "not root");
    assert_eq!(value("WORKDIR"), "/project");
    assert_eq!(value("ENTRYPOINT"), r#"["herald"]"#);
    assert_eq!(value("COPY"), "--from=builder /rootfs/ /");
    assert!(value("ENV").contains("SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"));

    // The tree the image is made of holds herald, the roots SSL_CERT_FILE names, the user.
    let builds: String = instructions
        .iter()
        .filter(|(k, _)| k == "RUN")
        .map(|(_, a)| a.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    for made in [
        "cargo build --release --locked --bin herald",
        "/rootfs/usr/local/bin/herald",
        "/etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ca-certificates.crt",
        "herald:x:65532:65532",
        "/rootfs/tmp",
    ] {
        assert!(builds.contains(made), "the builder makes {made}");
    }
    let rust = std::fs::read_to_string(root().join("Dockerfile")).expect("readable");
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("readable");
    let msrv = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("rust-version");
    assert!(
        rust.contains(&format!("ARG RUST_VERSION={}", msrv.trim_matches('"'))),
        "the image builds with the Rust that Cargo.toml names"
    );
}

/// Runs podman with the flags this kind of machine needs (a VM with hybrid cgroups and fixed
/// rlimits: runc, cgroupfs, limits no higher than the caller's); harmless elsewhere.
fn podman(args: &[&str]) -> Output {
    let mut command = Command::new("podman");
    if Command::new("runc").arg("--version").output().is_ok() {
        command.args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"]);
    }
    command.args(args).output().expect("podman runs")
}

#[test]
fn the_image_runs_herald_as_its_non_root_user_in_the_mounted_project() {
    // The builder stage pulls the Rust image, which needs the network: a directory given as
    // the `builder` build context stands in for it with the same tree (this build's herald
    // and the libraries it links, then the Dockerfile's own RUN that adds the CA roots, the
    // user, /tmp and /project), and the final stage is the Dockerfile's, word for word.
    let root_user = std::fs::metadata("/proc/self").is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    });
    if !root_user || Command::new("podman").arg("--version").output().is_err() {
        eprintln!("skipped: needs podman (apt-get install podman runc) and root");
        return;
    }
    let context = tempfile::tempdir().expect("a temporary directory");
    let rootfs = context.path().join("rootfs");
    let binary = env!("CARGO_BIN_EXE_herald");
    let ldd = text(
        &Command::new("ldd")
            .arg(binary)
            .output()
            .expect("ldd runs")
            .stdout,
    );
    let libraries = ldd
        .lines()
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with('/')));
    for file in std::iter::once("/usr/local/bin/herald").chain(libraries) {
        let to = rootfs.join(file.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().expect("a directory")).expect("created");
        let from = if file == "/usr/local/bin/herald" {
            binary
        } else {
            file
        };
        std::fs::copy(from, &to).expect("copied");
    }
    let tree = dockerfile()
        .into_iter()
        .find(|(k, a)| k == "RUN" && a.contains("/rootfs/etc/passwd"))
        .expect("the RUN that makes the image's tree")
        .1
        .replace("/rootfs", &rootfs.display().to_string());
    let made = Command::new("sh")
        .args(["-ec", &tree])
        .output()
        .expect("sh runs");
    assert!(made.status.success(), "{made:?}");
    // The roots are the builder's bundle; here the host's, plus the test server's CA when
    // `.ci/postgres` runs one, so that TLS to it can be checked from the image.
    let postgres = std::env::var("HERALD_TEST_POSTGRES_URL")
        .ok()
        .zip(std::env::var("HERALD_TEST_POSTGRES_CA").ok());
    if let Some((_, ca)) = &postgres {
        let bundle = rootfs.join("etc/ssl/certs/ca-certificates.crt");
        let mut roots = std::fs::read_to_string(&bundle).expect("the bundle");
        roots.push_str(&std::fs::read_to_string(ca).expect("the test CA"));
        std::fs::write(&bundle, roots).expect("written");
    }
    let text_of_dockerfile = std::fs::read_to_string(root().join("Dockerfile")).expect("readable");
    let final_stage = &text_of_dockerfile[text_of_dockerfile
        .find("\nFROM scratch AS herald")
        .expect("the final stage")..];
    std::fs::write(context.path().join("Containerfile"), final_stage).expect("written");
    let tag = format!("localhost/herald-test-{:08x}", fastrand::u32(..));
    let context_arg = context.path().display().to_string();
    // `builder` (COPY --from=builder) is the stand-in tree; no layer is kept but the image.
    let builder = format!("builder={context_arg}");
    let built = podman(&[
        "build",
        "--quiet",
        "--layers=false",
        "--build-context",
        &builder,
        "--tag",
        &tag,
        &context_arg,
    ]);
    assert!(built.status.success(), "{built:?}");

    let run = |extra: &[&str], args: &[&str]| {
        let limits = [
            "--ulimit",
            "nproc=1000:1000",
            "--ulimit",
            "nofile=1024:1024",
        ];
        let command = [&["run", "--rm"][..], &limits, extra, &[tag.as_str()], args].concat();
        podman(&command)
    };
    let version = run(&[], &["--version"]);
    let inspected = podman(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.User}} {{.Config.WorkingDir}} {{.Config.Entrypoint}} {{.Config.Env}}",
        &tag,
    ]);
    let project = tempfile::tempdir().expect("a temporary directory");
    let init = Command::new(binary)
        .args(["init", &project.path().display().to_string()])
        .output()
        .expect("herald runs");
    assert!(init.status.success(), "{init:?}");
    let mount = format!("{}:/project", project.path().display());
    let validate = run(&["-v", &mount], &["validate"]);
    let unwritable = run(
        &["-v", &mount],
        &["plan", "--emulator", "--out", "plan.json"],
    );
    let owner = run(
        &["-v", &mount, "--user", "0:0"],
        &["plan", "--emulator", "--out", "plan.json"],
    );
    // PostgreSQL over TLS, its certificate checked (verify-full) against the image's roots;
    // then with SSL_CERT_FILE naming a file of no certificates, to show that is what is read.
    let tls = postgres.map(|(url, _)| {
        let url = format!(
            "HERALD_STATE_URL={}?sslmode=verify-full",
            url.replace("@127.0.0.1:", "@localhost:")
        );
        let herald_yaml = project.path().join("herald.yaml");
        let settings = std::fs::read_to_string(&herald_yaml).expect("herald.yaml");
        let sqlite = "  backend: sqlite ";
        assert!(settings.contains(sqlite), "{settings}");
        let postgres = format!(
            "  schema: image_{:08x}\n  backend: postgres #",
            fastrand::u32(..)
        );
        std::fs::write(&herald_yaml, settings.replacen(sqlite, &postgres, 1)).expect("written");
        let state = ["--network", "host", "-v", &mount, "-e", &url];
        let trusted = run(&state, &["state", "list"]);
        let no_roots = run(
            &[&state[..], &["-e", "SSL_CERT_FILE=/etc/passwd"]].concat(),
            &["state", "list"],
        );
        (trusted, no_roots)
    });
    let _ = podman(&["rmi", "--force", &tag]);

    assert_eq!(
        text(&version.stdout).trim(),
        format!("herald {VERSION}"),
        "{version:?}"
    );
    let inspected = text(&inspected.stdout);
    assert!(
        inspected.starts_with("65532:65532 /project [herald] ["),
        "{inspected}"
    );
    assert!(inspected.contains("SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"));
    assert!(rootfs.join("etc/ssl/certs/ca-certificates.crt").is_file());
    assert_eq!(
        text(&validate.stdout).trim(),
        "valid: 2 files, 1 template, 2 audiences, 1 campaign",
        "{validate:?}"
    );
    // Its user reads the mounted project but cannot write in a directory it does not own:
    // docs/ci.md runs it with `--user "$(id -u):$(id -g)"`.
    assert_eq!(unwritable.status.code(), Some(2), "{unwritable:?}");
    assert!(
        text(&unwritable.stderr).contains("cannot write plan.json: permission denied"),
        "{unwritable:?}"
    );
    assert!(owner.status.success(), "{owner:?}");
    assert!(project.path().join("plan.json").is_file());
    match tls {
        Some((trusted, no_roots)) => {
            assert!(trusted.status.success(), "{trusted:?}");
            assert!(
                text(&trusted.stdout).ends_with(": nothing has been sent yet\n"),
                "{trusted:?}"
            );
            assert_eq!(no_roots.status.code(), Some(2), "{no_roots:?}");
            assert!(
                text(&no_roots.stderr).contains("no system root certificates found"),
                "{no_roots:?}"
            );
        }
        None => eprintln!("TLS not checked: no test PostgreSQL server (eval \"$(.ci/postgres)\")"),
    }
}

#[test]
fn the_documented_pipelines_install_the_release_rather_than_compile_it() {
    let docs = std::fs::read_to_string(root().join("docs/ci.md")).expect("docs/ci.md");
    let mut pipelines = BTreeMap::new();
    for block in docs.split("```yaml\n").skip(1) {
        let (body, _) = block.split_once("\n```").expect("a closed block");
        if let Some(name) = body.lines().next().and_then(|l| l.strip_prefix("# ")) {
            let name = name
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            pipelines.insert(name, body.to_owned());
        }
    }
    let tag = format!("v{VERSION}");
    let mut installs = 0;
    for (name, body) in &pipelines {
        assert!(!body.contains("cargo install"), "{name} compiles herald");
        if !name.starts_with(".github/workflows/") {
            continue;
        }
        let mut lines = body.lines();
        while let Some(line) = lines.next() {
            if line.trim_start().starts_with("- name: Install herald") {
                let uses = lines.next().unwrap_or_default().trim();
                assert_eq!(uses, format!("uses: your-org/herald@{tag}"), "{name}");
                installs += 1;
            }
        }
    }
    assert!(
        installs >= 2,
        "the review and apply workflows install herald"
    );
    let gitlab = &pipelines[".gitlab-ci.yml"];
    assert!(gitlab.contains(&format!(
        "  - remote: https://raw.githubusercontent.com/your-org/herald/{tag}/templates/herald.yml\n    inputs:\n      version: {tag}\n      repository: your-org/herald "
    )));
    assert!(
        !gitlab.contains("\n.herald:"),
        "the template defines .herald"
    );
    assert!(
        gitlab.matches("\n  extends: .herald\n").count() >= 2,
        "the review and apply jobs install herald with the template"
    );
    let template = yaml_documents("templates/herald.yml");
    assert!(
        template[1][".herald"].is_object(),
        "the template defines .herald"
    );
    // The from-source option and the container stay documented.
    assert!(docs.contains(&format!(
        "cargo install --locked --git https://github.com/your-org/herald --tag {tag} herald"
    )));
    assert!(docs.contains(&format!("ghcr.io/your-org/herald:{VERSION} ")));
}
