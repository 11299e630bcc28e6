//! Fingerprints of live resources: a hex SHA-256 over everything a read returned
//! (including fields ecsched does not model), so that any change anywhere changes
//! it. Values are hashed through their `Debug` form, which for SDK types lists every
//! field; callers order collections (targets by id, tags by key) before hashing,
//! hash `HashMap`s through [`sorted`] (their `Debug` order is random per instance),
//! and leave out per-request noise such as request ids.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;

use sha2::{Digest, Sha256};

/// Incremental fingerprint: named, length-prefixed fields.
pub(crate) struct Fingerprint(Sha256);

impl Fingerprint {
    /// `kind` separates the namespaces of different resource types.
    pub(crate) fn new(kind: &str) -> Fingerprint {
        let mut f = Fingerprint(Sha256::new());
        f.text("kind", kind);
        f
    }

    /// Adds a field by its `Debug` rendering.
    pub(crate) fn field(&mut self, name: &str, value: &dyn Debug) -> &mut Fingerprint {
        let text = format!("{value:?}");
        self.text(name, &text)
    }

    /// Adds a field given as text.
    pub(crate) fn text(&mut self, name: &str, value: &str) -> &mut Fingerprint {
        for part in [name, value] {
            self.0.update((part.len() as u64).to_le_bytes());
            self.0.update(part.as_bytes());
        }
        self
    }

    pub(crate) fn finish(self) -> String {
        let digest = self.0.finalize();
        let mut hex = String::with_capacity(digest.len() * 2);
        for &b in digest.iter() {
            hex.push(char::from(HEX[usize::from(b >> 4)]));
            hex.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        hex
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A `HashMap` in key order: its `Debug` form is deterministic, the map's is not.
pub(crate) fn sorted(m: &HashMap<String, String>) -> BTreeMap<&str, &str> {
    m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_unambiguous_and_hex_is_64_chars() {
        let mut a = Fingerprint::new("rule");
        a.text("x", "ab").text("y", "c");
        let mut b = Fingerprint::new("rule");
        b.text("x", "a").text("y", "bc");
        let (a, b) = (a.finish(), b.finish());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        let mut c = Fingerprint::new("rule");
        c.text("x", "ab").text("y", "c");
        assert_eq!(a, c.finish());
    }
}
