//! The built-in echo: every text or binary message goes back unchanged. Ping, pong and
//! close are answered by the WebSocket layer.

use async_tungstenite::tungstenite::Message;
use futures_lite::StreamExt as _;

use super::{Context, Outcome, Socket, code, end, failed, peer_code, unless_ended};

/// Echoes until the client closes, an error, or the daemon ends the session. Each
/// message is sent before the next is read, so a client that does not read stops
/// being read.
pub async fn relay(mut ws: Socket, cx: Context<'_>) -> Outcome {
    let mut out = Outcome {
        code: code::ABNORMAL,
        ..Outcome::default()
    };
    let mut watch = cx.stop.watch(cx.expires);
    loop {
        let next = match unless_ended(&mut watch, ws.next()).await {
            Ok(next) => next,
            Err(ending) => return end(&mut ws, ending, out).await,
        };
        match next {
            None => return out,
            Some(Err(err)) => return failed(&mut ws, &err, out).await,
            Some(Ok(msg @ (Message::Text(_) | Message::Binary(_)))) => {
                let len = msg.len() as u64;
                out.bytes_in += len;
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
