//! A type for secret bytes: never printed, compared in constant time, wiped on drop.
//!
//! Credential values, the upstream API key and client tokens all live in [`Secret`]. Its
//! `Debug` prints `Secret([redacted])` and it has no `Display`, so a secret cannot reach a log
//! line by accident; the bytes are reachable only through [`Secret::expose`], which makes
//! every use visible in review.
//!
//! Credential values are also opened into `serde_json` values and strings for the moment a
//! body is rewritten. [`wipe_value`] overwrites every string in such a value with zeros in
//! place, and [`WipeOnDrop`] does it when the value goes out of scope, on every path out,
//! errors included. What cannot be reached safely is left as it is and said so: object keys
//! (field names such as `password`, not values), and numbers, whose text `serde_json` keeps
//! private.

pub(crate) mod seal;

use std::ops::{Deref, DerefMut};

use serde_json::Value;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// Secret bytes, zeroized when dropped.
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(Zeroizing::new(bytes.into()))
    }

    /// The secret bytes, for the one place that must use them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret as UTF-8 text, if it is.
    pub fn expose_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time comparison with other bytes.
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        self.0.as_slice().ct_eq(other).into()
    }

    /// Reads a secret from a file, trimming trailing newlines (as editors and `echo` add).
    /// Every secret file (the API key, the client token, the mock's encryption key) is read
    /// through here or [`Secret::read_file`].
    pub fn from_file(path: &std::path::Path) -> std::io::Result<Self> {
        Ok(Self::from_file_content(std::fs::read(path)?))
    }

    /// [`Secret::from_file`] without blocking the runtime.
    pub async fn read_file(path: &std::path::Path) -> std::io::Result<Self> {
        Ok(Self::from_file_content(tokio::fs::read(path).await?))
    }

    fn from_file_content(read: Vec<u8>) -> Self {
        let mut bytes = Zeroizing::new(read);
        while matches!(bytes.last(), Some(b'\n' | b'\r')) {
            bytes.pop();
        }
        Self(Zeroizing::new(bytes.to_vec()))
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other.expose())
    }
}

impl Eq for Secret {}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Overwrites a string's bytes with zeros in place: same allocation, same length, spare
/// capacity zeroed too. (A run of zero bytes is valid UTF-8, so it stays a `String`.)
pub fn wipe_string(text: &mut String) {
    let mut bytes = std::mem::take(text).into_bytes();
    bytes.as_mut_slice().zeroize();
    bytes.spare_capacity_mut().zeroize();
    match String::from_utf8(bytes) {
        Ok(zeros) => *text = zeros,
        // Unreachable (zeros are UTF-8); the bytes are wiped either way.
        Err(err) => err.into_bytes().zeroize(),
    }
}

/// Overwrites every string in `value` (at any depth) with zeros in place. Object keys and
/// numbers are not reached: keys cannot be changed inside a map, and a number's text is
/// private to `serde_json`.
pub fn wipe_value(value: &mut Value) {
    match value {
        Value::String(text) => wipe_string(text),
        Value::Array(items) => items.iter_mut().for_each(wipe_value),
        Value::Object(map) => map.values_mut().for_each(wipe_value),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Something holding plaintext that can be overwritten in place.
pub trait Wipe {
    fn wipe(&mut self);
}

impl Wipe for String {
    fn wipe(&mut self) {
        wipe_string(self);
    }
}

impl Wipe for Value {
    fn wipe(&mut self) {
        wipe_value(self);
    }
}

/// Holds a plaintext copy of secret material and wipes it when dropped.
pub struct WipeOnDrop<T: Wipe>(T);

impl<T: Wipe> WipeOnDrop<T> {
    pub fn new(inner: T) -> Self {
        Self(inner)
    }
}

impl<T: Wipe> Deref for WipeOnDrop<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Wipe> DerefMut for WipeOnDrop<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Wipe> Drop for WipeOnDrop<T> {
    fn drop(&mut self) {
        self.0.wipe();
    }
}

impl<T: Wipe> std::fmt::Debug for WipeOnDrop<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WipeOnDrop([redacted])")
    }
}

/// Appends `chunk` to `buffer` without leaving a copy behind: when the buffer must grow, the
/// bytes move to a larger zeroizing buffer and the old one is wiped as it drops (a plain
/// `extend` would free the old allocation as it was).
pub fn extend_zeroizing(buffer: &mut Zeroizing<Vec<u8>>, chunk: &[u8]) {
    let needed = buffer.len() + chunk.len();
    if needed > buffer.capacity() {
        let mut grown = Zeroizing::new(Vec::with_capacity(needed.max(buffer.capacity() * 2)));
        grown.extend_from_slice(buffer);
        *buffer = grown;
    }
    buffer.extend_from_slice(chunk);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every string in `value`, with the address of its bytes.
    fn strings(value: &Value) -> Vec<(*const u8, Vec<u8>)> {
        match value {
            Value::String(text) => vec![(text.as_ptr(), text.as_bytes().to_vec())],
            Value::Array(items) => items.iter().flat_map(strings).collect(),
            Value::Object(map) => map.values().flat_map(strings).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn wiping_zeroes_every_string_in_place() {
        let mut value = json!({
            "password": "hunter2",
            "nested": {"keys": ["a-very-long-api-key-value", "", "é✓"]},
            "port": 5432,
            "on": true,
        });
        let before = strings(&value);
        assert_eq!(before.len(), 4);
        wipe_value(&mut value);
        let after = strings(&value);
        for ((address, text), (wiped_address, wiped)) in before.iter().zip(&after) {
            // The same memory now holds as many zero bytes as it held text.
            assert_eq!(address, wiped_address);
            assert_eq!(wiped.len(), text.len());
            assert!(wiped.iter().all(|byte| *byte == 0), "{wiped:?}");
        }
        // What is not a string is left as it was.
        assert_eq!(value["port"], json!(5432));
        assert_eq!(value["on"], json!(true));
    }

    #[test]
    fn the_guard_wipes_on_drop_and_reads_through() {
        let mut guard = WipeOnDrop::new(json!({"s": "secret"}));
        assert_eq!(guard["s"], json!("secret"));
        guard["t"] = json!("more");
        let address = guard["s"].as_str().unwrap().as_ptr();
        // Wiping is what the guard's drop does; run it by hand to look at the bytes after.
        guard.wipe();
        assert_eq!(guard["s"].as_str().unwrap().as_ptr(), address);
        assert_eq!(guard["s"], json!("\0\0\0\0\0\0"));
        assert_eq!(guard["t"], json!("\0\0\0\0"));
        assert_eq!(format!("{guard:?}"), "WipeOnDrop([redacted])");
    }

    #[test]
    fn extending_keeps_every_byte_in_order() {
        let mut buffer = Zeroizing::new(Vec::with_capacity(2));
        for chunk in [&b"ab"[..], b"cde", b"", b"fghijklmno"] {
            extend_zeroizing(&mut buffer, chunk);
        }
        assert_eq!(buffer.as_slice(), b"abcdefghijklmno");
    }

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
    }

    #[test]
    fn compares_by_value() {
        assert_eq!(Secret::new("a"), Secret::new("a"));
        assert_ne!(Secret::new("a"), Secret::new("b"));
        assert!(!Secret::new("a").ct_eq(b"ab"));
    }

    #[test]
    fn file_reading_trims_trailing_newlines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "abc\r\n").unwrap();
        assert!(Secret::from_file(&path).unwrap().ct_eq(b"abc"));
    }
}
