//! The dictionaries job records are compressed against.
//!
//! An app launches the same few workflows with params of the same shape, so a job's text is
//! mostly some earlier job's (its keys, its placeholders), and compressed against that text
//! its block holds little more than what differs. The first record long enough becomes the
//! first dictionary; a later one that compresses poorly against the newest dictionary (to
//! more than a third of its size: a shape not seen yet) becomes the next one, up to
//! [`MAX_DICTIONARIES`]. A dictionary is never changed or dropped, since the records made
//! against it need it; each block starts with the number of its dictionary.

use std::sync::Arc;

use parking_lot::RwLock;

/// The most dictionaries kept (each at most [`DICTIONARY_BYTES`]).
pub(super) const MAX_DICTIONARIES: usize = 16;

/// The most of a record's text kept as a dictionary: each compression reads all of it, so a
/// larger one costs every job more time for a gain only on larger params.
pub(super) const DICTIONARY_BYTES: usize = 1024;

/// Texts shorter than this compress too little to be worth a dictionary.
const MIN_DICTIONARY_TEXT: usize = 32;

/// The number in front of a block compressed without a dictionary.
const NONE: u8 = u8::MAX;

#[derive(Default)]
pub(super) struct Dictionaries {
    list: RwLock<Vec<Arc<[u8]>>>,
}

impl Dictionaries {
    /// `text` compressed against the newest dictionary, or against itself as the next one.
    pub(super) fn compress(&self, text: &[u8]) -> Box<[u8]> {
        let newest = {
            let list = self.list.read();
            list.last()
                .cloned()
                .map(|dictionary| (list.len() - 1, dictionary))
        };
        if let Some((index, dictionary)) = &newest {
            let block = encode(*index, text, dictionary);
            let poor = block.len() * 3 > text.len();
            if !poor || text.len() < MIN_DICTIONARY_TEXT {
                return block;
            }
        }
        let mut list = self.list.write();
        if list.len() < MAX_DICTIONARIES && text.len() >= MIN_DICTIONARY_TEXT {
            list.push(text[..text.len().min(DICTIONARY_BYTES)].into());
        }
        match list.last() {
            Some(dictionary) => encode(list.len() - 1, text, dictionary),
            None => encode(usize::from(NONE), text, &[]),
        }
    }

    /// The text of a block made by [`Dictionaries::compress`].
    pub(super) fn decompress(&self, block: &[u8]) -> Option<Vec<u8>> {
        let (&index, block) = block.split_first()?;
        let dictionary = match index {
            NONE => Arc::from(&[][..]),
            index => self.list.read().get(usize::from(index))?.clone(),
        };
        lz4_flex::block::decompress_size_prepended_with_dict(block, &dictionary).ok()
    }

    /// How many dictionaries there are.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.list.read().len()
    }
}

fn encode(index: usize, text: &[u8], dictionary: &[u8]) -> Box<[u8]> {
    let mut block = vec![u8::try_from(index).unwrap_or(NONE)];
    block.extend_from_slice(&lz4_flex::block::compress_prepend_size_with_dict(
        text, dictionary,
    ));
    block.into_boxed_slice()
}
