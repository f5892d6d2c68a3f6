//! Content digests of a flow's declared files: each path, folder or glob expanded to the
//! files it names, each file's BLAKE3 digest taken from the stat cache when its size, mtime,
//! inode and ctime did not change, else read (mapped and hashed on several threads when
//! large, many files hashed in parallel).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::Data;

/// A BLAKE3 digest.
pub type Digest = blake3::Hash;

/// A file's identity on disk: when all four are the same, its content is taken as unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub size: u64,
    pub mtime_ns: i64,
    pub ino: u64,
    pub ctime_ns: i64,
}

impl Stat {
    fn of(meta: &std::fs::Metadata) -> Self {
        Stat {
            size: meta.len(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ino: meta.ino(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
        }
    }
}

/// Files larger than this are mapped and hashed on several threads.
const LARGE: u64 = 1 << 20;

/// The stat cache as stored: each path's bytes with its stat and digest.
pub type Stats = FxHashMap<Box<[u8]>, (Stat, Digest)>;

/// The stat cache: path (its bytes) → (stat, digest) as loaded, read without a lock by many
/// threads, and the entries made since, which are consulted after it.
#[derive(Debug, Default)]
pub struct StatCache {
    loaded: Stats,
    made: Mutex<FxHashMap<PathBuf, (Stat, Digest)>>,
    changed: Mutex<Vec<(PathBuf, Stat, Digest)>>,
}

impl StatCache {
    /// A cache holding `entries`.
    pub fn new(entries: Stats) -> Self {
        StatCache {
            loaded: entries,
            made: Mutex::default(),
            changed: Mutex::default(),
        }
    }

    /// The entries added or changed since the last call.
    pub fn take_changed(&self) -> Vec<(PathBuf, Stat, Digest)> {
        std::mem::take(&mut *lock(&self.changed))
    }

    /// The digest of the file at `path` whose stat is `stat`: cached, or read.
    fn file(&self, path: &Path, stat: Stat) -> std::io::Result<Digest> {
        use std::os::unix::ffi::OsStrExt;
        if let Some((known, digest)) = self.loaded.get(path.as_os_str().as_bytes()) {
            if *known == stat {
                return Ok(*digest);
            }
        }
        if let Some((known, digest)) = lock(&self.made).get(path) {
            if *known == stat {
                return Ok(*digest);
            }
        }
        let digest = hash_file(path, stat.size)?;
        lock(&self.made).insert(path.to_owned(), (stat, digest));
        lock(&self.changed).push((path.to_owned(), stat, digest));
        Ok(digest)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Reads and hashes one file.
pub fn hash_file(path: &Path, size: u64) -> std::io::Result<Digest> {
    let mut hasher = blake3::Hasher::new();
    if size >= LARGE {
        hasher.update_mmap_rayon(path)?;
    } else {
        hasher.update_reader(std::fs::File::open(path)?)?;
    }
    Ok(hasher.finalize())
}

/// What a declared path named on disk: each file (relative to the base, as written) with its
/// digest, the declared paths that named nothing, and the digest of what their stats were
/// when they were read ([`stats`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    pub digests: BTreeMap<String, Digest>,
    pub missing: Vec<String>,
    pub stats: Digest,
}

impl Files {
    /// One digest of every file's path and digest, in path order.
    pub fn digest(&self) -> Digest {
        let mut text = Vec::new();
        for (path, digest) in &self.digests {
            text.extend_from_slice(&(path.len() as u64).to_le_bytes());
            text.extend_from_slice(path.as_bytes());
            text.extend_from_slice(digest.as_bytes());
        }
        for path in &self.missing {
            missing_into(&mut text, path);
        }
        blake3::hash(&text)
    }
}

/// Expands `declared` (files, folders, globs relative to `base`) and digests every file.
/// A path that names nothing is listed as missing; a file that cannot be read is an error.
pub fn files(base: &Path, declared: &[String], cache: &StatCache) -> std::io::Result<Files> {
    let mut found: Vec<(String, PathBuf, Stat)> = Vec::with_capacity(declared.len());
    let mut missing = Vec::new();
    let mut stats = Vec::new();
    each_file(base, declared, &mut |named| {
        named.stat_into(&mut stats);
        match named {
            Named::File { name, full, stat } => {
                found.push((name.to_owned(), full.to_owned(), stat))
            }
            Named::Missing(path) => missing.push(path.to_owned()),
        }
    })?;
    // Many files at once are read in parallel (a run reads many flows' files in parallel too).
    let digests: std::io::Result<Vec<(String, Digest)>> = if found.len() > 64 {
        found
            .into_par_iter()
            .map(|(name, full, stat)| Ok((name, cache.file(&full, stat)?)))
            .collect()
    } else {
        found
            .into_iter()
            .map(|(name, full, stat)| Ok((name, cache.file(&full, stat)?)))
            .collect()
    };
    Ok(Files {
        digests: digests?.into_iter().collect(),
        missing,
        stats: blake3::hash(&stats),
    })
}

/// The digest of the stats (size, mtime, inode, ctime) of the files `declared` names, and of
/// the paths that name nothing, as [`Files::stats`] has it: when it is what it was, so is
/// every file (the rule of the stat cache), and none is looked up or read.
pub fn stats(base: &Path, declared: &[String]) -> std::io::Result<Digest> {
    let mut stats = Vec::new();
    each_file(base, declared, &mut |named| named.stat_into(&mut stats))?;
    Ok(blake3::hash(&stats))
}

/// What a declared path names: a file (with its name, full path and stat), or nothing.
enum Named<'a> {
    File {
        name: &'a str,
        full: &'a Path,
        stat: Stat,
    },
    Missing(&'a str),
}

impl Named<'_> {
    /// Adds this to what a digest of stats is taken of ([`Files::stats`]).
    fn stat_into(&self, out: &mut Vec<u8>) {
        match self {
            Named::File { name, stat, .. } => {
                out.extend_from_slice(&(name.len() as u64).to_le_bytes());
                out.extend_from_slice(name.as_bytes());
                for n in [
                    stat.size,
                    stat.mtime_ns as u64,
                    stat.ino,
                    stat.ctime_ns as u64,
                ] {
                    out.extend_from_slice(&n.to_le_bytes());
                }
            }
            Named::Missing(path) => missing_into(out, path),
        }
    }
}

fn missing_into(out: &mut Vec<u8>, path: &str) {
    out.extend_from_slice(b"\0missing\0");
    out.extend_from_slice(path.as_bytes());
}

/// Expands `declared` (files, folders, globs relative to `base`; a glob that matches nothing
/// is taken as written): hands `found` each file with its name (as written; found by a glob
/// or in a folder: its path from the base), its full path and its stat, in the order declared
/// (a glob's and a folder's files in name order), and each declared path that names nothing.
fn each_file(
    base: &Path,
    declared: &[String],
    found: &mut dyn FnMut(Named<'_>),
) -> std::io::Result<()> {
    let mut full = PathBuf::new();
    for path in declared {
        let any = if Data::is_glob(path) {
            let mut any = false;
            let pattern = base.join(path);
            for full in Data::glob_paths(base, path) {
                any |= add(base, &full, None, found)?;
            }
            // A glob that matches nothing is taken as written, as a shell does: a file named
            // `notes*.txt` is that file.
            any || add(base, &pattern, Some(path), found)?
        } else {
            full.as_mut_os_string().clear();
            full.push(base);
            full.push(path);
            add(base, &full, Some(path), found)?
        };
        if !any {
            found(Named::Missing(path));
        }
    }
    Ok(())
}

/// The folder, beside a workflow, where `flow` keeps its stores, ledgers and logs: never part
/// of a flow's files (an input of `.` would otherwise change with every run).
pub const STATE_DIR: &str = ".flow";

/// Hands `found` the file at `full`, or every file under the folder at `full` (following symbolic
/// links, leaving out [`STATE_DIR`] and the links that lead nowhere); returns whether `full`
/// is there (an empty folder is).
/// A file named as written (`written`) keeps that name; files found by a glob or in a folder
/// are named by their path from the base. A FIFO, socket or device is an error: reading it
/// could block forever or never end.
fn add(
    base: &Path,
    full: &Path,
    written: Option<&str>,
    found: &mut dyn FnMut(Named<'_>),
) -> std::io::Result<bool> {
    let meta = match std::fs::metadata(full) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let name = |p: &Path| file_name(p.strip_prefix(base).unwrap_or(p));
    // In the store's folder, named or reached by a glob (`**/*`, `.*`): not a flow's file.
    // (A file named as written is taken as written: the common case costs no path walk.)
    let in_store = || {
        (full.strip_prefix(base).unwrap_or(full).components()).any(|c| c.as_os_str() == STATE_DIR)
    };
    if (written.is_none() || meta.is_dir()) && in_store() {
        return Ok(false);
    }
    if meta.is_dir() {
        let walk = walkdir::WalkDir::new(full)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || e.file_name() != STATE_DIR);
        for entry in walk {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) if leads_nowhere(&e) => continue,
                Err(e) => return Err(std::io::Error::other(e)),
            };
            if entry.file_type().is_file() {
                let meta = entry.metadata().map_err(std::io::Error::other)?;
                found(Named::File {
                    name: &name(entry.path()),
                    full: entry.path(),
                    stat: Stat::of(&meta),
                });
            }
        }
    } else if meta.is_file() {
        let stat = Stat::of(&meta);
        match written {
            Some(name) => found(Named::File { name, full, stat }),
            None => found(Named::File {
                name: &name(full),
                full,
                stat,
            }),
        }
    } else {
        return Err(std::io::Error::other(format!(
            "`{}` is not a regular file or a folder",
            name(full)
        )));
    }
    Ok(true)
}

/// The name a file is known by: its path as text, each byte that is not UTF-8 written `\xNN`
/// and a backslash written `\\`, so that no two paths share a name.
fn file_name(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut name = String::new();
    for chunk in path.as_os_str().as_bytes().utf8_chunks() {
        name.push_str(&chunk.valid().replace('\\', "\\\\"));
        for byte in chunk.invalid() {
            name.push_str(&format!("\\x{byte:02x}"));
        }
    }
    name
}

/// Whether a folder's walk met a symbolic link that leads nowhere: to nothing (a broken
/// link, such as an editor's lock file `.#name`, or one through a file), round in a circle
/// (to itself, to another link back to it) or back to a folder above it. Such a link is no
/// file of the folder, as a broken link named as written is missing.
fn leads_nowhere(error: &walkdir::Error) -> bool {
    if error.loop_ancestor().is_some() {
        return true;
    }
    let Some(path) = error.path() else {
        return false;
    };
    let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    // What the link leads to cannot be found; one that cannot be read is a real problem.
    let nowhere =
        std::fs::metadata(path).is_err_and(|e| e.kind() != std::io::ErrorKind::PermissionDenied);
    link && nowhere
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_hashed_once_until_they_change() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        std::fs::create_dir_all(base.join("d/e")).unwrap();
        std::fs::write(base.join("a.csv"), "a").unwrap();
        std::fs::write(base.join("b.csv"), "b").unwrap();
        std::fs::write(base.join("d/e/x"), "x").unwrap();
        let cache = StatCache::default();
        let declared = ["*.csv".to_owned(), "d/".to_owned(), "nothing".to_owned()];
        let first = files(base, &declared, &cache).unwrap();
        let names: Vec<&str> = first.digests.keys().map(String::as_str).collect();
        assert_eq!(names, ["a.csv", "b.csv", "d/e/x"]);
        assert_eq!(first.missing, ["nothing"]);
        assert_eq!(first.digests["a.csv"], blake3::hash(b"a"));
        assert_eq!(cache.take_changed().len(), 3);
        let again = files(base, &declared, &cache).unwrap();
        assert_eq!(again, first);
        assert!(cache.take_changed().is_empty(), "nothing was read again");
        assert_eq!(stats(base, &declared).unwrap(), first.stats);
        std::fs::write(base.join("a.csv"), "A!").unwrap();
        assert_ne!(stats(base, &declared).unwrap(), first.stats);
        let changed = files(base, &declared, &cache).unwrap();
        assert_ne!(changed.digest(), first.digest());
        assert_eq!(changed.stats, stats(base, &declared).unwrap());
        assert_eq!(cache.take_changed().len(), 1);
        std::fs::write(base.join("nothing"), "").unwrap();
        assert_ne!(
            stats(base, &declared).unwrap(),
            changed.stats,
            "a missing file appeared"
        );
    }

