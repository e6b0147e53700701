//! `herald schema`: prints one of the JSON schemas, writes them all to `schemas/`, or checks
//! that the committed ones match the types.

use std::io::Write;

use super::{Error, ExitStatus, Outcome, SchemaArgs, write_out};
use crate::schema;

pub(super) fn schema_command(args: &SchemaArgs, out: &mut dyn Write) -> Outcome {
    let files = schema::files();
    if args.write {
        let written = schema::write(&args.dir).map_err(|e| {
            Error::new(format_args!(
                "cannot write {}: {e}",
                args.dir.join(schema::SCHEMA_DIR).display()
            ))
        })?;
        for path in written {
            write_out(out, &format!("wrote {}\n", path.display()))?;
        }
        return Ok(ExitStatus::Success);
    }
    if args.check {
        let mut stale = Vec::new();
        for (name, expected) in &files {
            let path = args.dir.join(schema::SCHEMA_DIR).join(name);
            if std::fs::read_to_string(&path).ok().as_ref() != Some(expected) {
                stale.push(path.display().to_string());
            }
        }
        if stale.is_empty() {
            write_out(out, "schemas are up to date\n")?;
            return Ok(ExitStatus::Success);
        }
        write_out(
            out,
            &format!(
                "out of date: {}\nhelp: run `herald schema --write` and commit the result\n",
                stale.join(", ")
            ),
        )?;
        return Ok(ExitStatus::Problems);
    }
    let [(_, resource), (_, settings), (_, pricing)] = &files;
    let printed = match (args.settings, args.pricing) {
        (true, _) => settings,
        (_, true) => pricing,
        _ => resource,
    };
    write_out(out, printed)?;
    Ok(ExitStatus::Success)
}
