//! The two sockets of a proxied session, as one type: the client's TCP connection and
//! the upstream's TCP or Unix connection, read when ready and written as far as they
//! take, so a relay can wait for a socket without holding a buffer.

use std::cell::RefCell;
use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use async_io::{Async, Timer};
use futures_lite::FutureExt as _;

use super::target::Address;

/// The buffer a relay reads into while it has bytes to move.
pub const BUFFER: usize = 64 * 1024;
/// Buffers kept per thread for the next burst.
const SPARE_BUFFERS: usize = 8;
thread_local! {
    static SPARE: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
}

/// A read buffer, from this thread's spares when there is one, returned when dropped.
pub struct Buffer(Option<Box<[u8]>>);

impl Buffer {
    /// A buffer of [`BUFFER`] bytes.
    pub fn take() -> Buffer {
        let spare = SPARE.with(|s| s.borrow_mut().pop());
        Buffer(Some(
            spare.unwrap_or_else(|| vec![0u8; BUFFER].into_boxed_slice()),
        ))
    }

    /// Its bytes.
    pub fn bytes(&mut self) -> &mut [u8] {
        self.0.as_deref_mut().unwrap_or_default()
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        if let Some(buf) = self.0.take() {
            SPARE.with(|s| {
                let mut spare = s.borrow_mut();
                if spare.len() < SPARE_BUFFERS {
                    spare.push(buf);
                }
            });
        }
    }
}

/// A connected socket.
pub enum Conn {
    /// TCP.
    Tcp(Async<TcpStream>),
    /// A Unix socket.
    Unix(Async<UnixStream>),
}

impl Conn {
    /// Connects to `address`, resolving a host name now (each of its addresses in
    /// turn).
    pub async fn connect(address: &Address) -> io::Result<Conn> {
        match address {
            Address::Tcp { host, port } => {
                let addrs =
                    async_std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), *port)).await?;
                let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
                for addr in addrs {
                    match Async::<TcpStream>::connect(addr).await {
                        Ok(stream) => {
                            let _ = stream.get_ref().set_nodelay(true);
                            return Ok(Conn::Tcp(stream));
                        }
                        Err(err) => last = err,
                    }
                }
                Err(last)
            }
            Address::Unix(path) => Ok(Conn::Unix(Async::<UnixStream>::connect(path).await?)),
        }
    }

    /// The client's connection, taken over from the server.
    pub fn client(stream: async_std::net::TcpStream) -> io::Result<Conn> {
        Ok(Conn::Tcp(Async::new(TcpStream::try_from(stream)?)?))
    }

    /// Waits until a read would not block (data, the end, or an error).
    pub async fn readable(&self) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => s.readable().await,
            Conn::Unix(s) => s.readable().await,
        }
    }

    /// Reads what is there now; `WouldBlock` when nothing is.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.get_ref().read(buf),
            Conn::Unix(s) => s.get_ref().read(buf),
        }
    }

    /// Writes all of `buf`, waiting while the socket is full.
    pub async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = match self {
                Conn::Tcp(s) => s.write_with(|io| (&*io).write(buf)).await?,
                Conn::Unix(s) => s.write_with(|io| (&*io).write(buf)).await?,
            };
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[n..];
        }
        Ok(())
    }

    /// Shuts one or both directions down; errors (a peer already gone) do not matter.
    pub fn shutdown(&self, how: Shutdown) {
        let _ = match self {
            Conn::Tcp(s) => s.get_ref().shutdown(how),
            Conn::Unix(s) => s.get_ref().shutdown(how),
        };
    }

    /// Shuts our side down for writing and reads until the peer closes its own (for at most
    /// `limit` bytes and `time`), so the last bytes written are read rather than lost to
    /// a reset.
    pub async fn linger(&self, limit: usize, time: Duration) {
        self.shutdown(Shutdown::Write);
        let drain = async {
            // On the heap, and only while draining: an idle session's future stays small.
            let mut sink = Buffer::take();
            let sink = sink.bytes();
            let mut total = 0;
            while total < limit {
                if self.readable().await.is_err() {
                    return;
                }
                match self.try_read(sink) {
                    Ok(0) => return,
                    Ok(n) => total += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return,
                }
            }
        };
        drain
            .or(async {
                Timer::after(time).await;
            })
            .await;
    }
}
