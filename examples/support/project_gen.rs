//! A deterministic generator of synthetic herald projects, shared by the `gen_project` and
//! `bench_validate` examples.
//!
//! Every file holds one approved template, and one campaign with an inline audience. Most
//! campaigns send that template (document header, three body slots filled with minijinja
//! expressions, two quick-reply buttons with flow + data); every 10th file (offset 3) uses an
//! API trigger, every 10th (offset 7) a v1 broadcast and every 20th (offset 9) a v2 template
//! broadcast, so every `send` kind goes through the checks. Nothing is random: the same
//! arguments always write the same bytes.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    /// Number of resource files under `campaigns/`.
    pub files: usize,
    /// Inline recipients across the whole project, spread evenly over the files.
    pub recipients: usize,
}

/// What was written.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Summary {
    /// Resource files written (herald.yaml not counted).
    pub files: usize,
    /// Inline recipients written.
    pub recipients: usize,
    /// Bytes written, herald.yaml included.
    pub bytes: u64,
}

const FIRST_NAMES: [&str; 12] = [
    "john", "Priya", "ananya", "Rahul", "fatima", "Wei", "maría", "Olu", "sakura", "Dmitri",
    "aisha", "Lucas",
];
const LAST_NAMES: [&str; 8] = [
    "Sharma", "Iyer", "Okafor", "Chen", "García", "Tanaka", "Petrov", "Silva",
];
const CITIES: [&str; 6] = ["Pune", "Chennai", "Lagos", "Shenzhen", "Madrid", "Osaka"];

const SETTINGS: &str = "\
# yaml-language-server: $schema=schemas/herald-project.schema.json
# Synthetic project written by `cargo run --example gen_project`.
api:
  base_url: http://127.0.0.1:8787
  customer_id: 61179
  bot_key: bb67e0773bed4c7e
  api_key_env: ENGATI_API_KEY
  rate_limit: 80/s
  concurrency: 16
state:
  backend: sqlite
vars:
  brand: Renuka Sugars
  support_phone: \"+918045678900\"
environments:
  staging:
    api: {base_url: \"http://127.0.0.1:8787\"}
    vars: {brand: Renuka Sugars (staging)}
";

/// Writes the project into `out` (created if missing). Refuses to write into a directory that
/// already has files, so a typo cannot mix two projects.
pub(crate) fn generate(spec: Spec, out: &Path) -> io::Result<Summary> {
    if spec.files == 0 {
        return Err(io::Error::other("--files must be at least 1"));
    }
    if spec.recipients < spec.files {
        return Err(io::Error::other(format!(
            "--recipients ({}) must be at least --files ({}): every campaign needs a recipient",
            spec.recipients, spec.files
        )));
    }
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        return Err(io::Error::other(format!(
            "{} exists and is not empty; pass a new or empty directory",
            out.display()
        )));
    }
    let campaigns = out.join("campaigns");
    std::fs::create_dir_all(&campaigns)?;
    std::fs::write(out.join("herald.yaml"), SETTINGS)?;
    let mut summary = Summary {
        bytes: SETTINGS.len() as u64,
        ..Summary::default()
    };

    let per_file = spec.recipients / spec.files;
    let extra = spec.recipients % spec.files;
    let width = digits(spec.files - 1);
    let mut next_user = 0usize;
    let mut text = String::new();
    for i in 0..spec.files {
        let users = per_file + usize::from(i < extra);
        text.clear();
        write_file(&mut text, i, width, next_user, users);
        next_user += users;
        let path = campaigns.join(format!("c{i:0width$}.yaml"));
        std::fs::write(&path, &text)?;
        summary.files += 1;
        summary.recipients += users;
        summary.bytes += text.len() as u64;
    }
    Ok(summary)
}

fn digits(mut n: usize) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

/// The `send` kind of file `i`.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Template,
    Trigger,
    Broadcast,
    TemplateBroadcast,
}

fn kind(i: usize) -> Kind {
    match (i % 10, i % 20) {
        (3, _) => Kind::Trigger,
        (7, _) => Kind::Broadcast,
        (_, 9) => Kind::TemplateBroadcast,
        _ => Kind::Template,
    }
}

