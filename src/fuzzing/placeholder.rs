//! The placeholder grammar: any text parses or fails cleanly with an offset inside the text; a
//! text the cheap pre-check passes over holds nothing; a verbatim text reads back as itself; and
//! every placeholder read prints as text that reads back as exactly that placeholder.

use crate::placeholders::grammar::{may_contain_placeholder, Template};

pub fn placeholder(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let may_open = may_contain_placeholder(text.as_bytes());
    match Template::parse(&text) {
        Err(err) => {
            assert!(
                err.offset < text.chars().count(),
                "error offset {} outside a text of {} characters",
                err.offset,
                text.chars().count()
            );
            assert!(may_open, "the pre-check missed a malformed placeholder");
        }
        Ok(template) => {
            if !may_open {
                assert!(template.is_verbatim(), "the pre-check missed a placeholder");
            }
            if template.is_verbatim() {
                assert_eq!(template.literal_text(), text, "verbatim text changed");
            }
            for found in template.placeholders() {
                let printed = found.to_string();
                let again = Template::parse(&printed).expect("a placeholder's own text parses");
                assert_eq!(
                    again.whole(),
                    Some(found),
                    "{printed} reads back differently"
                );
            }
        }
    }
}
