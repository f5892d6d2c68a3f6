//! Fingerprints: a stable 128-bit hash of a flow's definition and of its parents' fingerprints,
//! the same in every process and on every run, used by resume. A flow's home (the workflow
//! folder, `crate::home`) is hashed as a mark, not as its path, so a moved project resumes.
//!
//! The algorithm is XXH3-128 (the `xxhash-rust` crate) over the fields below, each tagged and
//! length-prefixed, behind the version tag [`VERSION`]. Fingerprints are written to the store
//! and compared by resume: changing the algorithm, the fields or the tag is a deliberate break
//! (a resume from a run recorded before it runs every flow again) and bumps [`VERSION`].

use flow_graph::{DependencyType, Link};
use xxhash_rust::xxh3::xxh3_128;

use crate::flow::Flow;

/// The fingerprint scheme, hashed first into every definition. Version 3: a flow's home is
/// hashed as a mark (version 2 hashed its path, so a moved project ran every flow again;
/// version 1 was a hand-written two-lane hash, dropped for a named algorithm).
pub(crate) const VERSION: &[u8] = b"flow-fingerprint-v3/xxh3-128";

/// An XXH3-128 hash of tagged, length-prefixed fields, in little-endian words: stable across
/// processes, platforms and versions of flow. Not cryptographic: it detects changes, it does not
/// resist forgery. The fields are gathered in a buffer and hashed in one call (the digest is the
/// one a streaming XXH3-128 gives for the same bytes; a definition is a few dozen bytes, which
/// one call hashes several times faster than the streaming state is set up).
#[derive(Debug)]
pub(crate) struct StableHasher(Vec<u8>);

impl StableHasher {
    pub(crate) fn new() -> Self {
        let mut hasher = StableHasher(Vec::with_capacity(128));
        hasher.field(VERSION);
        hasher
    }

    pub(crate) fn word(&mut self, w: u64) -> &mut Self {
        self.0.extend_from_slice(&w.to_le_bytes());
        self
    }

    /// A field: its length first, so that `("ab", "c")` and `("a", "bc")` differ.
    pub(crate) fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.word(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
        self
    }

    pub(crate) fn u128(&mut self, value: u128) -> &mut Self {
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub(crate) fn finish(&self) -> u128 {
        xxh3_128(&self.0)
    }
}

/// Hashes a JSON value without serialising it; object keys come sorted (serde_json's map is
/// ordered), so equal values hash equal.
pub(crate) fn hash_value(hasher: &mut StableHasher, value: &serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Null => {
            hasher.word(0);
        }
        Value::Bool(b) => {
            hasher.word(1).word(u64::from(*b));
        }
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                hasher.word(2).word(u);
            } else if let Some(i) = n.as_i64() {
                hasher.word(3).word(i as u64);
            } else {
                hasher.word(4).word(n.as_f64().unwrap_or(0.0).to_bits());
            }
        }
        Value::String(s) => {
            hasher.word(5).field(s.as_bytes());
        }
        Value::Array(items) => {
            hasher.word(6).word(items.len() as u64);
            for item in items {
                hash_value(hasher, item);
            }
        }
        Value::Object(map) => {
            hasher.word(7).word(map.len() as u64);
            for (key, item) in map {
                hasher.field(key.as_bytes());
                hash_value(hasher, item);
            }
        }
    }
}

/// The fingerprint of a flow: its definition hash combined with its parents' fingerprints
/// and dependency types, in one XXH3-128 over the definition, the number of parents and the
/// sum of the parents' fingerprints (an optional parent's taken bitwise inverted). Parents'
/// fingerprints are XXH3 digests themselves, so their sum keeps them apart, and it does not
/// depend on their order (which follows registration order).
pub(crate) fn combine(definition: u128, parents: impl Iterator<Item = (u128, u8)>) -> u128 {
    let mut count = 0u64;
    let mut sum = 0u128;
    for (parent, dependency) in parents {
        let parent = if dependency == 0 { parent } else { !parent };
        sum = sum.wrapping_add(parent);
        count += 1;
    }
    let mut all = [0u8; 40];
    all[..16].copy_from_slice(&definition.to_le_bytes());
    all[16..24].copy_from_slice(&count.to_le_bytes());
    all[24..].copy_from_slice(&sum.to_le_bytes());
    xxh3_128(&all)
}

