//! Property tests of the record types: run ids order like their times (and the ids of one
//! process like the order they were made in), tails keep exactly the end of what was written.

use chrono::{DateTime, Utc};
use flow_results::{RunId, Tail, MAX_TAIL_BYTES};
use proptest::prelude::*;

/// Milliseconds from 1970 to 9999-12-31.
const MAX_MS: i64 = 253_402_300_799_999;

fn time() -> impl Strategy<Value = DateTime<Utc>> {
    (0..MAX_MS).prop_map(|ms| DateTime::from_timestamp_millis(ms).unwrap())
}

/// Text in pieces, some long, of 1- to 4-byte characters: (character, repeat count).
fn pieces() -> impl Strategy<Value = Vec<String>> {
    let piece = (
        prop_oneof![Just('a'), Just('é'), Just('€'), Just('𝄞'), any::<char>()],
        prop_oneof![1usize..50, 1usize..(MAX_TAIL_BYTES / 2)],
    )
        .prop_map(|(c, n)| c.to_string().repeat(n));
    proptest::collection::vec(piece, 0..8)
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    /// A new run id parses back to itself, carries its time to the millisecond, and ids of
    /// runs started in different milliseconds sort like their start times.
    #[test]
    fn run_ids_sort_like_their_times(a in time(), b in time()) {
        let (id_a, id_b) = (RunId::new_at(a), RunId::new_at(b));
        prop_assert_eq!(RunId::parse(id_a.as_str()).unwrap(), id_a.clone());
        prop_assert_eq!(id_a.started_at(), a);
        if a != b {
            prop_assert_eq!(id_a.cmp(&id_b), a.cmp(&b));
            prop_assert_eq!(id_a.as_str().cmp(id_b.as_str()), a.cmp(&b));
        }
    }

    /// Pushing text piece by piece keeps exactly what cutting the whole text keeps: the longest
    /// end of it that fits in MAX_TAIL_BYTES and starts on a character.
    #[test]
    fn tails_keep_the_end_of_what_was_pushed(pieces in pieces()) {
        let whole: String = pieces.concat();
        let mut pushed = Tail::default();
        for piece in &pieces {
            pushed.push_str(piece);
        }
        let cut = Tail::new(whole.clone());
        prop_assert_eq!(&pushed, &cut);
        prop_assert!(whole.ends_with(cut.as_str()));
        prop_assert!(cut.as_str().len() <= MAX_TAIL_BYTES);
        // Nothing more would have fitted: one more character makes it too long.
        if cut.as_str().len() < whole.len() {
            let dropped = &whole[..whole.len() - cut.as_str().len()];
            let last = dropped.chars().next_back().unwrap();
            prop_assert!(cut.as_str().len() + last.len_utf8() > MAX_TAIL_BYTES);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 16,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// `RunId::new_now` from several threads at once: each thread's ids strictly increase
    /// (as ids and as text), and no two ids are equal.
    #[test]
    fn new_run_ids_increase_per_thread_and_are_distinct(threads in 1usize..8, each in 1usize..3000) {
        let per_thread: Vec<Vec<RunId>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| scope.spawn(|| (0..each).map(|_| RunId::new_now()).collect::<Vec<_>>()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut all = std::collections::HashSet::new();
        for ids in &per_thread {
            for pair in ids.windows(2) {
                prop_assert!(pair[0] < pair[1], "{} then {}", pair[0], pair[1]);
                prop_assert!(pair[0].as_str() < pair[1].as_str());
            }
            for id in ids {
                prop_assert_eq!(RunId::parse(id.as_str()).unwrap(), id.clone());
                prop_assert!(all.insert(id.clone()), "{} made twice", id);
            }
        }
        prop_assert_eq!(all.len(), threads * each);
    }
}
