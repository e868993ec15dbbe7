//! Istio's `tcp-echo-server`: writes back each newline-terminated line, prefixed by a configured
//! word and a space.

use std::io;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tracing::debug;

use super::AppContext;
use super::running::ConnectionHandler;

/// The prefix the image's default command (`9000 hello`) uses.
const DEFAULT_PREFIX: &str = "hello";

/// Ports and prefix, from the container arguments `[<port>[,<port>...], <prefix>]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct EchoConfig {
    /// Ports to listen on.
    pub(super) ports: Vec<u16>,
    /// Word put before each echoed line.
    pub(super) prefix: String,
}

impl EchoConfig {
    /// Reads the configuration from the container arguments.
    ///
    /// Two arguments are a comma-separated port list and the prefix, as the image expects. A
    /// single argument is the port list when it parses as one, and the prefix otherwise. Ports
    /// missing from the arguments come from the container ports, then the image's 9000; a
    /// missing prefix is `hello`.
    pub(super) fn from_context(context: &AppContext) -> io::Result<Self> {
        let fallback_ports = || {
            if context.ports.is_empty() {
                vec![9000]
            } else {
                context.ports.clone()
            }
        };
        match context.args.as_slice() {
            [] => Ok(Self {
                ports: fallback_ports(),
                prefix: DEFAULT_PREFIX.to_owned(),
            }),
            [single] => Ok(match parse_ports(single) {
                Some(ports) => Self {
                    ports,
                    prefix: DEFAULT_PREFIX.to_owned(),
                },
                None => Self {
                    ports: fallback_ports(),
                    prefix: single.clone(),
                },
            }),
            [ports, prefix] => {
                let ports = parse_ports(ports).ok_or_else(|| {
                    invalid_args(format!(
                        "the first argument {ports:?} is not a comma-separated list of ports \
                         from 1 to 65535"
                    ))
                })?;
                Ok(Self {
                    ports,
                    prefix: prefix.clone(),
                })
            }
            more => Err(invalid_args(format!(
                "expected at most 2 arguments (<ports> <prefix>), got {}",
                more.len()
            ))),
        }
    }
}

fn invalid_args(reason: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "invalid tcp-echo container args: {reason}; use for example [\"9000,9001\", \"hello\"]"
        ),
    )
}

/// Parses `9000` or `9000,9001`, or returns `None` unless every entry is a port from 1 to
/// 65535.
fn parse_ports(list: &str) -> Option<Vec<u16>> {
    list.split(',')
        .map(|entry| entry.trim().parse::<u16>().ok().filter(|port| *port != 0))
        .collect()
}

/// Builds the connection handler that echoes lines with `config.prefix`.
pub(super) fn handler(config: EchoConfig) -> ConnectionHandler {
    let prefix: Arc<str> = config.prefix.into();
    Arc::new(move |stream, _peer| {
        let prefix = Arc::clone(&prefix);
        Box::pin(async move {
            if let Err(error) = echo_lines(stream, &prefix).await {
                debug!(%error, "echo connection failed");
            }
        })
    })
}

/// Writes `<prefix> <line>` back for every line that ends in `\n`. Bytes after the last newline
/// are dropped when the peer closes, as the Go server does.
async fn echo_lines(stream: TcpStream, prefix: &str) -> io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        reader.read_until(b'\n', &mut line).await?;
        if line.last() != Some(&b'\n') {
            return Ok(());
        }
        let mut answer = Vec::with_capacity(prefix.len() + 1 + line.len());
        answer.extend_from_slice(prefix.as_bytes());
        answer.push(b' ');
        answer.extend_from_slice(&line);
        writer.write_all(&answer).await?;
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::apps::test_support::{bounded, context};
    use crate::apps::{AppKind, start};

    fn config_of(args: &[&str], ports: &[u16]) -> io::Result<EchoConfig> {
        let mut context = context("tcp-echo-0", Ipv4Addr::LOCALHOST.into(), ports);
        context.args = args.iter().map(|arg| (*arg).to_owned()).collect();
        EchoConfig::from_context(&context)
    }

    struct ArgsCase {
        args: &'static [&'static str],
        container_ports: &'static [u16],
        ports: &'static [u16],
        prefix: &'static str,
    }

    #[test]
    fn config_from_args() {
        let case = |args, container_ports, ports, prefix| ArgsCase {
            args,
            container_ports,
            ports,
            prefix,
        };
        let cases = [
            case(&["9000,9001", "hello"], &[], &[9000, 9001], "hello"),
            case(&["9000", "hi"], &[9005], &[9000], "hi"),
            case(&["9002"], &[], &[9002], "hello"),
            case(&["hey"], &[9003], &[9003], "hey"),
            case(&["hey"], &[], &[9000], "hey"),
            case(&[], &[9004], &[9004], "hello"),
            case(&[], &[], &[9000], "hello"),
        ];
        for case in cases {
            let config = config_of(case.args, case.container_ports).unwrap();
            assert_eq!(config.ports, case.ports, "ports for args {:?}", case.args);
            assert_eq!(
                config.prefix, case.prefix,
                "prefix for args {:?}",
                case.args
            );
        }
    }

    #[test]
    fn config_rejects_invalid_args() {
        let cases: &[&[&str]] = &[
            &["9000,abc", "hello"],
            &["0", "hello"],
            &["70000", "hello"],
            &["9000", "hello", "extra"],
        ];
        for args in cases {
            let error = config_of(args, &[]).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "args {args:?}");
        }
    }

    #[tokio::test]
    async fn echo_prefixes_each_line() {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 77, 40, 1));
        let mut context = context("tcp-echo-0", ip, &[]);
        context.args = vec!["9000,9001".to_owned(), "hello".to_owned()];
        let app = bounded(start(AppKind::TcpEcho, context)).await.unwrap();
        assert_eq!(app.listening().len(), 2, "listeners: {:?}", app.listening());

        for port in [9000, 9001] {
            let mut stream = bounded(TcpStream::connect((ip, port))).await.unwrap();
            bounded(stream.write_all(b"world\nsecond line\n"))
                .await
                .unwrap();
            let mut answer = vec![0; "hello world\nhello second line\n".len()];
            bounded(stream.read_exact(&mut answer)).await.unwrap();
            assert_eq!(
                String::from_utf8_lossy(&answer),
                "hello world\nhello second line\n",
                "answer on port {port}"
            );
        }
        bounded(app.stop()).await;
    }

    #[tokio::test]
    async fn echo_drops_unterminated_line() {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 77, 40, 2));
        let app = bounded(start(AppKind::TcpEcho, context("tcp-echo-0", ip, &[])))
            .await
            .unwrap();
        let mut stream = bounded(TcpStream::connect((ip, 9000))).await.unwrap();
        bounded(stream.write_all(b"no newline")).await.unwrap();
        bounded(stream.shutdown()).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
            .await
            .expect("the server closes the connection")
            .unwrap();
        assert_eq!(answer, b"", "answer to an unterminated line");
        bounded(app.stop()).await;
    }
}
