//! Setup of the workloads' keys before the main phase.

use super::ops::str_at;
use crate::client::{classify_error, Completion, KmsClient, Reply};
use crate::generator::{Workload, CRYPTO_KEY, KEY_STATE_KEYS, MRK_KEYS};
use crate::history::{Event, EventType, Process};
use crate::recorder::Recorder;
use anyhow::bail;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

/// Creates the setup keys; retried on definite failure, a harness error on an unknown outcome
/// (an orphan key would otherwise be indistinguishable from a phantom).
pub(crate) async fn setup(
    recorder: &Recorder,
    client: &KmsClient,
    setup_node: &str,
    workloads: &[Workload],
) -> anyhow::Result<HashMap<String, String>> {
    let mut keys = HashMap::new();
    for &workload in workloads {
        let names: &[&str] = match workload {
            Workload::KeyState => &KEY_STATE_KEYS,
            Workload::Crypto => &[CRYPTO_KEY],
            Workload::CreateSet | Workload::BigKeys => &[],
            Workload::MultiRegion => &MRK_KEYS,
        };
        let (body, mut value) = if workload == Workload::MultiRegion {
            (
                json!({ "MultiRegion": true }),
                json!({ "description": "", "region": client.region() }),
            )
        } else {
            (json!({}), json!({ "description": "" }))
        };
        for name in names {
            let mut attempt = 0;
            let key_id = loop {
                attempt += 1;
                match client.call("CreateKey", &body).await {
                    Reply::Ok(v) => match str_at(&v, &["KeyMetadata", "KeyId"]) {
                        Some(id) => break id.to_string(),
                        None => bail!("setup CreateKey returned no KeyId: {v}"),
                    },
                    other => match classify_error(&other, true) {
                        Completion::Fail(e) if attempt < 20 => {
                            eprintln!("jl: setup CreateKey failed ({e}), retrying");
                            tokio::time::sleep(Duration::from_millis(250)).await;
                        }
                        outcome => bail!("setup CreateKey for {name}: {outcome:?}"),
                    },
                }
            };
            value["key_id"] = key_id.clone().into();
            recorder.record(
                Some(workload),
                Event {
                    index: 0,
                    time_ns: 0,
                    kind: EventType::Ok,
                    process: Process::Client(0),
                    node: Some(setup_node.to_string()),
                    f: "setup_key".into(),
                    key: Some((*name).to_string()),
                    value: value.clone(),
                    error: None,
                },
            )?;
            keys.insert((*name).to_string(), key_id);
        }
    }
    Ok(keys)
}
