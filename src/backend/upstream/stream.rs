//! The relay for a byte-stream upstream (`tcp://`, `unix:`), websockify's model: each
//! binary message from the client is written to the stream, and the stream's bytes
//! come back as binary messages, one per read (at most `--max-message-size`, and at
//! most [`BUFFER`] bytes). A text message closes the session with 1003: a byte stream
//! has no place to say which bytes were text.
//!
//! The stream ending closes the WebSocket with 1000. The client closing shuts the
//! stream down for writing first (the service reads its end), then closes it after
//! reading what it still sends (bounded). Each direction waits for its writer, so
//! nothing buffers without bound.

use std::io;
use std::net::Shutdown;

use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::{WebSocketReceiver, WebSocketSender, WebSocketStream};
use futures_lite::{FutureExt as _, StreamExt as _};

use super::conn::{BUFFER, Buffer, Conn};
use crate::backend::session::{
    CLOSE_TIMEOUT, Context, Ending, Outcome, Pulse, Socket, Watch, close, close_for, closing, code,
    error_code, peer_code, unless_ended,
};
use crate::scope::Scopes;

/// How the client side ended.
enum FromClient {
    /// A close frame, with its code.
    Closed(u16),
    /// The connection ended without one.
    Gone,
    /// The daemon ends the session.
    Ended(Ending),
    /// A text message.
    Text,
    /// A protocol error or a message too big.
    Error(WsError),
    /// The stream cannot be written.
    StreamGone,
}

/// How the stream side ended.
enum FromStream {
    /// The stream ended.
    Eof,
    /// The stream was reset.
    Failed,
    /// The client cannot be written.
    ClientGone,
}

enum Ended {
    Client(FromClient),
    Stream(FromStream),
}

/// Relays between the client's WebSocket and the stream until either ends.
pub async fn relay(ws: Socket, stream: Conn, max_message: usize, cx: Context<'_>) -> Outcome {
    let (mut tx, mut rx) = ws.split();
    let mut out = Outcome {
        code: code::ABNORMAL,
        ..Outcome::default()
    };
    let pulse = Pulse::new(cx.liveness);
    let mut watch = Watch::new(cx.stop, cx.expires, cx.revocation.cloned(), &pulse);
    let ended = {
        let to_stream = to_stream(
            &mut rx,
            &stream,
            cx.scopes,
            &mut watch,
            &pulse,
            &mut out.bytes_in,
        );
        let from_stream = from_stream(
            &mut tx,
            &stream,
            cx.scopes,
            max_message,
            &pulse,
            &mut out.bytes_out,
        );
        async { Ended::Client(to_stream.await) }
            .or(async { Ended::Stream(from_stream.await) })
            .await
    };
    let Ok(mut ws) = WebSocketStream::reunite(tx, rx) else {
        // Only halves of two different sockets fail to reunite.
        stream.shutdown(Shutdown::Both);
        return out;
    };
    match ended {
        Ended::Client(FromClient::Closed(c)) => {
            out.client_code = Some(c);
            out.code = c;
            stream.linger(BUFFER, CLOSE_TIMEOUT).await;
            out.clean = closing(&mut ws).await;
        }
        Ended::Client(FromClient::Gone) | Ended::Stream(FromStream::ClientGone) => {
            stream.shutdown(Shutdown::Both);
        }
        Ended::Client(FromClient::Ended(ending)) => {
            stream.shutdown(Shutdown::Both);
            out.code = ending.code();
            out.ended = Some(ending);
            out.clean = close_for(&mut ws, ending).await;
        }
        Ended::Client(FromClient::Text) => {
            stream.shutdown(Shutdown::Both);
            out.code = code::UNSUPPORTED;
            out.clean = close(&mut ws, code::UNSUPPORTED, "binary messages only").await;
        }
        Ended::Client(FromClient::Error(err)) => {
            stream.shutdown(Shutdown::Both);
            if let Some(c) = error_code(&err) {
                out.code = c;
                close(&mut ws, c, "").await;
            }
        }
        Ended::Client(FromClient::StreamGone) | Ended::Stream(FromStream::Failed) => {
            stream.shutdown(Shutdown::Both);
            out.code = code::INTERNAL;
            out.clean = close(&mut ws, code::INTERNAL, "upstream failed").await;
        }
        Ended::Stream(FromStream::Eof) => {
            stream.shutdown(Shutdown::Both);
            out.code = code::NORMAL;
            out.clean = close(&mut ws, code::NORMAL, "upstream closed").await;
        }
    }
    out
}

async fn to_stream(
    rx: &mut WebSocketReceiver<async_std::net::TcpStream>,
    stream: &Conn,
    scopes: Scopes,
    watch: &mut Watch<'_>,
    pulse: &Pulse,
    bytes_in: &mut u64,
) -> FromClient {
    loop {
        let next = match unless_ended(watch, rx.next()).await {
            Ok(next) => next,
            Err(ending) => return FromClient::Ended(ending),
        };
        if let Some(Ok(msg)) = &next {
            pulse.heard(matches!(msg, Message::Text(_) | Message::Binary(_)));
        }
        match next {
            None => return FromClient::Gone,
            Some(Err(err)) => return FromClient::Error(err),
            Some(Ok(Message::Binary(data))) => {
                if !scopes.contains(Scopes::WRITE) {
                    return FromClient::Ended(Ending::NotPermitted);
                }
                // A service that does not read must not keep the session from ending.
                match unless_ended(watch, pulse.holding(stream.write_all(&data))).await {
                    Err(ending) => return FromClient::Ended(ending),
                    Ok(Err(_)) => return FromClient::StreamGone,
                    Ok(Ok(())) => {}
                }
                *bytes_in += data.len() as u64;
            }
            Some(Ok(Message::Text(_))) => {
                if !scopes.contains(Scopes::WRITE) {
                    return FromClient::Ended(Ending::NotPermitted);
                }
                return FromClient::Text;
            }
            Some(Ok(Message::Close(frame))) => return FromClient::Closed(peer_code(&frame)),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
        }
    }
}

async fn from_stream(
    tx: &mut WebSocketSender<async_std::net::TcpStream>,
    stream: &Conn,
    scopes: Scopes,
    max_message: usize,
    pulse: &Pulse,
    bytes_out: &mut u64,
) -> FromStream {
    let most = max_message.clamp(1, BUFFER);
    loop {
        // A service that never stops writing must not keep its client from being
        // pinged.
        if pulse.ping_now() && tx.send(Message::Ping(Default::default())).await.is_err() {
            return FromStream::ClientGone;
        }
        // Waiting is cancel-safe: a ping in between loses nothing.
        let readable = async { Some(stream.readable().await) }.or(async {
            pulse.ping_due().await;
            None
        });
        match readable.await {
            Some(Ok(())) => {}
            Some(Err(_)) => return FromStream::Failed,
            None => {
                if tx.send(Message::Ping(Default::default())).await.is_err() {
                    return FromStream::ClientGone;
                }
                continue;
            }
        }
        let mut buf = Buffer::take();
        let bytes = &mut buf.bytes()[..most];
        let n = match stream.try_read(bytes) {
            Ok(0) => return FromStream::Eof,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(_) => return FromStream::Failed,
        };
        if !scopes.contains(Scopes::READ) {
            continue;
        }
        let message = Message::binary(bytes[..n].to_vec());
        drop(buf);
        if tx.send(message).await.is_err() {
            return FromStream::ClientGone;
        }
        pulse.moved();
        *bytes_out += n as u64;
    }
}
