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

#[cfg(test)]
mod tests {
    #[test]
    fn one_is_singular_and_every_other_number_plural() {
        assert_eq!(super::count(0, "campaign"), "0 campaigns");
        assert_eq!(super::count(1, "campaign"), "1 campaign");
        assert_eq!(super::count(2, "channel user"), "2 channel users");
    }
}
