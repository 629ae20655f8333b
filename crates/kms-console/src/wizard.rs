//! The create-key wizard's rules: the choices it carries between steps, AWS's alias rules, and
//! the key policy AWS's console writes by default.

use serde_json::{json, Value};

/// Everything the wizard has collected, carried in hidden fields and validated again on Finish.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choices {
    /// `SYMMETRIC_DEFAULT`, `RSA_2048`, `HMAC_256`, ...
    pub key_spec: String,
    /// `ENCRYPT_DECRYPT`, `SIGN_VERIFY`, `GENERATE_VERIFY_MAC`, ...
    pub key_usage: String,
    /// `AWS_KMS` or `EXTERNAL`.
    pub origin: String,
    /// Whether the key is a multi-Region primary key.
    pub multi_region: bool,
    /// The alias name without `alias/` (may be empty).
    pub alias: String,
    /// The description.
    pub description: String,
    /// Tags as (key, value), in the order typed.
    pub tags: Vec<(String, String)>,
    /// Key administrators (principal ARNs).
    pub admins: Vec<String>,
    /// Whether administrators may schedule and cancel deletion.
    pub admins_may_delete: bool,
    /// Key users (principal ARNs).
    pub users: Vec<String>,
    /// Other AWS accounts (12-digit ids) that may use the key.
    pub accounts: Vec<String>,
}

impl Choices {
    /// Reads the wizard's fields from a form.
    pub fn from_form(form: &[(String, String)]) -> Choices {
        let get = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default()
        };
        let lines = |name: &str| -> Vec<String> {
            get(name)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        };
        let tags = lines("tags")
            .into_iter()
            .map(|line| match line.split_once('=') {
                Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
                None => (line, String::new()),
            })
            .collect();
        let alias = get("alias");
        let alias = alias.strip_prefix("alias/").unwrap_or(&alias).to_string();
        Choices {
            key_spec: or(get("key_spec"), "SYMMETRIC_DEFAULT"),
            key_usage: or(get("key_usage"), "ENCRYPT_DECRYPT"),
            origin: or(get("origin"), "AWS_KMS"),
            multi_region: get("multi_region") == "true",
            alias,
            description: get("description"),
            tags,
            admins: lines("admins"),
            admins_may_delete: get("admins_may_delete") == "true",
            users: lines("users"),
            accounts: lines("accounts"),
        }
    }

    /// The fields as (name, value) pairs for hidden inputs.
    pub fn hidden_fields(&self) -> Vec<(&'static str, String)> {
        let tags: Vec<String> = self.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        vec![
            ("key_spec", self.key_spec.clone()),
            ("key_usage", self.key_usage.clone()),
            ("origin", self.origin.clone()),
            ("multi_region", self.multi_region.to_string()),
            ("alias", self.alias.clone()),
            ("description", self.description.clone()),
            ("tags", tags.join("\n")),
            ("admins", self.admins.join("\n")),
            ("admins_may_delete", self.admins_may_delete.to_string()),
            ("users", self.users.join("\n")),
            ("accounts", self.accounts.join("\n")),
        ]
    }

    /// The problems with these choices, as (field, message); empty when they may be submitted.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Err(message) = check_alias(&self.alias) {
            out.push(("alias", message));
        }
        if self.description.chars().count() > 8192 {
            out.push((
                "description",
                "Description must be at most 8192 characters.".into(),
            ));
        }
        for (k, v) in &self.tags {
            if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
                out.push((
                    "tags",
                    "Each tag is KEY=VALUE: key 1-128 characters, value at most 256.".into(),
                ));
                break;
            }
            if k.starts_with("aws:") {
                out.push(("tags", "Tag keys cannot begin with aws:.".into()));
                break;
            }
        }
        for account in &self.accounts {
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                out.push((
                    "accounts",
                    format!("{account} is not a 12-digit AWS account id."),
                ));
            }
        }
        for arn in self.admins.iter().chain(&self.users) {
            if !arn.starts_with("arn:") {
                out.push(("principals", format!("{arn} is not an ARN.")));
            }
        }
        out
    }
}

fn or(value: String, default: &str) -> String {
    if value.is_empty() {
        default.to_string()
    } else {
        value
    }
}