/// One resource file: a template, a campaign with an inline audience of `users` recipients
/// numbered from `first_user`.
fn write_file(s: &mut String, i: usize, width: usize, first_user: usize, users: usize) {
    let id = format!("{i:0width$}");
    let day = 1 + i % 28;
    let hour = 8 + i % 10;
    let template = format!("invoice_reminder_{id}");
    s.push_str("# yaml-language-server: $schema=../schemas/herald.schema.json\n");
    let _ = writeln!(s, "# Synthetic resource file {i}.");
    s.push_str("templates:\n");
    let _ = writeln!(s, "  {template}:");
    // An invoice reminder is a utility message: no frequency cap or opt-out list applies.
    s.push_str("    category: utility\n");
    s.push_str("    namespace: 980c3243-2d2a-4d2d-a572-b2a50552cb04\n");
    s.push_str(if i % 4 == 1 {
        "    language: en_US\n"
    } else {
        "    language: en\n"
    });
    s.push_str("    header: document\n");
    s.push_str("    body: \"Hi {{1}}, invoice {{2}} for {{3}} is due.\"\n");
    s.push_str("    buttons:\n      - quick_reply: Approve\n      - quick_reply: Decline\n\n");

    s.push_str("campaigns:\n");
    let _ = writeln!(s, "  invoice-reminder-{id}:");
    let _ = writeln!(
        s,
        "    description: Invoice reminders, batch {id} ({})",
        CITIES[i % CITIES.len()]
    );
    s.push_str("    audience:\n      users:\n");
    for u in first_user..first_user + users {
        let first = FIRST_NAMES[u % FIRST_NAMES.len()];
        let last = LAST_NAMES[(u / FIRST_NAMES.len()) % LAST_NAMES.len()];
        // +91 98 then 8 digits: 12 digits in all, unique for up to 10^8 recipients.
        let _ = writeln!(
            s,
            "        - {{phone: \"+9198{u:08}\", first_name: {first}, last_name: {last}, invoice_no: \"INV-{u:07}\"}}"
        );
    }
    s.push_str("    schedule:\n");
    if i.is_multiple_of(50) {
        s.push_str("      at: now\n");
    } else {
        // Ahead of any clock a benchmark runs at: never late.
        let _ = writeln!(s, "      at: 2099-12-{day:02}T{hour:02}:00:00+05:30");
    }
    if i.is_multiple_of(5) {
        s.push_str("    on_change: resend\n");
    }
    s.push_str("    send:\n");
    match kind(i) {
        Kind::Template => {
            s.push_str("      template:\n");
            let _ = writeln!(s, "        use: {template}");
            s.push_str(
                "        header:
          document:
            link: \"https://cdn.example.com/inv/{{ user.invoice_no }}.pdf\"
            filename: \"invoice-{{ user.invoice_no | lower }}.pdf\"
        body:
          - \"{{ user.first_name | title }}\"
          - \"{{ user.invoice_no }}\"
          - \"{{ vars.brand }}\"
        buttons:
          - flow: 7bbb608c3b4b4e848f36cd2ccd7cfa35
            data: {response: approved, invoice_no: \"{{ user.invoice_no }}\", campaign: \"{{ campaign.name }}\"}
          - flow: e30d44bcca4c49d49976d3ac0416c405
            data: {response: declined, invoice_no: \"{{ user.invoice_no }}\"}
",
            );
        }
        Kind::Trigger => s.push_str(
            "      trigger:
        flow: default_fallback_msg_74963
        attributes:
          user.user_name: \"{{ user.first_name | title }} {{ user.last_name }}\"
          invoice_no: \"{{ user.invoice_no }}\"
          brand: \"{{ vars.brand }}\"
",
        ),
        Kind::Broadcast => {
            s.push_str("      broadcast:\n");
            let _ = writeln!(s, "        title: Weekend offer {id}");
            s.push_str(
                "        channels: [whatsapp]
        messages:
          - \"Hi from {{ vars.brand }}\"
          - \"Offer ends Sunday; questions? call {{ vars.support_phone }}\"
",
            );
        }
        Kind::TemplateBroadcast => {
            s.push_str("      template_broadcast:\n");
            let _ = writeln!(s, "        title: December reminder {id}");
            let _ = writeln!(s, "        use: {template}");
            s.push_str(
                "        header:
          document: {link: \"https://cdn.example.com/statements/december.pdf\", filename: statement.pdf}
        body: [\"customer\", \"your December invoice\", \"{{ vars.brand | upper }}\"]
        buttons:
          - {flow: 7bbb608c3b4b4e848f36cd2ccd7cfa35, data: {response: approved}}
          - {flow: e30d44bcca4c49d49976d3ac0416c405, data: {response: declined}}
",
            );
        }
    }
}
