//! The printing of `flow logs`: what an attempt appended to its two files, copied to stdout
//! and stderr as it is, or made safe on a terminal, and whether their readers went away.

use std::fs::File;
use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::error::CliError;
use crate::logs::{log_file, LogStream};
use crate::terminal::{self, Utf8Pieces};

/// Copies what was appended to an attempt's two files since the last call: stdout's to
/// stdout, stderr's to stderr. Bytes go out as they are, except to a terminal (without
/// `--raw`): there they are made safe first ([`terminal::safe_output`]), since a command's
/// output could otherwise move the cursor, rewrite the window title or fake lines of
/// `flow`'s own output.
pub(super) struct Printer {
    streams: [Stream; 2],
    pub(super) found_any: bool,
    /// Whether the reader of stdout went away (a closed pipe): nothing more is written.
    pub(super) reader_gone: bool,
}

/// One of the attempt's files and where it goes.
struct Stream {
    path: PathBuf,
    offset: u64,
    /// For a terminal: what is cut in the middle of a character so far.
    text: Option<Utf8Pieces>,
}

impl Printer {
    /// The printer of `flow`'s attempt `attempt`; `raw`: no escapes on a terminal either.
    pub(super) fn new(folder: &Path, flow: &str, attempt: u32, raw: bool) -> Self {
        let stream = |kind, is_terminal: bool| Stream {
            path: log_file(folder, flow, attempt, kind),
            offset: 0,
            text: (is_terminal && !raw).then(Utf8Pieces::default),
        };
        Printer {
            streams: [
                stream(LogStream::Stdout, std::io::stdout().is_terminal()),
                stream(LogStream::Stderr, std::io::stderr().is_terminal()),
            ],
            found_any: false,
            reader_gone: false,
        }
    }

    /// Prints what was appended to the files since the last call, a chunk at a time (a
    /// large log costs no more memory than a chunk).
    pub(super) fn print_new(&mut self) -> Result<(), CliError> {
        let mut chunk = vec![0; 64 * 1024];
        for (k, stream) in self.streams.iter_mut().enumerate() {
            let Ok(mut file) = File::open(&stream.path) else {
                continue;
            };
            self.found_any = true;
            let read_error = |source| CliError::Io {
                action: "read the log file",
                path: stream.path.clone(),
                source,
            };
            file.seek(SeekFrom::Start(stream.offset))
                .map_err(read_error)?;
            loop {
                let read = match file.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(read) => read,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(read_error(e)),
                };
                stream.offset += read as u64;
                let reader = match &mut stream.text {
                    Some(text) => {
                        let shown = text.push(&chunk[..read]);
                        write_to(k, terminal::safe_output(&shown).as_bytes())?
                    }
                    None => write_to(k, &chunk[..read])?,
                };
                if k == 0 && reader == Reader::Gone {
                    self.reader_gone = true;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Prints what is left of a character cut at the end of a file.
    pub(super) fn finish(&mut self) -> Result<(), CliError> {
        for (k, stream) in self.streams.iter_mut().enumerate() {
            if let Some(text) = &mut stream.text {
                let rest = text.finish();
                write_to(k, terminal::safe_output(&rest).as_bytes())?;
            }
        }
        Ok(())
    }
}

/// Whether the reader of a stream is still there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reader {
    There,
    /// It closed its end of the pipe.
    Gone,
}

/// Writes `bytes` to stdout (`stream` 0) or stderr; a reader that went away is not an error,
/// but the answer.
pub(super) fn write_to(stream: usize, bytes: &[u8]) -> Result<Reader, CliError> {
    if bytes.is_empty() {
        return Ok(Reader::There);
    }
    let written = if stream == 0 {
        std::io::stdout()
            .lock()
            .write_all(bytes)
            .and_then(|()| std::io::stdout().flush())
    } else {
        std::io::stderr().lock().write_all(bytes)
    };
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Reader::Gone),
        Err(e) => Err(CliError::Output(e)),
        Ok(()) => Ok(Reader::There),
    }
}

/// Waits up to `ms` milliseconds for stdout to report an error or a hang-up, and says
/// whether it did: the reader of a pipe closed it, or a terminal hung up. Other stdouts
/// (files, `/dev/null`) report neither: the wait is then only a pause.
pub(super) fn stdout_closed_within(ms: u16) -> bool {
    use nix::poll::{poll, PollFd, PollFlags};
    let stdout = std::io::stdout();
    // No events asked for: POLLERR and POLLHUP are always reported, never readiness.
    let mut fds = [PollFd::new(stdout.as_fd(), PollFlags::empty())];
    match poll(&mut fds, ms) {
        Ok(n) if n > 0 => fds[0]
            .revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLERR | PollFlags::POLLHUP)),
        // A signal cut the wait short, or poll cannot tell: keep following.
        _ => false,
    }
}
