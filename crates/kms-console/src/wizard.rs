//! The create-key wizard's rules: the choices it carries between steps, AWS's alias rules, and
//! the key policy AWS's console writes by default.

use serde_json::{json, Value};

/// The wizard's steps, in order, as AWS's console walks them.
pub const STEPS: [(&str, &str); 5] = [
    ("configure", "Configure key"),
    ("labels", "Add labels"),
    ("admins", "Define key administrative permissions"),
    ("users", "Define key usage permissions"),
    ("review", "Review"),
];

/// Everything the wizard has collected, carried in hidden fields and validated again on Finish.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choices {
    /// `symmetric`, `asymmetric` or `hmac`.
    pub key_type: String,
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
    /// Tags as (key, value), in the order typed; rows left empty are dropped.
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
    /// Reads the wizard's fields from a form: single fields by name, principals from every
    /// `admins`/`users` value (checkboxes and hidden fields) plus the ARNs typed one a line in
    /// `admins_other`/`users_other`, tags from `tag_key_N`/`tag_value_N` rows.
    pub fn from_form(form: &[(String, String)]) -> Choices {
        let get = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default()
        };
        let lines = |name: &str| -> Vec<String> {
            form.iter()
                .filter(|(k, _)| k == name)
                .flat_map(|(_, v)| v.lines())
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        };
        let principals = |name: &str| -> Vec<String> {
            let mut out: Vec<String> = Vec::new();
            for arn in lines(name)
                .into_iter()
                .chain(lines(&format!("{name}_other")))
            {
                if !out.contains(&arn) {
                    out.push(arn);
                }
            }
            out
        };
        let mut tags = Vec::new();
        for (name, key) in form {
            let Some(row) = name.strip_prefix("tag_key_") else {
                continue;
            };
            let value = get(&format!("tag_value_{row}"));
            if !key.trim().is_empty() || !value.is_empty() {
                tags.push((key.trim().to_string(), value));
            }
        }
        let alias = get("alias");
        let alias = alias.strip_prefix("alias/").unwrap_or(&alias).to_string();
        let key_type = or(get("key_type"), "symmetric");
        let (spec, usage) = match key_type.as_str() {
            "hmac" => ("HMAC_256", "GENERATE_VERIFY_MAC"),
            "asymmetric" => ("RSA_2048", "ENCRYPT_DECRYPT"),
            _ => ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
        };
        Choices {
            key_type,
            key_spec: or(get("key_spec"), spec),
            key_usage: or(get("key_usage"), usage),
            origin: or(get("origin"), "AWS_KMS"),
            multi_region: get("multi_region") == "true",
            alias,
            description: get("description"),
            tags,
            admins: principals("admins"),
            admins_may_delete: get("admins_may_delete") == "true",
            users: principals("users"),
            accounts: lines("accounts"),
        }
    }

    /// The fields as (name, value) pairs for hidden inputs, lists as repeated names, so the
    /// steps not shown carry through; `except` names the fields the shown step renders itself.
    pub fn hidden_fields(&self, except: &[&str]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = vec![
            ("key_type".into(), self.key_type.clone()),
            ("key_spec".into(), self.key_spec.clone()),
            ("key_usage".into(), self.key_usage.clone()),
            ("origin".into(), self.origin.clone()),
            ("multi_region".into(), self.multi_region.to_string()),
            ("alias".into(), self.alias.clone()),
            ("description".into(), self.description.clone()),
            (
                "admins_may_delete".into(),
                self.admins_may_delete.to_string(),
            ),
            ("accounts".into(), self.accounts.join("\n")),
        ];
        for (i, (k, v)) in self.tags.iter().enumerate() {
            out.push((format!("tag_key_{i}"), k.clone()));
            out.push((format!("tag_value_{i}"), v.clone()));
        }
        out.extend(
            self.admins
                .iter()
                .map(|a| ("admins".to_string(), a.clone())),
        );
        out.extend(self.users.iter().map(|u| ("users".to_string(), u.clone())));
        out.retain(|(name, _)| {
            let base = if name.starts_with("tag_") {
                "tags"
            } else {
                name.as_str()
            };
            !except.contains(&base)
        });
        out
    }

    /// The problems of one step's fields, as (field, message); empty when the step may be left.
    pub fn problems_of(&self, step: &str) -> Vec<(&'static str, String)> {
        self.problems()
            .into_iter()
            .filter(|(field, _)| step_of(field) == step)
            .collect()
    }

    /// The problems with these choices, as (field, message); empty when they may be submitted.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Err(message) = check_spec(&self.key_type, &self.key_spec, &self.key_usage) {
            out.push(("key_spec", message));
        }
        if self.origin == "EXTERNAL" && self.multi_region && self.key_type != "symmetric" {
            out.push((
                "origin",
                "Multi-Region keys with imported key material must be symmetric.".into(),
            ));
        }
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
                    "Each tag needs a key of 1-128 characters and a value of at most 256.".into(),
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
        for arn in &self.admins {
            if !arn.starts_with("arn:") {
                out.push(("admins", format!("{arn} is not an ARN.")));
            }
        }
        for arn in &self.users {
            if !arn.starts_with("arn:") {
                out.push(("users", format!("{arn} is not an ARN.")));
            }
        }
        out
    }
}

