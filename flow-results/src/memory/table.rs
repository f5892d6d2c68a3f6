//! `RunResults`: the results of one run in `MemoryStore`, as a vector of compact records and a
//! hash index from flow id to position.
//!
//! Saving appends: a scheduler saves every result of a run as its flow ends and reads them
//! back rarely, so the index is brought up to date when someone reads (or when many results
//! wait for it), not on each save. Catching up moves a later result of a flow over its
//! earlier one, so after it every flow has one record again.
//!
//! An index slot holds a position and the flow id's 32-bit hash (8 bytes), so a result costs
//! its record and 10 to 20 bytes of index (a slot and a control byte, at a load of 44 to 88%),
//! and growing the index rehashes without touching the records or their ids. Results are never
//! removed one by one (only whole runs), so positions stay valid.

use std::fmt;

use flow_graph::FlowId;
use hashbrown::HashTable;

use super::compact::Compact;
use crate::{FlowResult, RunId};

/// The most results one run can hold: positions are `u32`.
pub(super) const MAX_RESULTS: usize = u32::MAX as usize;

/// The results of one run, one per flow.
#[derive(Default)]
pub(super) struct RunResults {
    /// `records[..indexed]`: one per flow, in the index; after them, results saved since, in
    /// order, possibly of the same flows.
    records: Vec<Compact>,
    /// Positions in `records[..indexed]`, with the hash of the record's flow id.
    index: HashTable<Slot>,
    indexed: usize,
}

/// Results waiting for the index are indexed once there are this many and more than are
/// indexed, which bounds the records of a flow saved over and over.
const MAX_PENDING: usize = 1 << 16;

impl RunResults {
    /// An empty set with room for `capacity` results (the index is made when first needed).
    pub(super) fn with_capacity(capacity: usize) -> Self {
        RunResults {
            records: Vec::with_capacity(capacity),
            index: HashTable::new(),
            indexed: 0,
        }
    }

    /// How many records the run holds: its results, and the earlier results of flows saved
    /// again since the last [`catch_up`](Self::catch_up).
    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    /// Makes room for `additional` more results, so a batch grows the storage at most once.
    pub(super) fn reserve(&mut self, additional: usize) {
        self.records.reserve(additional);
    }

    /// Saves `result`, which replaces the result of the same flow. The caller has checked that
    /// there is room ([`MAX_RESULTS`]).
    pub(super) fn save(&mut self, result: FlowResult) {
        self.records.push(Compact::from_owned(result));
        let pending = self.records.len() - self.indexed;
        if pending >= MAX_PENDING && pending > self.indexed {
            self.catch_up();
        }
    }

    /// Indexes the results saved since the last call: each one replaces the record of its
    /// flow, or joins the indexed records; afterwards every flow has one record.
    pub(super) fn catch_up(&mut self) {
        // The index grows here, where it is filled, not on each save.
        self.index
            .reserve(self.records.len() - self.indexed, Slot::hash);
        let mut kept = self.indexed;
        for k in self.indexed..self.records.len() {
            let hash = hash_id(&self.records[k].flow_id);
            match self.find(hash, &self.records[k].flow_id) {
                // The earlier record goes to `k`, past what is kept, and is dropped below.
                Some(at) => self.records.swap(at, k),
                None => {
                    self.records.swap(kept, k);
                    let slot = Slot {
                        // Below MAX_RESULTS, as the savers checked: the position fits.
                        at: u32::try_from(kept).unwrap_or(u32::MAX),
                        hash,
                    };
                    self.index.insert_unique(slot.hash(), slot, Slot::hash);
                    kept += 1;
                }
            }
        }
        self.records.truncate(kept);
        self.indexed = kept;
    }

    /// The position of the indexed record of `flow`, whose [`hash_id`] is `hash`.
    fn find(&self, hash: u32, flow: &FlowId) -> Option<usize> {
        let slot = self.index.find(Slot::widen(hash), |slot| {
            slot.hash == hash && self.records[slot.at as usize].flow_id == *flow
        })?;
        Some(slot.at as usize)
    }

    /// The result of `flow`, if saved (and indexed: see [`catch_up`](Self::catch_up)).
    pub(super) fn get(&self, run: &RunId, flow: &FlowId) -> Option<FlowResult> {
        let at = self.find(hash_id(flow), flow)?;
        Some(self.records[at].to_result(run))
    }

