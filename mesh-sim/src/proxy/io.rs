//! Byte-stream helpers for the proxy: replaying bytes read during protocol detection, closing
//! with a reset, and splicing two streams.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// A stream that first yields bytes already read from it, then reads from the stream itself.
/// Protocol detection reads the first bytes of a connection; this puts them back in front.
#[derive(Debug)]
pub struct PrefixedIo<T> {
    prefix: Bytes,
    inner: T,
}

impl<T> PrefixedIo<T> {
    /// Wraps `inner`, replaying `prefix` first.
    pub fn new(prefix: Bytes, inner: T) -> Self {
        Self { prefix, inner }
    }

    /// Unwraps the stream; bytes of the prefix not yet read are lost.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for PrefixedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let count = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..count]);
            self.prefix.advance(count);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for PrefixedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The plaintext TLS 1.2 alert record a rustls server sends when a client presents no
/// certificate: fatal (2), `certificate_required` (116).
const TLS12_CERTIFICATE_REQUIRED: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 116];
/// The alert description Envoy (BoringSSL) sends instead: `handshake_failure`.
const HANDSHAKE_FAILURE: u8 = 40;

/// A stream that makes a TLS 1.2 refusal of a client without a certificate look as Envoy's
/// does on the wire. rustls sends the `certificate_required` alert (116) in TLS 1.2
/// as in 1.3, but that alert exists only since TLS 1.3, and BoringSSL sends
/// `handshake_failure` (40) in TLS 1.2, which curl reports as exit 35 rather than 98.
///
/// Only a write that starts with the unencrypted alert record is changed. TLS 1.3 sends this
/// alert encrypted, so TLS 1.3 traffic is never touched.
#[derive(Debug)]
pub struct Tls12AlertAsEnvoy<T> {
    inner: T,
    /// Offset, in the next write, of an alert byte still to rewrite after a short write.
    pending: Option<usize>,
}

impl<T> Tls12AlertAsEnvoy<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            pending: None,
        }
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tls12AlertAsEnvoy<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tls12AlertAsEnvoy<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let position = match self.pending {
            Some(offset) if offset < buf.len() => Some(offset),
            Some(_) => None,
            None if buf.starts_with(&TLS12_CERTIFICATE_REQUIRED) => Some(6),
            None => None,
        };
        let Some(position) = position else {
            return Pin::new(&mut self.inner).poll_write(cx, buf);
        };
        let mut rewritten = buf.to_vec();
        rewritten[position] = HANDSHAKE_FAILURE;
        let result = Pin::new(&mut self.inner).poll_write(cx, &rewritten);
        if let Poll::Ready(Ok(written)) = &result {
            self.pending = (*written <= position).then(|| position - written);
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Closes a TCP connection with a reset (RST) instead of a FIN, as a proxy does when it has no
/// way to handle the connection: the peer's next read fails with "connection reset by peer".
pub fn reset(stream: TcpStream) {
    let socket = socket2::SockRef::from(&stream);
    if let Err(error) = socket.set_linger(Some(Duration::ZERO)) {
        tracing::debug!(%error, "cannot set SO_LINGER to zero; closing normally");
    }
    drop(stream);
}

/// One of the two spliced streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The first stream.
    A,
    /// The second stream.
    B,
}

/// The end state of a splice: bytes copied and the first failure.
#[derive(Debug)]
pub struct SpliceEnd {
    /// Bytes copied from A to B.
    pub a_to_b: u64,
    /// Bytes copied from B to A.
    pub b_to_a: u64,
    /// The first failure, with the side whose read or write failed.
    pub failure: Option<(Side, io::Error)>,
}

impl SpliceEnd {
    /// Returns the side that reset its connection, if one did.
    pub fn reset_by(&self) -> Option<Side> {
        match &self.failure {
            Some((side, error))
                if matches!(
                    error.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                ) =>
            {
                Some(*side)
            }
            _ => None,
        }
    }
}

const COPY_BUFFER: usize = 16 * 1024;

