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

/// A certificate and its key, as PEM texts.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The certificate chain, the server's own first.
    pub chain: String,
    /// The private key.
    pub key: String,
}

/// A certificate authority for tests: issues certificates for any name.
pub struct TestAuthority {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pem: String,
}

impl Default for TestAuthority {
    fn default() -> Self {
        Self::new()
    }
}

impl TestAuthority {
    /// A new authority with a new key.
    pub fn new() -> Self {
        let key = rcgen::KeyPair::generate().expect("a key");
        let mut params = rcgen::CertificateParams::default();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
        let mut name = rcgen::DistinguishedName::new();
        name.push(rcgen::DnType::CommonName, "presto-ha test authority");
        params.distinguished_name = name;
        let certificate = params.self_signed(&key).expect("self-signed");
        Self {
            pem: certificate.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// The authority's certificate, which clients trust.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// A certificate for `name` signed by this authority.
    pub fn issue(&self, name: &str) -> Identity {
        let key = rcgen::KeyPair::generate().expect("a key");
        let params = rcgen::CertificateParams::new(vec![name.to_owned()]).expect("params");
        let certificate = params.signed_by(&key, &self.issuer).expect("signed");
        Identity {
            chain: certificate.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// A TCP listener that completes a TLS handshake with `identity` before handing a
/// connection to axum; a failed handshake is dropped.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl TlsListener {
    /// Wraps `tcp`, presenting `identity`.
    pub fn new(tcp: TcpListener, identity: &Identity) -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(identity.chain.as_bytes())
                .collect::<Result<_, _>>()
                .expect("a PEM chain");
        let key = PrivateKeyDer::from_pem_slice(identity.key.as_bytes()).expect("a PEM key");
        let server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("a usable certificate and key");
        Self {
            tcp,
            acceptor: TlsAcceptor::from(Arc::new(server)),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, address)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, address);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
