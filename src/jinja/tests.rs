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
    take_fuel();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn runs_of_signs_are_refused_before_they_reach_the_parser() {
    let bomb = format!("{{{{ {}1 }}}}", "-".repeat(20_000));
    assert!(check_source(&bomb).is_err());
    assert!(check_source("{{ -1 + -2 }} ---------- dashes outside tags are text").is_ok());
    assert!(check_source("{{- user.name -}}").is_ok());
}

#[test]
fn fuel_is_counted_per_thread_and_taken_once() {
    take_fuel();
    render_str("{{ [3, 1, 2] | sort | join(',') }}").unwrap();
    let used = take_fuel();
    assert!(used > 0 && used < 1000, "{used}");
    assert_eq!(take_fuel(), 0);
    assert!(render_str("{{ 1 // 0 }}").is_err());
    assert_eq!(take_fuel(), RENDER_FUEL);
}

#[test]
fn urlencode_is_there_for_url_button_parameters() {
    assert_eq!(render_str("{{ 'a b/c' | urlencode }}").unwrap(), "a%20b/c");
}
