//! [`Text`]: one templated string of a campaign, compiled once for the whole audience.
//!
//! Rendering is the per-recipient hot path, so strings are sorted by what they read:
//! - strings without template syntax, and strings that do not read `user`, are rendered once
//!   and reused ([`Text::Fixed`]);
//! - strings that only interpolate fields (`Dear {{ user.first_name }}`), optionally through
//!   one of the case filters `title`, `upper`, `lower`, are spliced directly ([`Text::Splice`]),
//!   with minijinja as the fallback for any field that is not a string;
//! - everything else (filters, conditions, loops) goes through minijinja ([`Text::Jinja`]).
//!
//! All three give the bytes minijinja would: `tests/render_equivalence.rs` checks the splice
//! path against minijinja on random templates and values.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use minijinja::Environment;
use minijinja::value::{Object, Value as JValue};

use super::recipients::Recipient;
use crate::jinja::Budget;
use crate::jinja::splice::{Filter, Part, interpolations};

/// What a template may read besides the recipient: `vars`, `campaign`, `now`.
#[derive(Debug, Clone)]
pub struct Globals {
    /// `vars`.
    pub vars: JValue,
    /// `campaign` (`name`, `scheduled_at`).
    pub campaign: JValue,
    /// `now`, RFC 3339 UTC.
    pub now: JValue,
}

/// The root of a template's context: `user` (when rendering for a recipient) and the globals.
#[derive(Debug)]
struct Context {
    user: Option<JValue>,
    globals: Globals,
}

impl Object for Context {
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        match key.as_str()? {
            "user" => self.user.clone(),
            "vars" => Some(self.globals.vars.clone()),
            "campaign" => Some(self.globals.campaign.clone()),
            "now" => Some(self.globals.now.clone()),
            _ => None,
        }
    }
}

/// One piece of a spliced string.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Literal(String),
    Field(String, Filter),
}

impl Piece {
    fn is_field(&self) -> bool {
        matches!(self, Piece::Field(..))
    }
}

/// A compiled templated string.
#[derive(Debug, Clone)]
pub enum Text {
    /// The same for every recipient.
    Fixed(String),
    /// Literal text and `{{ user.FIELD }}` interpolations (or `{{ user.FIELD | title }}`,
    /// `upper`, `lower`); `name` is the minijinja template used when a field is not a string.
    Splice {
        /// The pieces, in order.
        pieces: Vec<PieceRef>,
        /// The template's name in the campaign's environment.
        name: String,
    },
    /// A general template, by name in the campaign's environment.
    Jinja(String),
}

/// A piece of a [`Text::Splice`] (public for `Debug` only).
#[derive(Debug, Clone, PartialEq)]
pub struct PieceRef(Piece);

/// Why a string failed to compile or render: minijinja's message.
#[derive(Debug, Clone, PartialEq)]
pub struct TextError(pub String);

/// Compiles a campaign's strings, rendering the ones that are the same for every recipient at
/// once, within the run's budget. Strings are compiled in herald's shared environment and
/// dropped: a compiled minijinja template holds about 12 KB however short its string, so a
/// plan of 50,000 campaigns that kept every one would hold gigabytes. The strings that read
/// `user` are kept as text for [`Renderer`].
pub struct Compiler<'b> {
    globals: Globals,
    per_user: Vec<String>,
    budget: &'b mut Budget,
}

