//! The built-in echo: every text or binary message goes back unchanged. Ping, pong and
//! close are answered by the WebSocket layer.

use async_tungstenite::tungstenite::Message;
use futures_lite::StreamExt as _;

use super::{Context, Outcome, Socket, code, failed, going_away, peer_code, unless_stopped};

/// Echoes until the client closes, an error, or the daemon stops. Each message is
/// sent before the next is read, so a client that does not read stops being read.
pub async fn relay(mut ws: Socket, cx: Context<'_>) -> Outcome {
    let mut out = Outcome {
        code: code::ABNORMAL,
        ..Outcome::default()
    };
    let mut stop = cx.stop.watch();
    loop {
        let Some(next) = unless_stopped(&mut stop, ws.next()).await else {
            return going_away(&mut ws, out).await;
        };
        match next {
            None => return out,
            Some(Err(err)) => return failed(&mut ws, &err, out).await,
            Some(Ok(msg @ (Message::Text(_) | Message::Binary(_)))) => {
                let len = msg.len() as u64;
                out.bytes_in += len;
                match unless_stopped(&mut stop, ws.send(msg)).await {
                    None => return going_away(&mut ws, out).await,
                    Some(Err(_)) => return out,
                    Some(Ok(())) => out.bytes_out += len,
                }
            }
            Some(Ok(Message::Close(frame))) => out.code = peer_code(&frame),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
        }
    }
}
