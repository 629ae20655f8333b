//! IAM's wildcard matching: `*` matches any run of characters, `?` exactly one.

/// Whether `text` matches `pattern`; `ignore_case` compares ASCII letters case-insensitively
/// (action names). Linear-time greedy matching with one backtrack point, no allocation.
pub(crate) fn matches(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while let Some(tc) = text[t..].chars().next() {
        match pattern[p..].chars().next() {
            Some('*') => {
                p += 1;
                star = Some((p, t));
                continue;
            }
            Some('?') => {
                p += 1;
                t += tc.len_utf8();
                continue;
            }
            Some(pc) if pc == tc || (ignore_case && pc.eq_ignore_ascii_case(&tc)) => {
                p += pc.len_utf8();
                t += tc.len_utf8();
                continue;
            }
            _ => {}
        }
        let Some((star_p, star_t)) = star else {
            return false;
        };
        // Let the last `*` swallow one more character and retry from there.
        let next = star_t + text[star_t..].chars().next().map_or(1, char::len_utf8);
        star = Some((star_p, next));
        p = star_p;
        t = next;
    }
    pattern[p..].chars().all(|c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn wildcards() {
        assert!(matches("kms:*", "kms:Encrypt", false));
        assert!(matches(
            "kms:Generate*",
            "kms:GenerateDataKeyWithoutPlaintext",
            false
        ));
        assert!(matches("kms:ReEncrypt*", "kms:ReEncryptFrom", false));
        assert!(!matches("kms:ReEncrypt*", "kms:Encrypt", false));
        assert!(matches("kms:?ncrypt", "kms:Encrypt", false));
        assert!(!matches("kms:?ncrypt", "kms:ncrypt", false));
        assert!(matches("*", "", false));
        assert!(matches("", "", false));
        assert!(!matches("", "x", false));
        assert!(matches("a*b*c", "aXbYbZc", false));
        assert!(!matches("a*b*c", "aXbYbZ", false));
        assert!(matches("*é?", "xxéü", false));
        assert!(!matches("KMS:encrypt", "kms:Encrypt", false));
        assert!(matches("KMS:encrypt", "kms:Encrypt", true));
        assert!(matches("**?", "a", false));
    }
}
