//! Tests of ids.rs: every flow id made twice is reported, once per pair of places in the file,
//! and the flows a definition still makes are checked and found as usual.

use crate::workflow::test_support::load_str;

/// Each file and all its diagnostics: a matrix whose values join into one id twice, a matrix
/// making the ids of two definitions, a matrix making more ids of one definition than a
/// message names, and a definition whose id a matrix made before it.
#[test]
fn every_id_made_twice_is_reported_once_per_pair_of_places() {
    for (text, expected) in [
        (
            "[flows.n]\nmatrix = { a = [\"x.y\", \"x\", \"p.q\", \"p\"], b = [\"z\", \"y.z\", \"r\", \"q.r\"] }\n\
             shell = \"true\"\n",
            "w.toml:2:10: the matrix of flow `n` makes 2 flow ids twice: `n.x.y.z` (from \
             `a = x.y, b = z` and from `a = x, b = y.z`), `n.p.q.r` (from `a = p.q, b = r` and \
             from `a = p, b = q.r`): values holding a `.` join into one id, change one",
        ),
        (
            "[flows.\"a.1\"]\nshell = \"true\"\n[flows.\"a.2\"]\nshell = \"true\"\n\
             [flows.a]\nmatrix = { v = [1, 2, 3] }\nshell = \"true\"\n",
            "w.toml:6:10: flow id `a.1` is made twice: by flow `a` here and by flow `a.1` at \
             w.toml:1:8\n\
             w.toml:6:10: flow id `a.2` is made twice: by flow `a` here and by flow `a.2` at \
             w.toml:3:8",
        ),
        (
            "[flows.b]\nmatrix = { v = [\"1.x\", \"1.y\", \"1.z\", \"1.w\", \"2.x\"] }\nshell = \"true\"\n\
             [flows.\"b.1\"]\nmatrix = { w = [\"x\", \"y\", \"z\", \"w\", \"v\"] }\nshell = \"true\"\n",
            "w.toml:5:10: flow ids `b.1.x`, `b.1.y`, `b.1.z` and 1 more are made twice: by flow \
             `b.1` here and by flow `b` at w.toml:1:8",
        ),
        (
            "[flows.a]\nmatrix = { v = [1, 2] }\nshell = \"true\"\n[flows.\"a.2\"]\nshell = \"true\"\n",
            "w.toml:4:8: flow id `a.2` is made twice: by flow `a.2` here and by flow `a` at \
             w.toml:1:8",
        ),
    ] {
        assert_eq!(load_str(text).unwrap_err(), expected, "{text}");
    }
}

/// The combinations after an id made twice still make their flows: a reference finds them,
/// and the references of the definition are checked for each flow with its own values.
#[test]
fn the_flows_around_an_id_made_twice_are_made_and_checked() {
    let text = "[flows.other]\nmatrix = { b = [\"z\", \"y.z\"] }\nshell = \"true\"\n\
                [flows.n]\nmatrix = { a = [\"x.y\", \"x\"], b = [\"z\", \"y.z\", \"w\"] }\n\
                shell = \"true\"\nrequires = [\"other.{b}\"]\n\
                [flows.last]\nshell = \"true\"\nrequires = [\"n.x.w\", \"n.nope\"]\n";
    assert_eq!(
        load_str(text).unwrap_err(),
        "w.toml:5:10: the matrix of flow `n` makes flow id `n.x.y.z` twice, from \
         `a = x.y, b = z` and from `a = x, b = y.z`: values holding a `.` join into one id, \
         change one\n\
         w.toml:7:13: flow `n` requires unknown flow `other.w` (for its flow `n.x.y.w` and 1 \
         more)\n\
         w.toml:10:22: flow `last` requires unknown flow `n.nope`"
    );
}
