//! The accept loop: HTTP/1.1 connections with the bounds `axum::serve` does not give — a
//! deadline for each request's headers, a cap on one client's connections, a deadline for
//! a TLS handshake — and a graceful shutdown that finishes the requests in progress.
//!
//! Why not `axum::serve`: it sets no timer, so a connection that never finishes its
//! headers is held forever (2,000 of them, no token needed, were held for as long as the
//! probe ran), and it has no place for TLS.
//!
//! TLS ([`Tls`], `serve --tls-cert/--tls-key`) is rustls: HTTP/1.1 over TLS 1.2 or 1.3,
//! the handshake under the same deadline as the headers.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tower::ServiceExt;

use crate::state::AppState;

/// Serves `state` on `listener` until `shutdown` completes; requests in progress are then
/// finished (an upload being ingested commits or leaves the store as it was).
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = Limits::of(&state);
    let state_tls = state.config.tls.clone();
    let (stop, stopping) = watch::channel(false);
    // Alerts look at the groups on their own task, stopped with the server.
    let alerts = state.config.alerts.clone().map(|settings| {
        tokio::spawn(crate::alerts::run(
            state.clone(),
            settings,
            stopping.clone(),
        ))
    });
    let app = crate::router(state);
    let clients = Clients::default();
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, client) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, mostly: wait for connections to close
                    // instead of spinning on the error.
                    tracing::warn!(target: "lockstep::http", "accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        let Some(slot) = clients.admit(client.ip(), limits.connections_per_client) else {
            tracing::warn!(
                target: "lockstep::http",
                %client,
                limit = limits.connections_per_client,
                "connection refused: the client has too many open"
            );
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let stopping = stopping.clone();
        let tls = state_tls.clone();
        connections.spawn(async move {
            let _slot = slot;
            let Some(tls) = tls else {
                serve_connection(TokioIo::new(stream), client, app, limits, stopping).await;
                return;
            };
            let handshake = TlsAcceptor::from(tls.0).accept(stream);
            match tokio::time::timeout(limits.header_timeout, handshake).await {
                Ok(Ok(stream)) => {
                    serve_connection(TokioIo::new(stream), client, app, limits, stopping).await;
                }
                Ok(Err(e)) => {
                    tracing::debug!(target: "lockstep::http", %client, "TLS handshake: {e}");
                }
                Err(_) => {
                    tracing::debug!(target: "lockstep::http", %client, "TLS handshake too slow");
                }
            }
        });
    }
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
    if let Some(alerts) = alerts {
        alerts.abort();
    }
    Ok(())
}

/// The server's certificate and key, for serving HTTPS.
#[derive(Clone)]
pub struct Tls(Arc<ServerConfig>);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls(..)")
    }
}

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("the certificate and the key do not fit together: {0}")]
    Mismatch(String),
}

impl Tls {
    /// The certificate chain (PEM, the server's certificate first, then its intermediates)
    /// and its private key (PEM: PKCS #8, PKCS #1 or SEC1), as `openssl`, certbot and
    /// Windows' certificate export write them.
    pub fn from_pem_files(certificate: &Path, key: &Path) -> Result<Tls, TlsError> {
        let file_error = |path: &Path, message: String| TlsError::File {
            path: path.display().to_string(),
            message,
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(certificate)
            .map_err(|e| file_error(certificate, format!("cannot be read: {e}")))?
            .collect::<Result<_, _>>()
            .map_err(|e| file_error(certificate, format!("not a PEM certificate: {e}")))?;
        if chain.is_empty() {
            return Err(file_error(
                certificate,
                "holds no certificate (a PEM file with -----BEGIN CERTIFICATE----- is needed)"
                    .into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
            file_error(
                key,
                format!("no private key in it (PEM PKCS #8, PKCS #1 or SEC1 is needed): {e}"),
            )
        })?;
        let mut config = ServerConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Mismatch(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Mismatch(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls(Arc::new(config)))
    }
}

/// The bounds the loop applies, copied out of the configuration.
#[derive(Debug, Clone, Copy)]
struct Limits {
    header_timeout: Duration,
    connections_per_client: usize,
}

impl Limits {
    fn of(state: &AppState) -> Limits {
        Limits {
            header_timeout: state.config.header_timeout,
            connections_per_client: state.config.max_connections_per_client.max(1),
        }
    }
}

/// One connection: requests until the client closes it, its headers are late, or the
/// server stops (then the request in progress is finished first).
async fn serve_connection<I>(
    io: TokioIo<I>,
    client: SocketAddr,
    app: Router,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = app.map_request(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(client));
        request.map(Body::new)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let connection = builder.serve_connection(io, TowerToHyperService::new(service));
    let mut connection = std::pin::pin!(connection);
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(target: "lockstep::http", %client, "connection: {e}");
                }
                return;
            }
            changed = stopping.changed() => {
                connection.as_mut().graceful_shutdown();
                if changed.is_err() || *stopping.borrow() {
                    // Wait for the request in progress, without watching again.
                    if let Err(e) = connection.as_mut().await {
                        tracing::debug!(target: "lockstep::http", %client, "connection: {e}");
                    }
                    return;
                }
            }
        }
    }
}

/// Open connections per client address.
#[derive(Debug, Clone, Default)]
struct Clients(Arc<Mutex<HashMap<IpAddr, usize>>>);

impl Clients {
    /// A slot for one more connection from `ip`, or `None` when it has `limit` open.
    fn admit(&self, ip: IpAddr, limit: usize) -> Option<ClientSlot> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(ip).or_default();
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            clients: self.clone(),
            ip,
        })
    }
}

/// One open connection of a client; closing it frees the slot.
struct ClientSlot {
    clients: Clients,
    ip: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.clients.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_limit_of_slots_and_each_closed_one_back() {
        let clients = Clients::default();
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        let first = clients.admit(a, 2).unwrap();
        let _second = clients.admit(a, 2).unwrap();
        assert!(clients.admit(a, 2).is_none());
        assert!(
            clients.admit(b, 2).is_some(),
            "other clients are not affected"
        );
        drop(first);
        assert!(clients.admit(a, 2).is_some());
    }
}
