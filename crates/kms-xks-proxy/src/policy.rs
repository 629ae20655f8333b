//! Secondary authorization: a store's allow rules say which `awsPrincipalArn` values may use
//! which external keys for which operations. A rule matches when one of its principal
//! patterns matches the principal, one of its key patterns the key id, and it lists the
//! operation; a request is allowed when some rule matches, denied otherwise (so a store
//! without rules serves no key). Patterns are exact, or use `*` for any run of characters.
//! Health checks are never subject to it (the spec exempts them).

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;

/// An operation a rule can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// GetKeyMetadata.
    Metadata,
    /// Encrypt.
    Encrypt,
    /// Decrypt.
    Decrypt,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Metadata => "metadata",
            Operation::Encrypt => "encrypt",
            Operation::Decrypt => "decrypt",
        })
    }
}

/// A pattern: literal text where `*` matches any run of characters (also none).
#[derive(Clone, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    /// The pattern `text`.
    pub fn new(text: &str) -> Pattern {
        Pattern(text.to_string())
    }

    /// Whether `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        let mut parts = self.0.split('*');
        // No `*`: an exact match.
        let first = parts.next().unwrap_or("");
        let Some(mut rest) = value.strip_prefix(first) else {
            return false;
        };
        let parts: Vec<&str> = parts.collect();
        let Some((last, middle)) = parts.split_last() else {
            return rest.is_empty();
        };
        // Each middle piece at its leftmost place leaves the most room for the others.
        for piece in middle {
            match rest.find(piece) {
                Some(at) => rest = &rest[at + piece.len()..],
                None => return false,
            }
        }
        rest.ends_with(last)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// One allow rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `awsPrincipalArn` patterns.
    pub principals: Vec<Pattern>,
    /// External key id patterns.
    pub keys: Vec<Pattern>,
    /// What the rule allows.
    pub operations: BTreeSet<Operation>,
}

/// A store's allow rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// In config order.
    pub rules: Vec<Rule>,
}

impl Policy {
    /// The number (from 1) of the first rule that allows `principal` to do `op` with `key`,
    /// or `None`: denied.
    pub fn allows(&self, principal: &str, key: &str, op: Operation) -> Option<usize> {
        self.rules
            .iter()
            .position(|rule| {
                rule.operations.contains(&op)
                    && rule.principals.iter().any(|p| p.matches(principal))
                    && rule.keys.iter().any(|k| k.matches(key))
            })
            .map(|i| i + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let cases = [
            ("abc", "abc", true),
            ("abc", "abcd", false),
            ("*", "", true),
            ("*", "anything", true),
            ("a*", "a", true),
            ("a*", "ba", false),
            ("*c", "abc", true),
            ("*c", "abcd", false),
            ("a*c", "abbbc", true),
            ("a*c", "ac", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXcYb", false),
            ("a*a", "a", false),
            ("*b*", "abc", true),
            (
                "arn:aws:iam::123456789012:role/app-*",
                "arn:aws:iam::123456789012:role/app-web",
                true,
            ),
            (
                "arn:aws:iam::123456789012:role/app-*",
                "arn:aws:iam::999999999999:role/app-web",
                false,
            ),
        ];
        for (pattern, value, expected) in cases {
            assert_eq!(
                Pattern::new(pattern).matches(value),
                expected,
                "{pattern} ~ {value}"
            );
        }
    }

    #[test]
    fn the_first_matching_rule_allows() {
        let policy = Policy {
            rules: vec![
                Rule {
                    principals: vec![Pattern::new("arn:aws:iam::1:user/Alice")],
                    keys: vec![Pattern::new("key-1")],
                    operations: [Operation::Encrypt].into(),
                },
                Rule {
                    principals: vec![Pattern::new("arn:aws:iam::1:*")],
                    keys: vec![Pattern::new("*")],
                    operations: [Operation::Metadata, Operation::Decrypt].into(),
                },
            ],
        };
        let alice = "arn:aws:iam::1:user/Alice";
        assert_eq!(policy.allows(alice, "key-1", Operation::Encrypt), Some(1));
        assert_eq!(policy.allows(alice, "key-2", Operation::Encrypt), None);
        assert_eq!(policy.allows(alice, "key-2", Operation::Decrypt), Some(2));
        assert_eq!(
            policy.allows("arn:aws:iam::2:user/Bob", "key-1", Operation::Metadata),
            None
        );
        assert_eq!(
            Policy::default().allows(alice, "key-1", Operation::Metadata),
            None
        );
    }
}
