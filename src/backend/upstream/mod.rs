//! Upstreams: an existing server, reached after the gate has accepted a connection.
//!
//! - A WebSocket server (`ws://HOST:PORT[/PREFIX]`, `ws+unix:PATH`): [`Backend::open`]
//!   connects, forwards the client's handshake without wsgate's credentials
//!   ([`handshake`]) and reads the upstream's answer; only its 101 makes the client's
//!   101, with the subprotocol and extensions it chose. Then [`splice`] moves bytes.
//! - A byte stream (`tcp://`, `unix:`): `open` connects; [`stream`] relays binary
//!   messages to it and its bytes back, websockify's model.
//!
//! A refused, reset or wrongly answered connection is answered `502 upstream-failed`;
//! one that does not connect and answer within `--upstream-timeout`, `504
//! upstream-timeout`. A host name is resolved at each connection. Connecting to a tool
//! is execution authority: in store mode a token needs `exec`, as for a program.

mod conn;
mod handshake;
mod splice;
mod stream;
mod target;

use std::time::{Duration, Instant};

use async_io::Timer;
use futures_lite::FutureExt as _;

use super::{
    Backend, BoxFuture, Context, Failed, Opening, Outcome, Selected, Session, Settings, Upgraded,
};
use crate::bearer;
use crate::log::Owned;
use crate::outcome::Reason;
use crate::scope::Scopes;
use conn::Conn;
use handshake::{Answer, Forward, NotForwarded};
pub use handshake::{BadAnswer, Offered, answer as parse_answer};
pub use target::{
    Address, HostRule, Kind, Options, OriginRule, Target, header_safe, parse_timeout,
};

/// An upstream backend.
pub struct Upstream {
    target: Target,
    /// The target as the logs name it.
    name: String,
    authority: String,
    options: Options,
    protocols: Vec<String>,
    max_message: usize,
}

impl Upstream {
    /// A backend relaying to `target`.
    pub fn new(target: Target, options: Options, settings: Settings) -> Upstream {
        Upstream {
            name: target.to_string(),
            authority: target.authority(),
            target,
            options,
            protocols: settings.protocols,
            max_message: settings.max_message_size,
        }
    }

    /// Connects and, for a WebSocket upstream, shakes hands, within the timeout.
    async fn connect(&self, opening: &Opening<'_>) -> Result<Opened, Failed> {
        let failed = |reason, error: String| Failed {
            reason,
            error,
            fields: vec![("upstream", Owned::Str(self.name.clone()))],
        };
        let request = match self.target.kind {
            Kind::WebSocket => {
                let forward = Forward {
                    upgrade: opening.upgrade,
                    peer: opening.peer,
                    secrets: opening.secrets,
                    prefix: &self.target.prefix,
                    authority: &self.authority,
                    host: &self.options.host,
                    origin: &self.options.origin,
                };
                match handshake::request(&forward) {
                    Ok(request) => Some(request),
                    Err(NotForwarded::PathHoldsSecret) => {
                        return Err(failed(
                            Reason::UpstreamFailed,
                            "the request's path holds a credential: not forwarded".into(),
                        ));
                    }
                    Err(NotForwarded::DotSegment) => {
                        return Err(failed(
                            Reason::MalformedRequest,
                            "the request's path has a dot segment: not forwarded under the prefix"
                                .into(),
                        ));
                    }
                }
            }
            Kind::Stream => None,
        };
        let started = Instant::now();
        let attempt = async {
            let conn = Conn::connect(&self.target.address)
                .await
                .map_err(|e| format!("connecting: {e}"))?;
            let Some((head, offered)) = request else {
                return Ok(Opened {
                    conn,
                    answer: None,
                    leftover: Vec::new(),
                    marker: false,
                    connect: Duration::ZERO,
                });
            };
            conn.write_all(&head)
                .await
                .map_err(|e| format!("writing the handshake: {e}"))?;
            let (answer, leftover) = read_answer(&conn, opening.upgrade.key, &offered).await?;
            Ok(Opened {
                conn,
                answer: Some(answer),
                leftover,
                marker: offered.marker,
                connect: Duration::ZERO,
            })
        };
        let timeout = self.options.timeout;
        let result = async { Some(attempt.await) }
            .or(async {
                Timer::after(timeout).await;
                None
            })
            .await;
        let elapsed = started.elapsed();
        match result {
            Some(Ok(mut opened)) => {
                opened.connect = elapsed;
                Ok(opened)
            }
            Some(Err(error)) => {
                let mut f = failed(Reason::UpstreamFailed, error);
                f.fields.push(("connect_ms", Owned::Num(ms(elapsed))));
                Err(f)
            }
            None => {
                let error = format!("no answer within {} ms", timeout.as_millis());
                let mut f = failed(Reason::UpstreamTimeout, error);
                f.fields.push(("connect_ms", Owned::Num(ms(elapsed))));
                Err(f)
            }
        }
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

/// Reads the upstream's answer head; returns it and the bytes that followed it.
async fn read_answer(
    conn: &Conn,
    key: &[u8],
    offered: &Offered,
) -> Result<(Answer, Vec<u8>), String> {
    let mut buf = vec![0u8; 1024];
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            buf.resize((buf.len() * 2).min(handshake::MAX_ANSWER), 0);
        }
        conn.readable()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?;
        let n = match conn.try_read(&mut buf[filled..]) {
            Ok(0) => return Err("the upstream closed the connection without answering".into()),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) => return Err(format!("reading the answer: {e}")),
        };
        filled += n;
        match handshake::answer(&buf[..filled], key, offered) {
            Ok(None) => {}
            Ok(Some(answer)) => {
                let leftover = buf[answer.len..filled].to_vec();
                return Ok((answer, leftover));
            }
            Err(bad) => return Err(bad.describe()),
        }
    }
}

