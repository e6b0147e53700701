use std::time::{Duration, Instant};

use super::*;

fn render_str(source: &str) -> Result<String, Error> {
    let env = environment();
    let template = env.template_from_str(source)?;
    render(&template, Value::from(()))
}

#[test]
fn bombs_run_out_of_fuel_quickly() {
    let started = Instant::now();
    for bomb in [
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
        "{{ 'x' * 100000000 }}",
        "{% set s = 'x' * 1000000 %}{{ ([s] * 10000) | unique | length }}",
        "{% set s = 'x' * 1000000 %}{{ ([s] * 10000) | sort | length }}",
        "{% set s = 'x' * 1000000 %}{{ ([s] * 10000) | max | length }}",
    ] {
        let e = render_str(bomb).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::OutOfFuel, "{bomb}: {e}");
    }
    take_spent();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn long_expressions_are_refused_before_they_reach_the_parser() {
    for bomb in [
        format!("{{{{ {}1 }}}}", "-".repeat(20_000)),
        format!("{{{{ {}true }}}}", "not ".repeat(30_000)),
        format!("{{{{ \"}}}}\" ~ {}1 }}}}", "- ".repeat(20_000)),
        format!("{{{{ {}1 }}}}", "1 + ".repeat(20_000)),
        format!("{{% if {}1 %}}x{{% endif %}}", "1 ~ ".repeat(20_000)),
    ] {
        assert!(check_source(&bomb).is_err(), "{}", &bomb[..40]);
    }
    for fine in [
        "{{ -1 + -2 }} ---------- dashes outside tags are text",
        "{{- user.name -}}",
        "{{ a - -b }}",
        "{# see {{ #} ---------------------------------------------------------------- {{ 1 }}",
        "{% raw %}{{ ---------------------------------------------------------------- {% endraw %}",
    ] {
        assert!(check_source(fine).is_ok(), "{fine}");
    }
    let long_literal = format!("{{{{ \"{}\" }}}}", "-".repeat(5_000));
    assert!(check_source(&long_literal).is_ok());
}

#[test]
fn the_longest_expression_allowed_parses_on_a_small_stack() {
    // The test runs on a thread of the test harness: 2 MiB of stack, as plan's workers have.
    let env = environment();
    let deepest = format!("{{{{ {}1 }}}}", "-".repeat(MAX_TAG_CODE - 1));
    assert!(check_source(&deepest).is_ok());
    assert!(env.template_from_str(&deepest).is_ok());
    let chain = format!("{{{{ {}1 }}}}", "1+".repeat((MAX_TAG_CODE - 1) / 2));
    assert!(check_source(&chain).is_ok());
    assert!(env.template_from_str(&chain).is_ok());
}

#[test]
fn trailing_newlines_are_kept() {
    let env = environment();
    let template = env.template_from_str("Hi {{ 'Ann' }}\n").unwrap();
    assert_eq!(render(&template, Value::from(())).unwrap(), "Hi Ann\n");
}

#[test]
fn fuel_is_counted_per_thread_and_taken_once() {
    take_spent();
    render_str("{{ [3, 1, 2] | sort | join(',') }}").unwrap();
    let used = take_spent().fuel;
    assert!(used > 0 && used < 1000, "{used}");
    assert_eq!(take_spent().fuel, 0);
    assert!(render_str("{{ 1 // 0 }}").is_err());
    assert_eq!(take_spent().fuel, RENDER_FUEL / 4);
}

#[test]
fn urlencode_is_there_for_url_button_parameters() {
    assert_eq!(render_str("{{ 'a b/c' | urlencode }}").unwrap(), "a%20b/c");
}

#[test]
fn the_default_a_rule_suggests_replaces_empty_values() {
    // engati::rules suggests `default("...", true)` for empty body parameters.
    assert_eq!(
        render_str("{{ '' | default('friend', true) | title }}").unwrap(),
        "Friend"
    );
}
