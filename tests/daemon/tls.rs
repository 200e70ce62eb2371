//! Trust for Target's certificate: the host's store (Debian's ca-certificates, read here through
//! `SSL_CERT_FILE` as rustls-native-certs does) and `target.ca_file`, against an HTTPS stand-in
//! whose certificate a test CA, made at run time, signed (as a store's TLS-inspecting proxy does).

use crate::helpers::{PC, TestApp};
use profile_outbox::adobe::{Outcome, PreparedRequest, TargetClient};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const LONG: Duration = Duration::from_secs(30);
const ANSWER: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 71\r\n\
    connection: close\r\n\r\n<success>true</success><message>Request successfully submitted</message>";

/// An HTTPS stand-in for Target on 127.0.0.1, and the PEM file of the CA that signed its
/// certificate.
struct HttpsTarget {
    address: SocketAddr,
    ca_file: PathBuf,
}

impl HttpsTarget {
    async fn start(dir: &std::path::Path) -> HttpsTarget {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
            .expect("CA certificate");
        let key = KeyPair::generate().expect("server key");
        let certificate = CertificateParams::new(vec!["localhost".to_owned()])
            .expect("server params")
            .signed_by(&key, &ca)
            .expect("server certificate");
        let ca_file = dir.join("test-ca.pem");
        std::fs::write(&ca_file, ca.pem()).expect("CA written");
        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(certificate.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("server TLS config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = tls.write_all(ANSWER.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        HttpsTarget { address, ca_file }
    }

    fn base_url(&self) -> String {
        format!("https://localhost:{}", self.address.port())
    }

    fn request(&self) -> PreparedRequest {
        PreparedRequest {
            method: profile_outbox::config::Method::Get,
            url: format!(
                "{}/m2/acme/profile/update?mboxPC={PC}&profile.a=1",
                self.base_url()
            ),
            body: None,
        }
    }
}

#[tokio::test]
async fn a_ca_named_in_target_ca_file_is_trusted_and_an_unknown_ca_is_not() {
    let dir = tempfile::tempdir().expect("temp dir");
    let https = HttpsTarget::start(dir.path()).await;
    let timeout = Duration::from_secs(10);

    let trusting =
        TargetClient::trusting(timeout, 1, None, Some(&https.ca_file)).expect("client builds");
    let plain = TargetClient::new(timeout, 1, None).expect("client builds");

    assert_eq!(
        trusting.send(&https.request()).await,
        Outcome::Delivered { status: 200 }
    );
    let refused = plain.send(&https.request()).await;
    assert!(
        matches!(&refused, Outcome::EndpointDown { reason, .. } if reason.contains("UnknownIssuer")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_ca_file_that_is_not_pem_certificates_is_refused_naming_the_file_and_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, "not a certificate\n").expect("written");
    let error = TargetClient::trusting(Duration::from_secs(1), 1, None, Some(&path))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        error.contains("target.ca_file") && error.contains(&path.display().to_string()),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_trusts_a_ca_in_the_hosts_certificate_store() {
    let app = TestApp::spawn("").await;
    let https = HttpsTarget::start(app.dir.path()).await;
    let id = app.enqueue_pc(PC, json!({"loyalty_tier": "gold"})).await;
    let log = std::fs::File::create(app.log_path()).expect("log file");
    let mut daemon = app
        .command(&["run"])
        .env("PROFILE_OUTBOX__TARGET__BASE_URL", https.base_url())
        .env("SSL_CERT_FILE", &https.ca_file)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("daemon starts");
    app.wait_until(LONG, "the row delivered over HTTPS", || async {
        app.row(id).await.state == "delivered"
    })
    .await;
    app.stop_daemon(&mut daemon, LONG).await;
}
