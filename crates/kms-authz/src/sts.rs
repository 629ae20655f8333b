//! STS on the KMS port: GetCallerIdentity and AssumeRole (the roles and the session tokens live
//! in [`crate::identities`]). Answers are the inner XML of `<ActionResult>`; kms-api wraps them.

use crate::identities::IdentityStore;
use kms_api::sts::{escape, StsRequest};
use kms_types::KmsError;

/// Runs one STS action for the principal that signed it.
pub fn handle(store: &IdentityStore, request: StsRequest) -> Result<String, KmsError> {
    let caller = store.resolve(&request.principal)?.principal;
    match request.action.as_str() {
        "GetCallerIdentity" => Ok(format!(
            "<UserId>{}</UserId><Account>{}</Account><Arn>{}</Arn>",
            escape(&caller.user_id),
            escape(&caller.account),
            escape(&caller.arn)
        )),
        "AssumeRole" => {
            let param = |name: &str| request.params.get(name).map(String::as_str);
            let role_arn = param("RoleArn")
                .ok_or_else(|| missing("roleArn"))?
                .to_string();
            let session_name = param("RoleSessionName")
                .ok_or_else(|| missing("roleSessionName"))?
                .to_string();
            let name_ok = (2..=64).contains(&session_name.len())
                && session_name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
            if !name_ok {
                return Err(KmsError::Validation(format!(
                    "1 validation error detected: Value '{}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
                    session_name.chars().take(64).collect::<String>()
                )));
            }
            let duration = match param("DurationSeconds") {
                None => 3600,
                Some(text) => text
                    .parse::<i64>()
                    .ok()
                    .filter(|d| (900..=43_200).contains(d))
                    .ok_or_else(|| {
                        KmsError::Validation(
                            "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200".into(),
                        )
                    })?,
            };
            let credentials = store.assume_role(&caller, &role_arn, &session_name, duration)?;
            let expiration =
                time::OffsetDateTime::from_unix_timestamp(credentials.expires_ms / 1000)
                    .ok()
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .unwrap_or_default();
            Ok(format!(
                "<Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey>\
                 <SessionToken>{}</SessionToken><Expiration>{}</Expiration></Credentials>\
                 <AssumedRoleUser><AssumedRoleId>{}</AssumedRoleId><Arn>{}</Arn></AssumedRoleUser>",
                credentials.access_key_id,
                credentials.secret_access_key,
                escape(&credentials.session_token),
                expiration,
                escape(&credentials.assumed_role_id),
                escape(&credentials.assumed_role_arn)
            ))
        }
        other => Err(KmsError::UnknownOperation(format!(
            "Could not find operation {} for version 2011-06-15",
            other.chars().take(64).collect::<String>()
        ))),
    }
}

fn missing(field: &str) -> KmsError {
    KmsError::Validation(format!(
        "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
    ))
}
