//! Protocol detection on a fresh connection, as Envoy's `tls_inspector` and `http_inspector`
//! listener filters do: is it TLS (and which ALPN and SNI does the ClientHello carry), HTTP
//! (which version), or something else.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// TLS record type of handshake messages.
const TLS_HANDSHAKE: u8 = 22;
/// Handshake message type of a ClientHello.
const CLIENT_HELLO: u8 = 1;
/// TLS extension carrying the server name.
const EXTENSION_SERVER_NAME: u16 = 0;
/// TLS extension carrying ALPN protocols.
const EXTENSION_ALPN: u16 = 16;
/// Largest TLS record: 16 KiB of payload plus expansion, plus the 5-byte header.
const MAX_RECORD: usize = 5 + 16384 + 2048;
/// The HTTP/2 connection preface.
pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Methods whose request line marks plaintext HTTP/1.x.
const HTTP_METHODS: &[&[u8]] = &[
    b"GET ",
    b"HEAD ",
    b"POST ",
    b"PUT ",
    b"DELETE ",
    b"CONNECT ",
    b"OPTIONS ",
    b"TRACE ",
    b"PATCH ",
];

/// What the first bytes of a connection look like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// A TLS ClientHello.
    Tls {
        /// ALPN protocols offered, in order.
        alpn: Vec<Vec<u8>>,
        /// Server name, if sent.
        sni: Option<String>,
    },
    /// Plaintext HTTP/1.x.
    Http1,
    /// Plaintext HTTP/2 with prior knowledge (h2c).
    Http2,
    /// Bytes that are neither TLS nor HTTP.
    Opaque,
    /// No bytes arrived before the detection timeout or the peer closed.
    Empty,
}

impl Protocol {
    /// Whether this is TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tls { .. })
    }
}

/// The detection result and the bytes read to reach it, which the caller must replay.
#[derive(Debug)]
pub struct Detection {
    /// What was found.
    pub protocol: Protocol,
    /// Bytes read from the stream.
    pub prefix: Bytes,
}

/// Reads from `stream` until the protocol is known, the peer stops sending for `timeout`, or
/// the first TLS record is complete.
pub async fn detect<S: AsyncRead + Unpin>(
    stream: &mut S,
    timeout: Duration,
) -> std::io::Result<Detection> {
    let mut buffer = BytesMut::with_capacity(1024);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(protocol) = classify(&buffer) {
            return Ok(Detection {
                protocol,
                prefix: buffer.freeze(),
            });
        }
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buffer)).await {
            Ok(Ok(0)) | Err(_) => {
                let protocol = if buffer.is_empty() {
                    Protocol::Empty
                } else {
                    classify_final(&buffer)
                };
                return Ok(Detection {
                    protocol,
                    prefix: buffer.freeze(),
                });
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => return Err(error),
        }
    }
}

/// Classifies `bytes` if they are enough to decide; `None` means "read more".
fn classify(bytes: &[u8]) -> Option<Protocol> {
    let first = *bytes.first()?;
    if first == TLS_HANDSHAKE {
        if bytes.len() < 5 {
            return None;
        }
        let record_length = usize::from(u16::from_be_bytes([bytes[3], bytes[4]]));
        let needed = (5 + record_length).min(MAX_RECORD);
        if bytes.len() < needed {
            return None;
        }
        return Some(parse_client_hello(&bytes[5..needed]).unwrap_or(Protocol::Opaque));
    }
    if H2_PREFACE.starts_with(&bytes[..bytes.len().min(H2_PREFACE.len())]) {
        return (bytes.len() >= H2_PREFACE.len()).then_some(Protocol::Http2);
    }
    let mut undecided = false;
    for method in HTTP_METHODS {
        if bytes.starts_with(method) {
            return Some(Protocol::Http1);
        }
        if method.starts_with(bytes) {
            undecided = true;
        }
    }
    if undecided {
        None
    } else {
        Some(Protocol::Opaque)
    }
}

/// Classifies a short input that will not grow.
fn classify_final(bytes: &[u8]) -> Protocol {
    classify(bytes).unwrap_or(Protocol::Opaque)
}

