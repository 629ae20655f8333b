//! The listener: axum over TLS (rustls on kms-crypto's provider, through kms-link's
//! `api_server_config` and `TlsListener`: TLS 1.2 and 1.3, ALPN `http/1.1`, HTTP/1.1 only), a
//! [`RunningProxy`] handle to stop it or swap its stores, and [`run`], the process: start,
//! re-read the stores on SIGHUP, stop on SIGINT or SIGTERM.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kms_link::tls::{PeerInfo, TlsListener};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::backend::{self, KeyBackend};
use crate::config::Config;
use crate::handlers::{self, App};
use crate::ProxyError;

/// How long [`RunningProxy::stop`] waits for open connections before closing them.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A proxy serving in this process.
pub struct RunningProxy {
    addr: SocketAddr,
    app: Arc<App>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl std::fmt::Debug for RunningProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningProxy")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RunningProxy {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves the stores of `config` from now on (its other settings need a restart).
    pub fn reload(&self, config: &Config) {
        self.app.replace_stores(config.stores.clone());
    }

    /// Stops listening, lets requests under way finish (up to 5 s) and returns when the
    /// listener is closed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(STOP_GRACE, &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
            let _ = (&mut self.task).await;
        }
    }
}

/// Opens the config's backend and starts serving.
pub async fn start(config: &Config) -> Result<RunningProxy, ProxyError> {
    let backend_config = config.backend.clone();
    let backend = tokio::task::spawn_blocking(move || backend::open(&backend_config))
        .await
        .map_err(|e| ProxyError::Backend(format!("opening the backend: {e}")))??;
    start_with(config, backend).await
}

/// Starts serving `config`'s stores from `backend`.
pub async fn start_with(
    config: &Config,
    backend: Arc<dyn KeyBackend>,
) -> Result<RunningProxy, ProxyError> {
    let tls = kms_link::tls::api_server_config(&config.tls_cert, &config.tls_key)
        .map_err(|e| ProxyError::Tls(e.to_string()))?;
    let listener = TlsListener::bind(&config.listen, tls)
        .await
        .map_err(|e| ProxyError::Io(format!("binding {}: {e}", config.listen)))?;
    let addr = listener.addr();
    let timeout = config.backend.timeout();
    let app = Arc::new(App::new(
        config.stores.clone(),
        backend,
        timeout,
        config.fleet_size,
    ));
    let (stop, stopped) = oneshot::channel::<()>();
    let router = handlers::router(app.clone());
    let task = tokio::spawn(
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<PeerInfo>(),
        )
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        })
        .into_future(),
    );
    tracing::info!(
        %addr,
        stores = config.stores.0.len(),
        "XKS proxy listening"
    );
    Ok(RunningProxy {
        addr,
        app,
        stop: Some(stop),
        task,
    })
}

/// The `trent xks-proxy` process: serves the config at `config_path` until SIGINT or
/// SIGTERM; on SIGHUP re-reads it and serves its stores (credentials, keys, allow rules),
/// keeping the old ones if it no longer loads.
pub async fn run(config_path: &Path) -> Result<(), ProxyError> {
    use tokio::signal::unix::{signal, SignalKind};
    let config = Config::load(config_path)?;
    let proxy = start(&config).await?;
    let signals = |kind: SignalKind| {
        signal(kind).map_err(|e| ProxyError::Io(format!("installing a signal handler: {e}")))
    };
    let mut hangup = signals(SignalKind::hangup())?;
    let mut terminate = signals(SignalKind::terminate())?;
    let mut interrupt = signals(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = hangup.recv() => match Config::load(config_path) {
                Ok(new) => {
                    if new.listen != config.listen
                        || new.tls_cert != config.tls_cert
                        || new.tls_key != config.tls_key
                        || new.backend != config.backend
                        || new.fleet_size != config.fleet_size
                    {
                        tracing::warn!(
                            "only [[stores]] changes take effect on SIGHUP; restart for the rest"
                        );
                    }
                    proxy.reload(&new);
                    tracing::info!(stores = new.stores.0.len(), "reloaded the stores");
                }
                Err(e) => tracing::error!(error = %e, "the config no longer loads; keeping the stores"),
            },
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    tracing::info!("stopping the XKS proxy");
    proxy.stop().await;
    Ok(())
}