/// AWS's alias rules for the part after `alias/`: optional; 1-250 characters of
/// `A-Za-z0-9/_-`; not beginning with `aws/`.
pub fn check_alias(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Ok(());
    }
    if name.len() > 250 {
        return Err("Alias must be at most 250 characters after alias/.".into());
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
    {
        return Err("Alias may contain only letters, digits, /, _ and -.".into());
    }
    if name == "aws" || name.starts_with("aws/") {
        return Err("Aliases beginning with aws/ are reserved for AWS managed keys.".into());
    }
    Ok(())
}

/// The key policy AWS's console creates for these choices in `account`.
pub fn default_policy(account: &str, c: &Choices) -> Value {
    let mut statements = vec![json!({
        "Sid": "Enable IAM User Permissions",
        "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
        "Action": "kms:*",
        "Resource": "*"
    })];
    if !c.admins.is_empty() {
        let mut actions = vec![
            "kms:Create*",
            "kms:Describe*",
            "kms:Enable*",
            "kms:List*",
            "kms:Put*",
            "kms:Update*",
            "kms:Revoke*",
            "kms:Disable*",
            "kms:Get*",
            "kms:Delete*",
            "kms:TagResource",
            "kms:UntagResource",
            "kms:RotateKeyOnDemand",
        ];
        if c.admins_may_delete {
            actions.push("kms:ScheduleKeyDeletion");
            actions.push("kms:CancelKeyDeletion");
        }
        statements.push(json!({
            "Sid": "Allow access for Key Administrators",
            "Effect": "Allow",
            "Principal": {"AWS": c.admins},
            "Action": actions,
            "Resource": "*"
        }));
    }
    let users: Vec<String> = c
        .users
        .iter()
        .cloned()
        .chain(c.accounts.iter().map(|a| format!("arn:aws:iam::{a}:root")))
        .collect();
    if !users.is_empty() {
        let use_actions: Vec<&str> = match c.key_usage.as_str() {
            "SIGN_VERIFY" => vec![
                "kms:DescribeKey",
                "kms:GetPublicKey",
                "kms:Sign",
                "kms:Verify",
            ],
            "GENERATE_VERIFY_MAC" => vec!["kms:DescribeKey", "kms:GenerateMac", "kms:VerifyMac"],
            _ if c.key_spec != "SYMMETRIC_DEFAULT" => vec![
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:DescribeKey",
                "kms:GetPublicKey",
            ],
            _ => vec![
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:DescribeKey",
            ],
        };
        statements.push(json!({
            "Sid": "Allow use of the key",
            "Effect": "Allow",
            "Principal": {"AWS": users},
            "Action": use_actions,
            "Resource": "*"
        }));
        statements.push(json!({
            "Sid": "Allow attachment of persistent resources",
            "Effect": "Allow",
            "Principal": {"AWS": users},
            "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}
        }));
    }
    json!({"Version": "2012-10-17", "Id": "key-consolepolicy-3", "Statement": statements})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_rules() {
        assert!(check_alias("").is_ok());
        assert!(check_alias("my-key/app_1").is_ok());
        assert!(check_alias("aws/ebs").is_err());
        assert!(check_alias("has space").is_err());
        assert!(check_alias(&"a".repeat(251)).is_err());
    }

    #[test]
    fn policy_names_admins_users_and_accounts() {
        let c = Choices {
            key_spec: "SYMMETRIC_DEFAULT".into(),
            key_usage: "ENCRYPT_DECRYPT".into(),
            admins: vec!["arn:aws:iam::111122223333:user/admin".into()],
            admins_may_delete: false,
            users: vec!["arn:aws:iam::111122223333:user/app".into()],
            accounts: vec!["444455556666".into()],
            ..Choices::default()
        };
        let p = default_policy("111122223333", &c);
        let admin_actions = p["Statement"][1]["Action"].to_string();
        assert!(!admin_actions.contains("ScheduleKeyDeletion"));
        assert_eq!(
            p["Statement"][2]["Principal"]["AWS"][1],
            "arn:aws:iam::444455556666:root"
        );
    }
}
