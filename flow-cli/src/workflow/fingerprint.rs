//! The fingerprint of a flow definition: a stable 64-bit FNV-1a digest, in hex, of every field
//! of the flow, so `--resume` can tell a flow whose definition changed from one that did not.
//! (std's `DefaultHasher` is not promised to be stable across Rust releases; this is.)

use super::{Action, FlowDef};

/// FNV-1a, fed with length-prefixed fields so that no two definitions share an encoding.
struct Fnv(u64);

impl Fnv {
    fn bytes(&mut self, bytes: &[u8]) {
        for &b in (bytes.len() as u64).to_le_bytes().iter().chain(bytes) {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
}

/// The fingerprint of `flow`, as 16 hex digits.
pub(super) fn of_flow(flow: &FlowDef) -> String {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    match &flow.action {
        Action::Command(argv) => {
            h.str("command");
            h.bytes(&(argv.len() as u64).to_le_bytes());
            argv.iter().for_each(|a| h.str(a));
        }
        Action::Shell(script) => {
            h.str("shell");
            h.str(script);
        }
    }
    for (list, ids) in [("requires", &flow.requires), ("wants", &flow.wants)] {
        h.str(list);
        h.bytes(&(ids.len() as u64).to_le_bytes());
        ids.iter().for_each(|id| h.str(id.as_str()));
    }
    h.str("timeout");
    h.bytes(
        &flow
            .timeout
            .map_or(u128::MAX, |t| t.as_nanos())
            .to_le_bytes(),
    );
    h.str("retries");
    h.bytes(&flow.retries.to_le_bytes());
    h.str("retry_delay");
    h.bytes(&flow.retry_delay.as_nanos().to_le_bytes());
    h.str("cwd");
    h.bytes(flow.cwd.as_os_str().as_encoded_bytes());
    h.str("env");
    h.bytes(&(flow.env.len() as u64).to_le_bytes());
    for (k, v) in &flow.env {
        h.str(k);
        h.str(v);
    }
    format!("{:016x}", h.0)
}

#[cfg(test)]
mod tests {
    use crate::workflow::test_support::load_str;

    fn fingerprint(text: &str) -> String {
        load_str(text).unwrap().flows[0].fingerprint()
    }

    #[test]
    fn same_definition_same_fingerprint_and_any_change_changes_it() {
        let base = fingerprint("[flows.a]\ncommand = [\"echo\", \"x\"]\n");
        assert_eq!(
            base,
            fingerprint("[flows.a]\ncommand = [ \"echo\",\"x\" ] # same\n")
        );
        assert_eq!(base.len(), 16);
        for changed in [
            "[flows.a]\ncommand = [\"echo\", \"y\"]\n",
            "[flows.a]\ncommand = [\"echo x\"]\n",
            "[flows.a]\nshell = \"echo x\"\n",
            "[flows.a]\ncommand = [\"echo\", \"x\"]\ntimeout = \"1s\"\n",
            "[flows.a]\ncommand = [\"echo\", \"x\"]\nenv = { A = \"1\" }\n",
            "[defaults]\nenv = { A = \"1\" }\n[flows.a]\ncommand = [\"echo\", \"x\"]\n",
            "[flows.a]\ncommand = [\"echo\", \"x\"]\ncwd = \"sub\"\n",
        ] {
            assert_ne!(base, fingerprint(changed), "{changed}");
        }
    }
}
