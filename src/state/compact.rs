//! Requests stored compactly: as what differs from a reference request of their round.
//!
//! A round's requests are one template rendered for many recipients: the same JSON with a few
//! string and number values changed (the phone, a name, an invoice number repeated in a link,
//! a file name and two button payloads). The first request recorded in a round becomes its
//! [`Skeleton`], stored once; every request of the same shape (the same text between its
//! values) is stored as the values that differ, each as the bytes between the prefix and the
//! suffix it shares with the skeleton's value. A value that is the recipient's phone, or the
//! same middle as a value before it in the request, is a reference of a byte or two. A request
//! of another shape is stored whole. Decoding is byte-exact by construction: a request is cut
//! into gaps and values that concatenate back to it, and only values are ever replaced.
//!
//! Layout of an encoded request (varints are LEB128):
//!
//! - `0`, then the request's bytes: stored whole;
//! - `1`, skeleton id, then per differing value: the gap in value indexes since the previous
//!   one (or from -1), and either `4·len` then `len` bytes (a middle, after a prefix length
//!   and a suffix length), `4·k + 1` (a prefix length, a suffix length, and the middle of the
//!   `k`-th differing value back), or `2` (the value is the recipient, quoted).

use crate::leb128;

/// Requests stored whole.
const WHOLE: u8 = 0;
/// Requests stored against a skeleton.
const AGAINST: u8 = 1;

/// A request cut into the text between values (`gaps`, one more than `values`) and its
/// string and number values, as byte ranges of `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Skeleton {
    text: Vec<u8>,
    /// `(start, end)` of each value in `text`.
    values: Vec<(usize, usize)>,
}

impl Skeleton {
    /// Cuts `text` into gaps and values.
    pub(super) fn new(text: &[u8]) -> Skeleton {
        Skeleton {
            text: text.to_vec(),
            values: values(text),
        }
    }

    fn value(&self, i: usize) -> &[u8] {
        let (start, end) = self.values[i];
        &self.text[start..end]
    }

    /// The gap before value `i` (`i == values.len()`: the text after the last value).
    fn gap(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.values[i - 1].1 };
        let end = self.values.get(i).map_or(self.text.len(), |v| v.0);
        &self.text[start..end]
    }

    /// The skeleton of two requests of one shape: each value cut down to what both share at
    /// its start and end. Made of two recipients' requests, it holds nothing only one of them
    /// had (a name, a phone), so erasing a person never touches it.
    pub(super) fn merge(&self, other: &Skeleton) -> Option<Skeleton> {
        if !self.fits(other) {
            return None;
        }
        let mut text = Vec::with_capacity(self.text.len());
        let mut cuts = Vec::with_capacity(self.values.len());
        for i in 0..self.values.len() {
            text.extend_from_slice(self.gap(i));
            let (a, b) = (self.value(i), other.value(i));
            let prefix = common(a.iter(), b.iter());
            let rest = (a.len() - prefix).min(b.len() - prefix);
            let suffix = common(a.iter().rev().take(rest), b.iter().rev().take(rest));
            let mut shared = [&a[..prefix], &a[a.len() - suffix..]].concat();
            // What both share must still read as one value where it stands (a number both
            // share no digit of, a string cut after a backslash, do not): else a blank one.
            if values(&shared) != [(0, shared.len())] {
                shared = if a.first() == Some(&b'"') {
                    b"\"\"".to_vec()
                } else {
                    b"0".to_vec()
                };
            }
            let start = text.len();
            text.extend_from_slice(&shared);
            cuts.push((start, text.len()));
        }
        text.extend_from_slice(self.gap(self.values.len()));
        // Cut again, so that decoding cuts the stored text as it was cut here.
        let merged = Skeleton::new(&text);
        (merged.values == cuts).then_some(merged)
    }

    /// The skeleton's text, as stored.
    pub(super) fn text(&self) -> &[u8] {
        &self.text
    }

    /// Whether `other` has this skeleton's shape: the same gaps around as many values.
    fn fits(&self, other: &Skeleton) -> bool {
        self.values.len() == other.values.len()
            && (0..=self.values.len()).all(|i| self.gap(i) == other.gap(i))
    }
}

