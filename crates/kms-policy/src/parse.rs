//! Parsing and validating policy documents into a [`Policy`] that is cheap to evaluate.

use crate::arn;
use crate::condition::{self, Condition};
use crate::error::{malformed, PolicyError};
use serde_json::Value;

/// Whether a statement allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// `"Effect": "Allow"`.
    Allow,
    /// `"Effect": "Deny"`.
    Deny,
}

/// A parsed, validated policy document. Parse once, evaluate many times.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    version: Option<String>,
    id: Option<String>,
    statements: Vec<Statement>,
}

/// One statement of a [`Policy`].
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    pub(crate) principal: Option<Principals>,
    pub(crate) action: Patterns,
    /// `None` when the statement has neither `Resource` nor `NotResource`.
    pub(crate) resource: Option<Patterns>,
    pub(crate) conditions: Vec<Condition>,
}

/// `Action`/`NotAction` or `Resource`/`NotResource`: wildcard patterns, possibly negated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Patterns {
    pub(crate) negated: bool,
    pub(crate) patterns: Vec<String>,
}

/// `Principal`/`NotPrincipal`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Principals {
    pub(crate) negated: bool,
    pub(crate) entries: Vec<Principal>,
}

/// One principal a statement names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Principal {
    /// `"*"` or `{"AWS": "*"}`: everyone.
    Any,
    /// An IAM/STS ARN; a bare account id is stored as `arn:aws:iam::ACCOUNT:root`.
    Aws(String),
    /// A service principal (`{"Service": "..."}`).
    Service(String),
    /// An identity provider (`{"Federated": "..."}`).
    Federated(String),
}

impl Policy {
    /// Parses a policy in which `Principal` is optional (identity-based policies).
    pub fn parse(document: &str) -> Result<Self, PolicyError> {
        parse(document, false)
    }

    /// Parses a key policy: like [`Policy::parse`], but every statement must name a principal.
    pub fn parse_key_policy(document: &str) -> Result<Self, PolicyError> {
        parse(document, true)
    }

    /// The `Version` element, if present.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The `Id` element, if present.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The statements, in document order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }
}

impl Statement {
    /// The `Sid` element, if present.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// The `Effect` element.
    pub fn effect(&self) -> Effect {
        self.effect
    }
}

fn parse(document: &str, require_principal: bool) -> Result<Policy, PolicyError> {
    let value: Value =
        serde_json::from_str(document).map_err(|e| malformed(format!("invalid JSON: {e}")))?;
    let Value::Object(fields) = value else {
        return Err(malformed("the policy must be a JSON object"));
    };
    let (mut version, mut id, mut statements) = (None, None, None);
    for (field, value) in fields {
        match field.as_str() {
            "Version" => match value.as_str() {
                Some(v @ ("2012-10-17" | "2008-10-17")) => version = Some(v.to_owned()),
                _ => return Err(malformed(format!("unsupported Version {value}"))),
            },
            "Id" => id = Some(string(value, "Id")?),
            "Statement" => {
                let list = match value {
                    Value::Array(list) if !list.is_empty() => list,
                    object @ Value::Object(_) => vec![object],
                    _ => return Err(malformed("Statement must be an object or a non-empty list")),
                };
                statements = Some(
                    list.into_iter()
                        .map(|s| statement(s, require_principal))
                        .collect::<Result<_, _>>()?,
                );
            }
            other => return Err(malformed(format!("Unknown field {other}"))),
        }
    }
    let statements = statements.ok_or_else(|| malformed("Missing required field Statement"))?;
    Ok(Policy {
        version,
        id,
        statements,
    })
}

