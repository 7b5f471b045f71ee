//! A TLS-terminating proxy: accepts TLS with a given certificate and
//! forwards the plaintext to a target. The local RabbitMQ has no TLS
//! listener; through this proxy a test still shows that the hub speaks
//! `amqps://` and verifies the broker against a private CA
//! (`HUB_AMQP_TLS_CA`), as it would against a broker configured for TLS.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;
use tokio_rustls::TlsAcceptor;

/// A TLS-terminating proxy to one target.
pub struct TlsProxy {
    addr: SocketAddr,
    handshakes: Arc<AtomicUsize>,
    failed_handshakes: Arc<AtomicUsize>,
    accept: AbortHandle,
}

impl TlsProxy {
    /// Listens on an ephemeral loopback port with the certificate chain and
    /// key (PEM files) and forwards decrypted traffic to `target`.
    pub async fn start(target: SocketAddr, cert: &Path, key: &Path) -> Self {
        let certs = CertificateDer::pem_file_iter(cert)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let failed_handshakes = Arc::new(AtomicUsize::new(0));
        let (ok, failed) = (handshakes.clone(), failed_handshakes.clone());
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let (acceptor, ok, failed) = (acceptor.clone(), ok.clone(), failed.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(inbound).await else {
                        failed.fetch_add(1, Ordering::SeqCst);
                        return;
                    };
                    ok.fetch_add(1, Ordering::SeqCst);
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut outbound).await;
                    }
                });
            }
        })
        .abort_handle();
        Self {
            addr,
            handshakes,
            failed_handshakes,
            accept,
        }
    }

    /// Where to connect instead of the target.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Completed TLS handshakes so far.
    #[must_use]
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }

    /// Handshakes the client broke off or that failed.
    #[must_use]
    pub fn failed_handshakes(&self) -> usize {
        self.failed_handshakes.load(Ordering::SeqCst)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
