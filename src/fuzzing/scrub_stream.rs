//! The streamed scrubber: the leading parts of the input are secrets, the next to last gives the
//! chunk sizes (one byte each, cycled; none means one byte a chunk), the last is the answer's
//! bytes. However the answer is cut into chunks, no secret survives in what is released, and
//! the result is the same as scrubbing the answer in one piece.

use std::sync::Arc;

use super::{parts, secrets, survivors};
use crate::sidecar::answer::scrub::Scrubber;
use crate::sidecar::answer::scrub_stream::ChunkScrubber;

/// The largest chunk the size bytes can ask for.
const MAX_CHUNK: usize = 48;

pub fn scrub_stream(data: &[u8]) {
    let parts = parts(data);
    let (body, sizes, leading): (&[u8], &[u8], &[&[u8]]) = match parts.as_slice() {
        [] => return,
        [body] => (body, &[], &[]),
        [leading @ .., sizes, body] => (body, sizes, leading),
    };
    let secrets = secrets(leading.iter().copied());
    let scrubber = Arc::new(Scrubber::new(secrets.iter().map(String::as_str)));

    let mut whole = ChunkScrubber::new(scrubber.clone());
    let mut expected = whole.push(body);
    expected.extend(whole.finish());
    let left = survivors(&expected, &secrets);
    assert!(left.is_empty(), "{left:?} survived a scrub in one piece");

    let cut: Vec<usize> = if sizes.is_empty() {
        vec![1]
    } else {
        sizes
            .iter()
            .map(|size| usize::from(*size) % (MAX_CHUNK + 1))
            .collect()
    };
    let mut streamed = ChunkScrubber::new(scrubber);
    let mut released = Vec::with_capacity(expected.len());
    let mut rest = body;
    for size in cut.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        // An empty chunk is legal on the wire; never let a run of them stall the loop.
        let size = (*size).min(rest.len());
        let (chunk, after) = rest.split_at(size);
        released.extend(streamed.push(chunk));
        rest = if size == 0 && cut.iter().all(|size| *size == 0) {
            released.extend(streamed.push(after));
            &[]
        } else {
            after
        };
    }
    released.extend(streamed.finish());
    let left = survivors(&released, &secrets);
    assert!(
        left.is_empty(),
        "{left:?} survived a scrub in chunks {cut:?}"
    );
    assert_eq!(
        released, expected,
        "chunks {cut:?} scrub differently from one piece"
    );
    assert_eq!(
        streamed.redacted(),
        whole.redacted(),
        "redaction counts differ"
    );
}