fn statement(value: Value, require_principal: bool) -> Result<Statement, PolicyError> {
    let Value::Object(fields) = value else {
        return Err(malformed("each statement must be a JSON object"));
    };
    let (mut sid, mut effect, mut principal, mut action, mut resource) =
        (None, None, None, None, None);
    let mut conditions = Vec::new();
    for (field, value) in fields {
        let negated = field.starts_with("Not");
        match field.as_str() {
            "Sid" => sid = Some(string(value, "Sid")?),
            "Effect" => {
                effect = Some(match value.as_str() {
                    Some("Allow") => Effect::Allow,
                    Some("Deny") => Effect::Deny,
                    _ => return Err(malformed(format!("Invalid effect: {value}"))),
                })
            }
            "Principal" | "NotPrincipal" => once(
                &mut principal,
                principals(value, negated)?,
                "Principal and NotPrincipal",
            )?,
            "Action" | "NotAction" => {
                let patterns = strings(value, &field)?;
                if let Some(bad) = patterns.iter().find(|a| !is_action(a)) {
                    return Err(malformed(format!(
                        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc. ({bad})"
                    )));
                }
                once(
                    &mut action,
                    Patterns { negated, patterns },
                    "Action and NotAction",
                )?
            }
            "Resource" | "NotResource" => {
                let patterns = strings(value, &field)?;
                if let Some(bad) = patterns
                    .iter()
                    .find(|r| *r != "*" && arn::parts(r).is_none())
                {
                    return Err(malformed(format!(
                        "Resource {bad} must be in ARN format or \"*\"."
                    )));
                }
                once(
                    &mut resource,
                    Patterns { negated, patterns },
                    "Resource and NotResource",
                )?
            }
            "Condition" => conditions = condition::parse_block(value)?,
            other => return Err(malformed(format!("Unknown field {other}"))),
        }
    }
    if require_principal && principal.is_none() {
        return Err(malformed("Missing required field Principal"));
    }
    Ok(Statement {
        sid,
        effect: effect.ok_or_else(|| malformed("Missing required field Effect"))?,
        principal,
        action: action.ok_or_else(|| malformed("Missing required field Action"))?,
        resource,
        conditions,
    })
}

/// Sets `slot` unless a statement already set it (through the element's `Not` twin).
fn once<T>(slot: &mut Option<T>, value: T, pair: &str) -> Result<(), PolicyError> {
    if slot.replace(value).is_some() {
        return Err(malformed(format!("a statement cannot contain both {pair}")));
    }
    Ok(())
}

fn is_action(action: &str) -> bool {
    action == "*"
        || action
            .split_once(':')
            .is_some_and(|(vendor, name)| !vendor.is_empty() && !name.is_empty())
}

fn string(value: Value, field: &str) -> Result<String, PolicyError> {
    match value {
        Value::String(s) => Ok(s),
        _ => Err(malformed(format!("{field} must be a string"))),
    }
}

/// A string or a non-empty list of strings.
fn strings(value: Value, field: &str) -> Result<Vec<String>, PolicyError> {
    let bad = || {
        malformed(format!(
            "{field} must be a string or a non-empty list of strings"
        ))
    };
    match value {
        Value::String(s) => Ok(vec![s]),
        Value::Array(items) if !items.is_empty() => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                _ => Err(bad()),
            })
            .collect(),
        _ => Err(bad()),
    }
}

fn principals(value: Value, negated: bool) -> Result<Principals, PolicyError> {
    let entries = match value {
        Value::String(s) if s == "*" => vec![Principal::Any],
        Value::Object(kinds) if !kinds.is_empty() => {
            let mut entries = Vec::new();
            for (kind, names) in kinds {
                for name in strings(names, &kind).map_err(|_| PolicyError::InvalidPrincipal)? {
                    entries.push(principal(&kind, name)?);
                }
            }
            entries
        }
        _ => return Err(PolicyError::InvalidPrincipal),
    };
    Ok(Principals { negated, entries })
}

fn principal(kind: &str, name: String) -> Result<Principal, PolicyError> {
    let plain = !name.is_empty() && !name.contains(char::is_whitespace);
    Ok(match kind {
        "AWS" if name == "*" => Principal::Any,
        "AWS" if arn::is_account_id(&name) => Principal::Aws(format!("arn:aws:iam::{name}:root")),
        "AWS" if arn::is_principal(&name) => Principal::Aws(name),
        "Service" if plain => Principal::Service(name),
        "Federated" if plain => Principal::Federated(name),
        _ => return Err(PolicyError::InvalidPrincipal),
    })
}