/// A connection made for one client, before its 101.
struct Opened {
    conn: Conn,
    /// A WebSocket upstream's 101.
    answer: Option<Answer>,
    /// What the upstream sent after its 101.
    leftover: Vec<u8>,
    /// The client offered the `wsgate` marker.
    marker: bool,
    connect: Duration,
}

impl Backend for Upstream {
    fn name(&self) -> String {
        format!("upstream:{}", self.name)
    }

    fn kind(&self) -> &'static str {
        "upstream"
    }

    fn requires(&self) -> Scopes {
        Scopes::EXEC
    }

    fn open<'s: 'o, 'o>(
        &'s self,
        opening: Opening<'o>,
    ) -> BoxFuture<'o, Result<Box<dyn Session + 's>, Failed>> {
        let stream_protocol = match self.target.kind {
            Kind::Stream => bearer::select(opening.upgrade.common.headers, &self.protocols),
            Kind::WebSocket => None,
        };
        Box::pin(async move {
            let opened = self.connect(&opening).await?;
            let session: Box<dyn Session + 's> = Box::new(Proxied {
                upstream: self,
                stream_protocol,
                opened,
            });
            Ok(session)
        })
    }
}

/// A connected upstream, waiting for the client's 101 to be written.
struct Proxied<'b> {
    upstream: &'b Upstream,
    /// For a byte stream, the subprotocol selected as for the other backends.
    stream_protocol: Option<&'b str>,
    opened: Opened,
}

impl Session for Proxied<'_> {
    fn selected(&self) -> Selected<'_> {
        match &self.opened.answer {
            Some(answer) => Selected {
                // The upstream's choice, one the client offered; or the marker the
                // client offered when the upstream chose nothing.
                protocol: answer
                    .protocol
                    .as_deref()
                    .or(self.opened.marker.then_some(bearer::MARKER)),
                extensions: answer.extensions.as_deref(),
                accept: Some(&answer.accept),
            },
            None => Selected {
                protocol: self.stream_protocol,
                extensions: None,
                accept: None,
            },
        }
    }

    fn fields(&self) -> Vec<(&'static str, Owned)> {
        vec![
            ("upstream", Owned::Str(self.upstream.name.clone())),
            ("connect_ms", Owned::Num(ms(self.opened.connect))),
        ]
    }

    fn relay<'a>(self: Box<Self>, upgraded: Upgraded, cx: Context<'a>) -> BoxFuture<'a, Outcome> {
        let Proxied {
            upstream, opened, ..
        } = *self;
        let max_message = upstream.max_message;
        // Each kind's relay in a box of its own size: an idle session costs only what
        // its own kind keeps.
        match upstream.target.kind {
            Kind::WebSocket => {
                let Upgraded { stream, leftover } = upgraded;
                Box::pin(async move {
                    match Conn::client(stream) {
                        Ok(client) => {
                            let up = opened.conn;
                            splice::relay(client, leftover, up, opened.leftover, max_message, cx)
                                .await
                        }
                        Err(_) => Outcome {
                            code: super::session::code::ABNORMAL,
                            ..Outcome::default()
                        },
                    }
                })
            }
            Kind::Stream => Box::pin(async move {
                upgraded
                    .relay_messages(max_message, &cx, |ws| {
                        stream::relay(ws, opened.conn, max_message, cx)
                    })
                    .await
            }),
        }
    }
}