/// Computes the fingerprint of `flow` and of each of its ancestors not known yet (0 in
/// `fingerprints`), parents first. `flow_at` and `parents` read the run's flows and links;
/// `stack` is scratch space.
pub(crate) fn fill_fingerprints<'a>(
    flow: u32,
    flow_at: impl Fn(u32) -> &'a Flow,
    parents: impl Fn(u32) -> &'a [Link],
    fingerprints: &mut [u128],
    stack: &mut Vec<u32>,
) {
    stack.clear();
    stack.push(flow);
    while let Some(&n) = stack.last() {
        if fingerprints[n as usize] != 0 {
            stack.pop();
            continue;
        }
        let before = stack.len();
        for link in parents(n) {
            if fingerprints[link.flow() as usize] == 0 {
                stack.push(link.flow());
            }
        }
        if stack.len() == before {
            fingerprints[n as usize] = fingerprint_of(flow_at(n), parents(n), fingerprints);
            stack.pop();
        }
    }
}

/// The fingerprint of `flow` from its definition and its parents' fingerprints (all known).
pub(crate) fn fingerprint_of(flow: &Flow, parents: &[Link], fingerprints: &[u128]) -> u128 {
    let parents = parents.iter().map(|link| {
        let tag = match link.dependency() {
            DependencyType::Required => 0u8,
            DependencyType::Optional => 1u8,
        };
        (fingerprints[link.flow() as usize], tag)
    });
    combine(flow.definition(), parents).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_delimited_and_the_hash_is_stable() {
        let ab_c = StableHasher::new().field(b"ab").field(b"c").finish();
        let a_bc = StableHasher::new().field(b"a").field(b"bc").finish();
        assert_ne!(ab_c, a_bc);
        // The digest of the bytes as a streaming XXH3-128 would take them.
        let mut streamed = xxhash_rust::xxh3::Xxh3::new();
        for part in [
            &28u64.to_le_bytes()[..],
            VERSION,
            &4u64.to_le_bytes(),
            b"flow",
        ] {
            streamed.update(part);
        }
        assert_eq!(
            StableHasher::new().field(b"flow").finish(),
            streamed.digest128()
        );
        let mut x = StableHasher::new();
        hash_value(
            &mut x,
            &serde_json::json!({"a": [1, -2, 2.5, "s", null, true]}),
        );
        let mut y = StableHasher::new();
        hash_value(
            &mut y,
            &serde_json::json!({"a": [1, -2, 2.5, "s", null, false]}),
        );
        assert_ne!(x.finish(), y.finish());
    }

    /// Stored runs hold fingerprints: if this value changes, resume re-runs every flow of
    /// every stored run. Change it only on purpose, with a new [`VERSION`].
    #[test]
    fn fingerprints_are_pinned() {
        let mut h = StableHasher::new();
        h.field(b"flow");
        hash_value(&mut h, &serde_json::json!({"a": [1, "x", null]}));
        let value = combine(h.finish(), [(7, 0), (9, 1)].into_iter());
        assert_eq!(format!("{value:032x}"), "00d7f6a10f3d17c50a0258298e6523dd");
    }

    #[test]
    fn parents_change_the_fingerprint() {
        let alone = combine(1, std::iter::empty());
        let with_parent = combine(1, [(2, 0)].into_iter());
        let optional_parent = combine(1, [(2, 1)].into_iter());
        assert_ne!(alone, with_parent);
        assert_ne!(with_parent, optional_parent);
        let ab = combine(1, [(2, 0), (3, 1)].into_iter());
        let ba = combine(1, [(3, 1), (2, 0)].into_iter());
        assert_eq!(ab, ba);
    }
}