/// The step a field is entered on.
fn step_of(field: &str) -> &'static str {
    match field {
        "key_spec" | "key_usage" | "origin" => "configure",
        "alias" | "description" | "tags" => "labels",
        "admins" => "admins",
        _ => "users",
    }
}

/// Whether `spec` and `usage` belong to `key_type`, as AWS's console offers them.
fn check_spec(key_type: &str, spec: &str, usage: &str) -> Result<(), String> {
    let fits = match key_type {
        "symmetric" => spec == "SYMMETRIC_DEFAULT" && usage == "ENCRYPT_DECRYPT",
        "hmac" => spec.starts_with("HMAC_") && usage == "GENERATE_VERIFY_MAC",
        "asymmetric" => {
            let rsa =
                spec.starts_with("RSA_") && ["ENCRYPT_DECRYPT", "SIGN_VERIFY"].contains(&usage);
            let ecc = spec.starts_with("ECC_")
                && (usage == "SIGN_VERIFY"
                    || (usage == "KEY_AGREEMENT" && spec != "ECC_SECG_P256K1"));
            rsa || ecc
        }
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(format!(
            "A {key_type} key cannot have key spec {spec} with key usage {usage}."
        ))
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

/// The order AWS writes a policy's fields in; other fields follow, sorted.
const POLICY_FIELD_ORDER: [&str; 9] = [
    "Version",
    "Id",
    "Statement",
    "Sid",
    "Effect",
    "Principal",
    "Action",
    "Resource",
    "Condition",
];

/// `policy` pretty-printed (two-space indent) with its fields in AWS's order: `Version`, `Id`,
/// `Statement`, and in each statement `Sid`, `Effect`, `Principal`, `Action`, `Resource`,
/// `Condition`.
pub fn policy_text(policy: &Value) -> String {
    let mut out = String::new();
    write_policy_value(policy, 0, &mut out);
    out
}

fn write_policy_value(value: &Value, depth: usize, out: &mut String) {
    let indent = |d: usize| "  ".repeat(d);
    match value {
        Value::Object(map) if !map.is_empty() => {
            let rank = |k: &str| {
                POLICY_FIELD_ORDER
                    .iter()
                    .position(|f| *f == k)
                    .unwrap_or(usize::MAX)
            };
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by_key(|k| (rank(k), k.as_str()));
            out.push_str("{\n");
            for (i, key) in keys.iter().enumerate() {
                out.push_str(&indent(depth + 1));
                out.push_str(&Value::String((*key).clone()).to_string());
                out.push_str(": ");
                write_policy_value(&map[key.as_str()], depth + 1, out);
                out.push_str(if i + 1 < keys.len() { ",\n" } else { "\n" });
            }
            out.push_str(&indent(depth));
            out.push('}');
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&indent(depth + 1));
                write_policy_value(item, depth + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&indent(depth));
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
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
        if c.origin == "EXTERNAL" {
            actions.push("kms:ImportKeyMaterial");
        }
        if c.multi_region {
            actions.push("kms:ReplicateKey");
            actions.push("kms:UpdatePrimaryRegion");
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
            "KEY_AGREEMENT" => vec![
                "kms:DescribeKey",
                "kms:GetPublicKey",
                "kms:DeriveSharedSecret",
            ],
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
    fn policies_print_in_aws_field_order_and_parse_back_the_same() {
        let c = Choices {
            key_spec: "SYMMETRIC_DEFAULT".into(),
            key_usage: "ENCRYPT_DECRYPT".into(),
            users: vec!["arn:aws:iam::111122223333:user/app".into()],
            ..Choices::default()
        };
        let policy = default_policy("111122223333", &c);
        let text = policy_text(&policy);
        let at = |needle: &str| text.find(needle).expect(needle);
        assert!(at("\"Version\"") < at("\"Id\"") && at("\"Id\"") < at("\"Statement\""));
        assert!(at("\"Sid\"") < at("\"Effect\"") && at("\"Effect\"") < at("\"Principal\""));
        assert!(at("\"Action\"") < at("\"Resource\"") && at("\"Resource\"") < at("\"Condition\""));
        assert_eq!(
            serde_json::from_str::<Value>(&text).expect("the text parses"),
            policy
        );
        assert_eq!(
            policy_text(&json!({"a": [], "b": {}, "c": "x\"y"})),
            "{\n  \"a\": [],\n  \"b\": {},\n  \"c\": \"x\\\"y\"\n}"
        );
    }

    #[test]
    fn alias_rules() {
        assert!(check_alias("").is_ok());
        assert!(check_alias("my-key/app_1").is_ok());
        assert!(check_alias("aws/ebs").is_err());
        assert!(check_alias("has space").is_err());
        assert!(check_alias(&"a".repeat(251)).is_err());
    }

    #[test]
    fn steps_carry_every_choice_through_hidden_fields() {
        let form: Vec<(String, String)> = [
            ("key_type", "hmac"),
            ("key_spec", "HMAC_384"),
            ("key_usage", "GENERATE_VERIFY_MAC"),
            ("alias", "alias/app"),
            ("tag_key_0", "team"),
            ("tag_value_0", "blue"),
            ("tag_key_1", ""),
            ("tag_value_1", ""),
            ("tag_key_2", "env"),
            ("tag_value_2", "prod"),
            ("admins", "arn:aws:iam::111122223333:user/a"),
            (
                "admins_other",
                "arn:aws:iam::111122223333:role/r\narn:aws:iam::111122223333:user/a",
            ),
            ("accounts", "444455556666"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let c = Choices::from_form(&form);
        assert_eq!(c.alias, "app");
        assert_eq!(
            c.tags,
            [
                ("team".into(), "blue".into()),
                ("env".into(), "prod".into())
            ]
        );
        assert_eq!(c.admins.len(), 2, "{:?}", c.admins);
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        assert_eq!(Choices::from_form(&c.hidden_fields(&[])), c);
        // A step that renders the tags itself gets no hidden tag rows.
        assert!(c
            .hidden_fields(&["tags"])
            .iter()
            .all(|(n, _)| !n.starts_with("tag_")));
    }

    #[test]
    fn specs_must_fit_the_key_type_and_problems_belong_to_their_step() {
        let c = Choices {
            key_type: "symmetric".into(),
            key_spec: "RSA_2048".into(),
            key_usage: "ENCRYPT_DECRYPT".into(),
            alias: "aws/x".into(),
            ..Choices::default()
        };
        assert_eq!(c.problems_of("configure").len(), 1);
        assert_eq!(c.problems_of("labels")[0].0, "alias");
        assert!(c.problems_of("users").is_empty());
        assert!(check_spec("asymmetric", "ECC_NIST_P256", "KEY_AGREEMENT").is_ok());
        assert!(check_spec("asymmetric", "ECC_SECG_P256K1", "KEY_AGREEMENT").is_err());
        assert!(check_spec("hmac", "HMAC_256", "ENCRYPT_DECRYPT").is_err());
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
