//! What an attempt of a flow with declared outputs starts from ([`clear`], the counterpart of
//! [`seal`](super::seal)): none of its outputs. So what it leaves is what it wrote: not a file
//! an earlier run left that it no longer writes, nor lines an appending command added in an
//! earlier attempt or run. An output that holds the flow's base folder is never removed: it
//! is refused when the flow is registered ([`holding_base`]), and again here.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use super::Data;

/// The first output of `data` that is its base folder or holds it ([`holds_base`]).
pub(crate) fn holding_base(data: &Data) -> Option<&str> {
    (data.output_paths().iter())
        .find(|output| holds_base(data.base(), output))
        .map(String::as_str)
}

/// Whether `output`, relative to `base`, is that folder or holds it (`.`, `..`, an absolute
/// parent of it), judged on the paths as written, `..` taken lexically.
pub(crate) fn holds_base(base: &Path, output: &str) -> bool {
    // The usual output, such as `out/x.csv`, lies in the base folder: nothing to resolve.
    let inside = Path::new(output).components();
    if !output.is_empty()
        && inside
            .into_iter()
            .all(|c| matches!(c, Component::Normal(_)))
    {
        return false;
    }
    lexical(base).starts_with(lexical(&base.join(output)))
}

/// `path` made absolute (from the current folder) with `.` and `..` resolved lexically.
fn lexical(path: &Path) -> PathBuf {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Before an attempt of a flow that declares `data` starts: removes each declared output in
/// the flow's folder, a file, a symbolic link (not what it points to) or a folder with
/// everything in it; a missing one is fine. Only what the output names as written is removed:
/// an output outside the folder (`../pack.txt`, `/scratch/x`) or reached through a symbolic
/// link (`results/x` where `results` leads elsewhere) is left as it is, and only checked once
/// the attempt completed. Blocks. The error, the failure of the attempt (nothing of that
/// output removed), names the output and the reason: the operating system's, a device, FIFO
/// or socket, a folder holding a mount point, an output that holds the flow's folder.
pub(crate) fn clear(data: &Data) -> Result<(), String> {
    let real_base = data.base().canonicalize().ok();
    for output in data.output_paths() {
        // `out/` as `out`: a trailing `/` would make a link to a folder that folder.
        let path = data
            .base()
            .join(Path::new(output).components().collect::<PathBuf>());
        let failed = |at: &Path, error: &dyn std::fmt::Display| {
            let inner = at.strip_prefix(data.base()).unwrap_or(at);
            let within = if at == path {
                String::new()
            } else {
                format!(" (at `{}`)", inner.display())
            };
            format!(
                "cannot remove declared output `{output}`{within} before the attempt (each \
                 attempt starts without its outputs): {error}"
            )
        };
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            // Missing, also under a file (`a.txt/x`): nothing to remove.
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                continue
            }
            Err(error) => return Err(failed(&path, &error)),
        };
        if holds(data.base(), real_base.as_deref(), &path) {
            return Err(format!(
                "declared output `{output}` holds the flow's folder {}: it is not removed, \
                 and the flow does not run; declare the files or folders it writes instead",
                data.base().display()
            ));
        }
        if !in_folder_as_written(data.base(), real_base.as_deref(), &path) {
            continue;
        }
        let kind = meta.file_type();
        let removed = if kind.is_dir() {
            if let Some(mount) = mount_point_in(&path, meta.dev()) {
                let why = "it holds a mount point, which is not removed (nothing was)";
                return Err(failed(&mount, &why));
            }
            remove_tree(&path)
        } else if kind.is_file() || kind.is_symlink() {
            std::fs::remove_file(&path).map_err(|error| (path.clone(), error))
        } else {
            let why = "it is a device, FIFO or socket, which flow does not remove";
            return Err(failed(&path, &why));
        };
        match removed {
            Ok(()) => {}
            Err((_, error)) if error.kind() == io::ErrorKind::NotFound => {}
            Err((at, error)) => return Err(failed(&at, &error)),
        }
    }
    Ok(())
}

