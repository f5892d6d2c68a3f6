//! `IdIndex`: flow positions by id, a hash table of 4-byte positions into the registry's flows
//! (the ids themselves live in the flows), so a table of 100,000 flows stays small in cache.

use std::hash::BuildHasher;

use crate::Flow;

/// Positions into a flow list, found by the flows' ids.
#[derive(Debug, Default)]
pub(crate) struct IdIndex {
    table: hashbrown::HashTable<u32>,
}

fn hash(id: &str) -> u64 {
    rustc_hash::FxBuildHasher.hash_one(id)
}

/// Whether two ids are equal; the same string (a flow named with a clone of its own `FlowId`,
/// the common case) is seen without comparing bytes.
fn same(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b) || a == b
}

fn id_at(flows: &[Flow], k: u32) -> &str {
    flows.get(k as usize).map_or("", |flow| flow.id.as_str())
}

impl IdIndex {
    /// The position of `id` in `flows`.
    pub(crate) fn find(&self, flows: &[Flow], id: &str) -> Option<u32> {
        self.table
            .find(hash(id), |&k| same(id_at(flows, k), id))
            .copied()
    }

    /// Records that `id` is at position `idx` (which `flows` need not hold yet); `false`
    /// when `id` is taken (nothing changes).
    pub(crate) fn insert(&mut self, flows: &[Flow], id: &str, idx: u32) -> bool {
        match self.table.entry(
            hash(id),
            |&k| same(id_at(flows, k), id),
            |&k| hash(id_at(flows, k)),
        ) {
            hashbrown::hash_table::Entry::Occupied(_) => false,
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert(idx);
                true
            }
        }
    }

    /// Room for `additional` more ids.
    pub(crate) fn reserve(&mut self, flows: &[Flow], additional: usize) {
        self.table.reserve(additional, |&k| hash(id_at(flows, k)));
    }

    pub(crate) fn clear(&mut self) {
        self.table.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flow_graph::FlowId;

    #[test]
    fn finds_every_id_through_growth_and_refuses_a_taken_one() {
        let mut flows = Vec::new();
        let mut index = IdIndex::default();
        for i in 0..5000u32 {
            let id = FlowId::new(format!("f{i}")).unwrap();
            assert!(index.insert(&flows, id.as_str(), i));
            let flow = Flow::async_fn(id, |_| async { Ok::<_, String>(serde_json::Value::Null) });
            flows.push(flow.build());
        }
        for i in (0..5000u32).step_by(7) {
            assert_eq!(index.find(&flows, &format!("f{i}")), Some(i));
        }
        assert_eq!(index.find(&flows, "f5000"), None);
        assert!(!index.insert(&flows, "f42", 5000));
        assert_eq!(index.find(&flows, "f42"), Some(42));
    }
}