    /// Two names that differ only in bytes that are not UTF-8 are two files.
    #[test]
    fn names_that_are_not_utf8_stay_apart() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        std::fs::create_dir(base.join("in")).unwrap();
        let at = |last: u8| {
            base.join("in")
                .join(std::ffi::OsStr::from_bytes(&[b'c', last]))
        };
        std::fs::write(at(0xe9), "A").unwrap();
        std::fs::write(at(0xe8), "B").unwrap();
        // A name that is text spelling the escape is another file.
        std::fs::write(base.join("in/c\\xe9"), "C").unwrap();
        let declared = ["in/".to_owned()];
        let found = files(base, &declared, &StatCache::default()).unwrap();
        let names: Vec<&str> = found.digests.keys().map(String::as_str).collect();
        assert_eq!(names, ["in/c\\\\xe9", "in/c\\xe8", "in/c\\xe9"]);
        std::fs::remove_file(at(0xe8)).unwrap();
        assert_ne!(
            files(base, &declared, &StatCache::default()).unwrap(),
            found
        );
    }

    /// A glob that matches nothing is taken as written: its file, or missing.
    #[test]
    fn a_glob_that_matches_nothing_is_a_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        std::fs::write(base.join("notes*.txt"), "v1").unwrap();
        let declared = ["notes*.txt".to_owned()];
        let cache = StatCache::default();
        let first = files(base, &declared, &cache).unwrap();
        // The glob matches the file of that name.
        let names: Vec<&str> = first.digests.keys().map(String::as_str).collect();
        assert_eq!(names, ["notes*.txt"]);
        std::fs::remove_file(base.join("notes*.txt")).unwrap();
        let gone = files(base, &declared, &cache).unwrap();
        assert_eq!(gone.missing, ["notes*.txt"]);
        // A glob that matches files is a glob.
        std::fs::write(base.join("notes2.txt"), "2").unwrap();
        let matched = files(base, &declared, &cache).unwrap();
        let names: Vec<&str> = matched.digests.keys().map(String::as_str).collect();
        assert_eq!(names, ["notes2.txt"]);
    }

    /// Brackets are plain characters, in a path, in a glob and in the base folder's name:
    /// `run[1]/` is never `run1/`.
    #[test]
    fn brackets_match_themselves() {
        let dir = tempfile::tempdir().unwrap();
        for folder in ["w[1]/run[1]", "w[1]/run1", "w1/run[1]"] {
            std::fs::create_dir_all(dir.path().join(folder)).unwrap();
            std::fs::write(dir.path().join(folder).join("a.fq"), folder).unwrap();
        }
        let base = dir.path().join("w[1]");
        let cache = StatCache::default();
        for declared in ["run[1]/a.fq", "run[1]/*.fq", "run[1]/?.fq"] {
            let found = files(&base, &[declared.to_owned()], &cache).unwrap();
            assert!(found.missing.is_empty(), "{declared}");
            let (name, digest) = found.digests.iter().next().unwrap();
            assert_eq!(found.digests.len(), 1, "{declared}");
            assert!(name.starts_with("run[1]/"), "{declared}: {name}");
            assert_eq!(*digest, blake3::hash(b"w[1]/run[1]"), "{declared}");
        }
        // Absolute, too.
        let absolute = format!("{}/run[1]/*.fq", base.display());
        let found = files(&base, &[absolute], &cache).unwrap();
        let digests: Vec<_> = found.digests.values().collect();
        assert_eq!(digests, [&blake3::hash(b"w[1]/run[1]")]);
    }

    /// A link in a folder that leads nowhere (broken, or a loop) is no file of it; one that
    /// leads to a file is that file.
    #[test]
    fn a_folder_leaves_out_its_links_that_lead_nowhere() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        std::fs::create_dir_all(base.join("d/sub")).unwrap();
        std::fs::write(base.join("d/a"), "a").unwrap();
        let link = |target: &str, at: &str| std::os::unix::fs::symlink(target, base.join(at));
        link("gone", "d/.#lock").unwrap();
        link("..", "d/sub/up").unwrap();
        link("self", "d/self").unwrap();
        link("y", "d/x").unwrap();
        link("x", "d/y").unwrap();
        link("a/inside", "d/through-a-file").unwrap();
        link("a", "d/b").unwrap();
        let declared = ["d/".to_owned()];
        let found = files(base, &declared, &StatCache::default()).unwrap();
        let names: Vec<&str> = found.digests.keys().map(String::as_str).collect();
        assert_eq!(names, ["d/a", "d/b"]);
        assert_eq!(stats(base, &declared).unwrap(), found.stats);
    }
}