/// After [`clear`], before the attempt starts: makes the folder each declared output goes in
/// (`work/trimmed` for `work/trimmed/a.fq`, `out` for the folder output `out/plots/`), with
/// its parents, as Snakemake does, so a command need not `mkdir -p` first. The output itself
/// is not made, nor a folder that is or lies in another of its outputs (`out/plots/` with
/// `out/plots/summary.txt`: the command makes it). Blocks. The error, the failure of the attempt, names the folder, its output
/// and the operating system's reason (a file in the way, permission denied).
pub(crate) fn make_folders(data: &Data) -> Result<(), String> {
    let mut made: Vec<&Path> = Vec::new();
    for output in data.output_paths() {
        // `out/plots/` as `out/plots`: its folder is `out`.
        let Some(folder) = Path::new(output).parent() else {
            continue;
        };
        let in_output = || (data.output_paths().iter()).any(|o| folder.starts_with(o));
        if folder.as_os_str().is_empty() || made.contains(&folder) || in_output() {
            continue;
        }
        if let Err(error) = std::fs::create_dir_all(data.base().join(folder)) {
            return Err(format!(
                "cannot make the folder `{}` of declared output `{output}` before the attempt: \
                 {error}",
                folder.display()
            ));
        }
        made.push(folder);
    }
    Ok(())
}

/// Whether `path` (the base folder joined with an output) lies in the base folder as written:
/// with no `..` and, between the folder and its last part, no symbolic link (the folder is
/// `real_base` once its own links are followed).
fn in_folder_as_written(base: &Path, real_base: Option<&Path>, path: &Path) -> bool {
    let Ok(inner) = path.strip_prefix(base) else {
        return false;
    };
    if !inner
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return false;
    }
    let (Some(real_base), Some(parent)) = (real_base, inner.parent()) else {
        return false;
    };
    base.join(parent)
        .canonicalize()
        .is_ok_and(|real| real == real_base.join(parent))
}

/// A mount point in the tree of the folder `root` (on device `device`), whose contents a
/// removal must not reach: one that `/proc/self/mountinfo` lists (a bind mount of the same
/// file system too), or, where that cannot be read, a folder on another device.
fn mount_point_in(root: &Path, device: u64) -> Option<PathBuf> {
    let real = root.canonicalize().ok()?;
    match std::fs::read_to_string("/proc/self/mountinfo") {
        Ok(table) => (table.lines())
            .filter_map(|line| line.split(' ').nth(4).map(unescape))
            .map(PathBuf::from)
            .find(|point| point.starts_with(&real))
            .map(|point| root.join(point.strip_prefix(&real).unwrap_or(&point))),
        Err(_) => walkdir::WalkDir::new(root)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_dir())
            .find(|entry| entry.metadata().is_ok_and(|m| m.dev() != device))
            .map(|entry| entry.path().to_owned()),
    }
}

/// A path of `/proc/self/mountinfo`, whose space, tab, newline and backslash are written as
/// octal escapes (`\040`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .and_then(|d| std::str::from_utf8(d).ok());
        match (bytes[i], octal.and_then(|d| u8::from_str_radix(d, 8).ok())) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `path`, which exists, is `base` or holds it once symbolic links are followed
/// (`up/wf` where `up` leads to the parent of `wf`): all but its last part, which is removed
/// as it is.
fn holds(base: &Path, real_base: Option<&Path>, path: &Path) -> bool {
    let real = match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => parent.canonicalize().map(|p| p.join(name)),
        _ => path.canonicalize(),
    };
    let base = real_base.map_or_else(|| lexical(base), Path::to_path_buf);
    real.is_ok_and(|real| base.starts_with(real))
}

