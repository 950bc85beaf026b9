//! The connection security weft offers first: libp2p's TLS 1.3 handshake (`/tls/1.0.0`, the
//! libp2p TLS specification: a self-signed certificate carrying the peer's identity key), with
//! AES-GCM preferred where the CPU has AES instructions.
//!
//! `libp2p-tls` builds the same handshake but always lists ChaCha20-Poly1305 first, and a TLS
//! 1.3 server follows the client's order; on a CPU with AES-NI that cipher is several times
//! slower in a bulk transfer (`docs/measurements.md`). This module keeps libp2p's certificate format and checks (`libp2p_tls::certificate`), so it
//! interoperates with every libp2p TLS peer in both directions; only the cipher order differs.
//! Noise stays available as the second choice for peers that do not speak TLS.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{AsyncRead, AsyncWrite, FutureExt};
use futures_rustls::{TlsAcceptor, TlsConnector, TlsStream};
use libp2p::core::upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade, UpgradeInfo};
use libp2p::identity::{Keypair, PeerId};
use libp2p::tls::certificate;
use rustls::client::ResolvesClientCert;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, CommonState, DigitallySignedStruct, DistinguishedName, SignatureScheme,
    SupportedCipherSuite,
};

/// The protocol name negotiated by multistream-select, the same as libp2p's TLS.
const PROTOCOL: &str = "/tls/1.0.0";
/// The ALPN value the libp2p TLS specification requires.
const ALPN: &[u8] = b"libp2p";

/// Why a TLS upgrade failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The node's certificate could not be made from its identity key.
    #[error("cannot make the TLS certificate: {0}")]
    Certificate(String),
    /// The handshake failed (network error, bad certificate, no common cipher).
    #[error("TLS handshake failed: {0}")]
    Handshake(#[source] std::io::Error),
    /// The peer's certificate passed the handshake but names no libp2p identity.
    #[error("the peer's TLS certificate carries no valid libp2p identity")]
    Identity,
}

/// The TLS security upgrade: both halves of the handshake, ready to run on any connection.
#[derive(Clone)]
pub struct Config {
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
}

impl Config {
    /// Makes the certificate for `identity` and the client and server configurations.
    ///
    /// # Errors
    /// [`TlsError::Certificate`] if the certificate cannot be made or loaded.
    pub fn new(identity: &Keypair) -> Result<Self, TlsError> {
        let bad = |e: &dyn std::fmt::Display| TlsError::Certificate(e.to_string());
        let (cert, key) = certificate::generate(identity).map_err(|e| bad(&e))?;
        let provider = Arc::new(provider(aes_is_fast()));
        let signer = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| bad(&e))?;
        // Not `with_single_cert`: rustls would parse the certificate with webpki, which
        // refuses the critical libp2p extension that carries the identity.
        let own = Arc::new(OwnCertificate(Arc::new(CertifiedKey::new(
            vec![cert],
            signer,
        ))));
        let verifier = Arc::new(PeerCertificate);

        let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| bad(&e))?
            .with_client_cert_verifier(verifier.clone())
            .with_cert_resolver(own.clone());
        server.alpn_protocols = vec![ALPN.to_vec()];

        let mut client = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| bad(&e))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_cert_resolver(own);
        client.alpn_protocols = vec![ALPN.to_vec()];

        Ok(Self {
            server: Arc::new(server),
            client: Arc::new(client),
        })
    }

    /// The cipher suite a handshake started by this node asks for first.
    #[must_use]
    pub fn preferred_suite(&self) -> SupportedCipherSuite {
        self.client.crypto_provider().cipher_suites[0]
    }
}

/// The node's own certificate, presented both as server and as client.
#[derive(Debug)]
struct OwnCertificate(Arc<CertifiedKey>);

impl ResolvesServerCert for OwnCertificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

impl ResolvesClientCert for OwnCertificate {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// aws-lc's provider with only the TLS 1.3 suites, AES-GCM first when `aes_first`.
/// A TLS 1.3 server takes the first suite of the client's list that it supports, so the side
/// that dials decides; every suite here is one libp2p's TLS also offers.
fn provider(aes_first: bool) -> CryptoProvider {
    use aws_lc_rs::cipher_suite::{
        TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384, TLS13_CHACHA20_POLY1305_SHA256,
    };
    let cipher_suites = if aes_first {
        vec![
            TLS13_AES_128_GCM_SHA256,
            TLS13_AES_256_GCM_SHA384,
            TLS13_CHACHA20_POLY1305_SHA256,
        ]
    } else {
        vec![
            TLS13_CHACHA20_POLY1305_SHA256,
            TLS13_AES_128_GCM_SHA256,
            TLS13_AES_256_GCM_SHA384,
        ]
    };
    CryptoProvider {
        cipher_suites,
        ..aws_lc_rs::default_provider()
    }
}

/// Whether this CPU runs AES-GCM in hardware (AES rounds and carry-less multiplication);
/// without them ChaCha20-Poly1305 is the faster cipher.
fn aes_is_fast() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("pmull")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

impl UpgradeInfo for Config {
    type Info = &'static str;
    type InfoIter = std::iter::Once<Self::Info>;

