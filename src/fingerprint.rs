//! [`Fingerprint`]: the SHA-256 of the exact request a delivery sends. Plan compares the
//! fingerprint of what the files render to now with the one state recorded; equal fingerprints
//! mean the recipient already got exactly this message.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// A SHA-256 digest, shown and stored in JSON as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of some bytes.
    pub fn of(bytes: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(bytes).into())
    }

    /// The fingerprint of a value's compact JSON, as `serde_json::to_vec` would write it,
    /// hashed as it is written: no buffer, no copy (this runs once per recipient).
    pub fn of_json<T: Serialize + ?Sized>(value: &T) -> Fingerprint {
        struct Hashing(Sha256);
        impl std::io::Write for Hashing {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.update(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut hashing = Hashing(Sha256::new());
        // Writing to the hasher cannot fail, and the values hashed here (requests) always
        // serialize; an error would hash what was written so far, never panic.
        let _ = serde_json::to_writer(&mut hashing, value);
        Fingerprint(hashing.0.finalize().into())
    }

    /// The first 12 hex digits, enough to tell fingerprints apart in human output.
    pub fn short(&self) -> String {
        self.to_string()[..12].to_owned()
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = String;

    fn from_str(text: &str) -> Result<Fingerprint, String> {
        let bad = || format!("`{text}` is not a fingerprint (64 hex digits)");
        if text.len() != 64 || !text.is_ascii() {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Fingerprint(out))
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fingerprint, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::Fingerprint;

    #[test]
    fn hex_round_trip_and_known_digest() {
        let f = Fingerprint::of(b"abc");
        assert_eq!(
            f.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(f.to_string().parse::<Fingerprint>(), Ok(f));
        assert!("xyz".parse::<Fingerprint>().is_err());
        assert_eq!(f.short(), "ba7816bf8f01");
        let value = serde_json::json!({"a": [1, "x\"y"]});
        assert_eq!(
            Fingerprint::of_json(&value),
            Fingerprint::of(&serde_json::to_vec(&value).unwrap())
        );
    }
}
