//! Alias operations: CreateAlias, UpdateAlias, DeleteAlias, ListAliases.

use crate::call::{Call, Empty};
use crate::validate::{limit, required};
use kms_core::Command;
use kms_types::model::*;
use kms_types::*;

impl Call<'_> {
    /// Validates the alias name and resolves the target of CreateAlias and UpdateAlias.
    async fn alias_and_target(&self, request: AliasRequest) -> Result<(String, String), KmsError> {
        let alias_name = required(request.alias_name, "aliasName")?;
        validate_new_alias_name(&alias_name)?;
        let target = required(request.target_key_id, "targetKeyId")?;
        let key = self.resolve(Some(target), false).await?;
        Ok((alias_name, key.key_id))
    }

    pub(crate) async fn create_alias(&self, request: AliasRequest) -> Result<Empty, KmsError> {
        let (alias_name, target_key_id) = self.alias_and_target(request).await?;
        let now_ms = self.now_ms();
        self.write(Command::CreateAlias {
            alias_name,
            target_key_id,
            now_ms,
        })
        .await?;
        Ok(Empty {})
    }

    pub(crate) async fn update_alias(&self, request: AliasRequest) -> Result<Empty, KmsError> {
        let (alias_name, target_key_id) = self.alias_and_target(request).await?;
        let now_ms = self.now_ms();
        self.write(Command::UpdateAlias {
            alias_name,
            target_key_id,
            now_ms,
        })
        .await?;
        Ok(Empty {})
    }

    pub(crate) async fn delete_alias(&self, request: AliasRequest) -> Result<Empty, KmsError> {
        let alias_name = required(request.alias_name, "aliasName")?;
        validate_alias_name_shape(&alias_name)?;
        // AWS authorizes kms:DeleteAlias on the alias's key too (its key policy), not only on
        // the alias; a missing alias is the command's NotFound.
        let account = self.account_id().to_string();
        let target = self
            .read(|state| {
                state
                    .alias(&account, &alias_name)
                    .map(|alias| alias.target_key_id.clone())
            })
            .await?;
        if let Some(target) = target {
            self.resolve(Some(target), false).await?;
        }
        self.write(Command::DeleteAlias {
            alias_name,
            account_id: self.account_id().to_string(),
        })
        .await?;
        Ok(Empty {})
    }

    pub(crate) async fn list_aliases(
        &self,
        request: ListAliasesRequest,
    ) -> Result<ListAliasesResponse, KmsError> {
        let limit = limit(request.limit, 50, 100)?;
        let filter = match request.key_id {
            Some(key_id) => Some(self.resolve(Some(key_id), false).await?.key_id),
            None => None,
        };
        let marker = request.marker;
        let (region, account) = (self.region(), self.account_id());
        let (page, more) = self
            .read(|state| {
                let mut aliases =
                    state
                        .aliases_after(account, marker.as_deref())
                        .filter(|(_, alias)| {
                            filter.as_ref().is_none_or(|id| &alias.target_key_id == id)
                        });
                let page: Vec<AliasListEntry> = aliases
                    .by_ref()
                    .take(limit)
                    .map(|(name, alias)| AliasListEntry {
                        alias_name: name.clone(),
                        alias_arn: alias_arn(region, account, name),
                        target_key_id: Some(alias.target_key_id.clone()),
                        creation_date: Some(epoch_seconds(alias.creation_ms)),
                        last_updated_date: Some(epoch_seconds(alias.last_updated_ms)),
                    })
                    .collect();
                (page, aliases.next().is_some())
            })
            .await?;
        let next_marker = more
            .then(|| page.last().map(|a| a.alias_name.clone()))
            .flatten();
        Ok(ListAliasesResponse {
            aliases: page,
            truncated: next_marker.is_some(),
            next_marker,
        })
    }
}
