//! The driver with TLS, over loopback sockets, against a rustls client
//! driven by hand: the output bound still holds (plaintext waits in the
//! connection's buffer, not inside rustls), nothing is lost once the client
//! reads, a stalled handshake times out, plain HTTP gets a plain `400`, and
//! a closing connection says `close_notify`.

use super::driver::DriverConfig;
use super::tests::{
    assert_parsing_stopped_at_the_high_water_mark, config_with, count, read_until_closed, Answer,
    Fixture, GET, SECOND,
};
use super::tls::{ClientCerts, TlsConfig, TlsOptions};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn testdata(name: &str) -> String {
    format!("{}/src/net/tls/testdata/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn tls_config() -> DriverConfig {
    let tls = TlsConfig::load(&TlsOptions {
        certfile: testdata("cert.pem"),
        keyfile: Some(testdata("key.pem")),
        password: None,
        ca_certs: None,
        client_certs: ClientCerts::None,
        ciphers: "TLSv1".into(),
    })
    .expect("the test certificate and key");
    config_with(|c| c.tls = Some(tls))
}

/// The test certificate is self-signed: the client takes any.
#[derive(Debug)]
struct AnyCertificate;

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A rustls client over a socket with a short read timeout, moved forward
/// together with the driver.
struct TlsClient {
    tls: ClientConnection,
    socket: TcpStream,
    plaintext: Vec<u8>,
    peer_closed: bool,
}

impl TlsClient {
    fn connect(fx: &Fixture) -> TlsClient {
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate))
                .with_no_client_auth();
        let name = ServerName::try_from("localhost").expect("a name");
        TlsClient {
            tls: ClientConnection::new(Arc::new(config), name).expect("a client"),
            socket: fx.connect(),
            plaintext: Vec::new(),
            peer_closed: false,
        }
    }

    /// Writes what rustls has for the server (as much as the socket
    /// takes), then reads and decrypts what arrived.
    fn exchange(&mut self) {
        self.write_out();
        self.read_in();
    }

    /// Writes what rustls has for the server, as much as the socket takes.
    fn write_out(&mut self) {
        self.socket.set_nonblocking(true).expect("non-blocking");
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.socket) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("write failed: {e}"),
            }
        }
    }

    /// Reads and decrypts what the server sent, until the socket is empty.
    fn read_in(&mut self) {
        loop {
            match self.tls.read_tls(&mut self.socket) {
                Ok(0) => {
                    self.peer_closed = true;
                    break;
                }
                Ok(_) => {
                    let state = self.tls.process_new_packets().expect("valid TLS");
                    let mut buf = vec![0u8; state.plaintext_bytes_to_read()];
                    self.tls
                        .reader()
                        .read_exact(&mut buf)
                        .expect("the plaintext");
                    self.plaintext.extend_from_slice(&buf);
                    self.peer_closed |= state.peer_has_closed();
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    self.peer_closed = true;
                    break;
                }
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    fn handshake(&mut self, fx: &mut Fixture) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.tls.is_handshaking() {
            assert!(Instant::now() < deadline, "the handshake did not finish");
            self.exchange();
            fx.driver.on_ready().expect("a driver pass");
        }
        self.exchange();
    }

    /// Queues plaintext for the server; true if rustls took all of it.
    fn send(&mut self, data: &[u8]) -> bool {
        self.tls.writer().write(data).expect("a write") == data.len()
    }
}

#[test]
fn over_tls_a_client_that_does_not_read_stops_parsing_at_the_high_water_mark() {
    let response = 16 * 1024;
    let mut fx = Fixture::new(Answer::Bytes(response), tls_config());
    let mut greedy = TlsClient::connect(&fx);
    greedy.handshake(&mut fx);
    // 1024 requests would be 16 MiB of responses: more than the socket
    // buffers hold, far above the bound.
    let total = 1024;
    let mut sent = 0;
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if sent < total && greedy.send(GET) {
            sent += 1;
        }
        // Only write: the client reads nothing.
        greedy.write_out();
        fx.driver.on_ready().expect("a driver pass");
    }
    assert_parsing_stopped_at_the_high_water_mark(&mut fx, total, response);

    // Once the client reads, every request is answered: nothing lost.
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(&greedy.plaintext, b"HTTP/1.1 200") < total {
        assert!(Instant::now() < deadline, "responses stopped coming");
        greedy.exchange();
        fx.driver.on_ready().expect("a driver pass");
    }
    assert_eq!(fx.handler().requests.get(), total);
}

#[test]
fn over_tls_a_closing_connection_ends_with_close_notify() {
    let mut fx = Fixture::new(Answer::Bytes(5), tls_config());
    let mut client = TlsClient::connect(&fx);
    client.handshake(&mut fx);
    assert!(client.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    let deadline = Instant::now() + Duration::from_secs(2);
    while !client.peer_closed {
        assert!(Instant::now() < deadline, "the connection stayed open");
        client.exchange();
        fx.driver.on_ready().expect("a driver pass");
    }
    assert_eq!(count(&client.plaintext, b"HTTP/1.1 200"), 1);
    assert!(client.plaintext.ends_with(b"xxxxx"));
}

#[test]
fn plain_http_on_a_tls_connection_gets_a_plain_400() {
    let mut fx = Fixture::new(Answer::Bytes(5), tls_config());
    let mut plain = fx.connect();
    plain.write_all(GET).expect("a request");
    let answer = read_until_closed(&mut fx, &mut plain);
    assert!(
        answer.starts_with(b"HTTP/1.1 400 Bad Request\r\n"),
        "{answer:?}"
    );
    assert!(answer.ends_with(b"The plain HTTP request was sent to an HTTPS port\n"));
    assert_eq!(fx.handler().requests.get(), 0);
}

#[test]
fn a_stalled_tls_handshake_closes_after_the_request_header_timeout() {
    let mut config = tls_config();
    config.timeouts.request_header = Some(30 * SECOND);
    let mut fx = Fixture::new(Answer::Bytes(5), config);
    let mut stalled = fx.connect();
    // The start of a ClientHello record, then nothing.
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .expect("part of a handshake");
    fx.pump_for(Duration::from_millis(20));
    let start = Instant::now();
    fx.driver.tick_at(start);
    // Longer than the keep-alive timeout (5 s): the handshake has the
    // request head's time.
    fx.driver.tick_at(start + 29 * SECOND);
    assert_eq!(fx.driver.connection_count(), 1);
    fx.driver.tick_at(start + 30 * SECOND);
    assert_eq!(read_until_closed(&mut fx, &mut stalled), b"");
    assert_eq!(fx.driver.connection_count(), 0);
}

#[test]
fn garbage_instead_of_a_client_hello_closes_the_connection_with_at_most_an_alert() {
    let mut fx = Fixture::new(Answer::Bytes(5), tls_config());
    let mut garbage = fx.connect();
    garbage
        .write_all(b"\x16\x03\x01\x00\x05not a handshake at all\x00\x01\x02")
        .expect("garbage");
    let answer = read_until_closed(&mut fx, &mut garbage);
    assert!(answer.is_empty() || answer[0] == 0x15, "{answer:?}");
    assert_eq!(fx.handler().requests.get(), 0);
}
