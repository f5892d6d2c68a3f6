//! How the directory store's records become the bytes of their files, and back.

use std::fs;
use std::io;
use std::path::Path;

use serde::de::DeserializeOwned;

use crate::{FlowResult, StoreError};

/// Pretty JSON with a final newline; `record` names the record in the error.
pub(super) fn encode_pretty<T: serde::Serialize>(
    value: &T,
    record: impl FnOnce() -> String,
) -> Result<Vec<u8>, StoreError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| StoreError::Encode {
        record: record(),
        source,
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// How errors name a result.
pub(super) fn describe_result(result: &FlowResult) -> String {
    format!(
        "the result of flow `{}` in run `{}`",
        result.flow_id, result.run_id
    )
}

/// Reads and parses a JSON file; `None` when it does not exist.
pub(super) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, StoreError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(StoreError::read_io("read", path, err)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|err| StoreError::Corrupt {
            path: path.to_path_buf(),
            problem: describe_json_error(&err, bytes.len()),
        })
}

/// A user's description of why a file is not the JSON record it should be.
fn describe_json_error(err: &serde_json::Error, len: usize) -> String {
    use serde_json::error::Category;
    match err.classify() {
        Category::Eof if len == 0 => "the file is empty".to_owned(),
        Category::Eof => format!("the file is truncated ({len} bytes): {err}"),
        Category::Syntax => format!("the file is not valid JSON: {err}"),
        Category::Data => format!("the JSON is not a valid record: {err}"),
        Category::Io => format!("cannot read the file: {err}"),
    }
}
