//! What the link to other regions (kms-replication's `Region`) reaches of this region: commit,
//! read, wrap and unwrap material under the root key, reset and re-seed, and run a call
//! forwarded from another region. The root key itself stays in `service`.

use crate::service::Kms;
use kms_api::{KmsService, RequestContext};
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

    async fn call_forwarded(&self, call: ForwardedCall) -> Result<serde_json::Value, KmsError> {
        let principal = kms_api::Principal {
            access_key_id: call.access_key_id,
            region: self.region().to_string(),
            session_token: call.session_token,
        };
        let signer = self.resolve(&principal)?;
        let request = kms_types::KmsRequest::parse(call.operation, call.body.as_bytes())?;
        let ctx = RequestContext {
            operation: call.operation,
            principal,
            request_id: call.request_id,
            source_ip: call.source_ip,
            secure_transport: call.secure_transport,
        };
        self.call(ctx, &signer, request).await
    }
}
