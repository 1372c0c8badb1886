//! Per-kind validation and normalisation of one identifier, and the dedupe key.

use std::borrow::Cow;

use crate::model::Check;

/// Longest e-mail address accepted (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest free-text identifier accepted.
pub const MAX_TEXT_LEN: usize = 1024;
/// Longest numeric id (u64 has 20 digits).
pub const MAX_NUMERIC_LEN: usize = 20;

/// Check `raw` (already trimmed) against `check`; the normalised value (`raw`
/// itself unless normalising changed it) or why not.
pub fn validate(check: Check, raw: &str) -> Result<Cow<'_, str>, String> {
    if check == Check::Email && plain_email(raw.as_bytes()).is_some() {
        return Ok(Cow::Borrowed(raw));
    }
    if raw.is_empty() {
        return Err("empty value".into());
    }
    if has_control(raw) {
        return Err("contains control characters".into());
    }
    match check {
        Check::Email => email(raw).map(|()| Cow::Borrowed(raw)),
        Check::Numeric => {
            if raw.len() <= MAX_NUMERIC_LEN
                && raw.bytes().all(|b| b.is_ascii_digit())
                && raw.parse::<u64>().is_ok()
            {
                Ok(Cow::Borrowed(raw))
            } else {
                Err("not a numeric id".into())
            }
        }
        Check::Phone => phone(raw).map(Cow::Owned),
        Check::Alias => match raw.split_once(':') {
            Some((label, name)) if !label.trim().is_empty() && !name.trim().is_empty() => {
                Ok(Cow::Owned(format!("{}:{}", label.trim(), name.trim())))
            }
            _ => Err("not an alias: expected LABEL:NAME".into()),
        },
        Check::VendorId if email(raw).is_ok() => Err(
            "an e-mail address, not an id the vendor assigns: to delete by e-mail, use -k email"
                .into(),
        ),
        Check::NoComma if raw.contains(',') => Err(
            "contains a comma, which the vendor reads as two identifiers in its comma-separated list"
                .into(),
        ),
        Check::Text | Check::VendorId | Check::NoComma => {
            if raw.chars().count() > MAX_TEXT_LEN {
                Err(format!("longer than {MAX_TEXT_LEN} characters"))
            } else {
                Ok(Cow::Borrowed(raw))
            }
        }
    }
}

/// Whether `s` holds a control character (`char::is_control`), by bytes when
/// it is ASCII (almost every list).
fn has_control(s: &str) -> bool {
    if s.is_ascii() {
        s.bytes().any(|b| b < 0x20 || b == 0x7f)
    } else {
        s.chars().any(char::is_control)
    }
}

/// Whether `s` is certainly an e-mail address that [`email`] accepts, and
/// then whether it has no capital letter (so it is its own dedupe bytes,
/// [`with_dedupe_bytes`]), eight bytes at a time ([`Classes`]): printable
/// ASCII (nothing at or below the space, no DEL, nothing past it, so no
/// control character and no white space), one `@`, something before it and
/// a dot inside the domain. `None` sends it the long way, which says why not.
pub fn plain_email(s: &[u8]) -> Option<bool> {
    if s.len() > MAX_EMAIL_LEN {
        return None;
    }
    let mut classes = Classes::default();
    let mut words = s.chunks_exact(8);
    for (i, word) in (&mut words).enumerate() {
        classes.add(
            u64::from_le_bytes(word.try_into().unwrap_or_default()),
            i * 8,
        );
    }
    let rest = words.remainder().len();
    if rest > 0 {
        let (word, at) = last_word(s, rest);
        classes.add(word, at);
    }
    let (at, end) = (classes.at, s.len() - 1);
    let plain = classes.odd == 0
        && classes.ats == 1
        && at > 0
        && classes.last_dot > at + 1
        && s[at + 1] != b'.'
        && s[end] != b'.';
    plain.then_some(classes.upper == 0)
}

/// The last `rest` bytes of `s` (1 to 7) as a word, the others a letter no
/// class counts, and where the word starts in `s`: read as one word (its
/// first bytes counted already) when `s` has eight, else byte by byte; never
/// through memory (a word read back from bytes just written waits for them).
fn last_word(s: &[u8], rest: usize) -> (u64, usize) {
    const PAD: u64 = 0x6161_6161_6161_6161;
    if let Some(start) = s.len().checked_sub(8) {
        let done = (1u64 << (8 * (8 - rest))) - 1;
        let tail = u64::from_le_bytes(s[start..].try_into().unwrap_or_default());
        ((tail & !done) | (PAD & done), start)
    } else {
        let bytes = s.iter().rev().fold(0u64, |w, &b| (w << 8) | u64::from(b));
        (bytes | (PAD << (8 * s.len())), 0)
    }
}

