//! A cursor over JSON text as the tailer stored `properties` and `context`: the fast path
//! of `check`'s profile and of a tracking plan's common keywords. Nothing is built; strings
//! are slices of the text. A string with an escape can be skipped but not read: whoever
//! needs its contents asks serde_json. Text it does not understand ends the scan (`None`).

use crate::json_bytes::find_quote_backslash_or_control;

pub struct Scan<'t> {
    text: &'t str,
    bytes: &'t [u8],
    at: usize,
}

impl<'t> Scan<'t> {
    /// A cursor at the start of `text`, when no string in it needs unescaping.
    pub fn unescaped(text: &'t str) -> Option<Self> {
        memchr::memchr(b'\\', text.as_bytes())
            .is_none()
            .then_some(Scan {
                text,
                bytes: text.as_bytes(),
                at: 0,
            })
    }

    /// The next byte that is not white space, not consumed.
    pub fn peek(&mut self) -> Option<u8> {
        while let Some(&b) = self.bytes.get(self.at) {
            if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(b);
            }
            self.at += 1;
        }
        None
    }

    /// Consumes the byte [`Scan::peek`] saw.
    pub fn bump(&mut self) {
        self.at += 1;
    }

    /// A cursor at the start of `text`, escapes and all: a string with a backslash can be
    /// skipped over ([`Scan::skip_value`]) but not read ([`Scan::string`] says no).
    pub fn new(text: &'t str) -> Self {
        Scan {
            text,
            bytes: text.as_bytes(),
            at: 0,
        }
    }

    /// Past the string that starts at the cursor's `"`; its contents (a slice of the text:
    /// cut at quotes, it is UTF-8 without being checked again), or `None` when it holds an
    /// escape.
    pub fn string(&mut self) -> Option<&'t str> {
        let start = self.at + 1;
        let len = find_quote_backslash_or_control(self.bytes.get(start..)?)?;
        if self.bytes[start + len] != b'"' {
            return None;
        }
        self.at = start + len + 1;
        self.text.get(start..start + len)
    }

    /// Past the string that starts at the cursor's `"`, escapes and all.
    pub fn skip_string(&mut self) -> Option<()> {
        let mut at = self.at + 1;
        loop {
            at += find_quote_backslash_or_control(self.bytes.get(at..)?)?;
            match self.bytes[at] {
                b'"' => {
                    self.at = at + 1;
                    return Some(());
                }
                // A backslash and the byte it escapes (the rest of `\uXXXX` is plain).
                b'\\' => at += 2,
                // Not JSON: a control character inside a string.
                _ => return None,
            }
        }
    }

    /// Past the number, `true`, `false` or `null` at the cursor; its text.
    pub fn token(&mut self) -> &'t str {
        let rest = &self.bytes[self.at..];
        let end = rest
            .iter()
            .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))
            .unwrap_or(rest.len());
        let token = self.text.get(self.at..self.at + end).unwrap_or_default();
        self.at += end;
        token
    }

    /// Past the value at the cursor, whatever it is.
    pub fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' | b'[' => {
                let mut depth = 0usize;
                while let Some(&b) = self.bytes.get(self.at) {
                    match b {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.at += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.at += 1;
                }
                None
            }
            _ => {
                self.token();
                Some(())
            }
        }
    }

    /// Inside an object, at its next member or its end: the member's key (the cursor past
    /// its `:`), or `None` past the closing `}`. A key with an escape ends the scan.
    pub fn next_key(&mut self) -> Option<Option<&'t str>> {
        if self.past_commas_to(b'}')? {
            return Some(None);
        }
        if self.peek()? != b'"' {
            return None;
        }
        let key = self.string()?;
        if self.peek()? != b':' {
            return None;
        }
        self.bump();
        Some(Some(key))
    }

    /// At the start of an array's next element or its end: whether there is one (`false`
    /// past the closing `]`).
    pub fn next_element(&mut self) -> Option<bool> {
        Some(!self.past_commas_to(b']')?)
    }

    /// Past the commas before a container's next item: `true` past its `close` (the end),
    /// `false` at the item.
    fn past_commas_to(&mut self, close: u8) -> Option<bool> {
        loop {
            match self.peek()? {
                b',' => self.bump(),
                b if b == close => {
                    self.bump();
                    return Some(true);
                }
                _ => return Some(false),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_elements_and_tokens_are_read_in_order() {
        let mut scan =
            Scan::unescaped(r#" {"a": [1, "x,]", {"b": null}], "c" : -2.5e3 } "#).unwrap();
        assert_eq!(scan.peek(), Some(b'{'));
        scan.bump();
        assert_eq!(scan.next_key(), Some(Some("a")));
        assert_eq!(scan.peek(), Some(b'['));
        scan.bump();
        assert_eq!(scan.next_element(), Some(true));
        assert_eq!(scan.token(), "1");
        assert_eq!(scan.next_element(), Some(true));
        assert_eq!(scan.string(), Some("x,]"));
        assert_eq!(scan.next_element(), Some(true));
        assert_eq!(scan.skip_value(), Some(()));
        assert_eq!(scan.next_element(), Some(false));
        assert_eq!(scan.next_key(), Some(Some("c")));
        assert_eq!(scan.peek(), Some(b'-'));
        assert_eq!(scan.token(), "-2.5e3");
        assert_eq!(scan.next_key(), Some(None));
        assert!(Scan::unescaped(r#"{"a":"\n"}"#).is_none());
        // Escaped strings are skipped whole, never read.
        let mut scan = Scan::new(r#"{"a\"":1, "b":["x\\", "\"]\u00e9"], "c":"\n"}"#);
        scan.bump();
        assert_eq!(scan.next_key(), None);
        let mut scan = Scan::new(r#"["x\\", "\"]\u00e9", {"k":"\\\""}] "#);
        assert_eq!(scan.skip_value(), Some(()));
        assert_eq!(scan.peek(), None);
        let mut scan = Scan::new(r#""a\"b""#);
        assert_eq!(scan.string(), None);
        assert_eq!(scan.skip_string(), Some(()));
        assert_eq!(scan.peek(), None);
    }
}
