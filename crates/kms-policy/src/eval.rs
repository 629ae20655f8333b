//! Evaluation: KMS's combination of the key policy with the caller's IAM (identity) policies.

use crate::arn;
use crate::parse::{Effect, Patterns, Policy, Principal, Principals, Statement};
use crate::wildcard;
use std::collections::BTreeMap;

/// One authorization question: may `principal` perform `action` on `resource`?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The caller: an IAM user/role/root ARN, an STS session ARN, or a service principal name.
    pub principal: String,
    /// The caller's account id.
    pub principal_account: String,
    /// The action, such as `kms:Encrypt`.
    pub action: String,
    /// The key's ARN.
    pub resource: String,
    /// The key's account id.
    pub resource_account: String,
    context: BTreeMap<String, Vec<String>>,
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Some statement allows the request and none denies it.
    Allow,
    /// A statement denies the request; `statement` is its `Sid`, if it has one.
    ExplicitDeny {
        /// The denying statement's `Sid`.
        statement: Option<String>,
    },
    /// Nothing denies the request, but nothing (sufficient) allows it either.
    ImplicitDeny,
}

impl Request {
    /// A request with an empty condition context; both accounts are taken from the ARNs'
    /// account fields (empty for a service principal).
    pub fn new(
        principal: impl Into<String>,
        action: impl Into<String>,
        resource: impl Into<String>,
    ) -> Self {
        let (principal, resource) = (principal.into(), resource.into());
        Self {
            principal_account: arn::account(&principal).to_owned(),
            resource_account: arn::account(&resource).to_owned(),
            principal,
            action: action.into(),
            resource,
            context: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) a condition-context key; the key is lower-cased, as IAM keys are
    /// case-insensitive (`kms:EncryptionContext:Dept` → `kms:encryptioncontext:dept`).
    pub fn with_context<V: Into<String>>(
        mut self,
        key: &str,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        let values = values.into_iter().map(Into::into).collect();
        self.context.insert(key.to_lowercase(), values);
        self
    }

    /// The condition context, keyed by lower-cased condition key.
    pub fn context(&self) -> &BTreeMap<String, Vec<String>> {
        &self.context
    }

    /// The values of a lower-cased condition key. Besides the explicit context, the request
    /// itself supplies `aws:PrincipalArn`, `aws:PrincipalAccount`, `kms:CallerAccount` and
    /// `aws:ResourceAccount`.
    fn values(&self, key: &str) -> Option<&[String]> {
        if let Some(values) = self.context.get(key) {
            return Some(values);
        }
        let implied = match key {
            "aws:principalarn" => &self.principal,
            "aws:principalaccount" | "kms:calleraccount" => &self.principal_account,
            "aws:resourceaccount" => &self.resource_account,
            _ => return None,
        };
        (!implied.is_empty()).then_some(std::slice::from_ref(implied))
    }
}

/// How far a key policy's Allow statements reach the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Grant {
    None,
    /// The caller's account root is allowed: IAM policies of that account decide.
    Account,
    /// The caller itself is allowed (by ARN, role, `*` or `NotPrincipal`).
    Principal,
}