/// What [`plain_email`] finds of a string's bytes, a word of eight at a
/// time: each byte's high bit in `odd` and `upper` says whether it is that.
#[derive(Default)]
struct Classes {
    /// At or below the space, DEL, or not ASCII.
    odd: u64,
    /// A capital letter.
    upper: u64,
    /// `@`s, and where the last one is.
    ats: u32,
    at: usize,
    /// Where the last `.` is (0: none, or first).
    last_dot: usize,
}

impl Classes {
    /// The word of eight bytes starting at `offset`.
    fn add(&mut self, word: u64, offset: usize) {
        const LOW: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = LOW * 0x80;
        let seven = word & !HIGH;
        // Each byte's high bit: its low seven bits are at least `n` (seven
        // bits and at most 0x7f make at most 0xfe: no byte carries into the next).
        let at_least = |n: u8| (seven + LOW * u64::from(0x80 - n)) & HIGH;
        let is = |b: u8| at_least(b) & !at_least(b + 1) & !word & HIGH;
        self.odd |= (word & HIGH) | (!at_least(b'!') & HIGH) | at_least(0x7f);
        self.upper |= at_least(b'A') & !at_least(b'Z' + 1) & !word & HIGH;
        // Little-endian: a word's first byte is its lowest.
        let ats = is(b'@');
        if ats != 0 {
            self.ats += ats.count_ones();
            self.at = offset + (63 - ats.leading_zeros() as usize) / 8;
        }
        let dots = is(b'.');
        if dots != 0 {
            self.last_dot = offset + (63 - dots.leading_zeros() as usize) / 8;
        }
    }
}

/// Whether `s` is an e-mail address as purge validates them.
pub fn is_email(s: &str) -> bool {
    email(s).is_ok()
}

fn email(s: &str) -> Result<(), String> {
    if s.len() > MAX_EMAIL_LEN {
        return Err(format!("e-mail longer than {MAX_EMAIL_LEN} characters"));
    }
    let space = if s.is_ascii() {
        s.bytes().any(|b| b.is_ascii_whitespace() || b == 0x0b)
    } else {
        s.chars().any(char::is_whitespace)
    };
    if space {
        return Err("e-mail contains a space".into());
    }
    let (Some((local, domain)), 1) = (s.split_once('@'), s.bytes().filter(|b| *b == b'@').count())
    else {
        return Err("not an e-mail: needs exactly one @".into());
    };
    if local.is_empty() {
        return Err("not an e-mail: nothing before the @".into());
    }
    if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
        return Err("not an e-mail: the domain needs a dot".into());
    }
    Ok(())
}

fn phone(s: &str) -> Result<String, String> {
    let cleaned: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = cleaned.strip_prefix('+').unwrap_or("");
    let ok = !digits.is_empty()
        && digits.len() <= 15
        && digits.len() >= 2
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if ok {
        Ok(cleaned)
    } else {
        Err("not an E.164 phone number (+ and 2 to 15 digits)".into())
    }
}

