//! What a completed handshake negotiated, in the form of ASGI's `tls`
//! scope extension (asgiref's TLS specification).

use super::pem;
use rustls::ServerConnection;
use std::sync::Arc;
use x509_cert::der::Decode;
use x509_cert::Certificate;

#[derive(Debug)]
pub struct TlsInfo {
    /// The server's certificate in PEM.
    pub server_cert: Arc<str>,
    /// The client's certificate first, then the chain it sent, in PEM;
    /// empty without a client certificate.
    pub client_cert_chain: Vec<String>,
    /// The client certificate's subject as an RFC 4514 string.
    pub client_cert_name: Option<String>,
    /// `0x0303` for TLS 1.2, `0x0304` for TLS 1.3.
    pub tls_version: u16,
    /// The IANA number of the cipher suite.
    pub cipher_suite: u16,
}

impl TlsInfo {
    pub(super) fn of(conn: &ServerConnection, server_cert: &Arc<str>) -> TlsInfo {
        let peer = conn.peer_certificates().unwrap_or_default();
        TlsInfo {
            server_cert: server_cert.clone(),
            client_cert_chain: peer.iter().map(|c| pem::encode("CERTIFICATE", c)).collect(),
            client_cert_name: peer.first().and_then(|c| subject_name(c)),
            tls_version: conn.protocol_version().map(u16::from).unwrap_or_default(),
            cipher_suite: conn
                .negotiated_cipher_suite()
                .map(|s| u16::from(s.suite()))
                .unwrap_or_default(),
        }
    }
}

/// The subject of a DER certificate (already verified by the handshake)
/// as RFC 4514 has it: most specific attribute first.
fn subject_name(der: &[u8]) -> Option<String> {
    let cert = Certificate::from_der(der).ok()?;
    Some(cert.tbs_certificate.subject.to_string())
}
