//! The messages between a pool and its workers, each preceded by its length as a 4-byte
//! big-endian integer, over the worker's stdin (requests, JSON) and stdout (replies: the
//! request's id and the answering pid, then JSON). A reply that does not match the request in
//! flight is a protocol error. Before any frame, a worker writes [`HELLO`] on its stdout, so
//! that the pool knows the program called `worker_main` (a program that did not would print
//! something else, or nothing).

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest message accepted (1 GiB); a longer length prefix is a protocol error.
pub(crate) const MAX_FRAME: usize = 1 << 30;

/// What a worker writes first on its stdout, unasked, before any reply.
pub(crate) const HELLO: &[u8] = b"\0flow-pool worker 1\n";

/// Reads a new worker's [`HELLO`]: `Ok(Err(bytes))` with what came instead (nothing at end of
/// stream). Stops at the first byte that differs, so that a silent program that keeps running
/// is not waited on for more than it wrote.
pub(crate) async fn read_hello(
    reader: &mut (impl AsyncRead + Unpin),
) -> std::io::Result<Result<(), Vec<u8>>> {
    // A worker writes nothing after its hello until it gets a request, so reading more than
    // the hello at once takes nothing from a real worker.
    let mut buffer = [0_u8; 128];
    let mut got = Vec::new();
    loop {
        let read = reader.read(&mut buffer).await?;
        if read == 0 {
            return Ok(Err(got));
        }
        got.extend_from_slice(&buffer[..read]);
        if got.len() >= HELLO.len() || !HELLO.starts_with(&got) {
            return Ok(if got == HELLO { Ok(()) } else { Err(got) });
        }
    }
}

/// The deepest nesting (of arrays and objects) of a task's input or output that a message can
/// carry: serde_json refuses to read deeper than 127 levels, and the request or reply around
/// the value takes one.
pub(crate) const MAX_DEPTH: usize = 126;

/// How deeply `value` nests arrays and objects (a scalar is 0, `[1]` is 1), counted without
/// recursion; counting stops once it passes `limit`.
pub(crate) fn depth(value: &Value, limit: usize) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(value, 1)];
    while let Some((value, level)) = pending.pop() {
        match value {
            Value::Array(items) => pending.extend(items.iter().map(|item| (item, level + 1))),
            Value::Object(fields) => {
                pending.extend(fields.values().map(|field| (field, level + 1)))
            }
            _ => continue,
        }
        deepest = deepest.max(level);
        if deepest > limit {
            break;
        }
    }
    deepest
}

/// A task for a worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Request {
    /// The request's number, unique in its pool: the reply repeats it.
    pub id: u64,
    /// The registered name.
    pub task: String,
    /// Its input.
    pub input: Value,
}

/// A worker's answer to one request. The pool takes it only if it names the request in flight
/// and comes from the worker it was sent to: a process the task forked without exec holds
/// the worker's pipes and runs the same loop, and its reply must not pass for the next one.
///
/// On the wire (see [`encode_reply`]) the id and pid come before the outcome's JSON, as 12
/// bytes, so that they cost the output no level of nesting.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The [`Request::id`] answered (0 for a request that could not be read).
    pub id: u64,
    /// The process id of the process that answered.
    pub pid: u32,
    /// How the task ended.
    pub outcome: Outcome,
}

/// The bytes of a reply's id and pid before its outcome's JSON.
const REPLY_HEADER: usize = 12;

/// Encodes `reply` as one frame: length prefix, id (8 bytes), pid (4 bytes, both big-endian),
/// then the outcome's JSON.
pub(crate) fn encode_reply(reply: &Reply) -> Result<Vec<u8>, serde_json::Error> {
    let mut frame = vec![0_u8; 4];
    frame.extend_from_slice(&reply.id.to_be_bytes());
    frame.extend_from_slice(&reply.pid.to_be_bytes());
    serde_json::to_writer(&mut frame, &reply.outcome)?;
    let len = u32::try_from(frame.len() - 4).unwrap_or(u32::MAX);
    frame[..4].copy_from_slice(&len.to_be_bytes());
    Ok(frame)
}

/// Reads a reply frame's payload; the error says what is wrong with it.
pub(crate) fn decode_reply(payload: &[u8]) -> Result<Reply, String> {
    if payload.len() < REPLY_HEADER {
        return Err(format!(
            "a reply of {} bytes is shorter than its {REPLY_HEADER}-byte header",
            payload.len()
        ));
    }
    let (header, json) = payload.split_at(REPLY_HEADER);
    let (id, pid) = header.split_at(8);
    let outcome = serde_json::from_slice(json).map_err(|error| error.to_string())?;
    Ok(Reply {
        id: u64::from_be_bytes(id.try_into().unwrap_or_default()),
        pid: u32::from_be_bytes(pid.try_into().unwrap_or_default()),
        outcome,
    })
}

/// How a task ended, as its worker tells it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Outcome {
    /// The task returned a value.
    Ok(Value),
    /// The task returned an error.
    Err(String),
    /// The task panicked (the worker exits after sending this).
    Panicked(String),
    /// No task of that name in the worker's registry.
    UnknownTask(String),
}

