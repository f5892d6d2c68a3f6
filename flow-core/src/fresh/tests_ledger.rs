//! Tests of ledger.rs: what was read ahead, and a damaged file.

use super::*;

fn entry(run: &str) -> Entry {
    Entry {
        run_id: RunId::new_now(),
        exit_code: Some(0),
        attempts: 1,
        started_at: None,
        finished_at: None,
        output: Value::Null,
        definition: run.into(),
        inputs: String::new(),
        outputs: String::new(),
        parents: Vec::new(),
        input_stats: String::new(),
        output_stats: String::new(),
    }
}

#[test]
fn what_was_read_ahead_is_used_until_the_file_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.db");
    assert!(Ledger::read_ahead(&path).unwrap().is_none(), "no file yet");
    let writer = Ledger::open(&path).unwrap();
    writer
        .record("a", &entry("first"), &EntryFiles::default())
        .unwrap();

    let mut ahead = Ledger::read_ahead(&path).unwrap().unwrap();
    assert_eq!(ahead.entries["a"].definition, "first");
    // Marked, to tell it from a new read.
    Arc::make_mut(ahead.entries.get_mut("a").unwrap()).definition = "as read ahead".into();
    let ledger = Ledger::open(&path).unwrap().with_snapshot(ahead);
    let (entries, _) = ledger.load().unwrap();
    assert_eq!(
        entries["a"].definition, "as read ahead",
        "opening writes nothing"
    );

    let ahead = Ledger::read_ahead(&path).unwrap().unwrap();
    writer
        .record("a", &entry("second"), &EntryFiles::default())
        .unwrap();
    let (entries, _) = ledger.with_snapshot(ahead).load().unwrap();
    assert_eq!(
        entries["a"].definition, "second",
        "written since: read again"
    );
}

#[test]
fn a_damaged_file_is_moved_aside_by_a_writer_and_left_alone_by_a_reader() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.db");
    std::fs::write(&path, vec![7u8; 5000]).unwrap();

    let reader = Ledger::open_read_only(&path).unwrap();
    let damaged = reader.damaged().unwrap();
    assert!(damaged.problem.contains("not a database"), "{damaged:?}");
    assert_eq!(damaged.moved_to, None);
    assert!(reader.load().unwrap().0.is_empty());
    assert_eq!(std::fs::read(&path).unwrap(), vec![7u8; 5000], "untouched");

    let ledger = Ledger::open(&path).unwrap();
    let moved_to = ledger.damaged().unwrap().moved_to.unwrap();
    assert_eq!(std::fs::read(&moved_to).unwrap(), vec![7u8; 5000]);
    ledger
        .record("a", &entry("new"), &EntryFiles::default())
        .unwrap();
    let again = Ledger::open(&path).unwrap();
    assert_eq!(again.damaged(), None);
    assert_eq!(again.load().unwrap().0["a"].definition, "new");
}