    /// Every indexed result (see [`catch_up`](Self::catch_up)), ordered by flow id.
    pub(super) fn all(&self, run: &RunId) -> Vec<FlowResult> {
        let mut sorted: Vec<&Compact> = self.records[..self.indexed].iter().collect();
        sorted.sort_unstable_by(|a, b| a.flow_id.cmp(&b.flow_id));
        sorted
            .into_iter()
            .map(|record| record.to_result(run))
            .collect()
    }
}

impl fmt::Debug for RunResults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunResults")
            .field("len", &self.records.len())
            .finish_non_exhaustive()
    }
}

/// One entry of the index: a position in the records and the hash of its flow id.
#[derive(Debug, Clone, Copy)]
struct Slot {
    at: u32,
    hash: u32,
}

impl Slot {
    /// The hash the table places this slot by.
    fn hash(&self) -> u64 {
        Slot::widen(self.hash)
    }

    /// A 32-bit hash as the table's 64-bit one: the table takes its slot from the low bits and
    /// a tag from the top 7, so both come from the hash (and stay apart up to 2^25 slots).
    fn widen(hash: u32) -> u64 {
        u64::from(hash) << 32 | u64::from(hash)
    }
}

/// The 32-bit hash of a flow id that the index keeps (rustc-hash's, folded to 32 bits). Flow
/// ids come from the user's own workflow, so resistance to crafted collisions buys nothing.
fn hash_id(flow: &FlowId) -> u32 {
    use std::hash::BuildHasher;
    let hash = rustc_hash::FxBuildHasher.hash_one(flow.as_str());
    (hash as u32) ^ ((hash >> 32) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FlowStatus, RunRecord};

    fn result(run: &RunId, flow: &str, attempts: u32) -> FlowResult {
        let mut result =
            FlowResult::new(run.clone(), FlowId::new(flow).unwrap(), FlowStatus::Running);
        result.attempts = attempts;
        result
    }

    #[test]
    fn saving_again_replaces_in_place() {
        let run = RunRecord::start("w").run_id;
        let mut results = RunResults::default();
        results.reserve(2);
        results.save(result(&run, "b", 1));
        results.save(result(&run, "a", 1));
        results.save(result(&run, "b", 2));
        assert_eq!(results.len(), 3);
        results.catch_up();
        assert_eq!(results.len(), 2);
        let flow = FlowId::new("b").unwrap();
        assert_eq!(results.get(&run, &flow), Some(result(&run, "b", 2)));
        assert_eq!(
            results.all(&run),
            [result(&run, "a", 1), result(&run, "b", 2)]
        );
        assert_eq!(results.get(&run, &FlowId::new("c").unwrap()), None);
    }

    #[test]
    fn many_similar_ids_are_all_found() {
        let run = RunRecord::start("w").run_id;
        let mut results = RunResults::default();
        let ids: Vec<String> = (0..5000).map(|i| format!("flow-{i:06}")).collect();
        for (i, id) in ids.iter().enumerate() {
            results.save(result(&run, id, i as u32));
        }
        results.catch_up();
        assert_eq!(results.len(), ids.len());
        for (i, id) in ids.iter().enumerate() {
            let flow = FlowId::new(id).unwrap();
            assert_eq!(results.get(&run, &flow).map(|r| r.attempts), Some(i as u32));
        }
    }

    #[test]
    fn a_flow_saved_over_and_over_keeps_few_records() {
        let run = RunRecord::start("w").run_id;
        let mut results = RunResults::default();
        for attempt in 0..(3 * MAX_PENDING as u32) {
            results.save(result(&run, "busy", attempt));
            assert!(results.len() <= MAX_PENDING);
        }
        results.save(result(&run, "other", 0));
        results.catch_up();
        assert_eq!(results.len(), 2);
        let busy = FlowId::new("busy").unwrap();
        assert_eq!(
            results.get(&run, &busy).map(|r| r.attempts),
            Some(3 * MAX_PENDING as u32 - 1)
        );
    }

    #[test]
    fn the_hash_depends_on_every_byte_and_the_length() {
        let hash = |s: &str| hash_id(&FlowId::new(s).unwrap());
        assert_ne!(hash("flow-000001"), hash("flow-000002"));
        assert_ne!(hash("abcdefgh1"), hash("abcdefgh2"));
        assert_ne!(hash("x"), hash("x_"));
    }
}