/// The string and number values of a JSON text, as byte ranges. Any text is cut somehow (a
/// string left open runs to the end), and the cut always concatenates back to it.
fn values(text: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => {
                let start = i;
                i += 1;
                while i < text.len() && text[i] != b'"' {
                    i += if text[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(text.len());
                out.push((start, i));
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < text.len()
                    && matches!(text[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                out.push((start, i));
            }
            _ => i += 1,
        }
    }
    out
}

/// Encodes `request` of `recipient` against the first of `skeletons` (id, skeleton) it fits,
/// or whole.
pub(super) fn encode(request: &str, recipient: &str, skeletons: &[(i64, &Skeleton)]) -> Vec<u8> {
    let cut = Skeleton::new(request.as_bytes());
    let Some((id, skeleton)) = skeletons.iter().find(|(_, s)| s.fits(&cut)) else {
        let mut out = Vec::with_capacity(request.len() + 1);
        out.push(WHOLE);
        out.extend_from_slice(request.as_bytes());
        return out;
    };
    let quoted = format!("\"{recipient}\"");
    let mut out = vec![AGAINST];
    leb128::put(&mut out, u64::try_from(*id).unwrap_or(0));
    let mut last: i64 = -1;
    let mut middles: Vec<&[u8]> = Vec::new();
    for i in 0..cut.values.len() {
        let (mine, theirs) = (cut.value(i), skeleton.value(i));
        if mine == theirs {
            continue;
        }
        leb128::put(&mut out, (i as i64 - last - 1) as u64);
        last = i as i64;
        if mine == quoted.as_bytes() {
            leb128::put(&mut out, 2);
            continue;
        }
        let prefix = common(mine.iter(), theirs.iter());
        let rest = (mine.len() - prefix).min(theirs.len() - prefix);
        let suffix = common(mine.iter().rev().take(rest), theirs.iter().rev().take(rest));
        let middle = &mine[prefix..mine.len() - suffix];
        match middles.iter().rev().position(|m| *m == middle) {
            Some(k) => leb128::put(&mut out, 4 * k as u64 + 1),
            None => leb128::put(&mut out, 4 * middle.len() as u64),
        }
        leb128::put(&mut out, prefix as u64);
        leb128::put(&mut out, suffix as u64);
        if !middles.contains(&middle) {
            out.extend_from_slice(middle);
        }
        middles.push(middle);
    }
    out
}

/// How many items two sequences share from their start.
fn common<'a>(a: impl Iterator<Item = &'a u8>, b: impl Iterator<Item = &'a u8>) -> usize {
    a.zip(b).take_while(|(x, y)| x == y).count()
}

/// The skeleton an encoded request refers to, if any.
pub(super) fn skeleton_of(encoded: &[u8]) -> Option<i64> {
    match encoded.split_first() {
        Some((&AGAINST, rest)) => leb128::take(&mut &rest[..]).and_then(|v| i64::try_from(v).ok()),
        _ => None,
    }
}

message_error! {
    /// An encoded request that does not decode: the state is corrupt there.
    pub(super) struct BadEncoding;
}

/// Decodes what [`encode`] made, with the skeleton it names (from [`skeleton_of`]).
pub(super) fn decode(
    encoded: &[u8],
    recipient: &str,
    skeleton: Option<&Skeleton>,
) -> Result<String, BadEncoding> {
    let bad = |why: &str| BadEncoding(format!("its stored request is damaged ({why})"));
    let text = match encoded.split_first() {
        Some((&WHOLE, rest)) => rest.to_vec(),
        Some((&AGAINST, mut rest)) => {
            leb128::take(&mut rest).ok_or_else(|| bad("no skeleton"))?;
            let skeleton = skeleton.ok_or_else(|| bad("its reference request is missing"))?;
            let quoted = format!("\"{recipient}\"");
            let mut out = Vec::with_capacity(skeleton.text.len() + 64);
            let mut middles: Vec<Vec<u8>> = Vec::new();
            let mut next = 0usize;
            while !rest.is_empty() {
                let skip = leb128::take(&mut rest).ok_or_else(|| bad("truncated"))?;
                let i = next
                    .checked_add(usize::try_from(skip).map_err(|_| bad("index"))?)
                    .filter(|i| *i < skeleton.values.len())
                    .ok_or_else(|| bad("a value past the last"))?;
                for k in next..i {
                    out.extend_from_slice(skeleton.gap(k));
                    out.extend_from_slice(skeleton.value(k));
                }
                out.extend_from_slice(skeleton.gap(i));
                next = i + 1;
                let tag = leb128::take(&mut rest).ok_or_else(|| bad("truncated"))?;
                if tag == 2 {
                    out.extend_from_slice(quoted.as_bytes());
                    continue;
                }
                let prefix = read_len(&mut rest).ok_or_else(|| bad("truncated"))?;
                let suffix = read_len(&mut rest).ok_or_else(|| bad("truncated"))?;
                if tag % 4 > 1 {
                    return Err(bad("an unknown kind of value"));
                }
                let middle = if tag % 4 == 1 {
                    let k = usize::try_from(tag / 4).map_err(|_| bad("reference"))?;
                    middles
                        .len()
                        .checked_sub(k + 1)
                        .map(|j| middles[j].clone())
                        .ok_or_else(|| bad("a reference to no value"))?
                } else {
                    let len = usize::try_from(tag / 4).map_err(|_| bad("length"))?;
                    if len > rest.len() {
                        return Err(bad("truncated"));
                    }
                    let (middle, after) = rest.split_at(len);
                    rest = after;
                    middle.to_vec()
                };
                let theirs = skeleton.value(i);
                if prefix.checked_add(suffix).is_none_or(|n| n > theirs.len()) {
                    return Err(bad("a value's parts overlap"));
                }
                out.extend_from_slice(&theirs[..prefix]);
                out.extend_from_slice(&middle);
                out.extend_from_slice(&theirs[theirs.len() - suffix..]);
                middles.push(middle);
            }
            for k in next..skeleton.values.len() {
                out.extend_from_slice(skeleton.gap(k));
                out.extend_from_slice(skeleton.value(k));
            }
            out.extend_from_slice(skeleton.gap(skeleton.values.len()));
            out
        }
        _ => return Err(bad("unknown layout")),
    };
    String::from_utf8(text).map_err(|_| bad("not UTF-8"))
}

fn read_len(input: &mut &[u8]) -> Option<usize> {
    leb128::take(input).and_then(|n| usize::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(phone: &str, name: &str, invoice: u64) -> String {
        format!(
            r#"{{"method":"POST","body":{{"phoneNumber":"{phone}","link":"https://x.example/inv/{invoice}.pdf","text":"{name}","n":{invoice},"p":"flow||data_invoice_no={invoice}||approved"}}}}"#
        )
    }

    fn round_trip(text: &str, recipient: &str, skeleton: &Skeleton) -> usize {
        let encoded = encode(text, recipient, &[(7, skeleton)]);
        let id = skeleton_of(&encoded);
        let decoded = decode(&encoded, recipient, id.map(|_| skeleton)).unwrap();
        assert_eq!(decoded, text);
        encoded.len()
    }

    #[test]
    fn a_request_of_the_skeletons_shape_is_its_differing_values_and_decodes_exactly() {
        let skeleton = Skeleton::new(request("+919000000001", "John", 10_000_001).as_bytes());
        let other = request("+919012345678", "Priyanka", 10_004_567);
        let size = round_trip(&other, "+919012345678", &skeleton);
        assert!(size < 40, "{size} bytes");
        // The skeleton's own request is a few bytes.
        let own = request("+919000000001", "John", 10_000_001);
        assert!(round_trip(&own, "+919000000001", &skeleton) <= 2);
        // The phone is a reference even for a recipient the request does not name so.
        round_trip(&other, "+1555", &skeleton);
    }

    #[test]
    fn a_request_of_another_shape_or_any_text_is_stored_whole_and_decodes_exactly() {
        let skeleton = Skeleton::new(request("+919000000001", "John", 1).as_bytes());
        for text in [
            "",
            "v1",
            "{}",
            r#"{"a":"unterminated"#,
            r#"{"a":"esc \" aped","b":-1.5e+3,"c":"ünï","d":true}"#,
            r#"{"method":"GET"}"#,
        ] {
            round_trip(text, "+919000000001", &skeleton);
            let own = Skeleton::new(text.as_bytes());
            round_trip(text, "+919000000001", &own);
        }
        let escaped = Skeleton::new(br#"{"t":"a\"b","u":"x"}"#);
        round_trip(r#"{"t":"a\"c","u":"\\"}"#, "+1", &escaped);
        round_trip(
            r#"{"t":"ü","u":"üü"}"#,
            "+1",
            &Skeleton::new(r#"{"t":"ä","u":"ü"}"#.as_bytes()),
        );
    }

    #[test]
    fn damaged_encodings_are_errors_not_panics() {
        let skeleton = Skeleton::new(request("+919000000001", "John", 1).as_bytes());
        let encoded = encode(
            &request("+919000000002", "Ana", 2),
            "+919000000002",
            &[(1, &skeleton)],
        );
        for cut in 0..encoded.len() {
            let _ = decode(&encoded[..cut], "+919000000002", Some(&skeleton));
        }
        for byte in 0..=255u8 {
            let mut bad = encoded.clone();
            bad[encoded.len() / 2] = byte;
            let _ = decode(&bad, "+919000000002", Some(&skeleton));
        }
        assert!(decode(&encoded, "+1", None).is_err());
        assert!(decode(&[9], "+1", None).is_err());
    }
}
