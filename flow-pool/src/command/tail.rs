//! A bounded tail of a byte stream, filled while the command runs, and the loop that drains
//! a command's pipe into it (and into its [`LogFile`]).

use std::collections::VecDeque;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::command::log_file::LogFile;

/// Size of the read buffer used to drain a pipe once the command has written.
const CHUNK: usize = 64 * 1024;
/// Size of the first read buffer: most commands write little or nothing, and a large buffer
/// for each stream of every command costs its allocation (a request this small is served from
/// the allocator's per-thread cache).
const FIRST: usize = 512;

/// The last `capacity` bytes written to it.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    bytes: VecDeque<u8>,
    capacity: usize,
}

impl Tail {
    /// An empty tail keeping at most `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> Self {
        Tail {
            bytes: VecDeque::new(),
            capacity,
        }
    }

    /// Appends `chunk`, dropping the oldest bytes beyond the capacity.
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        if self.capacity == 0 {
            return;
        }
        let chunk = &chunk[chunk.len().saturating_sub(self.capacity)..];
        let overflow = (self.bytes.len() + chunk.len()).saturating_sub(self.capacity);
        self.bytes.drain(..overflow);
        self.bytes.extend(chunk);
    }

    /// The tail as lossy UTF-8.
    pub(crate) fn to_string_lossy(&self) -> String {
        let (a, b) = self.bytes.as_slices();
        let mut all = Vec::with_capacity(a.len() + b.len());
        all.extend_from_slice(a);
        all.extend_from_slice(b);
        String::from_utf8_lossy(&all).into_owned()
    }
}

/// Reads `pipe` (if any) to its end into `tail` and, when given, into `file` (created on
/// the first byte); the memory used is the tail plus one buffer of at most 64 KiB, whatever
/// the amount of output.
pub(crate) async fn drain(
    pipe: Option<impl AsyncRead + Unpin>,
    tail: &mut Tail,
    mut file: Option<LogFile<'_>>,
) {
    let Some(mut pipe) = pipe else { return };
    let mut buffer = Vec::with_capacity(FIRST);
    loop {
        buffer.clear();
        match pipe.read_buf(&mut buffer).await {
            Ok(0) => return,
            Ok(_) => {
                tail.push(&buffer);
                if let Some(file) = &mut file {
                    file.write(&buffer);
                }
                // A command that writes gets the large buffer: fewer reads.
                if buffer.capacity() < CHUNK {
                    buffer = Vec::with_capacity(CHUNK);
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => {
                tracing::debug!(%error, "stopped reading command output");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{drain, Tail, CHUNK, FIRST};
    use crate::command::log_file::LogFile;

    /// Output longer than the first buffer and than the large one, read in chunks of
    /// every size, reaches the tail and the file whole and in order.
    #[tokio::test]
    async fn output_of_any_length_is_kept_whole() {
        for len in [
            0,
            1,
            FIRST - 1,
            FIRST,
            FIRST + 1,
            CHUNK + FIRST + 7,
            3 * CHUNK,
        ] {
            let output: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("out.log");
            let mut tail = Tail::new(len);
            drain(Some(&output[..]), &mut tail, Some(LogFile::new(&path))).await;
            let (a, b) = tail.bytes.as_slices();
            assert_eq!([a, b].concat(), output, "tail of {len} bytes");
            let file = std::fs::read(&path).unwrap_or_default();
            assert_eq!(file, output, "file of {len} bytes");
        }
    }

    fn check(capacity: usize, chunks: &[&str], expect: &str) {
        let mut tail = Tail::new(capacity);
        for chunk in chunks {
            tail.push(chunk.as_bytes());
        }
        assert_eq!(tail.to_string_lossy(), expect);
    }

    #[test]
    fn keeps_the_last_bytes() {
        check(4, &["ab", "cd", "ef"], "cdef");
        check(4, &["abcdefgh"], "efgh");
        check(4, &["a", "bcdefg", "h"], "efgh");
        check(10, &["abc"], "abc");
        check(0, &["abc"], "");
    }
}
