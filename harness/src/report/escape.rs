//! Escaping of text for XML (JUnit, SVG) and HTML.
//!
//! One function serves both: it escapes the five characters with a meaning in markup
//! (`&`, `<`, `>`, `"`, `'`), so its output is safe in element text and in quoted
//! attribute values alike. Characters that XML 1.0 cannot carry at all (control
//! characters other than tab, line feed and carriage return, and the non-characters
//! U+FFFE/U+FFFF) become U+FFFD, so a witness quoting a binary answer cannot make
//! `junit.xml` unparseable.

use std::borrow::Cow;

/// Escapes `text` for element content or a quoted attribute value in XML or HTML.
///
/// ```
/// use andon::report::escape::escape;
/// assert_eq!(escape(r#"a < b & "c" 'd'"#), "a &lt; b &amp; &quot;c&quot; &#39;d&#39;");
/// assert_eq!(escape("plain"), "plain");
/// ```
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_work) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if !allowed_in_xml(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Like [`escape`], and also keeps line breaks and tabs inside an attribute value
/// (an XML parser would otherwise normalise them to spaces).
///
/// ```
/// use andon::report::escape::escape_attr;
/// assert_eq!(escape_attr("two\nlines"), "two&#10;lines");
/// ```
pub fn escape_attr(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in escape(text).chars() {
        match c {
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

fn needs_work(c: char) -> bool {
    matches!(c, '&' | '<' | '>' | '"' | '\'') || !allowed_in_xml(c)
}

/// Whether XML 1.0 allows `c` in a document (the `Char` production).
fn allowed_in_xml(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(escape("<b>&amp;</b>"), "&lt;b&gt;&amp;amp;&lt;/b&gt;");
    }

    #[test]
    fn control_characters_become_the_replacement_character() {
        assert_eq!(escape("a\u{1}b\u{FFFF}"), "a\u{FFFD}b\u{FFFD}");
        assert_eq!(escape("tab\tnl\n"), "tab\tnl\n");
    }

    #[test]
    fn text_without_markup_is_borrowed() {
        assert!(matches!(escape("ERP 261 posting"), Cow::Borrowed(_)));
    }

    #[test]
    fn attribute_values_keep_their_line_breaks() {
        assert_eq!(escape_attr("a\r\n\"b\""), "a&#13;&#10;&quot;b&quot;");
    }
}
