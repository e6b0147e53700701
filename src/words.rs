//! How herald words a count: `1 campaign`, `2 campaigns`. One rule for every message, so
//! counts read the same in diagnostics, plans and summaries.

/// The plural ending of a noun counted `n`: `""` for one, `"s"` for any other number.
pub(crate) fn s<N: PartialEq + From<u8>>(n: N) -> &'static str {
    if n == N::from(1) { "" } else { "s" }
}

/// `n` and the noun, in the plural unless `n` is one: `count(2, "campaign")` is
/// `2 campaigns`.
pub(crate) fn count<N: Copy + PartialEq + From<u8> + std::fmt::Display>(
    n: N,
    noun: &str,
) -> String {
    format!("{n} {noun}{}", s(n))
}

/// A duration as a person says it, in the largest unit that is exact or counts at least two:
/// `45 seconds`, `1 hour`, `20 minutes`, `5 hours`, `358 days` (rounded down; a negative
/// duration reads as its size).
pub(crate) fn duration(d: jiff::SignedDuration) -> String {
    let secs = d.as_secs().unsigned_abs();
    for (unit, name) in [(86_400, "day"), (3_600, "hour"), (60, "minute")] {
        if secs >= 2 * unit || (secs >= unit && secs.is_multiple_of(unit)) {
            return count(secs / unit, name);
        }
    }
    count(secs, "second")
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_in_the_unit_that_matters() {
        let d = jiff::SignedDuration::from_secs;
        assert_eq!(super::duration(d(1)), "1 second");
        assert_eq!(super::duration(d(119)), "119 seconds");
        assert_eq!(super::duration(d(120)), "2 minutes");
        assert_eq!(super::duration(d(3_600)), "1 hour");
        assert_eq!(super::duration(d(5_400)), "90 minutes");
        assert_eq!(super::duration(d(7_200)), "2 hours");
        assert_eq!(super::duration(d(31_536_000)), "365 days");
        assert_eq!(super::duration(d(-90)), "90 seconds");
    }

    #[test]
    fn one_is_singular_and_every_other_number_plural() {
        assert_eq!(super::count(0, "campaign"), "0 campaigns");
        assert_eq!(super::count(1, "campaign"), "1 campaign");
        assert_eq!(super::count(2, "channel user"), "2 channel users");
    }
}
