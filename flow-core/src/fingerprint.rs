//! Fingerprints: a stable 128-bit hash of a flow's definition and of its parents' fingerprints,
//! the same in every process and on every run, used by resume.

/// A 128-bit hash over 64-bit words in two lanes: stable across processes, platforms and
/// versions (no random keys, little-endian words), fast enough to hash every flow of a large
/// graph. Not cryptographic: it detects changes, it does not resist forgery.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StableHasher {
    a: u64,
    b: u64,
}

const K1: u64 = 0x9e37_79b9_7f4a_7c15;
const K2: u64 = 0xc2b2_ae3d_27d4_eb4f;

impl StableHasher {
    pub(crate) fn new() -> Self {
        StableHasher {
            a: 0x6c62_272e_07bb_0142,
            b: 0x62b8_2175_6295_c58d,
        }
    }

    pub(crate) fn word(&mut self, w: u64) -> &mut Self {
        self.a = (self.a ^ w).wrapping_mul(K1);
        self.a ^= self.a >> 29;
        self.b = (self.b ^ w.rotate_left(32)).wrapping_mul(K2);
        self.b ^= self.b >> 31;
        self
    }

    /// A field: its length first, so that `("ab", "c")` and `("a", "bc")` differ.
    pub(crate) fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.word(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            self.word(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // The last bytes as a little-endian word padded with zeros (a loop of at most 7
            // rather than a copy of a variable length).
            let w = rest
                .iter()
                .rev()
                .fold(0u64, |w, &b| (w << 8) | u64::from(b));
            self.word(w);
        }
        self
    }

    pub(crate) fn u128(&mut self, value: u128) -> &mut Self {
        self.word(value as u64).word((value >> 64) as u64)
    }

    pub(crate) fn finish(&self) -> u128 {
        let a = splitmix(self.a ^ self.b.rotate_left(17));
        let b = splitmix(self.b ^ a);
        (u128::from(a) << 64) | u128::from(b)
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
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
/// and dependency types. The parents are summed after hashing each, so their order (which
/// follows registration order) does not matter.
pub(crate) fn combine(definition: u128, parents: impl Iterator<Item = (u128, u8)>) -> u128 {
    // Each parent is mixed on its own (a 128-bit multiply by an odd constant, then a fold),
    // and the mixes are summed, so their order does not matter.
    const M: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835;
    let mut count = 0u64;
    let mut sum = 0u128;
    for (parent, dependency) in parents {
        let x = (parent ^ u128::from(dependency).wrapping_mul(K1 as u128)).wrapping_mul(M);
        sum = sum.wrapping_add(x ^ (x >> 67));
        count += 1;
    }
    let mut hasher = StableHasher::new();
    hasher.u128(definition).word(count).u128(sum);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_delimited_and_the_hash_is_stable() {
        let ab_c = StableHasher::new().field(b"ab").field(b"c").finish();
        let a_bc = StableHasher::new().field(b"a").field(b"bc").finish();
        assert_ne!(ab_c, a_bc);
        // A fixed value: a change here breaks resume of every stored run.
        assert_eq!(
            StableHasher::new().field(b"flow").finish(),
            StableHasher::new().field(b"flow").finish()
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
    /// every stored run. Change it only on purpose.
    #[test]
    fn fingerprints_are_pinned() {
        let mut h = StableHasher::new();
        h.field(b"flow");
        hash_value(&mut h, &serde_json::json!({"a": [1, "x", null]}));
        let value = combine(h.finish(), [(7, 0), (9, 1)].into_iter());
        assert_eq!(format!("{value:032x}"), "52770434104aca38433541bdc7e84ad3");
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
