//! The second half of a run's lock: a name in Linux's abstract socket namespace, made from the
//! lock file's whole path, bound for as long as the run holds the lock. The lock file can be
//! deleted under a run (`rm -rf .flow`, `git clean -fdx`), and then the next run would make a
//! new one and lock it; the name, held by the kernel and not by a file, is still bound, so that
//! run is refused all the same. The kernel frees it when its process dies, SIGKILL included.
//!
//! # Caveats
//! Abstract names belong to a network namespace: two runs in containers with their own network
//! namespaces that share the folder are kept apart by the lock file alone.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::path::Path;

/// What binding the name of a lock file gave.
#[derive(Debug)]
pub enum Claim {
    /// Bound: it stays so while this is kept.
    Held(UnixListener),
    /// Another process holds it: a run whose lock file was deleted.
    InUse,
    /// The name cannot be made or bound here (the lock file then does the work alone).
    Unavailable,
}

/// Binds the name of the lock file at `path` (whose folder exists).
pub fn claim(path: &Path) -> Claim {
    let Some(name) = name(path) else {
        return Claim::Unavailable;
    };
    let Ok(addr) = SocketAddr::from_abstract_name(&name) else {
        return Claim::Unavailable;
    };
    match UnixListener::bind_addr(&addr) {
        Ok(listener) => Claim::Held(listener),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Claim::InUse,
        Err(error) => {
            tracing::debug!(%error, "cannot bind the name of the lock file");
            Claim::Unavailable
        }
    }
}

/// Whether a process holds the name of the lock file at `path`, as `/proc/net/unix` (the
/// sockets of this network namespace, an abstract name written `@NAME`) lists it: read only,
/// nothing is bound. `None` when the name cannot be made or the list read.
pub fn bound(path: &Path) -> Option<bool> {
    let mut line = b"@".to_vec();
    line.extend(name(path)?);
    line.push(b'\n');
    let sockets = std::fs::read("/proc/net/unix").ok()?;
    Some(sockets.windows(line.len()).any(|window| window == line))
}

/// `flow-lock:HASH:TAIL`: a hash of the lock file's path, with its folder made canonical (a
/// folder deleted and made again has the same path), and the path's last 64 bytes, within the
/// 107 bytes a name may have.
fn name(path: &Path) -> Option<Vec<u8>> {
    use std::hash::{Hash, Hasher};
    use std::os::unix::ffi::OsStrExt;
    let folder = std::fs::canonicalize(path.parent()?).ok()?;
    let full = folder.join(path.file_name()?);
    let bytes = full.as_os_str().as_bytes();
    let mut hasher = rustc_hash::FxHasher::default();
    bytes.hash(&mut hasher);
    let mut name = format!("flow-lock:{:016x}:", hasher.finish()).into_bytes();
    name.extend_from_slice(&bytes[bytes.len().saturating_sub(64)..]);
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_held_once_across_the_file_being_deleted_and_freed_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".flow");
        std::fs::create_dir(&state).unwrap();
        let path = state.join(".flow.db.w.lock");
        assert_eq!(bound(&path), Some(false));
        let held = claim(&path);
        assert!(matches!(held, Claim::Held(_)), "{held:?}");
        assert_eq!(bound(&path), Some(true));
        std::fs::remove_dir_all(&state).unwrap();
        std::fs::create_dir(&state).unwrap();
        assert!(matches!(claim(&path), Claim::InUse));
        assert!(matches!(
            claim(&state.join(".flow.db.other.lock")),
            Claim::Held(_)
        ));
        drop(held);
        // Another test thread that forks meanwhile gives its child a copy of the socket until
        // the child's `exec`: the name is free once that copy is gone too, which nothing here
        // can await.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while bound(&path) == Some(true) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(bound(&path), Some(false));
        assert!(matches!(claim(&path), Claim::Held(_)));
    }
}