    fn protocol_info(&self) -> Self::InfoIter {
        std::iter::once(PROTOCOL)
    }
}

impl<C> InboundConnectionUpgrade<C> for Config
where
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Output = (PeerId, TlsStream<C>);
    type Error = TlsError;
    type Future = BoxFuture<'static, Result<Self::Output, Self::Error>>;

    fn upgrade_inbound(self, socket: C, _: Self::Info) -> Self::Future {
        async move {
            let stream = TlsAcceptor::from(self.server)
                .accept(socket)
                .await
                .map_err(TlsError::Handshake)?;
            let peer = peer_of(stream.get_ref().1)?;
            Ok((peer, stream.into()))
        }
        .boxed()
    }
}

impl<C> OutboundConnectionUpgrade<C> for Config
where
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Output = (PeerId, TlsStream<C>);
    type Error = TlsError;
    type Future = BoxFuture<'static, Result<Self::Output, Self::Error>>;

    fn upgrade_outbound(self, socket: C, _: Self::Info) -> Self::Future {
        async move {
            // The specification forbids a server name: an unspecified IP address sends none.
            let name = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::UNSPECIFIED).into());
            let stream = TlsConnector::from(self.client)
                .connect(name, socket)
                .await
                .map_err(TlsError::Handshake)?;
            let peer = peer_of(stream.get_ref().1)?;
            Ok((peer, stream.into()))
        }
        .boxed()
    }
}

/// The identity in the certificate the peer presented (already checked by [`PeerCertificate`]).
fn peer_of(state: &CommonState) -> Result<PeerId, TlsError> {
    match state.peer_certificates() {
        Some([cert]) => certificate::parse(cert)
            .map(|c| c.peer_id())
            .map_err(|_| TlsError::Identity),
        _ => Err(TlsError::Identity),
    }
}

/// The answer to a TLS 1.2 signature, which never comes: only TLS 1.3 is enabled.
fn tls12_refused() -> rustls::Error {
    rustls::Error::General("libp2p peers speak TLS 1.3 only".into())
}

/// Checks a peer's certificate the way the libp2p TLS specification asks: exactly one
/// self-signed certificate, valid now, whose libp2p extension is signed by the identity key;
/// and the handshake signed by the certificate's key. Used for both server and client
/// certificates. Which peer it must be is checked by the swarm against the dialled address.
#[derive(Debug)]
struct PeerCertificate;

/// What a certificate or handshake signature that fails libp2p's checks is reported as.
fn bad_certificate() -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::BadSignature)
}

impl PeerCertificate {
    fn check(
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), rustls::Error> {
        if !intermediates.is_empty() {
            return Err(rustls::Error::General(
                "a libp2p peer presents exactly one certificate".into(),
            ));
        }
        certificate::parse(end_entity)
            .map(|_| ())
            .map_err(|_| bad_certificate())
    }

    fn check_signature(
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        certificate::parse(cert)
            .map_err(|_| bad_certificate())?
            .verify_signature(dss.scheme, message, dss.signature())
            .map_err(|_| bad_certificate())?;
        Ok(HandshakeSignatureValid::assertion())
    }

    /// The handshake signature schemes `P2pCertificate::verify_signature` can check.
    fn schemes() -> Vec<SignatureScheme> {
        use SignatureScheme::*;
        vec![
            ECDSA_NISTP384_SHA384,
            ECDSA_NISTP256_SHA256,
            ED25519,
            RSA_PSS_SHA512,
            RSA_PSS_SHA384,
            RSA_PSS_SHA256,
            RSA_PKCS1_SHA512,
            RSA_PKCS1_SHA384,
            RSA_PKCS1_SHA256,
        ]
    }
}

/// The three handshake-signature methods, the same for the server and the client verifier.
macro_rules! handshake_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            _message: &[u8],
            _cert: &CertificateDer<'_>,
            _dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Err(tls12_refused())
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Self::check_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            Self::schemes()
        }
    };
}

