//! The built-in echo: every text or binary message goes back unchanged. Ping, pong and
//! close are answered by the WebSocket layer. Without the `write` scope a data message
//! closes the session (1008); without `read` nothing is sent back.

use async_tungstenite::tungstenite::Message;
use futures_lite::{FutureExt as _, StreamExt as _};

use super::session::{Ending, Pulse, Socket, Watch, code, end, failed, peer_code, unless_ended};
use super::{
    Backend, BoxFuture, Context, Failed, Opening, Outcome, Selected, Session, Settings, Upgraded,
};
use crate::bearer;
use crate::scope::Scopes;

/// The echo backend.
pub struct Echo {
    protocols: Vec<String>,
    max_message: usize,
}

impl Echo {
    /// An echo speaking `--protocol`'s subprotocols.
    pub fn new(settings: Settings) -> Echo {
        Echo {
            protocols: settings.protocols,
            max_message: settings.max_message_size,
        }
    }
}

impl Backend for Echo {
    fn name(&self) -> String {
        "echo".to_owned()
    }

    fn kind(&self) -> &'static str {
        "echo"
    }

    fn requires(&self) -> Scopes {
        Scopes::NONE
    }

    fn open<'s: 'o, 'o>(
        &'s self,
        opening: Opening<'o>,
    ) -> BoxFuture<'o, Result<Box<dyn Session + 's>, Failed>> {
        let protocol = bearer::select(opening.upgrade.common.headers, &self.protocols);
        Box::pin(async move {
            let session: Box<dyn Session + 's> = Box::new(Echoing {
                protocol,
                max_message: self.max_message,
            });
            Ok(session)
        })
    }
}

/// One echo session.
struct Echoing<'b> {
    protocol: Option<&'b str>,
    max_message: usize,
}

impl Session for Echoing<'_> {
    fn selected(&self) -> Selected<'_> {
        Selected {
            protocol: self.protocol,
            extensions: None,
            accept: None,
        }
    }

    fn relay<'a>(self: Box<Self>, upgraded: Upgraded, cx: Context<'a>) -> BoxFuture<'a, Outcome> {
        let max_message = self.max_message;
        Box::pin(async move {
            upgraded
                .relay_messages(max_message, &cx, |ws| relay(ws, cx))
                .await
        })
    }
}

/// Echoes until the client closes, an error, or the daemon ends the session. Each
/// message is sent before the next is read, so a client that does not read stops
/// being read. A silent client is pinged, and one that stays silent is closed.
async fn relay(mut ws: Socket, cx: Context<'_>) -> Outcome {
    let mut out = Outcome {
        code: code::ABNORMAL,
        ..Outcome::default()
    };
    let pulse = Pulse::new(cx.liveness);
    let mut watch = Watch::new(cx.stop, cx.expires, cx.revocation.cloned(), &pulse);
    loop {
        // Reading is cancel-safe: a ping in between loses nothing.
        let next = async { Some(ws.next().await) }.or(async {
            pulse.ping_due().await;
            None
        });
        let next = match unless_ended(&mut watch, next).await {
            Ok(Some(next)) => next,
            Ok(None) => {
                let ping = ws.send(Message::Ping(Default::default()));
                match unless_ended(&mut watch, ping).await {
                    Err(ending) => return end(&mut ws, ending, out).await,
                    Ok(Err(_)) => return out,
                    Ok(Ok(())) => continue,
                }
            }
            Err(ending) => return end(&mut ws, ending, out).await,
        };
        if let Some(Ok(msg)) = &next {
            pulse.heard(matches!(msg, Message::Text(_) | Message::Binary(_)));
        }
        match next {
            None => return out,
            Some(Err(err)) => return failed(&mut ws, &err, out).await,
            Some(Ok(msg @ (Message::Text(_) | Message::Binary(_)))) => {
                if !cx.scopes.contains(Scopes::WRITE) {
                    return end(&mut ws, Ending::NotPermitted, out).await;
                }
                let len = msg.len() as u64;
                out.bytes_in += len;
                if !cx.scopes.contains(Scopes::READ) {
                    continue;
                }
                match unless_ended(&mut watch, ws.send(msg)).await {
                    Err(ending) => return end(&mut ws, ending, out).await,
                    Ok(Err(_)) => return out,
                    Ok(Ok(())) => {
                        out.bytes_out += len;
                        pulse.moved();
                    }
                }
            }
            Some(Ok(Message::Close(frame))) => {
                // The reply goes out with the next read, which then ends the stream.
                out.code = peer_code(&frame);
                out.clean = true;
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
        }
    }
}
