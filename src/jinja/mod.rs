//! The minijinja environment campaign strings are rendered in, and its bounds.
//!
//! Campaign files come from pull requests, so every rendering is bounded: in work
//! ([`RENDER_FUEL`], minijinja's fuel), in depth ([`RECURSION_LIMIT`]) and in size
//! ([`MAX_RENDERED_BYTES`]); and the renderings of a run share a [`Budget`] of work and time.
//! validate and render both render through [`render`], so what validate accepts renders the
//! same way at plan time.
//!
//! Fuel charges about one unit per instruction or per 64 bytes of data made, but only one per
//! item for filters that compare or hash their items. [`environment`] replaces those filters
//! (`sort`, `unique`, `min`, `max`, `dictsort`, `groupby`) with versions that also pay for the
//! bytes they compare: otherwise a list of ten thousand copies of one long string would be
//! sorted for minutes on a few units.

mod budget;
mod watchdog;

use std::cell::Cell;

pub use budget::{Budget, Exhausted};
pub use watchdog::{RENDER_MEMORY, RENDER_TIME, rendering};

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior};

/// The work one rendering of one string may do, in minijinja fuel. Real strings use tens; a
/// runaway loop or a string doubled over and over runs out within milliseconds, having made at
/// most about a MiB of data.
pub const RENDER_FUEL: u64 = 20_000;
/// How deep loops, macros and calls may nest.
pub const RECURSION_LIMIT: usize = 64;
/// The longest text one string may render to: far above any WhatsApp limit (the longest, a
/// URL, is 2,000 characters), far below anything that strains memory.
pub const MAX_RENDERED_BYTES: usize = 64 * 1024;

/// Whether a string holds template syntax at all (most literal strings do not).
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// Signs (`-`, `+`) in a row that an expression may hold.
const MAX_SIGNS: usize = 64;

/// Checks what minijinja's parser does not bound before it parses: it reads a run of signs
/// (`- - - 1`) by recursing once per sign, so twenty thousand of them overflow the stack.
pub fn check_source(source: &str) -> Result<(), Error> {
    let mut inside = false;
    let mut run = 0usize;
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        match (inside, c, next) {
            (false, '{', Some('{' | '%')) => {
                inside = true;
                chars.next();
            }
            (true, '}' | '%', Some('}')) => {
                inside = false;
                run = 0;
                chars.next();
            }
            (true, '-' | '+', _) => {
                run += 1;
                if run > MAX_SIGNS {
                    return Err(Error::new(
                        ErrorKind::SyntaxError,
                        format!(
                            "an expression holds more than {MAX_SIGNS} signs (`-`, `+`) in a row"
                        ),
                    ));
                }
            }
            (true, c, _) if c.is_whitespace() => {}
            _ => run = 0,
        }
    }
    Ok(())
}

/// The environment every herald string is compiled in: strict about undefined names, bounded,
/// and with the comparing filters paying for what they compare.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(RENDER_FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    env.add_filter("sort", |state: &State, value: Value, kwargs: Kwargs| {
        charge_compared(state, &value, true)?;
        minijinja::filters::sort(state, value, kwargs)
    });
    env.add_filter("unique", |state: &State, value: Value, kwargs: Kwargs| {
        charge_compared(state, &value, false)?;
        minijinja::filters::unique(state, value, kwargs)
    });
    env.add_filter("min", |state: &State, value: Value, kwargs: Kwargs| {
        charge_compared(state, &value, false)?;
        minijinja::filters::min(state, value, kwargs)
    });
    env.add_filter("max", |state: &State, value: Value, kwargs: Kwargs| {
        charge_compared(state, &value, false)?;
        minijinja::filters::max(state, value, kwargs)
    });
    env.add_filter("dictsort", |state: &State, value: Value, kwargs: Kwargs| {
        charge_compared(state, &value, true)?;
        minijinja::filters::dictsort(&value, kwargs)
    });
    env.add_filter(
        "groupby",
        |state: &State, value: Value, attribute: Option<&str>, kwargs: Kwargs| {
            charge_compared(state, &value, true)?;
            minijinja::filters::groupby(value, attribute, kwargs)
        },
    );
    env
}

/// Charges a filter that compares the items of `value`: a unit per item and per 64 bytes of the
/// text compared (the items' strings, and the strings one level inside them, which is where
/// `attribute=` and map values are), times the depth of a sort when `sorting`.
fn charge_compared(state: &State, value: &Value, sorting: bool) -> Result<(), Error> {
    let Ok(items) = value.try_iter() else {
        return Ok(());
    };
    let (mut count, mut bytes) = (0u64, 0u64);
    // Stop counting once the bill is past anything a rendering can pay.
    let paid_up = |count: u64, bytes: u64| count + bytes / 64 > RENDER_FUEL;
    'items: for item in items {
        count += 1;
        bytes += text_bytes(&item);
        if matches!(item.kind(), ValueKind::Map | ValueKind::Seq)
            && let Ok(inner) = item.try_iter()
        {
            for key in inner {
                count += 1;
                bytes += text_bytes(&key);
                if let Ok(member) = item.get_item(&key) {
                    bytes += text_bytes(&member);
                }
                if paid_up(count, bytes) {
                    break 'items;
                }
            }
        }
        if paid_up(count, bytes) {
            break;
        }
    }
    let depth = if sorting {
        u64::from(count.max(2).ilog2())
    } else {
        1
    };
    state.consume_fuel(count + bytes / 64 * depth)
}

fn text_bytes(value: &Value) -> u64 {
    value.as_str().map_or(0, |s| s.len() as u64)
}

thread_local! {
    /// Fuel used by this thread's renderings since [`take_fuel`] last asked.
    static FUEL: Cell<u64> = const { Cell::new(0) };
}

/// The fuel this thread's renderings used since the last call: what a caller charges to its
/// [`Budget`] after rendering one recipient, without the fuel being passed up through every
/// layer that renders strings.
pub fn take_fuel() -> u64 {
    FUEL.with(|fuel| fuel.replace(0))
}

/// Renders a template within herald's bounds. The fuel it used is added to this thread's
/// count ([`take_fuel`]); a rendering that fails is charged its whole allowance, since it may
/// have used nearly all of it first.
pub fn render(template: &minijinja::Template<'_, '_>, context: Value) -> Result<String, Error> {
    let rendered = watchdog::watch(|| template.render_captured(context));
    let used = match &rendered {
        Ok(captured) => captured.state().fuel_levels().map_or(0, |(used, _)| used),
        Err(_) => RENDER_FUEL,
    };
    FUEL.with(|fuel| fuel.set(fuel.get().saturating_add(used)));
    let text = rendered?.into_output();
    check_length(text.len())?;
    Ok(text)
}

/// Whether text of `len` bytes may be what one string renders to.
pub fn check_length(len: usize) -> Result<(), Error> {
    if len <= MAX_RENDERED_BYTES {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::InvalidOperation,
        format!(
            "the text is {} KiB long; herald renders at most {} KiB for one string",
            len / 1024,
            MAX_RENDERED_BYTES / 1024
        ),
    ))
}

/// minijinja's error as one line, with herald's bounds explained.
pub fn explain(e: &Error) -> String {
    match e.kind() {
        ErrorKind::OutOfFuel => format!(
            "the template does more work than herald allows for one string ({RENDER_FUEL} \
             steps): a loop that runs too long, or text that grows too large"
        ),
        _ => e
            .detail()
            .map_or_else(|| e.kind().to_string(), str::to_owned),
    }
}

#[cfg(test)]
mod tests;
