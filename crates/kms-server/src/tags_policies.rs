//! Tag and key-policy operations: TagResource, UntagResource, ListResourceTags, GetKeyPolicy,
//! PutKeyPolicy, ListKeyPolicies. Policies are stored and validated; enforcing them comes later.

use crate::call::{Call, Empty};
use crate::validate::{self, limit, required};
use kms_core::Command;
use kms_types::model::*;
use kms_types::*;

const POLICY_NAME: &str = "default";

fn check_policy_name(name: Option<String>) -> Result<(), KmsError> {
    match name.as_deref() {
        None | Some(POLICY_NAME) => Ok(()),
        Some(_) => Err(KmsError::NotFound("No such policy exists".into())),
    }
}

impl Call<'_> {
    pub(crate) async fn tag_resource(
        &self,
        request: TagResourceRequest,
    ) -> Result<Empty, KmsError> {
        let tags = validate::tags(&required(request.tags, "tags")?)?;
        let key = self.resolve(request.key_id, false).await?;
        self.write_key(Command::TagResource {
            key_id: key.key_id,
            tags,
        })
        .await?;
        Ok(Empty {})
    }

    pub(crate) async fn untag_resource(
        &self,
        request: UntagResourceRequest,
    ) -> Result<Empty, KmsError> {
        let tag_keys = required(request.tag_keys, "tagKeys")?;
        for tag_key in &tag_keys {
            validate::length_within(tag_key.chars().count(), 1, 128, "tagKeys.member")?;
        }
        let key = self.resolve(request.key_id, false).await?;
        self.write_key(Command::UntagResource {
            key_id: key.key_id,
            tag_keys,
        })
        .await?;
        Ok(Empty {})
    }

    pub(crate) async fn list_resource_tags(
        &self,
        request: ListResourceTagsRequest,
    ) -> Result<ListResourceTagsResponse, KmsError> {
        let limit = limit(request.limit, 50, 50)?;
        let key = self.resolve(request.key_id, false).await?;
        let after = request.marker;
        if after.as_ref().is_some_and(|m| !key.tags.contains_key(m)) {
            return Err(KmsError::InvalidMarker("The marker is not valid.".into()));
        }
        let mut remaining = key
            .tags
            .iter()
            .filter(|(k, _)| after.as_ref().is_none_or(|m| k.as_str() > m.as_str()))
            .map(|(k, v)| Tag {
                tag_key: k.clone(),
                tag_value: v.clone(),
            });
        let tags: Vec<Tag> = remaining.by_ref().take(limit).collect();
        let more = remaining.next().is_some();
        let next_marker = more
            .then(|| tags.last().map(|t| t.tag_key.clone()))
            .flatten();
        Ok(ListResourceTagsResponse {
            tags,
            truncated: next_marker.is_some(),
            next_marker,
        })
    }

    pub(crate) async fn get_key_policy(
        &self,
        request: GetKeyPolicyRequest,
    ) -> Result<GetKeyPolicyResponse, KmsError> {
        check_policy_name(request.policy_name)?;
        let key = self.resolve(request.key_id, false).await?;
        Ok(GetKeyPolicyResponse {
            policy: key.policy,
            policy_name: POLICY_NAME.into(),
        })
    }

    pub(crate) async fn put_key_policy(
        &self,
        request: PutKeyPolicyRequest,
    ) -> Result<Empty, KmsError> {
        check_policy_name(request.policy_name)?;
        let policy = required(request.policy, "policy")?;
        validate::policy(&policy)?;
        let key = self.resolve(request.key_id, false).await?;
        self.check_lockout(
            &policy,
            request.bypass_policy_lockout_safety_check.unwrap_or(false),
        )?;
        self.write_key(Command::PutKeyPolicy {
            key_id: key.key_id,
            policy,
        })
        .await?;
        Ok(Empty {})
    }

    pub(crate) async fn list_key_policies(
        &self,
        request: ListKeyPoliciesRequest,
    ) -> Result<ListKeyPoliciesResponse, KmsError> {
        limit(request.limit, 100, 1000)?;
        self.resolve(request.key_id, false).await?;
        Ok(ListKeyPoliciesResponse {
            policy_names: vec![POLICY_NAME.into()],
            next_marker: None,
            truncated: false,
        })
    }
}
