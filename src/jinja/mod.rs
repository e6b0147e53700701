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
pub(crate) mod splice;
mod watchdog;

use std::cell::Cell;

pub use budget::{Budget, Exhausted, Spent};
pub use watchdog::{keep, remove_on_stop, rendering};

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

/// The most characters of code (not counting spaces and quoted strings) one tag may hold:
/// real tags hold tens.
const MAX_TAG_CODE: usize = 1_000;

/// Checks what minijinja's parser does not bound before it parses: it recurses once per unary
/// operator (`- - - 1`, `not not true`) and per term of a chain (`1 + 1 + …`, `a.b.b.b…`), so
/// a long enough expression overflows the stack. Every tag (`{{ … }}`, `{% … %}`) may hold at
/// most [`MAX_TAG_CODE`] characters of code; comments, raw blocks and quoted strings are text.
pub fn check_source(source: &str) -> Result<(), Error> {
    let bytes = source.as_bytes();
    let find = |from: usize, needle: &[u8]| {
        bytes
            .get(from..)
            .and_then(|rest| rest.windows(needle.len()).position(|w| w == needle))
            .map(|at| from + at)
    };
    let mut i = 0;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'{', b'#') => i = find(i + 2, b"#}").map_or(bytes.len(), |at| at + 2),
            (b'{', open @ (b'{' | b'%')) => {
                let close = if open == b'{' { b'}' } else { b'%' };
                let start = i + 2;
                let (end, code) = tag_code(bytes, start, close)?;
                let inner = source.get(start..end.saturating_sub(2)).unwrap_or_default();
                let word = inner.trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
                i = if open == b'%' && word == "raw" {
                    // A raw block is text up to its `endraw` tag.
                    find(end, b"endraw")
                        .and_then(|at| find(at, b"%}"))
                        .map_or(bytes.len(), |at| at + 2)
                } else {
                    end
                };
                if code > MAX_TAG_CODE {
                    return Err(Error::new(
                        ErrorKind::SyntaxError,
                        format!(
                            "a tag holds more than {MAX_TAG_CODE} characters of code; campaign \
                             strings fill in a few values"
                        ),
                    ));
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Where the tag starting at `start` ends (after its closing `close}`) and how many characters
/// of code it holds; quoted strings (with `\` escapes) are skipped. An unclosed tag ends at the
/// end of the text (the parser reports it).
fn tag_code(bytes: &[u8], start: usize, close: u8) -> Result<(usize, usize), Error> {
    let mut code = 0usize;
    let mut quote: Option<u8> = None;
    let mut i = start;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(_) if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == close && bytes.get(i + 1) == Some(&b'}') => return Ok((i + 2, code)),
            None if b.is_ascii_whitespace() => {}
            None => {
                code += 1;
                // No need to count further than what is refused.
                if code > MAX_TAG_CODE {
                    return Ok((bytes.len(), code));
                }
            }
        }
        i += 1;
    }
    Ok((bytes.len(), code))
}

/// One [`environment`] for the whole process, for strings compiled and dropped at once (making
/// an environment costs more than compiling a short string).
pub fn shared() -> &'static Environment<'static> {
    static SHARED: std::sync::LazyLock<Environment<'static>> =
        std::sync::LazyLock::new(environment);
    &SHARED
}

/// The environment every herald string is compiled in: strict about undefined names, bounded,
/// and with the comparing filters paying for what they compare.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Keep text exactly as written: a YAML block scalar's final newline is part of it, so
    // validate and plan must both see it.
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
    {
        env.set_syntax(syntax);
    }
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
    /// What this thread's renderings took since [`take_spent`] last asked.
    static SPENT: Cell<Spent> = const {
        Cell::new(Spent {
            fuel: 0,
            time: std::time::Duration::ZERO,
        })
    };
}

/// What this thread's renderings took since the last call: what a caller charges to its
/// [`Budget`] after rendering one recipient, without it being passed up through every layer
/// that renders strings.
pub fn take_spent() -> Spent {
    SPENT.with(|spent| spent.replace(Spent::default()))
}

/// The fuel a rendering that fails is charged: it may have used much of its allowance first,
/// but a plain mistake (a value that is not a number, say) must not use up a plan's budget.
const FAILED_RENDER_FUEL: u64 = RENDER_FUEL / 4;

/// Renders a template within herald's bounds. What it took is added to this thread's count
/// ([`take_spent`]); a rendering that fails is charged [`FAILED_RENDER_FUEL`], or its whole
/// allowance when it ran out.
pub fn render(template: &minijinja::Template<'_, '_>, context: Value) -> Result<String, Error> {
    let started = std::time::Instant::now();
    let rendered = watchdog::watch(|| template.render_captured(context));
    let fuel = match &rendered {
        Ok(captured) => captured.state().fuel_levels().map_or(0, |(used, _)| used),
        Err(e) if e.kind() == ErrorKind::OutOfFuel => RENDER_FUEL,
        Err(_) => FAILED_RENDER_FUEL,
    };
    let time = started.elapsed();
    SPENT.with(|spent| {
        let before = spent.get();
        spent.set(Spent {
            fuel: before.fuel.saturating_add(fuel),
            time: before.time.saturating_add(time),
        });
    });
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
