//! The `Condition` element: operators parsed once into typed matchers, then tested against a
//! request's context values.
//!
//! Semantics follow IAM: operators AND together, keys within an operator AND together, values
//! for one key OR together (NOR for negated operators). A key that is absent (or has no values)
//! fails a positive operator and satisfies a negated one; `...IfExists` makes an absent key
//! satisfy any operator; `ForAllValues:` is satisfied by an absent key, `ForAnyValue:` is not.
//! Without a set qualifier a multi-valued key satisfies a positive operator when any of its
//! values does, and a negated operator when none does.

use crate::error::{malformed, PolicyError};
use crate::{arn, wildcard};
use ipnet::IpNet;
use serde_json::Value;
use std::cmp::Ordering;
use std::net::IpAddr;
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{Date, OffsetDateTime};

/// One `operator: { key: values }` entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    /// The condition key, lower-cased (IAM keys are case-insensitive).
    pub(crate) key: String,
    negated: bool,
    if_exists: bool,
    set: Option<Set>,
    test: Test,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
    AnyValue,
    AllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// The operator family with the policy's values, already converted to their type.
#[derive(Debug, Clone, PartialEq)]
enum Test {
    Equals(Vec<String>),
    EqualsIgnoreCase(Vec<String>),
    Like(Vec<String>),
    Numeric(Cmp, Vec<f64>),
    Date(Cmp, Vec<OffsetDateTime>),
    Bool(Vec<bool>),
    Binary(Vec<String>),
    Ip(Vec<IpNet>),
    Arn(Vec<String>),
    /// `Null`: `true` means "the key must be absent".
    Null(Vec<bool>),
}