/// Decides a request as KMS does.
///
/// * Any applicable Deny in the key policy or in an identity policy → [`Decision::ExplicitDeny`].
/// * Same account: allowed if the key policy allows the caller itself, or allows the account
///   (`arn:aws:iam::ACCOUNT:root`) and one of `identity_policies` allows.
/// * Cross-account: the key policy must allow the caller or its account, *and* an identity
///   policy (of the caller's account) must allow.
/// * Otherwise [`Decision::ImplicitDeny`].
///
/// The account root user needs no identity policy. `identity_policies` are the caller's own
/// policies; a `Principal` in them (which IAM forbids) must match the caller if present. Key
/// policy statements without a `Principal`, and statements without a `Resource`, never apply.
pub fn evaluate(request: &Request, key_policy: &Policy, identity_policies: &[Policy]) -> Decision {
    let grant = match key_policy_grant(request, key_policy) {
        Ok(grant) => grant,
        Err(deny) => return deny,
    };
    let mut identity_allows = arn::is_root_of(&request.principal, &request.principal_account);
    for statement in identity_policies.iter().flat_map(Policy::statements) {
        let principal_ok = statement
            .principal
            .as_ref()
            .is_none_or(|p| p.grant(request) != Grant::None);
        if principal_ok && statement.applies(request) {
            match statement.effect {
                Effect::Deny => return deny(statement),
                Effect::Allow => identity_allows = true,
            }
        }
    }
    let same_account = request.principal_account == request.resource_account;
    let allowed = match grant {
        Grant::Principal => same_account || identity_allows,
        Grant::Account => identity_allows,
        Grant::None => false,
    };
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// The lockout safety check: whether `policy` would let `principal_arn` (in `account`, the key's
/// account) call `kms:PutKeyPolicy` on the key later, directly or through account-root
/// delegation (assuming the caller's IAM policies allow it).
///
/// The check sees no request context beyond the principal and account (conditions on other keys
/// fail), and since the key's ARN may not exist yet, only `Resource: "*"` statements count.
pub fn allows_future_put_key_policy(policy: &Policy, principal_arn: &str, account: &str) -> bool {
    let request = Request {
        principal: principal_arn.to_owned(),
        principal_account: account.to_owned(),
        action: "kms:PutKeyPolicy".to_owned(),
        resource: "*".to_owned(),
        resource_account: account.to_owned(),
        context: BTreeMap::new(),
    };
    matches!(
        key_policy_grant(&request, policy),
        Ok(Grant::Account | Grant::Principal)
    )
}

/// The key policy's verdict: a Deny, or how far its Allows reach the caller.
fn key_policy_grant(request: &Request, policy: &Policy) -> Result<Grant, Decision> {
    let mut grant = Grant::None;
    for statement in policy.statements() {
        let Some(principals) = &statement.principal else {
            continue;
        };
        let reach = principals.grant(request);
        if reach == Grant::None || !statement.applies(request) {
            continue;
        }
        match statement.effect {
            // A Deny naming an account applies to everyone in it.
            Effect::Deny => return Err(deny(statement)),
            Effect::Allow => grant = grant.max(reach),
        }
    }
    Ok(grant)
}

fn deny(statement: &Statement) -> Decision {
    Decision::ExplicitDeny {
        statement: statement.sid.clone(),
    }
}

impl Statement {
    /// Whether action, resource and conditions all match (the principal is checked apart).
    fn applies(&self, request: &Request) -> bool {
        self.action
            .matches(|p| wildcard::matches(p, &request.action, true))
            && self
                .resource
                .as_ref()
                .is_some_and(|r| r.matches(|p| p == "*" || arn::like(p, &request.resource)))
            && self
                .conditions
                .iter()
                .all(|c| c.holds(request.values(&c.key)))
    }
}

impl Patterns {
    fn matches(&self, matches: impl Fn(&str) -> bool) -> bool {
        self.patterns.iter().any(|p| matches(p)) != self.negated
    }
}

impl Principals {
    fn grant(&self, request: &Request) -> Grant {
        let direct = |entry: &Principal| match entry {
            Principal::Any => true,
            Principal::Aws(arn) => {
                *arn == request.principal || arn::is_session_of(&request.principal, arn)
            }
            Principal::Service(name) | Principal::Federated(name) => *name == request.principal,
        };
        if self.negated {
            return if self.entries.iter().any(direct) {
                Grant::None
            } else {
                Grant::Principal
            };
        }
        let account = |entry: &Principal| matches!(entry, Principal::Aws(arn) if arn::is_root_of(arn, &request.principal_account));
        self.entries.iter().fold(Grant::None, |grant, entry| {
            grant.max(if direct(entry) {
                Grant::Principal
            } else if account(entry) {
                Grant::Account
            } else {
                Grant::None
            })
        })
    }
}