impl<'b> Compiler<'b> {
    /// A compiler with the globals every string of the campaign sees, charging `budget` for
    /// what it renders.
    pub fn new(globals: Globals, budget: &'b mut Budget) -> Compiler<'b> {
        Compiler {
            globals,
            per_user: Vec::new(),
            budget,
        }
    }

    /// Compiles one string. `per_user` says whether `user` may be read; strings that do not
    /// read it are rendered here, once.
    pub fn compile(&mut self, source: &str, per_user: bool) -> Result<Text, TextError> {
        if !crate::jinja::is_template(source) {
            return Ok(Text::Fixed(source.to_owned()));
        }
        crate::jinja::check_source(source).map_err(|e| TextError(describe(&e)))?;
        // Strings that only interpolate fields need no minijinja (tests below check that they
        // compile and render as it would): parsing them with it too would only cost the time.
        if let Some(text) = splice_globals(source, &self.globals) {
            return Ok(Text::Fixed(text));
        }
        if per_user && let Some(pieces) = splice(source).filter(|p| p.iter().any(Piece::is_field)) {
            return Ok(self.keep(source, Some(pieces)));
        }
        let template = crate::jinja::shared()
            .template_from_str(source)
            .map_err(|e| TextError(describe(&e)))?;
        let reads_user = template
            .undeclared_variables(false)
            .iter()
            .any(|v| v == "user");
        if !reads_user || !per_user {
            let context = JValue::from_object(Context {
                user: None,
                globals: self.globals.clone(),
            });
            let rendered = crate::jinja::render(&template, context);
            if let Err(exhausted) = self.budget.charge(crate::jinja::take_spent()) {
                return Err(TextError(format!(
                    "the plan's templates {}; simplify their loops and filters",
                    exhausted.describe()
                )));
            }
            let text = rendered.map_err(|e| TextError(describe(&e)))?;
            return Ok(Text::Fixed(text));
        }
        Ok(self.keep(source, splice(source)))
    }

    /// Keeps `source`, a string that reads `user`, for the renderer, as a splice of `pieces`
    /// when it is one.
    fn keep(&mut self, source: &str, pieces: Option<Vec<Piece>>) -> Text {
        let name = format!("t{}", self.per_user.len());
        self.per_user.push(source.to_owned());
        match pieces {
            Some(pieces) => Text::Splice {
                pieces: pieces.into_iter().map(PieceRef).collect(),
                name,
            },
            None => Text::Jinja(name),
        }
    }

    /// What renders the compiled strings.
    pub fn finish(self) -> Renderer {
        Renderer {
            sources: self.per_user,
            env: OnceLock::new(),
            globals: self.globals,
        }
    }
}

/// Renders compiled strings for recipients. What minijinja's renderings use is counted per
/// thread ([`crate::jinja::take_spent`]) for the caller to charge in audience order.
pub struct Renderer {
    /// The strings that read `user`, the `n`th named `tn`.
    sources: Vec<String>,
    /// Those strings compiled, on the first rendering that needs minijinja: a campaign whose
    /// strings are all spliced from text fields never compiles them again.
    env: OnceLock<Result<Environment<'static>, TextError>>,
    globals: Globals,
}

impl Renderer {
    /// The string for one recipient.
    pub fn render<'t>(
        &self,
        text: &'t Text,
        recipient: &Recipient,
    ) -> Result<Cow<'t, str>, TextError> {
        match text {
            Text::Fixed(s) => Ok(Cow::Borrowed(s)),
            Text::Splice { pieces, name } => {
                let mut out = String::new();
                for PieceRef(piece) in pieces {
                    match piece {
                        Piece::Literal(s) => out.push_str(s),
                        Piece::Field(field, filter) => match recipient.fields.text(field) {
                            Some(value) => filter.push(&mut out, value),
                            None => return self.jinja(name, recipient).map(Cow::Owned),
                        },
                    }
                }
                crate::jinja::check_length(out.len()).map_err(|e| TextError(describe(&e)))?;
                Ok(Cow::Owned(out))
            }
            Text::Jinja(name) => self.jinja(name, recipient).map(Cow::Owned),
        }
    }

    /// The environment holding the strings that read `user`, compiled once.
    fn env(&self) -> Result<&Environment<'static>, TextError> {
        self.env
            .get_or_init(|| {
                let mut env = crate::jinja::environment();
                for (i, source) in self.sources.iter().enumerate() {
                    env.add_template_owned(format!("t{i}"), source.clone())
                        .map_err(|e| TextError(describe(&e)))?;
                }
                Ok(env)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn jinja(&self, name: &str, recipient: &Recipient) -> Result<String, TextError> {
        let template = self
            .env()?
            .get_template(name)
            .map_err(|e| TextError(describe(&e)))?;
        let context = JValue::from_object(Context {
            user: Some(recipient.user_value()),
            globals: self.globals.clone(),
        });
        crate::jinja::render(&template, context).map_err(|e| TextError(describe(&e)))
    }
}

/// minijinja's error as one line, with herald's bounds explained.
fn describe(e: &minijinja::Error) -> String {
    crate::jinja::explain(e)
}

/// The pieces of a string that only interpolates `user` fields, or `None` when it does more.
fn splice(source: &str) -> Option<Vec<Piece>> {
    interpolations(source)?
        .into_iter()
        .map(|part| match part {
            Part::Literal(text) => Some(Piece::Literal(text.to_owned())),
            Part::Field {
                root: "user",
                name,
                filter,
            } => Some(Piece::Field(name.to_owned(), filter)),
            Part::Field { .. } => None,
        })
        .collect()
}

/// What a string that only interpolates `vars` and `campaign` fields renders to, when each of
/// those is a string: the bytes minijinja would give (a test below checks it). `None` when
/// the string does more, or reads a value that is missing (minijinja then says so) or not a
/// string (minijinja's formatting of numbers and lists is its own).
fn splice_globals(source: &str, globals: &Globals) -> Option<String> {
    let mut out = String::with_capacity(source.len());
    for part in interpolations(source)? {
        match part {
            Part::Literal(text) => out.push_str(text),
            Part::Field { root, name, filter } => {
                let scope = match root {
                    "vars" => &globals.vars,
                    "campaign" => &globals.campaign,
                    _ => return None,
                };
                let value = scope.get_attr(name).ok()?;
                filter.push(&mut out, value.as_str()?);
            }
        }
    }
    // Past the bound, minijinja's error is the message.
    (out.len() <= crate::jinja::MAX_RENDERED_BYTES).then_some(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{Compiler, Context, Filter, Globals, JValue, Piece, Text, splice};

    /// What minijinja renders `source` to with `globals` and no `user`.
    fn minijinja(source: &str, globals: &Globals) -> Result<String, minijinja::Error> {
        let template = crate::jinja::shared().template_from_str(source)?;
        let context = JValue::from_object(Context {
            user: None,
            globals: globals.clone(),
        });
        crate::jinja::render(&template, context)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

        /// Strings that only interpolate `vars` and `campaign` fields are rendered without
        /// minijinja when the fields are strings: the same bytes, and the same errors (from
        /// minijinja) for fields that are missing or not strings.
        #[test]
        fn global_interpolations_render_as_minijinja_does(
            source in crate::jinja::splice::strategy::interpolating(
                "[a-zA-Z0-9 ,.!?é€\n\\-_:/%#}]{0,8}",
                "(vars\\.(s0|s1|n|list|missing)|campaign\\.(name|scheduled_at|nope))",
            ),
            values in proptest::collection::vec("[a-zA-Z0-9 {}%#<>&\"'\nÉßİΣσς(\\-]{0,10}", 3),
            user in any::<bool>(),
        ) {
            prop_assume!(source.contains("{{"));
            let globals = Globals {
                vars: JValue::from(minijinja::value::Serde(serde_json::json!({
                    "s0": values[0], "s1": values[1], "n": 7, "list": ["a"],
                }))),
                campaign: minijinja::context! { name => values[2].clone(), scheduled_at => "2026-12-01T00:00:00Z" },
                now: JValue::from("2026-12-01T00:00:00Z"),
            };
            let expected = minijinja(&source, &globals).map_err(|e| super::describe(&e));
            let mut budget = crate::jinja::Budget::plan();
            let compiled = Compiler::new(globals, &mut budget).compile(&source, user);
            match (compiled, expected) {
                (Ok(Text::Fixed(text)), Ok(expected)) => prop_assert_eq!(text, expected),
                (Err(e), Err(expected)) => prop_assert_eq!(e.0, expected),
                (compiled, expected) => prop_assert!(false, "{source:?}: {compiled:?} vs {expected:?}"),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 2_000,
            max_global_rejects: 1_000_000,
            ..ProptestConfig::default()
        })]

        /// [`super::Compiler::compile`] keeps a splice that reads a field without asking
        /// minijinja: every such string must compile and read `user`, whatever text
        /// (braces, percent and hash signs, dashes, newlines) surrounds its fields.
        #[test]
        fn every_splice_with_a_field_compiles_and_reads_user(
            source in crate::jinja::splice::strategy::interpolating(
                "[a-z {}%#\\-+|'\"\n\t.]{0,6}",
                "(user\\.[a-z_][a-z0-9_]{0,3}|user\\.(not|none|true|if|in))",
            ),
        ) {
            let spliced = splice(&source).filter(|p| p.iter().any(Piece::is_field));
            prop_assume!(spliced.is_some());
            prop_assume!(crate::jinja::check_source(&source).is_ok());
            let template = crate::jinja::shared().template_from_str(&source);
            prop_assert!(template.is_ok(), "{source:?}: {:?}", template.err());
            let reads = template.map(|t| t.undeclared_variables(false).contains("user"));
            prop_assert!(reads.unwrap_or(false), "{source:?} does not read user");
        }
    }

    #[test]
    fn splice_takes_plain_interpolations_only() {
        assert_eq!(
            splice("Hi {{ user.first_name }}!"),
            Some(vec![
                Piece::Literal("Hi ".into()),
                Piece::Field("first_name".into(), Filter::Plain),
                Piece::Literal("!".into()),
            ])
        );
        assert_eq!(
            splice("{{user.a|title}}{{ user.b | upper }}{{ user.c |lower }}"),
            Some(vec![
                Piece::Field("a".into(), Filter::Title),
                Piece::Field("b".into(), Filter::Upper),
                Piece::Field("c".into(), Filter::Lower),
            ])
        );
        assert_eq!(splice("{{user.a}}{{ user.b }}").map(|p| p.len()), Some(2));
        for general in [
            "{{ user.name | capitalize }}",
            "{{ user.name | title | upper }}",
            "{{ user.name | replace('a', 'b') }}",
            "{{ user.name | title() }}",
            "{{ user.name || title }}",
            "{{- user.name }}",
            "{{ user.name -}}",
            "{% if user.x %}y{% endif %}",
            "{# note #}{{ user.x }}",
            "{{ user['x'] }}",
            "{{ user.a.b }}",
            "{{ vars.brand }} {{ user.x }}",
            "a }} b {{ user.x }}",
            "{{ user.x }} }}",
            "{{ user.x",
        ] {
            assert_eq!(splice(general), None, "{general}");
        }
    }
}
