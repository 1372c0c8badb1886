//! Concealing identifiers: the SHA-256 tag that stands for an identifier in
//! evidence, and the search that replaces an identifier (and any e-mail address
//! a vendor echoed) by its tag. Below the report, the certificate and the
//! terminal output, which all conceal the same way.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

/// SHA-256 of an identifier, lower-case hex.
pub fn sha256_hex(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    let mut s = String::with_capacity(64);
    for b in digest.iter() {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// How a concealed value appears in evidence: `sha256:` and the start of its hash.
pub fn tag(value: &str) -> String {
    format!("sha256:{}…", &sha256_hex(value)[..12])
}

/// `text` with every whole occurrence of `id` (ASCII case ignored) replaced by
/// its [`tag`], then every e-mail address (someone a vendor echoed) replaced
/// by its own.
pub fn conceal<'t>(text: &'t str, id: Option<&str>) -> Cow<'t, str> {
    let mut out = Cow::Borrowed(text);
    if text.is_empty() {
        return out;
    }
    if let Some(id) = id.filter(|i| !i.is_empty()) {
        // The identifier as given, and as a URL carries it (`jane%40x.io`).
        let encoded = crate::model::encode_query(id);
        for form in [id, encoded.as_str()] {
            if let Some(replaced) = replace_word(&out, form, &|| tag(id)) {
                out = Cow::Owned(replaced);
            }
        }
    }
    if (out.contains('@') || out.contains("%40"))
        && let Some(replaced) = replace_emails(&out)
    {
        out = Cow::Owned(replaced);
    }
    out
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// `text` with `needle` (ASCII case ignored, not inside a longer word)
/// replaced by `with()` (made only when it is found); `None` if absent.
fn replace_word(text: &str, needle: &str, with: &dyn Fn() -> String) -> Option<String> {
    let hay = text.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut from = 0;
    let mut found = false;
    let mut search = 0;
    let mut tag = None;
    while let Some(i) = hay[search..].find(&needle).map(|i| i + search) {
        let end = i + needle.len();
        let starts_word = i == 0
            || !is_word_byte(bytes[i - 1])
            || !needle.as_bytes().first().copied().is_some_and(is_word_byte);
        let ends_word = end == bytes.len()
            || !is_word_byte(bytes[end])
            || !needle.as_bytes().last().copied().is_some_and(is_word_byte);
        if starts_word && ends_word {
            out.push_str(&text[from..i]);
            out.push_str(tag.get_or_insert_with(with));
            from = end;
            found = true;
            search = end;
        } else {
            // Step one character on (needle matches start at char boundaries).
            search = i + text[i..].chars().next().map_or(1, char::len_utf8);
        }
        if search >= hay.len() {
            break;
        }
    }
    found.then(|| {
        out.push_str(&text[from..]);
        out
    })
}

/// `text` with every e-mail address replaced by its [`tag`]; `None` if none.
/// An address is found in any of the forms a vendor may echo it: `@` or its
/// URL encoding `%40`, an internationalised (non-ASCII) local part or domain,
/// a host without a dot (`root@localhost`), a quoted local part
/// (`"jane doe"@example.com`).
fn replace_emails(text: &str) -> Option<String> {
    let local = |b: u8| b.is_ascii_alphanumeric() || b"._%+-'".contains(&b) || b >= 0x80;
    let domain = |b: u8| b.is_ascii_alphanumeric() || b".-".contains(&b) || b >= 0x80;
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut from = 0;
    let mut i = 0;
    let mut found = false;
    while i < bytes.len() {
        let at_len = if bytes[i] == b'@' {
            1
        } else if bytes[i] == b'%' && bytes.get(i + 1..i + 3).is_some_and(|h| h == b"40") {
            3
        } else {
            0
        };
        if at_len == 0 || i < from {
            i += 1;
            continue;
        }
        let mut start = i;
        if start > from && bytes[start - 1] == b'"' {
            // A quoted local part: back to its opening quote.
            if let Some(q) = text[from..start - 1].rfind('"') {
                start = from + q;
            }
        } else {
            while start > from && local(bytes[start - 1]) {
                start -= 1;
            }
        }
        let mut end = i + at_len;
        while end < bytes.len() && domain(bytes[end]) {
            end += 1;
        }
        while end > i + at_len && matches!(bytes[end - 1], b'.' | b'-') {
            end -= 1;
        }
        let host = &text[i + at_len..end];
        if start < i && !host.is_empty() && !host.starts_with('.') {
            out.push_str(&text[from..start]);
            out.push_str(&tag(&text[start..end]));
            from = end;
            found = true;
            i = end;
        } else {
            i += 1;
        }
    }
    found.then(|| {
        out.push_str(&text[from..]);
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concealing_matches_whole_identifiers_only() {
        assert_eq!(conceal("HTTP 401 for 1001", Some("1")), "HTTP 401 for 1001");
        assert_eq!(
            conceal("user 1001 gone; 10011", Some("1001")),
            format!("user {} gone; 10011", tag("1001"))
        );
        assert_eq!(conceal("no e-mail @ here.", None), "no e-mail @ here.");
        assert_eq!(
            conceal("to: a.b+c@d.co.uk.", None),
            format!("to: {}.", tag("a.b+c@d.co.uk"))
        );
        // Encoded, internationalised, dotless and quoted forms (#20).
        for (text, addr) in [
            ("GET /users?email=jane%40x.io done", "jane%40x.io"),
            ("user jürgen@bücher.de", "jürgen@bücher.de"),
            ("from root@localhost.", "root@localhost"),
            (
                "to \"jane doe\"@example.com now",
                "\"jane doe\"@example.com",
            ),
        ] {
            let hidden = conceal(text, None);
            assert!(!hidden.contains(addr), "{text} -> {hidden}");
            assert!(hidden.contains(&tag(addr)), "{text} -> {hidden}");
        }
        assert_eq!(
            conceal("q=jane%40x.io", Some("jane@x.io")),
            format!("q={}", tag("jane@x.io"))
        );
    }
}