/// Parses a ClientHello handshake message from a TLS record payload. Returns `None` when the
/// payload is not a well-formed ClientHello.
fn parse_client_hello(payload: &[u8]) -> Option<Protocol> {
    let mut reader = Reader(payload);
    if reader.u8()? != CLIENT_HELLO {
        return None;
    }
    let length = reader.u24()? as usize;
    // A ClientHello split over several records is still TLS; only its extensions are unknown.
    let mut body = Reader(reader.0.get(..length.min(reader.0.len()))?);
    body.skip(2 + 32)?; // legacy_version, random
    let session_id = usize::from(body.u8()?);
    body.skip(session_id)?;
    let suites = usize::from(body.u16()?);
    body.skip(suites)?;
    let compression = usize::from(body.u8()?);
    body.skip(compression)?;
    let mut alpn = Vec::new();
    let mut sni = None;
    if body.0.is_empty() {
        return Some(Protocol::Tls { alpn, sni });
    }
    let extensions_length = usize::from(body.u16()?);
    let mut extensions = Reader(body.take(extensions_length).unwrap_or(body.0));
    while !extensions.0.is_empty() {
        let kind = extensions.u16()?;
        let length = usize::from(extensions.u16()?);
        let Some(data) = extensions.take(length) else {
            break;
        };
        let mut data = Reader(data);
        match kind {
            EXTENSION_ALPN => {
                let list_length = usize::from(data.u16()?);
                let mut list = Reader(data.take(list_length)?);
                while !list.0.is_empty() {
                    let protocol_length = usize::from(list.u8()?);
                    alpn.push(list.take(protocol_length)?.to_vec());
                }
            }
            EXTENSION_SERVER_NAME => {
                let _list_length = data.u16()?;
                if data.u8()? == 0 {
                    let name_length = usize::from(data.u16()?);
                    sni = std::str::from_utf8(data.take(name_length)?)
                        .ok()
                        .map(str::to_owned);
                }
            }
            _ => {}
        }
    }
    Some(Protocol::Tls { alpn, sni })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        if self.0.len() < count {
            return None;
        }
        let (head, rest) = self.0.split_at(count);
        self.0 = rest;
        Some(head)
    }

    fn skip(&mut self, count: usize) -> Option<()> {
        self.take(count).map(|_| ())
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|bytes| bytes[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2)
            .map(|bytes| u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn u24(&mut self) -> Option<u32> {
        self.take(3)
            .map(|bytes| u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// Captures the ClientHello a real rustls client sends with the given ALPN and SNI.
    fn rustls_client_hello(alpn: &[&[u8]], sni: &str) -> Vec<u8> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
        let name = rustls::pki_types::ServerName::try_from(sni.to_owned()).unwrap();
        let mut connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let mut bytes = Vec::new();
        connection.write_tls(&mut bytes).unwrap();
        bytes
    }

    #[test]
    fn client_hello_alpn_and_sni() {
        let hello = rustls_client_hello(&[b"istio-http/1.1", b"istio"], "outbound.example");
        assert_eq!(
            classify(&hello),
            Some(Protocol::Tls {
                alpn: vec![b"istio-http/1.1".to_vec(), b"istio".to_vec()],
                sni: Some("outbound.example".to_owned()),
            })
        );
    }

    #[test]
    fn partial_client_hello_needs_more_bytes() {
        let hello = rustls_client_hello(&[b"h2"], "example.com");
        assert_eq!(classify(&hello[..3]), None);
        assert_eq!(classify(&hello[..hello.len() - 1]), None);
    }

    #[test]
    fn plaintext_protocols() {
        let cases: [(&[u8], Option<Protocol>); 7] = [
            (b"GET /productpage HTTP/1.1\r\n", Some(Protocol::Http1)),
            (b"POST / HTTP/1.1\r\n", Some(Protocol::Http1)),
            (b"GE", None),
            (H2_PREFACE, Some(Protocol::Http2)),
            (b"PRI * HTTP/2", None),
            (b"hello\n", Some(Protocol::Opaque)),
            (b"\x00\x01binary", Some(Protocol::Opaque)),
        ];
        for (bytes, expected) in cases {
            assert_eq!(
                classify(bytes),
                expected,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[tokio::test]
    async fn detect_returns_prefix_and_stops_at_timeout() {
        let (mut client, mut server) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut client, b"GE")
            .await
            .unwrap();
        let detection = detect(&mut server, Duration::from_millis(50))
            .await
            .unwrap();
        assert_eq!(
            detection.protocol,
            Protocol::Opaque,
            "a stalled partial method is opaque"
        );
        assert_eq!(&detection.prefix[..], b"GE");
    }
}