/// Encodes `message` as one frame: length prefix then JSON.
pub(crate) fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut frame = vec![0_u8; 4];
    serde_json::to_writer(&mut frame, message)?;
    let len = u32::try_from(frame.len() - 4).unwrap_or(u32::MAX);
    frame[..4].copy_from_slice(&len.to_be_bytes());
    Ok(frame)
}

/// Reads one frame's payload; `None` at a clean end of stream before a frame.
pub(crate) fn read_frame_blocking(reader: &mut impl Read) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0_u8; 4];
    match reader.read_exact(&mut len) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let len = checked_len(len)?;
    let mut payload = vec![0_u8; len];
    reader.read_exact(&mut payload)?;
    Ok(Some(payload))
}

/// Writes one frame and flushes.
pub(crate) fn write_frame_blocking(writer: &mut impl Write, frame: &[u8]) -> std::io::Result<()> {
    writer.write_all(frame)?;
    writer.flush()
}

/// Reads one frame's payload; `None` at a clean end of stream before a frame.
pub(crate) async fn read_frame(
    reader: &mut (impl AsyncRead + Unpin),
) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0_u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let len = checked_len(len)?;
    let mut payload = vec![0_u8; len];
    reader.read_exact(&mut payload).await?;
    Ok(Some(payload))
}

/// Writes one frame and flushes.
pub(crate) async fn write_frame(
    writer: &mut (impl AsyncWrite + Unpin),
    frame: &[u8],
) -> std::io::Result<()> {
    writer.write_all(frame).await?;
    writer.flush().await
}

fn checked_len(prefix: [u8; 4]) -> std::io::Result<usize> {
    let len = usize::try_from(u32::from_be_bytes(prefix)).unwrap_or(usize::MAX);
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("message of {len} bytes is larger than the limit of {MAX_FRAME}"),
        ));
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let request = Request {
            id: 7,
            task: "double".into(),
            input: serde_json::json!({"n": 2}),
        };
        let mut stream = encode(&request).unwrap();
        let reply = Reply {
            id: 7,
            pid: 12,
            outcome: Outcome::Ok(serde_json::json!(4)),
        };
        stream.extend(encode_reply(&reply).unwrap());
        let mut reader = &stream[..];
        let first: Request =
            serde_json::from_slice(&read_frame_blocking(&mut reader).unwrap().unwrap()).unwrap();
        assert_eq!(first.task, "double");
        let second = decode_reply(&read_frame_blocking(&mut reader).unwrap().unwrap()).unwrap();
        assert_eq!((second.id, second.pid), (7, 12));
        assert!(matches!(second.outcome, Outcome::Ok(v) if v == serde_json::json!(4)));
        assert!(read_frame_blocking(&mut reader).unwrap().is_none());
    }

    #[tokio::test]
    async fn the_hello_is_told_from_other_output() {
        let mut hello = HELLO;
        assert!(read_hello(&mut hello).await.unwrap().is_ok());
        let mut split = tokio::io::BufReader::with_capacity(3, HELLO);
        assert!(read_hello(&mut split).await.unwrap().is_ok());
        let mut nothing: &[u8] = b"";
        assert_eq!(read_hello(&mut nothing).await.unwrap(), Err(Vec::new()));
        let mut printed: &[u8] = b"depth 1: result";
        let got = read_hello(&mut printed).await.unwrap().unwrap_err();
        assert_eq!(got, b"depth 1: result");
        let mut more = [HELLO, b"x"].concat();
        assert!(read_hello(&mut &more[..]).await.unwrap().is_err());
        more.truncate(HELLO.len() - 1);
        assert!(read_hello(&mut &more[..]).await.unwrap().is_err());
    }

    fn nested(levels: usize) -> Value {
        (0..levels).fold(serde_json::json!(1), |inner, _| serde_json::json!([inner]))
    }

    #[test]
    fn the_deepest_value_a_message_carries_is_max_depth() {
        assert_eq!(depth(&serde_json::json!(1), MAX_DEPTH), 0);
        assert_eq!(
            depth(&serde_json::json!({"a": [1, {"b": []}]}), MAX_DEPTH),
            4
        );
        assert_eq!(depth(&nested(MAX_DEPTH), MAX_DEPTH), MAX_DEPTH);
        assert_eq!(depth(&nested(1000), MAX_DEPTH), MAX_DEPTH + 1);
        let request = |input| {
            let frame = encode(&Request {
                id: 1,
                task: "t".into(),
                input,
            })
            .unwrap();
            serde_json::from_slice::<Request>(&frame[4..]).map(|_| ())
        };
        request(nested(MAX_DEPTH)).unwrap();
        assert!(request(nested(MAX_DEPTH + 1)).is_err());
        let reply = |value| {
            let frame = encode_reply(&Reply {
                id: 1,
                pid: 1,
                outcome: Outcome::Ok(value),
            })
            .unwrap();
            decode_reply(&frame[4..]).map(|_| ())
        };
        reply(nested(MAX_DEPTH)).unwrap();
        assert!(reply(nested(MAX_DEPTH + 1)).is_err());
    }

    #[test]
    fn a_short_reply_is_refused() {
        assert!(decode_reply(b"12345678901")
            .unwrap_err()
            .contains("shorter"));
    }

    #[test]
    fn oversized_length_is_refused() {
        let mut reader = &[0xff_u8, 0xff, 0xff, 0xff][..];
        assert!(read_frame_blocking(&mut reader).is_err());
    }
}
