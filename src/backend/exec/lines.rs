//! Lines of a program's output, each at most a given length.

use std::io;

use futures_lite::AsyncRead;
use futures_lite::io::{AsyncBufReadExt as _, BufReader};

/// Lines of a byte stream, each at most `max` bytes: a longer line comes in pieces.
/// Cancel-safe: a partly read line stays here until it is complete.
pub struct Lines<R> {
    reader: BufReader<R>,
    line: Vec<u8>,
    /// The last line was cut at `max`: a `\n` right after it ends it, not a new one.
    cut: bool,
}

impl<R: AsyncRead + Unpin> Lines<R> {
    pub fn new(inner: R, capacity: usize) -> Self {
        Lines {
            reader: BufReader::with_capacity(capacity, inner),
            line: Vec::new(),
            cut: false,
        }
    }

    /// The next line without its `\n` (or `\r\n`), a piece of `max` bytes of a longer
    /// one, or the unterminated rest at the end; `None` at the end.
    pub async fn next(&mut self, max: usize) -> io::Result<Option<Vec<u8>>> {
        loop {
            let avail = self.reader.fill_buf().await?;
            if avail.is_empty() {
                let rest = std::mem::take(&mut self.line);
                return Ok((!rest.is_empty()).then_some(rest));
            }
            if std::mem::take(&mut self.cut) && avail[0] == b'\n' {
                self.reader.consume(1);
                continue;
            }
            let room = max - self.line.len();
            let newline = avail
                .iter()
                .position(|&b| b == b'\n')
                .filter(|&i| i <= room);
            let take = newline.unwrap_or(avail.len().min(room));
            self.line.extend_from_slice(&avail[..take]);
            self.reader.consume(take + usize::from(newline.is_some()));
            if newline.is_some() {
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(line));
            }
            if self.line.len() == max {
                self.cut = true;
                return Ok(Some(std::mem::take(&mut self.line)));
            }
        }
    }

    /// Whether the piece [`Lines::next`] returned last was cut at `max`, so that its
    /// line (probably) goes on. A line of exactly `max` bytes counts as cut: that it
    /// ended shows only with the next byte, and the piece is not held back for it.
    pub fn was_cut(&self) -> bool {
        self.cut
    }

    /// Whatever is available, at most `max` bytes; empty at the end. Cancel-safe.
    pub async fn chunk(&mut self, max: usize) -> io::Result<Vec<u8>> {
        let avail = self.reader.fill_buf().await?;
        let chunk = avail[..avail.len().min(max)].to_vec();
        self.reader.consume(chunk.len());
        Ok(chunk)
    }
}

/// A message as the line a program reads, without its end: one trailing `\n` or
/// `\r\n` is the client's line ending (websocat sends one by default), not an empty
/// line after it, so it is dropped before wsgate adds its own.
pub fn without_line_end(message: &[u8]) -> &[u8] {
    (message.strip_suffix(b"\r\n"))
        .or_else(|| message.strip_suffix(b"\n"))
        .unwrap_or(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_end_is_dropped() {
        let line = |m: &[u8]| without_line_end(m).to_vec();
        assert_eq!(line(b"1+1\n"), b"1+1");
        assert_eq!(line(b"1+1\r\n"), b"1+1");
        assert_eq!(line(b"1+1"), b"1+1");
        assert_eq!(line(b"a\n\n"), b"a\n");
        assert_eq!(line(b"\n"), b"");
        assert_eq!(line(b"a\r"), b"a\r");
        assert_eq!(line(b"a\nb"), b"a\nb");
    }

    fn lines(input: &[u8], max: usize) -> Vec<Vec<u8>> {
        let mut lines = Lines::new(input, 3);
        let mut out = Vec::new();
        futures_lite::future::block_on(async {
            while let Some(line) = lines.next(max).await.unwrap() {
                out.push(line);
            }
        });
        out
    }

    #[test]
    fn line_splitting() {
        let v = |s: &[&str]| s.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        assert_eq!(lines(b"a\nbb\r\n\nccc", 100), v(&["a", "bb", "", "ccc"]));
        assert_eq!(lines(b"abcdefg\nh\n", 3), v(&["abc", "def", "g", "h"]));
        assert_eq!(lines(b"abc\ndef", 3), v(&["abc", "def"]));
        assert_eq!(lines(b"abc\n\nd", 3), v(&["abc", "", "d"]));
        assert_eq!(lines(b"abcdef\n", 3), v(&["abc", "def"]));
        assert_eq!(lines(b"", 3), Vec::<Vec<u8>>::new());
        assert_eq!(lines(b"\xff\xfe\n", 10), vec![vec![0xff, 0xfe]]);
    }

    #[test]
    fn cut_pieces_are_told_apart() {
        let mut lines = Lines::new(&b"abcdefg\nh"[..], 3);
        let mut cuts = Vec::new();
        futures_lite::future::block_on(async {
            while let Some(line) = lines.next(3).await.unwrap() {
                cuts.push((line, lines.was_cut()));
            }
        });
        let want: Vec<(Vec<u8>, bool)> = vec![
            (b"abc".to_vec(), true),
            (b"def".to_vec(), true),
            (b"g".to_vec(), false),
            (b"h".to_vec(), false),
        ];
        assert_eq!(cuts, want);
    }
}
