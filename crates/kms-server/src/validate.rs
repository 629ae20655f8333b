//! Request-field validation with AWS's ValidationException wording, shared by every handler.

use kms_types::model::Tag;
use kms_types::KmsError;

/// Serializes a response.
pub fn to_json<T: serde::Serialize>(value: T) -> Result<serde_json::Value, KmsError> {
    serde_json::to_value(value)
        .map_err(|e| KmsError::KmsInternal(format!("Could not encode the response: {e}")))
}

fn validation(detail: String) -> KmsError {
    KmsError::Validation(format!("1 validation error detected: {detail}"))
}

/// A required member, or AWS's "must not be null" error naming it (camelCase).
pub fn required<T>(value: Option<T>, field: &str) -> Result<T, KmsError> {
    value.ok_or_else(|| {
        validation(format!(
            "Value null at '{field}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

/// An integer member within `min..=max`.
pub fn in_range(value: i64, min: i64, max: i64, field: &str) -> Result<i64, KmsError> {
    if value < min {
        return Err(validation(format!(
            "Value '{value}' at '{field}' failed to satisfy constraint: Member must have value greater than or equal to {min}"
        )));
    }
    if value > max {
        return Err(validation(format!(
            "Value '{value}' at '{field}' failed to satisfy constraint: Member must have value less than or equal to {max}"
        )));
    }
    Ok(value)
}

/// A string or blob member whose length must lie within `min..=max`.
pub fn length_within(len: usize, min: usize, max: usize, field: &str) -> Result<(), KmsError> {
    if len < min || len > max {
        return Err(validation(format!(
            "Value at '{field}' failed to satisfy constraint: Member must have length between {min} and {max}"
        )));
    }
    Ok(())
}

/// A `Limit` member: absent gives `default`, otherwise it must be within `1..=max`.
pub fn limit(value: Option<i64>, default: usize, max: usize) -> Result<usize, KmsError> {
    match value {
        None => Ok(default),
        Some(v) => Ok(in_range(v, 1, max as i64, "limit")? as usize),
    }
}

/// Checks tags as TagResource and CreateKey do.
pub fn tags(tags: &[Tag]) -> Result<Vec<(String, String)>, KmsError> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(tags.len());
    for tag in tags {
        length_within(tag.tag_key.chars().count(), 1, 128, "tags.member.tagKey")?;
        length_within(
            tag.tag_value.chars().count(),
            0,
            256,
            "tags.member.tagValue",
        )?;
        if tag.tag_key.starts_with("aws:") {
            return Err(KmsError::Tag(
                "Tags beginning with aws: are reserved".into(),
            ));
        }
        if !seen.insert(tag.tag_key.clone()) {
            return Err(KmsError::Tag(format!("Duplicate tag key {}", tag.tag_key)));
        }
        out.push((tag.tag_key.clone(), tag.tag_value.clone()));
    }
    Ok(out)
}

/// Checks a key policy document: size, characters, and that it is a JSON policy object.
pub fn policy(document: &str) -> Result<(), KmsError> {
    length_within(document.chars().count(), 1, 131_072, "policy")?;
    if document.len() > 32_768 {
        return Err(KmsError::LimitExceeded(
            "The key policy exceeds the 32 KB quota.".into(),
        ));
    }
    let allowed = |c: char| matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{ff}');
    if !document.chars().all(allowed) {
        return Err(validation(
            "Value at 'policy' failed to satisfy constraint: Member must satisfy regular expression pattern: \
             [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+"
                .into(),
        ));
    }
    let malformed = |why: &str| {
        KmsError::MalformedPolicyDocument(format!("The new key policy is malformed: {why}"))
    };
    let value: serde_json::Value =
        serde_json::from_str(document).map_err(|_| malformed("it is not valid JSON"))?;
    let object = value
        .as_object()
        .ok_or_else(|| malformed("it is not a JSON object"))?;
    let statements = match object.get("Statement") {
        Some(serde_json::Value::Array(list)) if !list.is_empty() => list.clone(),
        Some(serde_json::Value::Object(one)) => vec![serde_json::Value::Object(one.clone())],
        _ => return Err(malformed("it has no Statement")),
    };
    for statement in &statements {
        let effect = statement.get("Effect").and_then(|e| e.as_str());
        if !matches!(effect, Some("Allow") | Some("Deny")) {
            return Err(malformed("every statement needs Effect Allow or Deny"));
        }
        if statement.get("Action").is_none() && statement.get("NotAction").is_none() {
            return Err(malformed("every statement needs an Action"));
        }
    }
    Ok(())
}

/// A string member that must match AWS's regular expression `pattern` (`matches` says whether
/// it does). A `secret` member's value is not echoed.
pub fn pattern(
    value: &str,
    matches: bool,
    field: &str,
    pattern: &str,
    secret: bool,
) -> Result<(), KmsError> {
    if matches {
        return Ok(());
    }
    let shown = if secret {
        String::new()
    } else {
        format!(" '{value}'")
    };
    Err(validation(format!(
        "Value{shown} at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_is_a_valid_policy_naming_the_account_root() {
        let document = kms_policy::default_key_policy("111122223333");
        assert!(policy(&document).is_ok());
        let value: serde_json::Value = serde_json::from_str(&document).expect("json");
        assert_eq!(
            value["Statement"][0]["Principal"]["AWS"],
            "arn:aws:iam::111122223333:root"
        );
        assert_eq!(value["Id"], "key-default-1");
    }

    #[test]
    fn policies_are_checked() {
        assert!(matches!(
            policy("not json"),
            Err(KmsError::MalformedPolicyDocument(_))
        ));
        assert!(matches!(
            policy("[]"),
            Err(KmsError::MalformedPolicyDocument(_))
        ));
        assert!(matches!(
            policy(r#"{"Statement":[]}"#),
            Err(KmsError::MalformedPolicyDocument(_))
        ));
        let big = format!(
            r#"{{"Statement":[{{"Effect":"Allow","Action":"kms:*","Sid":"{}"}}]}}"#,
            "x".repeat(40_000)
        );
        assert!(matches!(policy(&big), Err(KmsError::LimitExceeded(_))));
    }

    #[test]
    fn ranges_and_tags() {
        assert!(in_range(6, 7, 30, "pendingWindowInDays").is_err());
        assert_eq!(limit(None, 100, 1000).ok(), Some(100));
        assert!(limit(Some(0), 100, 1000).is_err());
        let reserved = [Tag {
            tag_key: "aws:x".into(),
            tag_value: String::new(),
        }];
        assert!(matches!(tags(&reserved), Err(KmsError::Tag(_))));
    }
}
