//! The built-in echo: every text or binary message goes back unchanged. Ping, pong and
//! close are answered by the WebSocket layer. Without the `write` scope a data message
//! closes the session (1008); without `read` nothing is sent back.

use async_tungstenite::tungstenite::Message;
use futures_lite::StreamExt as _;

use super::{Context, Ending, Outcome, Socket, code, end, failed, peer_code, unless_ended};
use crate::auth::Grants;

/// Echoes until the client closes, an error, or the daemon ends the session. Each
/// message is sent before the next is read, so a client that does not read stops
/// being read.
pub async fn relay(mut ws: Socket, cx: Context<'_>) -> Outcome {
    let mut out = Outcome {
        code: code::ABNORMAL,
        ..Outcome::default()
    };
    let mut watch = cx.stop.watch(cx.expires, cx.revocation.cloned());
    loop {
        let next = match unless_ended(&mut watch, ws.next()).await {
            Ok(next) => next,
            Err(ending) => return end(&mut ws, ending, out).await,
        };
        match next {
            None => return out,
            Some(Err(err)) => return failed(&mut ws, &err, out).await,
            Some(Ok(msg @ (Message::Text(_) | Message::Binary(_)))) => {
                if !cx.grants.contains(Grants::WRITE) {
                    return end(&mut ws, Ending::NotPermitted, out).await;
                }
                let len = msg.len() as u64;
                out.bytes_in += len;
                if !cx.grants.contains(Grants::READ) {
                    continue;
                }
                match unless_ended(&mut watch, ws.send(msg)).await {
                    Err(ending) => return end(&mut ws, ending, out).await,
                    Ok(Err(_)) => return out,
                    Ok(Ok(())) => out.bytes_out += len,
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
