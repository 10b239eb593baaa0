//! The server's TLS configuration from uvicorn's `--ssl-*` settings, built
//! once at startup; every problem is one line naming the setting.

use super::ciphers;
use super::keys::{load_certificates, load_private_key};
use super::pem;
use rustls::crypto::ring;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::sync::Arc;

/// Whether clients present certificates (Python's `ssl.CERT_*` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientCerts {
    /// `CERT_NONE` (0): not asked for.
    None,
    /// `CERT_OPTIONAL` (1): asked for; one that is sent must verify.
    Optional,
    /// `CERT_REQUIRED` (2): the handshake fails without a valid one.
    Required,
}

impl ClientCerts {
    pub fn from_cert_reqs(value: i64) -> Result<Self, String> {
        match value {
            0 => Ok(ClientCerts::None),
            1 => Ok(ClientCerts::Optional),
            2 => Ok(ClientCerts::Required),
            _ => Err(format!("ssl_cert_reqs must be 0, 1 or 2, not {value}")),
        }
    }
}

#[derive(Clone, Debug)]
pub struct TlsOptions {
    pub certfile: String,
    /// `None`: the key is in `certfile`.
    pub keyfile: Option<String>,
    pub password: Option<String>,
    pub ca_certs: Option<String>,
    pub client_certs: ClientCerts,
    pub ciphers: String,
}

/// A built configuration, shared by every TLS connection of a driver.
#[derive(Clone)]
pub struct TlsConfig {
    pub(super) rustls: Arc<ServerConfig>,
    /// The server's certificate in PEM, for the scope's `tls` extension.
    pub(super) server_cert_pem: Arc<str>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConfig")
    }
}

impl TlsConfig {
    pub fn load(options: &TlsOptions) -> Result<TlsConfig, String> {
        let chain = load_certificates("ssl_certfile", &options.certfile)?;
        let key = match &options.keyfile {
            Some(path) => load_private_key("ssl_keyfile", path, options.password.as_deref())?,
            None => load_private_key(
                "ssl_certfile",
                &options.certfile,
                options.password.as_deref(),
            )?,
        };
        let provider = Arc::new(CryptoProvider {
            cipher_suites: ciphers::select(&options.ciphers)?,
            ..ring::default_provider()
        });
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| format!("ssl_ciphers {:?}: {e}", options.ciphers))?;
        let builder = match client_verifier(options, provider)? {
            Some(verifier) => builder.with_client_cert_verifier(verifier),
            None => builder.with_no_client_auth(),
        };
        let server_cert_pem = Arc::from(pem::encode("CERTIFICATE", &chain[0]));
        let mut config = builder.with_single_cert(chain, key).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => {
                "ssl_keyfile: the private key does not match the certificate in ssl_certfile"
                    .to_owned()
            }
            other => format!("ssl_keyfile: unusable private key: {other}"),
        })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsConfig {
            rustls: Arc::new(config),
            server_cert_pem,
        })
    }
}

fn client_verifier(
    options: &TlsOptions,
    provider: Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>, String> {
    if options.client_certs == ClientCerts::None {
        return Ok(None);
    }
    let Some(ca_certs) = &options.ca_certs else {
        return Err(
            "ssl_cert_reqs 1 or 2 needs ssl_ca_certs: the CAs client certificates must chain to"
                .into(),
        );
    };
    let mut roots = RootCertStore::empty();
    for cert in load_certificates("ssl_ca_certs", ca_certs)? {
        roots
            .add(cert)
            .map_err(|e| format!("ssl_ca_certs: unusable CA certificate in {ca_certs}: {e}"))?;
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let builder = match options.client_certs {
        ClientCerts::Optional => builder.allow_unauthenticated(),
        _ => builder,
    };
    let verifier = builder.build().map_err(|e| format!("ssl_ca_certs: {e}"))?;
    Ok(Some(verifier))
}