/// Removes the folder `root` and everything in it, links as links; the path that could not
/// be removed, with why.
fn remove_tree(root: &Path) -> Result<(), (PathBuf, io::Error)> {
    for entry in walkdir::WalkDir::new(root).contents_first(true) {
        let entry = entry.map_err(|error| {
            let at = error.path().unwrap_or(root).to_owned();
            (at, io::Error::from(error))
        })?;
        let removed = if entry.file_type().is_dir() {
            std::fs::remove_dir(entry.path())
        } else {
            std::fs::remove_file(entry.path())
        };
        match removed {
            Err(error) if error.kind() != io::ErrorKind::NotFound => {
                return Err((entry.path().to_owned(), error));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(base: &Path, outputs: &[&str]) -> Data {
        Data::new(base).outputs(outputs.iter().copied())
    }

    #[test]
    fn an_output_holding_the_base_folder_is_found_as_written() {
        let base = Path::new("/work/p/wf");
        for output in [
            ".",
            "./",
            "",
            "..",
            "../..",
            "sub/..",
            "/",
            "/work",
            "/work/p/wf/",
        ] {
            assert_eq!(
                holding_base(&data(base, &["out.txt", output])),
                Some(output),
                "{output:?}"
            );
        }
        for output in [
            "out/",
            "../pack.txt",
            "/work/p/wfx",
            "/elsewhere",
            "sub/../x",
        ] {
            assert_eq!(holding_base(&data(base, &[output])), None, "{output:?}");
        }
    }

    #[test]
    fn files_links_and_folders_are_removed_and_what_a_link_leads_to_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        std::fs::create_dir_all(base.join("plots/deep")).unwrap();
        std::fs::write(base.join("plots/deep/a.png"), "a").unwrap();
        std::fs::write(base.join("out.txt"), "old").unwrap();
        std::fs::create_dir(base.join("kept")).unwrap();
        std::fs::write(base.join("kept/k.txt"), "k").unwrap();
        std::os::unix::fs::symlink(base.join("kept"), base.join("link")).unwrap();
        std::os::unix::fs::symlink(base.join("kept"), base.join("plots/inner")).unwrap();
        let outputs = ["out.txt", "plots/", "link/", "missing.txt", "kept/k.txt/x"];
        clear(&data(base, &outputs)).unwrap();
        for gone in ["out.txt", "plots", "link"] {
            assert!(
                std::fs::symlink_metadata(base.join(gone)).is_err(),
                "{gone}"
            );
        }
        assert_eq!(
            std::fs::read_to_string(base.join("kept/k.txt")).unwrap(),
            "k"
        );
    }

    #[test]
    fn an_output_that_leads_to_the_base_folder_through_a_link_is_not_removed() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("wf");
        std::fs::create_dir(&base).unwrap();
        std::os::unix::fs::symlink(dir.path(), base.join("up")).unwrap();
        std::fs::write(base.join("in.txt"), "in").unwrap();
        let error = clear(&data(&base, &["up/wf"])).unwrap_err();
        assert!(
            error.contains("declared output `up/wf` holds the flow's folder"),
            "{error}"
        );
        assert!(base.join("in.txt").exists());
    }

    #[test]
    fn only_what_lies_in_the_folder_as_written_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("wf");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(base.join("data")).unwrap();
        std::fs::create_dir_all(outside.join("deep")).unwrap();
        for (path, text) in [
            (outside.join("victim.txt"), "precious"),
            (outside.join("deep/x.txt"), "x"),
            (outside.join("pack.txt"), "pack"),
            (base.join("data/raw.csv"), "raw"),
        ] {
            std::fs::write(path, text).unwrap();
        }
        // `scratch` leads outside, `d` to the flow's own `data/`.
        std::os::unix::fs::symlink(outside.join("deep"), base.join("scratch")).unwrap();
        std::os::unix::fs::symlink(base.join("data"), base.join("d")).unwrap();
        let outputs = [
            "scratch/../victim.txt",
            "scratch/x.txt",
            "d/raw.csv",
            "../outside/pack.txt",
        ];
        clear(&data(&base, &outputs)).unwrap();
        for kept in [
            outside.join("victim.txt"),
            outside.join("deep/x.txt"),
            outside.join("pack.txt"),
            base.join("data/raw.csv"),
        ] {
            assert!(kept.exists(), "{}", kept.display());
        }
    }

    #[test]
    fn the_folders_outputs_go_in_are_made_but_no_output() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        let outputs = [
            "work/trimmed/a.fq",
            "out/plots/",
            "out/plots/summary.txt",
            "x.txt",
        ];
        make_folders(&data(base, &outputs)).unwrap();
        assert!(base.join("work/trimmed").is_dir());
        assert!(base.join("out").is_dir());
        // The folder output, also as the folder of another output, is the command's to make.
        assert!(!base.join("out/plots").exists());
        assert!(!base.join("x.txt").exists());
    }

    #[test]
    fn a_fifo_is_not_removed_and_fails_the_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        let status = std::process::Command::new("mkfifo")
            .arg(base.join("pipe"))
            .status()
            .unwrap();
        assert!(status.success());
        let error = clear(&data(base, &["pipe"])).unwrap_err();
        assert!(
            error.contains("it is a device, FIFO or socket, which flow does not remove"),
            "{error}"
        );
        assert!(std::fs::symlink_metadata(base.join("pipe")).is_ok());
    }

    #[test]
    fn mountinfo_paths_are_unescaped() {
        for (field, path) in [
            ("/data/out", "/data/out"),
            ("/data/my\\040out", "/data/my out"),
            ("/a\\011b\\012c\\134d", "/a\tb\nc\\d"),
            ("/trailing\\", "/trailing\\"),
        ] {
            assert_eq!(unescape(field), path, "{field}");
        }
    }
}
