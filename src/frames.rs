//! Frame boundaries in a WebSocket byte stream (RFC 6455 §5.2), read from the frame
//! headers alone: a relay that moves bytes, not messages, learns where each frame
//! starts, what it is and how long it is, without copying a payload.
//!
//! [`Tracker::step`] takes the bytes as they arrive, split anywhere, and says what the
//! first of them are: part of a header it holds until the header is whole, a whole
//! header ([`Head`], its bytes in [`Tracker::head_bytes`]), or payload. It keeps only
//! what a relay needs besides: the size of the data message in progress (for
//! `--max-message-size`) and the code of a close frame (unmasked from its first two
//! payload bytes). It does not check what the endpoints check (reserved bits, UTF-8,
//! the order of fragments): they see every byte. It refuses only what would leave the
//! boundaries unknown or hide a control frame's size: a 64-bit length with its top bit
//! set, and a control frame that is fragmented or longer than 125 bytes.

/// The longest frame header: 2 bytes, an 8-byte length and a 4-byte mask.
pub const MAX_HEAD: usize = 14;

/// Opcodes (RFC 6455 §5.2).
pub mod opcode {
    /// A continuation frame.
    pub const CONTINUATION: u8 = 0x0;
    /// The first frame of a text message.
    pub const TEXT: u8 = 0x1;
    /// The first frame of a binary message.
    pub const BINARY: u8 = 0x2;
    /// A close frame.
    pub const CLOSE: u8 = 0x8;
    /// A ping.
    pub const PING: u8 = 0x9;
    /// A pong.
    pub const PONG: u8 = 0xA;
}

/// A frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// The final frame of its message.
    pub fin: bool,
    /// The three reserved bits (`permessage-deflate` sets the first).
    pub rsv: u8,
    /// The opcode.
    pub opcode: u8,
    /// The masking key, on frames from a client.
    pub mask: Option<[u8; 4]>,
    /// The payload's length.
    pub len: u64,
}

impl Head {
    /// A control frame (close, ping, pong, or a reserved control opcode).
    pub fn is_control(&self) -> bool {
        self.opcode & 0x8 != 0
    }

    /// A frame of a text or binary message.
    pub fn is_data(&self) -> bool {
        !self.is_control()
    }
}

/// What the first bytes of an input are; see [`Tracker::step`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Part of a header that is not whole yet: the tracker holds them.
    Partial,
    /// The end of a header, which is now whole: [`Tracker::head_bytes`] has all of
    /// it. `whole` says whether all of it is in these bytes (nothing was held).
    Head {
        /// The header.
        head: Head,
        /// All of its bytes are the step's bytes.
        whole: bool,
    },
    /// Payload of the current frame.
    Payload,
}

/// A stream that is not WebSocket frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// A 64-bit length with its top bit set.
    Length,
    /// A control frame that is fragmented or longer than 125 bytes.
    Control,
}

/// Where a stream of frames stands.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    /// The header being read, or the last one read when `head_done`.
    held: [u8; MAX_HEAD],
    held_len: u8,
    /// `held` is a whole header already reported.
    head_done: bool,
    /// The current frame, once its header is whole.
    current: Option<Head>,
    /// Payload bytes of the current frame not seen yet.
    left: u64,
    /// Payload bytes of the current frame seen.
    offset: u64,
    /// The size of the data message in progress, in payload bytes so far.
    message: u64,
    /// The first two payload bytes of the last close frame, unmasked.
    close: [u8; 2],
    close_len: u8,
    /// Whether a close frame's header has been seen.
    closed: bool,
}

/// A header's size from its first two bytes.
fn head_size(b1: u8) -> usize {
    let extended = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if b1 & 0x80 != 0 { 4 } else { 0 };
    2 + extended + mask
}

