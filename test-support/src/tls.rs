//! A real TLS handshake on loopback: a server presenting a certificate chain and a
//! client that trusts one authority and checks one name, as the engine's clients do.

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Serves `chain_pem` with `key_pem` on loopback and connects to it as a client that
/// trusts only `authority_pem` and expects the name `name`. `Ok` when the handshake
/// succeeds; the client's error otherwise.
pub async fn handshake(
    chain_pem: &str,
    key_pem: &str,
    authority_pem: &str,
    name: &str,
) -> Result<(), String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("a PEM chain");
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("a PEM key");
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("a usable certificate and key");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let acceptor = TlsAcceptor::from(Arc::new(server));
    tokio::spawn(async move {
        if let Ok((tcp, _)) = listener.accept().await {
            let _ = acceptor.accept(tcp).await;
        }
    });
    let mut roots = RootCertStore::empty();
    for authority in CertificateDer::pem_slice_iter(authority_pem.as_bytes()) {
        roots
            .add(authority.expect("a PEM authority"))
            .map_err(|e| e.to_string())?;
    }
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(address).await.expect("connect");
    let name = ServerName::try_from(name.to_owned()).map_err(|e| e.to_string())?;
    TlsConnector::from(Arc::new(client))
        .connect(name, tcp)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}