/// The operator families, before values are attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Equals,
    EqualsIgnoreCase,
    Like,
    Numeric(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

/// The base operator name → its family and whether it is negated.
fn base_operator(name: &str) -> Option<(Kind, bool)> {
    use {Cmp::*, Kind::*};
    Some(match name {
        "StringEquals" => (Equals, false),
        "StringNotEquals" => (Equals, true),
        "StringEqualsIgnoreCase" => (EqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (EqualsIgnoreCase, true),
        "StringLike" => (Like, false),
        "StringNotLike" => (Like, true),
        "NumericEquals" => (Numeric(Eq), false),
        "NumericNotEquals" => (Numeric(Eq), true),
        "NumericLessThan" => (Numeric(Lt), false),
        "NumericLessThanEquals" => (Numeric(Le), false),
        "NumericGreaterThan" => (Numeric(Gt), false),
        "NumericGreaterThanEquals" => (Numeric(Ge), false),
        "DateEquals" => (Date(Eq), false),
        "DateNotEquals" => (Date(Eq), true),
        "DateLessThan" => (Date(Lt), false),
        "DateLessThanEquals" => (Date(Le), false),
        "DateGreaterThan" => (Date(Gt), false),
        "DateGreaterThanEquals" => (Date(Ge), false),
        "Bool" => (Bool, false),
        "BinaryEquals" => (Binary, false),
        "IpAddress" => (Ip, false),
        "NotIpAddress" => (Ip, true),
        "ArnEquals" | "ArnLike" => (Arn, false),
        "ArnNotEquals" | "ArnNotLike" => (Arn, true),
        "Null" => (Null, false),
        _ => return None,
    })
}

/// Parses a statement's `Condition` element into its entries (all of which must hold).
pub(crate) fn parse_block(value: Value) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(operators) = value else {
        return Err(malformed("Condition must be a JSON object"));
    };
    let mut conditions = Vec::new();
    for (operator, keys) in operators {
        let (set, rest) = if let Some(rest) = operator.strip_prefix("ForAnyValue:") {
            (Some(Set::AnyValue), rest)
        } else if let Some(rest) = operator.strip_prefix("ForAllValues:") {
            (Some(Set::AllValues), rest)
        } else {
            (None, operator.as_str())
        };
        let (if_exists, rest) = rest
            .strip_suffix("IfExists")
            .map_or((false, rest), |r| (true, r));
        let (kind, negated) = base_operator(rest)
            .filter(|(kind, _)| *kind != Kind::Null || (!if_exists && set.is_none()))
            .ok_or_else(|| malformed(format!("Invalid Condition type : {operator}")))?;
        let Value::Object(keys) = keys else {
            return Err(malformed(format!(
                "{operator} must map condition keys to values"
            )));
        };
        for (key, values) in keys {
            if !key
                .split_once(':')
                .is_some_and(|(v, k)| !v.is_empty() && !k.is_empty())
            {
                return Err(malformed(format!(
                    "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc. ({key})"
                )));
            }
            let values = scalars(values, &operator)?;
            let test = typed(kind, values).ok_or_else(|| {
                malformed(format!("invalid value for condition {operator} on {key}"))
            })?;
            conditions.push(Condition {
                key: key.to_lowercase(),
                negated,
                if_exists,
                set,
                test,
            });
        }
    }
    Ok(conditions)
}

/// A condition value or non-empty list of them; numbers and booleans become their JSON text.
fn scalars(value: Value, operator: &str) -> Result<Vec<String>, PolicyError> {
    let scalar = |v: Value| match v {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let values = match value {
        Value::Array(items) if !items.is_empty() => items.into_iter().map(scalar).collect(),
        Value::Array(_) => None,
        other => scalar(other).map(|s| vec![s]),
    };
    values.ok_or_else(|| {
        malformed(format!(
            "{operator} values must be strings, numbers or booleans"
        ))
    })
}

fn typed(kind: Kind, values: Vec<String>) -> Option<Test> {
    fn all<T>(values: &[String], f: impl Fn(&str) -> Option<T>) -> Option<Vec<T>> {
        values.iter().map(|v| f(v)).collect()
    }
    Some(match kind {
        Kind::Equals => Test::Equals(values),
        Kind::EqualsIgnoreCase => Test::EqualsIgnoreCase(values),
        Kind::Like => Test::Like(values),
        Kind::Binary => Test::Binary(values),
        Kind::Arn => Test::Arn(values),
        Kind::Numeric(cmp) => Test::Numeric(cmp, all(&values, number)?),
        Kind::Date(cmp) => Test::Date(cmp, all(&values, date)?),
        Kind::Bool => Test::Bool(all(&values, boolean)?),
        Kind::Null => Test::Null(all(&values, boolean)?),
        Kind::Ip => Test::Ip(all(&values, |v| {
            v.parse::<IpNet>()
                .ok()
                .or_else(|| v.parse::<IpAddr>().ok().map(IpNet::from))
        })?),
    })
}

fn number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

fn boolean(s: &str) -> Option<bool> {
    [true, false]
        .into_iter()
        .find(|b| s.eq_ignore_ascii_case(if *b { "true" } else { "false" }))
}

/// ISO 8601 (date-time with offset, or a bare date at midnight UTC) or epoch seconds.
fn date(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if let Ok(seconds) = s.parse::<i64>() {
        return OffsetDateTime::from_unix_timestamp(seconds).ok();
    }
    OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(s, &Iso8601::DEFAULT))
        .ok()
        .or_else(|| {
            Some(
                Date::parse(s, &Iso8601::DEFAULT)
                    .ok()?
                    .midnight()
                    .assume_utc(),
            )
        })
}

impl Cmp {
    fn holds(self, ordering: Option<Ordering>) -> bool {
        use Ordering::*;
        matches!(
            (self, ordering),
            (Cmp::Eq, Some(Equal))
                | (Cmp::Lt, Some(Less))
                | (Cmp::Le, Some(Less | Equal))
                | (Cmp::Gt, Some(Greater))
                | (Cmp::Ge, Some(Greater | Equal))
        )
    }
}

impl Condition {
    /// Whether this entry holds given the request's values for its key (`None` when absent).
    pub(crate) fn holds(&self, actual: Option<&[String]>) -> bool {
        let actual = actual.filter(|values| !values.is_empty());
        if let Test::Null(want_absent) = &self.test {
            return want_absent.contains(&actual.is_none());
        }
        let Some(actual) = actual else {
            return self.if_exists
                || match self.set {
                    Some(Set::AllValues) => true,
                    Some(Set::AnyValue) => false,
                    None => self.negated,
                };
        };
        let test = |value: &String| self.matches(value) != self.negated;
        match self.set {
            Some(Set::AllValues) => actual.iter().all(test),
            Some(Set::AnyValue) => actual.iter().any(test),
            None => actual.iter().any(|value| self.matches(value)) != self.negated,
        }
    }

    /// Whether one request value matches any of the policy's values (the positive operator).
    fn matches(&self, actual: &str) -> bool {
        match &self.test {
            Test::Equals(p) | Test::Binary(p) => p.iter().any(|p| p == actual),
            Test::EqualsIgnoreCase(p) => p.iter().any(|p| {
                p.chars()
                    .flat_map(char::to_lowercase)
                    .eq(actual.chars().flat_map(char::to_lowercase))
            }),
            Test::Like(p) => p.iter().any(|p| wildcard::matches(p, actual, false)),
            Test::Arn(p) => p.iter().any(|p| arn::like(p, actual)),
            Test::Numeric(cmp, p) => {
                number(actual).is_some_and(|a| p.iter().any(|p| cmp.holds(a.partial_cmp(p))))
            }
            Test::Date(cmp, p) => {
                date(actual).is_some_and(|a| p.iter().any(|p| cmp.holds(Some(a.cmp(p)))))
            }
            Test::Bool(p) => boolean(actual).is_some_and(|a| p.contains(&a)),
            Test::Ip(p) => actual
                .trim()
                .parse::<IpAddr>()
                .is_ok_and(|a| p.iter().any(|net| net.contains(&a))),
            Test::Null(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::date;

    #[test]
    fn date_forms() {
        let t = |s| date(s).map(|d| d.unix_timestamp());
        assert_eq!(t("2020-01-01T00:00:00Z"), Some(1_577_836_800));
        assert_eq!(t("2020-01-01T01:00:00+01:00"), Some(1_577_836_800));
        assert_eq!(t("2020-01-01T00:00:00.500Z"), Some(1_577_836_800));
        assert_eq!(t("2020-01-01"), Some(1_577_836_800));
        assert_eq!(t("1577836800"), Some(1_577_836_800));
        assert_eq!(t("yesterday"), None);
    }
}
