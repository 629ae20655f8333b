//! What the link to other regions (kms-replication's `Region`) reaches of this region: commit,
//! read, wrap and unwrap material under the root key, reset and re-seed, and a call forwarded
//! from another region, whose caller's signed request is verified again here. The root key
//! itself stays in `service`.

use crate::service::Kms;
use kms_core::{Command, CommandOutput, State};
use kms_crypto::{KeyMaterial, WrapContext};
use kms_replication::ForwardedCall;
use kms_types::KmsError;

impl kms_replication::Region for Kms {
    fn region(&self) -> &str {
        Kms::region(self)
    }

    fn account_id(&self) -> &str {
        Kms::account_id(self)
    }

    fn now_ms(&self) -> i64 {
        Kms::now_ms(self)
    }

    fn is_leader(&self) -> bool {
        Kms::is_leader(self)
    }

    async fn commit(&self, command: Command) -> Result<CommandOutput, KmsError> {
        self.write(command).await
    }

    async fn barrier(&self) -> Result<(), KmsError> {
        self.read(|_| ()).await
    }

    fn read_applied<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        Kms::read_applied(self, f)
    }

    fn unwrap_material(
        &self,
        key_id: &str,
        material_id: &str,
        wrapped: &[u8],
    ) -> Result<KeyMaterial, KmsError> {
        self.unwrap_with_root_key(wrapped, &WrapContext::material(key_id, material_id))
            .map_err(|_| {
                KmsError::KmsInternal(
                    "Key material could not be unwrapped with this region's root key.".into(),
                )
            })
    }

    fn wrap_material(&self, key_id: &str, material_id: &str, material: &KeyMaterial) -> Vec<u8> {
        self.wrap_with_root_key(material, &WrapContext::material(key_id, material_id))
    }

    async fn reset(&self) -> Result<(), KmsError> {
        self.reset_region().await
    }

    async fn reseed(&self) {
        crate::seed::reapply(self).await
    }

    async fn call_forwarded(
        &self,
        from: &kms_link::tls::PeerInfo,
        call: ForwardedCall,
    ) -> Result<serde_json::Value, KmsError> {
        // The front door's checks run again here on the caller's signed request, with this
        // region's identities and clock, and this node's audit trail records it with the
        // forwarding region (the sending side is `call::forward`).
        let Some(front_door) = self.front_door() else {
            return Err(KmsError::KmsInternal(
                "This node takes no forwarded calls.".into(),
            ));
        };
        let body = hex::decode(&call.body_hex).map_err(|_| {
            KmsError::IncompleteSignature("The forwarded request is malformed.".into())
        })?;
        let request = kms_api::SignedRequest {
            method: call.method,
            uri: call.uri,
            headers: call.headers,
            body,
        };
        let by = kms_api::ForwardedBy {
            region: from.region.clone().unwrap_or_default(),
            node: from.node,
            addr: Some(from.addr.ip()),
        };
        kms_api::serve_forwarded(
            front_door,
            self,
            self.region(),
            &call.request_id,
            request,
            &by,
        )
        .await
    }
}