/// Reads a whole header.
fn parse_head(bytes: &[u8]) -> Result<Head, Invalid> {
    let (b0, b1) = (bytes[0], bytes[1]);
    let (len, at) = match b1 & 0x7f {
        126 => (u64::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
        127 => {
            let mut n = [0u8; 8];
            n.copy_from_slice(&bytes[2..10]);
            (u64::from_be_bytes(n), 10)
        }
        n => (u64::from(n), 2),
    };
    if len >> 63 != 0 {
        return Err(Invalid::Length);
    }
    let mask = (b1 & 0x80 != 0).then(|| [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let head = Head {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 0x7,
        opcode: b0 & 0x0f,
        mask,
        len,
    };
    if head.is_control() && (!head.fin || head.len > 125) {
        return Err(Invalid::Control);
    }
    Ok(head)
}

impl Tracker {
    /// A tracker at the start of a stream.
    pub fn new() -> Tracker {
        Tracker::default()
    }

    /// Says what the first bytes of `input` are and how many they are (at least one;
    /// all of them for [`Step::Partial`]). `input` must not be empty. After an error
    /// the stream's boundaries are unknown: the tracker must not be used again.
    pub fn step(&mut self, input: &[u8]) -> Result<(usize, Step), Invalid> {
        debug_assert!(!input.is_empty());
        if self.left > 0 {
            let n = usize::try_from(self.left).map_or(input.len(), |left| left.min(input.len()));
            self.payload(&input[..n]);
            return Ok((n, Step::Payload));
        }
        if self.head_done {
            self.held_len = 0;
            self.head_done = false;
        }
        let whole = self.held_len == 0;
        let mut used = 0;
        loop {
            let have = usize::from(self.held_len);
            let need = if have < 2 { 2 } else { head_size(self.held[1]) };
            if have == need {
                break;
            }
            if used == input.len() {
                return Ok((used, Step::Partial));
            }
            let take = (need - have).min(input.len() - used);
            self.held[have..have + take].copy_from_slice(&input[used..used + take]);
            self.held_len += take as u8;
            used += take;
        }
        let head = parse_head(&self.held[..usize::from(self.held_len)])?;
        self.head_done = true;
        self.current = Some(head);
        self.left = head.len;
        self.offset = 0;
        if head.is_data() {
            self.message = match head.opcode {
                opcode::CONTINUATION => self.message.saturating_add(head.len),
                _ => head.len,
            };
        } else if head.opcode == opcode::CLOSE {
            self.closed = true;
            self.close_len = 0;
        }
        Ok((used, Step::Head { head, whole }))
    }

    fn payload(&mut self, bytes: &[u8]) {
        if let Some(head) = self.current
            && head.opcode == opcode::CLOSE
        {
            for (i, &b) in bytes.iter().enumerate() {
                let at = self.offset + i as u64;
                if at >= 2 {
                    break;
                }
                let key = head.mask.map_or(0, |m| m[at as usize]);
                self.close[at as usize] = b ^ key;
                self.close_len = at as u8 + 1;
            }
        }
        self.offset += bytes.len() as u64;
        self.left -= bytes.len() as u64;
    }

    /// The bytes of the header the last [`Step::Head`] reported.
    pub fn head_bytes(&self) -> &[u8] {
        &self.held[..usize::from(self.held_len)]
    }

    /// Between frames: no header is partly read and no payload is owed. A frame may be
    /// written into the stream here.
    pub fn at_boundary(&self) -> bool {
        self.left == 0 && (self.held_len == 0 || self.head_done)
    }

    /// Payload bytes of the current frame not seen yet.
    pub fn owed(&self) -> u64 {
        self.left
    }

    /// The payload size of the data message in progress (or last ended), so far.
    pub fn message_len(&self) -> u64 {
        self.message
    }

    /// Whether a close frame's header has been seen.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// The last close frame's code: `None` before one, 1005 for one without a code
    /// (RFC 6455 §7.1.5), read once its first two payload bytes have been seen.
    pub fn close_code(&self) -> Option<u16> {
        if !self.closed {
            return None;
        }
        match (self.current, self.close_len) {
            (_, 2) => Some(u16::from_be_bytes(self.close)),
            (Some(head), _) if head.opcode == opcode::CLOSE && head.len < 2 => Some(1005),
            _ => None,
        }
    }
}

/// A close frame's bytes: `code` and `reason` (at most 123 bytes, cut otherwise),
/// masked with `mask` when given (frames from a client must be).
pub fn close_frame(code: u16, reason: &str, mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut cut = reason.len().min(123);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut payload = Vec::with_capacity(2 + cut);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..cut]);
    let mut out = Vec::with_capacity(6 + payload.len());
    out.push(0x80 | opcode::CLOSE);
    match mask {
        Some(key) => {
            out.push(0x80 | payload.len() as u8);
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => {
            out.push(payload.len() as u8);
            out.extend_from_slice(&payload);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame's bytes.
    fn frame(fin: bool, op: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut out = vec![(u8::from(fin) << 7) | op];
        let m = if mask.is_some() { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => out.push(m | n as u8),
            n if n <= 0xffff => {
                out.push(m | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(m | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        match mask {
            Some(key) => {
                out.extend_from_slice(&key);
                out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
            }
            None => out.extend_from_slice(payload),
        }
        out
    }

    /// Every step over `input` fed in pieces of `piece` bytes, merging payload steps.
    fn steps(input: &[u8], piece: usize) -> Vec<(Step, usize)> {
        let mut t = Tracker::new();
        let mut out: Vec<(Step, usize)> = Vec::new();
        for chunk in input.chunks(piece) {
            let mut rest = chunk;
            while !rest.is_empty() {
                let (n, step) = t.step(rest).unwrap();
                rest = &rest[n..];
                match (out.last_mut(), step) {
                    (Some((Step::Payload, len)), Step::Payload) => *len += n,
                    (_, Step::Partial) => {}
                    (_, Step::Head { head, .. }) => {
                        out.push((Step::Head { head, whole: true }, t.head_bytes().len()))
                    }
                    _ => out.push((step, n)),
                }
            }
        }
        out
    }

    #[test]
    fn boundaries_are_the_same_however_the_stream_is_cut() {
        let mut stream = frame(false, opcode::TEXT, b"hel", Some([1, 2, 3, 4]));
        stream.extend(frame(true, opcode::PING, b"", None));
        stream.extend(frame(true, opcode::CONTINUATION, b"lo", Some([9, 9, 9, 9])));
        stream.extend(frame(true, opcode::BINARY, &[7; 300], None));
        stream.extend(frame(
            true,
            opcode::BINARY,
            &[8; 70_000],
            Some([0, 1, 0, 1]),
        ));
        stream.extend(frame(
            true,
            opcode::CLOSE,
            b"\x03\xe8bye",
            Some([5, 6, 7, 8]),
        ));
        let whole = steps(&stream, stream.len());
        assert_eq!(whole.len(), 11, "{whole:?}");
        for piece in [1, 2, 3, 5, 13, 14, 15, 1000] {
            assert_eq!(steps(&stream, piece), whole, "pieces of {piece}");
        }
    }

    #[test]
    fn reads_lengths_masks_and_message_sizes() {
        let mut t = Tracker::new();
        let f = frame(false, opcode::BINARY, &[0; 200], Some([1, 2, 3, 4]));
        let (n, step) = t.step(&f).unwrap();
        assert_eq!(n, 8);
        assert_eq!(
            step,
            Step::Head {
                head: Head {
                    fin: false,
                    rsv: 0,
                    opcode: opcode::BINARY,
                    mask: Some([1, 2, 3, 4]),
                    len: 200
                },
                whole: true
            }
        );
        assert_eq!(t.head_bytes(), &f[..8]);
        assert!(!t.at_boundary());
        assert_eq!(t.step(&f[8..]).unwrap(), (200, Step::Payload));
        assert!(t.at_boundary());
        let g = frame(true, opcode::CONTINUATION, &[0; 100], None);
        t.step(&g).unwrap();
        assert_eq!(t.message_len(), 300);
        // A control frame in between does not count.
        let mut t = Tracker::new();
        t.step(&frame(false, opcode::TEXT, &[0; 10], None)).unwrap();
        t.step(&[0; 10]).unwrap();
        t.step(&frame(true, opcode::PING, &[0; 5], None)).unwrap();
        t.step(&[0; 5]).unwrap();
        t.step(&frame(true, opcode::CONTINUATION, &[0; 10], None))
            .unwrap();
        assert_eq!(t.message_len(), 20);
    }

    #[test]
    fn a_header_split_is_held_and_reported_whole() {
        let f = frame(true, opcode::BINARY, &[1; 70_000], Some([1, 2, 3, 4]));
        let mut t = Tracker::new();
        assert_eq!(t.step(&f[..1]).unwrap(), (1, Step::Partial));
        assert!(!t.at_boundary());
        assert_eq!(t.step(&f[1..5]).unwrap(), (4, Step::Partial));
        let (n, step) = t.step(&f[5..20]).unwrap();
        assert_eq!(n, 9);
        assert!(matches!(step, Step::Head { whole: false, head } if head.len == 70_000));
        assert_eq!(t.head_bytes(), &f[..14]);
    }

    #[test]
    fn close_codes_are_unmasked() {
        for mask in [None, Some([0xde, 0xad, 0xbe, 0xef])] {
            let f = frame(true, opcode::CLOSE, b"\x0f\xa1later", mask);
            for piece in 1..f.len() {
                let mut t = Tracker::new();
                assert_eq!(t.close_code(), None);
                for chunk in f.chunks(piece) {
                    let mut rest = chunk;
                    while !rest.is_empty() {
                        let (n, _) = t.step(rest).unwrap();
                        rest = &rest[n..];
                    }
                }
                assert_eq!(t.close_code(), Some(4001), "{mask:?} {piece}");
            }
        }
        let mut t = Tracker::new();
        t.step(&frame(true, opcode::CLOSE, b"", None)).unwrap();
        assert_eq!(t.close_code(), Some(1005));
    }

    #[test]
    fn refuses_what_hides_the_boundaries() {
        let mut t = Tracker::new();
        let mut f = vec![0x82, 127];
        f.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(t.step(&f), Err(Invalid::Length));
        assert_eq!(
            Tracker::new().step(&frame(false, opcode::PING, b"", None)),
            Err(Invalid::Control)
        );
        assert_eq!(
            Tracker::new().step(&frame(true, opcode::CLOSE, &[0; 126], None)),
            Err(Invalid::Control)
        );
    }

    #[test]
    fn close_frames_round_trip_through_the_tracker() {
        for mask in [None, Some([1, 2, 3, 4])] {
            let f = close_frame(1008, "token revoked", mask);
            let mut t = Tracker::new();
            let (n, step) = t.step(&f).unwrap();
            assert!(matches!(step, Step::Head { head, .. } if head.len == 15 && head.mask == mask));
            assert_eq!(t.step(&f[n..]).unwrap(), (15, Step::Payload));
            assert_eq!(t.close_code(), Some(1008));
        }
        let long = "é".repeat(100);
        let f = close_frame(1000, &long, None);
        assert!(f.len() <= 2 + 125);
        assert!(std::str::from_utf8(&f[4..]).is_ok());
    }
}
