//! What the operating system refuses at run time, checked when the file is read: NUL bytes
//! (a C string ends at one) in programs, arguments, scripts, folders and environment
//! variables, arguments longer than Linux passes to a program, and control characters in
//! the workflow's name (it is printed in tables); and the size of a workflow file.

use crate::terminal;

/// The longest single argument Linux passes to a program (`MAX_ARG_STRLEN`, 32 pages of 4 KiB,
/// its terminating NUL included): a longer `shell` script fails with "Argument list too long".
pub const MAX_ARGUMENT_BYTES: usize = 32 * 4096 - 1;

/// The problem with `text` as the value `what` passed to a program (argument, script, folder,
/// environment variable), if any.
pub fn argument_problem(what: &str, text: &str) -> Option<String> {
    if let Some(problem) = nul_problem(what, text) {
        return Some(problem);
    }
    (text.len() > MAX_ARGUMENT_BYTES).then(|| {
        format!(
            "`{what}` is {} bytes, longer than the {MAX_ARGUMENT_BYTES} bytes Linux passes as one \
             argument: put it in a file and run that (`command = [\"sh\", \"script.sh\"]`)",
            text.len()
        )
    })
}

/// The problem with `text`, the value `what`, if it holds a NUL byte.
pub fn nul_problem(what: &str, text: &str) -> Option<String> {
    let at = text.find('\0')?;
    Some(format!(
        "`{what}` contains a NUL byte (at byte {at}), which no program can receive: remove it"
    ))
}

/// The largest workflow (or included) file read: far more than a million flows take, and a
/// bound on the memory that naming `/dev/zero` or a data file by mistake can take.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// The text of the workflow (or included) file at `path`, read to at most
/// [`MAX_FILE_BYTES`].
///
/// # Errors
/// The file's own errors; `InvalidData` when it is longer, or not UTF-8.
pub fn read_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "it is longer than {} MiB, more than any workflow file needs: is it the right file?",
                MAX_FILE_BYTES / 1024 / 1024
            ),
        ));
    }
    String::from_utf8(bytes).map_err(|error| {
        let good = &error.as_bytes()[..error.utf8_error().valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("it is not UTF-8 text (the first byte that is not is at line {line}, column {column})"),
        )
    })
}

/// The problem with `name` as the workflow's name, if any.
pub fn name_problem(name: &str) -> Option<String> {
    name.chars().any(char::is_control).then(|| {
        format!(
            "`workflow.name` must not contain control characters (line breaks, escapes), found \
             \"{}\"",
            terminal::safe(name)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_bytes_and_overlong_arguments_are_problems() {
        assert_eq!(argument_problem("x", "echo ok"), None);
        let nul = argument_problem("flows.a.shell", "echo a\0b").unwrap();
        assert!(nul.contains("NUL byte (at byte 6)"), "{nul}");
        assert_eq!(argument_problem("x", &"a".repeat(MAX_ARGUMENT_BYTES)), None);
        let long = argument_problem("flows.a.shell", &"a".repeat(MAX_ARGUMENT_BYTES + 1)).unwrap();
        assert!(long.contains("131072 bytes"), "{long}");
    }

    #[test]
    fn names_with_control_characters_are_problems() {
        assert_eq!(name_problem("nightly build ünï"), None);
        let problem = name_problem("line1\nFAKE completed\u{1b}[31m").unwrap();
        assert!(
            problem.contains(r"line1\nFAKE completed\u{1b}[31m"),
            "{problem}"
        );
    }

    #[test]
    fn an_endless_file_is_refused_after_the_limit() {
        let error = read_file(std::path::Path::new("/dev/zero")).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("longer than 256 MiB"), "{error}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.toml");
        std::fs::write(&file, "[flows.a]\n").unwrap();
        assert_eq!(read_file(&file).unwrap(), "[flows.a]\n");
        std::fs::write(&file, b"[flows.a]\nshell = \"\xc3\xa9 \xff\"\n").unwrap();
        let error = read_file(&file).unwrap_err();
        assert!(error.to_string().contains("line 2, column 12"), "{error}");
    }
}
