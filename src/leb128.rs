//! LEB128 varints, the lengths and numbers of herald's compact encodings (plan files, stored
//! requests): seven bits a byte, the low ones first, the high bit saying more follow.

/// Appends `n`.
pub(crate) fn put(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Takes a number off the front of `input`; `None` when `input` ends first or the number runs
/// past 64 bits.
pub(crate) fn take(input: &mut &[u8]) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = input.split_first()?;
        *input = rest;
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_read_back_and_truncation_is_no_number() {
        for n in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            super::put(&mut out, n);
            let mut input = &out[..];
            assert_eq!(super::take(&mut input), Some(n));
            assert!(input.is_empty());
            assert_eq!(super::take(&mut &out[..out.len() - 1]), None);
        }
        assert_eq!(super::take(&mut &[0xff; 11][..]), None);
    }
}
