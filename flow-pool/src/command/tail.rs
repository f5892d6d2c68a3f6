//! A bounded tail of a byte stream, filled while the command runs.

use std::collections::VecDeque;
use std::io::SeekFrom;
use std::path::Path;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};

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

/// Reads `pipe` (if any) to its end into `tail`; the memory used is the tail plus one 64 KiB
/// buffer, whatever the amount of output.
pub(crate) async fn drain(pipe: Option<impl AsyncRead + Unpin>, tail: &mut Tail) {
    let Some(mut pipe) = pipe else { return };
    let mut buffer = Vec::with_capacity(CHUNK);
    loop {
        buffer.clear();
        match pipe.read_buf(&mut buffer).await {
            Ok(0) => return,
            Ok(_) => tail.push(&buffer),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => {
                tracing::debug!(%error, "stopped reading command output");
                return;
            }
        }
    }
}

/// The last `capacity` bytes of the file at `path`, as lossy UTF-8 (empty if it cannot be
/// read: the file is only a copy of the stream, its absence is not the command's failure).
pub(crate) async fn file_tail(path: &Path, capacity: usize) -> String {
    let result = async {
        let mut file = tokio::fs::File::open(path).await?;
        let len = file.metadata().await?.len();
        let keep = u64::try_from(capacity).unwrap_or(u64::MAX).min(len);
        file.seek(SeekFrom::Start(len - keep)).await?;
        let mut bytes = Vec::with_capacity(usize::try_from(keep).unwrap_or(0));
        file.take(keep).read_to_end(&mut bytes).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&bytes).into_owned())
    }
    .await;
    result.unwrap_or_else(|error| {
        tracing::warn!(path = %path.display(), %error, "could not read output file tail");
        String::new()
    })
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