/// Copies `from` into `to` until `from` ends, then shuts `to` down for writing.
async fn copy_one_way<R, W>(
    from: &mut R,
    to: &mut W,
    from_side: Side,
    to_side: Side,
) -> (u64, Option<(Side, io::Error)>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buffer = vec![0u8; COPY_BUFFER];
    let mut copied = 0u64;
    loop {
        let count = match from.read(&mut buffer).await {
            Ok(0) => break,
            Ok(count) => count,
            Err(error) => return (copied, Some((from_side, error))),
        };
        if let Err(error) = to.write_all(&buffer[..count]).await {
            return (copied, Some((to_side, error)));
        }
        copied += count as u64;
    }
    if let Err(error) = to.shutdown().await
        && error.kind() != io::ErrorKind::NotConnected
    {
        return (copied, Some((to_side, error)));
    }
    (copied, None)
}

/// Copies bytes both ways until both directions are closed or one fails, half-closing each
/// side as its peer finishes, and returns both streams so the caller can pass a reset on.
pub async fn splice<A, B>(a: A, b: B) -> (A, B, SpliceEnd)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let (mut a_read, mut a_write) = tokio::io::split(a);
    let (mut b_read, mut b_write) = tokio::io::split(b);
    let (a_to_b, b_to_a, failure) = {
        let forward = copy_one_way(&mut a_read, &mut b_write, Side::A, Side::B);
        let backward = copy_one_way(&mut b_read, &mut a_write, Side::B, Side::A);
        tokio::pin!(forward, backward);
        // When one direction fails the other cannot finish cleanly, so stop at the first
        // failure.
        tokio::select! {
            (a_to_b, failure) = &mut forward => match failure {
                Some(failure) => (a_to_b, 0, Some(failure)),
                None => {
                    let (b_to_a, failure) = backward.await;
                    (a_to_b, b_to_a, failure)
                }
            },
            (b_to_a, failure) = &mut backward => match failure {
                Some(failure) => (0, b_to_a, Some(failure)),
                None => {
                    let (a_to_b, failure) = forward.await;
                    (a_to_b, b_to_a, failure)
                }
            },
        }
    };
    let a = a_read.unsplit(a_write);
    let b = b_read.unsplit(b_write);
    (
        a,
        b,
        SpliceEnd {
            a_to_b,
            b_to_a,
            failure,
        },
    )
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn prefixed_io_replays_prefix_then_stream() {
        let (client, mut server) = tokio::io::duplex(64);
        let mut prefixed = PrefixedIo::new(Bytes::from_static(b"GET "), client);
        server.write_all(b"/ HTTP/1.1\r\n").await.unwrap();
        drop(server);
        let mut text = String::new();
        prefixed.read_to_string(&mut text).await.unwrap();
        assert_eq!(text, "GET / HTTP/1.1\r\n");
    }

    #[tokio::test]
    async fn splice_copies_both_ways_and_reports_reset() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(address).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (near, mut far) = tokio::io::duplex(1024);
        let task = tokio::spawn(splice(server, near));
        client.write_all(b"ping").await.unwrap();
        let mut buffer = [0u8; 4];
        far.read_exact(&mut buffer).await.unwrap();
        assert_eq!(&buffer, b"ping");
        far.write_all(b"pong").await.unwrap();
        client.read_exact(&mut buffer).await.unwrap();
        assert_eq!(&buffer, b"pong");
        reset(client);
        let (_, _, end) = task.await.unwrap();
        assert_eq!(end.a_to_b, 4);
        assert_eq!(end.reset_by(), Some(Side::A));
    }

    #[tokio::test]
    async fn tls12_certificate_required_becomes_handshake_failure() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut stream = Tls12AlertAsEnvoy::new(near);
        stream.write_all(&TLS12_CERTIFICATE_REQUIRED).await.unwrap();
        stream.write_all(b"\x17\x03\x03").await.unwrap();
        drop(stream);
        let mut written = Vec::new();
        far.read_to_end(&mut written).await.unwrap();
        assert_eq!(written[..6], TLS12_CERTIFICATE_REQUIRED[..6]);
        assert_eq!(written[6], HANDSHAKE_FAILURE, "alert description rewritten");
        assert_eq!(&written[7..], b"\x17\x03\x03", "other records untouched");
    }

    #[tokio::test]
    async fn reset_makes_peer_read_fail_with_connection_reset() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(address).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        reset(server);
        let mut buffer = [0u8; 8];
        let error = client.read(&mut buffer).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
    }
}