/// Hand `f` the bytes an identifier is compared by for dedupe: e-mails
/// case-insensitively (lowered; ASCII ones without allocating).
pub fn with_dedupe_bytes<R>(check: Check, value: &str, f: impl FnOnce(&[u8]) -> R) -> R {
    if check != Check::Email || !value.bytes().any(|b| b.is_ascii_uppercase() || b >= 0x80) {
        return f(value.as_bytes());
    }
    if value.is_ascii() && value.len() <= MAX_EMAIL_LEN {
        let mut buf = [0u8; MAX_EMAIL_LEN];
        let lowered = &mut buf[..value.len()];
        lowered.copy_from_slice(value.as_bytes());
        lowered.make_ascii_lowercase();
        return f(lowered);
    }
    f(value.to_lowercase().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(validate(Check::Email, "a@b.co").is_ok());
        for bad in [
            "ab.co",
            "a@@b.co",
            "a@b@c.co",
            "@b.co",
            "a@bco",
            "a b@c.co",
            "a@b.",
            "a@.co",
            "a\u{7f}@b.co",
            "a\tb@c.co",
            "ä\u{85}@b.co",
            "a@b.co\u{a0}",
        ] {
            assert!(validate(Check::Email, bad).is_err(), "{bad}");
        }
        let long = format!("{}@b.co", "a".repeat(250));
        assert!(validate(Check::Email, &long).is_err());
    }

    /// The eight-at-a-time check says what the long way says, for every
    /// byte at every place of an address (of whole words and a few bytes
    /// more, and shorter than a word), and finds the capital letters
    /// wherever they are.
    #[test]
    fn the_word_at_a_time_check_agrees_with_the_long_way() {
        let bases: [&[u8]; 6] = [
            b"ab.cd@ef.gh",
            b"abcdefghijklmnopqrstuvwx@example.co",
            b"a@b.co",
            b"ab@cd.ef",
            b"abcdefghi@b.c",
            b"abcdefg@hijk.lmnopqrs",
        ];
        for (base, at) in bases
            .iter()
            .flat_map(|b| (0..b.len()).map(move |at| (b, at)))
        {
            for b in 0..=255u8 {
                let mut v = base.to_vec();
                v[at] = b;
                let long =
                    std::str::from_utf8(&v).is_ok_and(|s| !has_control(s) && email(s).is_ok());
                let fast = plain_email(&v);
                if let Some(lower) = fast {
                    assert!(long, "{v:?}");
                    assert_eq!(lower, !b.is_ascii_uppercase(), "{v:?}");
                } else {
                    assert!(!long || b >= 0x80 || b <= b' ' || b == 0x7f, "{v:?}");
                }
            }
        }
        assert_eq!(plain_email(b"Ab@x.io"), Some(false));
        assert_eq!(plain_email(b"a@b.co"), Some(true));
        assert_eq!(plain_email(b"a@B.co"), Some(false));
        assert_eq!(plain_email(b"a@b.c "), None);
        assert_eq!(plain_email(b"abcdefg@b.co\x7f"), None);
        assert_eq!(plain_email(b"abcdefgh@b.cO"), Some(false));
        assert_eq!(plain_email(b"ab@x.io"), Some(true));
        assert_eq!(plain_email(b"ab@x.iO"), Some(false));
        assert_eq!(plain_email(b"a@b@x.io"), None);
        assert_eq!(plain_email(&[b'a'; 255]), None);
    }

    /// The ASCII fast paths say what `char::is_control` and
    /// `char::is_whitespace` say, for every ASCII character.
    #[test]
    fn ascii_fast_paths_agree_with_char_classes() {
        for c in (0u8..128).map(char::from) {
            let v = format!("a{c}b@x.io");
            let want = !(c.is_control() || c.is_whitespace()) && c != '@';
            assert_eq!(validate(Check::Email, &v).is_ok(), want, "{:?}", c);
            assert_eq!(has_control(&format!("ä{c}")), c.is_control(), "{:?}", c);
        }
    }

    #[test]
    fn phones_are_normalised_to_e164() {
        assert_eq!(
            validate(Check::Phone, "+1 (555) 010-0199").unwrap(),
            "+15550100199"
        );
        assert!(validate(Check::Phone, "555 0100").is_err());
        assert!(validate(Check::Phone, "+0123").is_err());
        assert!(validate(Check::Phone, "+1234567890123456").is_err());
    }

    #[test]
    fn numeric_and_alias_and_text() {
        assert!(validate(Check::Numeric, "12345").is_ok());
        assert!(validate(Check::Numeric, "12a").is_err());
        assert!(validate(Check::Numeric, "99999999999999999999").is_err());
        assert_eq!(validate(Check::Alias, "crm: 42").unwrap(), "crm:42");
        assert!(validate(Check::Alias, "crm:").is_err());
        assert!(validate(Check::Text, "x\u{0}y").is_err());
        assert!(validate(Check::Text, "").is_err());
    }

    #[test]
    fn email_keys_ignore_case() {
        let bytes = |check, v| with_dedupe_bytes(check, v, <[u8]>::to_vec);
        assert_eq!(bytes(Check::Email, "A@B.co"), bytes(Check::Email, "a@b.CO"));
        assert_eq!(bytes(Check::Email, "Ä@B.co"), bytes(Check::Email, "ä@b.co"));
        assert_ne!(bytes(Check::Text, "Ab"), bytes(Check::Text, "ab"));
    }
}