impl ServerCertVerifier for PeerCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Self::check(end_entity, intermediates)?;
        Ok(ServerCertVerified::assertion())
    }

    handshake_signatures!();
}

impl ClientCertVerifier for PeerCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Self::check(end_entity, intermediates)?;
        Ok(ClientCertVerified::assertion())
    }

    handshake_signatures!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::CipherSuite;
    use tokio_util::compat::TokioAsyncReadCompatExt;

    /// Runs one handshake over an in-memory pipe; returns what each side learned about the
    /// other and the suite the dialer's stream uses.
    async fn handshake<D, L>(
        dialer: D,
        listener: L,
    ) -> (
        Result<PeerId, String>,
        Result<PeerId, String>,
        Option<CipherSuite>,
    )
    where
        D: OutboundConnectionUpgrade<
                tokio_util::compat::Compat<tokio::io::DuplexStream>,
                Output = (
                    PeerId,
                    TlsStream<tokio_util::compat::Compat<tokio::io::DuplexStream>>,
                ),
            >,
        D::Error: std::fmt::Display,
        L: InboundConnectionUpgrade<
                tokio_util::compat::Compat<tokio::io::DuplexStream>,
                Output = (
                    PeerId,
                    TlsStream<tokio_util::compat::Compat<tokio::io::DuplexStream>>,
                ),
            >,
        L::Error: std::fmt::Display,
        D: UpgradeInfo<Info = &'static str>,
        L: UpgradeInfo<Info = &'static str>,
    {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let (out, inb) = tokio::join!(
            dialer.upgrade_outbound(a.compat(), PROTOCOL),
            listener.upgrade_inbound(b.compat(), PROTOCOL)
        );
        let suite = out
            .as_ref()
            .ok()
            .and_then(|(_, s)| s.get_ref().1.negotiated_cipher_suite())
            .map(|s| s.suite());
        (
            out.map(|(p, _)| p).map_err(|e| e.to_string()),
            inb.map(|(p, _)| p).map_err(|e| e.to_string()),
            suite,
        )
    }

    #[tokio::test]
    async fn peers_learn_each_others_identity_and_prefer_fast_aes() {
        let (ka, kb) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let (a, b) = (Config::new(&ka).unwrap(), Config::new(&kb).unwrap());
        let (out, inb, suite) = handshake(a.clone(), b).await;
        assert_eq!(out.unwrap(), kb.public().to_peer_id());
        assert_eq!(inb.unwrap(), ka.public().to_peer_id());
        let expected = if aes_is_fast() {
            CipherSuite::TLS13_AES_128_GCM_SHA256
        } else {
            CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
        };
        assert_eq!(suite, Some(expected));
        assert_eq!(a.preferred_suite().suite(), expected);
    }

    #[tokio::test]
    async fn interoperates_with_libp2p_tls_both_ways() {
        let (ka, kb) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let ours = Config::new(&ka).unwrap();
        let theirs = libp2p::tls::Config::new(&kb).unwrap();

        let (out, inb, _) = handshake(ours.clone(), theirs.clone()).await;
        assert_eq!(out.unwrap(), kb.public().to_peer_id());
        assert_eq!(inb.unwrap(), ka.public().to_peer_id());

        // Dialled by libp2p's TLS, the listener follows the dialer's order (ChaCha20 first).
        let (out, inb, suite) = handshake(theirs, ours).await;
        assert_eq!(out.unwrap(), ka.public().to_peer_id());
        assert_eq!(inb.unwrap(), kb.public().to_peer_id());
        assert_eq!(suite, Some(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256));
    }

    #[tokio::test]
    async fn a_peer_with_an_ordinary_certificate_is_refused() {
        // A valid TLS 1.3 server whose certificate has no libp2p identity extension.
        let plain = rcgen::generate_simple_self_signed(vec!["peer".into()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(plain.key_pair.serialize_der().into());
        let provider = Arc::new(provider(true));
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![plain.cert.der().clone()], key)
            .unwrap();
        let ours = Config::new(&Keypair::generate_ed25519()).unwrap();
        let (a, b) = tokio::io::duplex(64 * 1024);
        let (out, _) = tokio::join!(
            ours.upgrade_outbound(a.compat(), PROTOCOL),
            TlsAcceptor::from(Arc::new(server)).accept(b.compat())
        );
        let Err(err) = out else {
            panic!("the handshake must fail")
        };
        let err = err.to_string();
        assert!(err.contains("handshake"), "{err}");
    }
}
