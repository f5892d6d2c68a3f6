//! A bounded tail of a byte stream, filled while the command runs, and the loop that drains
//! a command's pipe into it (and into its [`LogFile`]).

use std::collections::VecDeque;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::command::log_file::LogFile;

/// Size of the read buffer used to drain a pipe.
const CHUNK: usize = 64 * 1024;

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
/// the first byte); the memory used is the tail plus one 64 KiB buffer, whatever the amount
/// of output.
pub(crate) async fn drain(
    pipe: Option<impl AsyncRead + Unpin>,
    tail: &mut Tail,
    mut file: Option<LogFile<'_>>,
) {
    let Some(mut pipe) = pipe else { return };
    let mut buffer = Vec::with_capacity(CHUNK);
    loop {
        buffer.clear();
        match pipe.read_buf(&mut buffer).await {
            Ok(0) => return,
            Ok(_) => {
                tail.push(&buffer);
                if let Some(file) = &mut file {
                    file.write(&buffer);
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
    use super::Tail;

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
