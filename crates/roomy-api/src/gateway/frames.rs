//! The deadline for an unfinished WebSocket message.
//!
//! The WebSocket library bounds a message's size but keeps an unfinished one
//! for as long as the client likes, and control frames (pings) may come
//! between its fragments, so a client can hold a message open for ever while
//! looking alive. [`Watched`] reads the frame headers on the raw byte stream
//! (the library still does the real parsing) and fails the read once a data
//! message has been open longer than the deadline: from the first byte of
//! its first frame to the last byte of its final fragment. Only headers are
//! looked at; payload bytes are skipped by count.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

/// The error a read fails with once the deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("a WebSocket message was not finished in time")]
pub struct MessageDeadline;

/// Whether `e` is the deadline's.
pub fn is_deadline(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.is::<MessageDeadline>())
}

/// Where the reader is in the client's frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// Reading a frame header: `have` of `need` bytes so far (`need` grows
    /// once the second byte tells the length's and the mask's size).
    Header { have: usize, need: usize },
    /// Skipping `left` payload bytes.
    Payload { left: u64 },
}

/// Follows frame boundaries and whether a data message is open.
#[derive(Debug)]
struct Frames {
    scan: Scan,
    header: [u8; 14],
    /// Since when a data message is open (first byte of its first frame).
    open_since: Option<Instant>,
}

impl Frames {
    fn new() -> Frames {
        Frames {
            scan: Scan::Header { have: 0, need: 2 },
            header: [0; 14],
            open_since: None,
        }
    }

    /// Takes the next bytes of the stream.
    fn feed(&mut self, mut bytes: &[u8], now: Instant) {
        while !bytes.is_empty() {
            match self.scan {
                Scan::Payload { left } => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
                    bytes = &bytes[n..];
                    let left = left - n as u64;
                    self.scan = Scan::Payload { left };
                    if left == 0 {
                        self.frame_done();
                    }
                }
                Scan::Header { mut have, mut need } => {
                    let n = (need - have).min(bytes.len());
                    self.header[have..have + n].copy_from_slice(&bytes[..n]);
                    bytes = &bytes[n..];
                    if have == 0 && is_data(self.header[0]) && self.open_since.is_none() {
                        self.open_since = Some(now);
                    }
                    have += n;
                    if have == 2 && need == 2 {
                        need += match self.header[1] & 0x7f {
                            126 => 2,
                            127 => 8,
                            _ => 0,
                        } + if self.header[1] & 0x80 != 0 { 4 } else { 0 };
                    }
                    if have < need {
                        self.scan = Scan::Header { have, need };
                        continue;
                    }
                    let len = match self.header[1] & 0x7f {
                        126 => u64::from(u16::from_be_bytes([self.header[2], self.header[3]])),
                        127 => {
                            let mut b = [0u8; 8];
                            b.copy_from_slice(&self.header[2..10]);
                            u64::from_be_bytes(b)
                        }
                        short => u64::from(short),
                    };
                    self.scan = Scan::Payload { left: len };
                    if len == 0 {
                        self.frame_done();
                    }
                }
            }
        }
    }

    /// A whole frame has passed: a final data frame ends its message.
    fn frame_done(&mut self) {
        let first = self.header[0];
        if is_data(first) && first & 0x80 != 0 {
            self.open_since = None;
        }
        self.scan = Scan::Header { have: 0, need: 2 };
    }
}

/// Data frames (text, binary, continuation and the reserved non-control
/// opcodes) have bit 3 of the opcode clear; control frames have it set.
fn is_data(first: u8) -> bool {
    first & 0x08 == 0
}

/// A stream whose reads fail once a WebSocket message has been open longer
/// than `limit`. Writes pass through.
pub struct Watched<S> {
    inner: S,
    frames: Frames,
    limit: Duration,
    /// Wakes a reader waiting on a client that stopped mid-message.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<S> Watched<S> {
    /// Watches the client-to-server bytes of `inner`.
    pub fn new(inner: S, limit: Duration) -> Watched<S> {
        Watched {
            inner,
            frames: Frames::new(),
            limit,
            timer: None,
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.frames.open_since.map(|t| t + self.limit)
    }
}

fn expired() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, MessageDeadline)
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let deadline = this.deadline();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let now = Instant::now();
                this.frames.feed(&buf.filled()[before..], now);
                // Judged after reading what is there, so a message the client
                // finished while the server was not reading (sends in flight)
                // is not held against it; bytes that keep coming without
                // finishing it (pings inside the message) do not help.
                if this.deadline().is_some_and(|d| d <= now) {
                    return Poll::Ready(Err(expired()));
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let Some(deadline) = deadline else {
                    return Poll::Pending;
                };
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if timer.deadline() != deadline {
                    timer.as_mut().reset(deadline);
                }
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(expired())),
                    Poll::Pending => Poll::Pending,
                }
            }
            failed => failed,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A client frame: masked, with the length in its shortest form.
    fn frame(fin: bool, opcode: u8, payload_len: usize) -> Vec<u8> {
        let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload_len {
            0..=125 => f.push(0x80 | payload_len as u8),
            126..=65_535 => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(payload_len as u16).to_be_bytes());
            }
            _ => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(payload_len as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&[1, 2, 3, 4]);
        f.extend(std::iter::repeat_n(b'x', payload_len));
        f
    }

    /// Whether a message is open after each prefix of `stream`, fed one
    /// byte at a time and in one piece (the two must agree).
    fn open_after(stream: &[u8]) -> bool {
        let now = Instant::now();
        let mut bytewise = Frames::new();
        for b in stream {
            bytewise.feed(std::slice::from_ref(b), now);
        }
        let mut whole = Frames::new();
        whole.feed(stream, now);
        assert_eq!(bytewise.scan, whole.scan);
        assert_eq!(bytewise.open_since.is_some(), whole.open_since.is_some());
        whole.open_since.is_some()
    }

    #[test]
    fn messages_open_at_their_first_byte_and_close_with_their_final_fragment() {
        let text = frame(true, 0x1, 10);
        assert!(!open_after(&text));
        assert!(open_after(&text[..1]), "open from the first header byte");
        assert!(open_after(&text[..text.len() - 1]));
        // Lengths in all three encodings.
        for len in [0, 125, 126, 65_535, 65_536] {
            assert!(!open_after(&frame(true, 0x2, len)), "{len}");
        }
        // A fragmented message stays open across pings and pongs.
        let mut s = frame(false, 0x1, 100);
        assert!(open_after(&s));
        s.extend(frame(true, 0x9, 4));
        s.extend(frame(true, 0xA, 0));
        assert!(open_after(&s), "control frames do not end a message");
        s.extend(frame(false, 0x0, 50));
        assert!(open_after(&s));
        s.extend(frame(true, 0x0, 50));
        assert!(!open_after(&s), "the final fragment ends it");
        // A ping alone opens nothing.
        assert!(!open_after(&frame(true, 0x9, 3)[..3]));
    }

    /// Sends `f` from the client and reads it through `watched`.
    async fn pass<S: AsyncRead + Unpin>(
        client: &mut tokio::io::DuplexStream,
        watched: &mut Watched<S>,
        f: Vec<u8>,
    ) -> io::Result<()> {
        client.write_all(&f).await.expect("write");
        let mut buf = vec![0u8; f.len()];
        watched.read_exact(&mut buf).await.map(|_| ())
    }

    // Paused time: the sleeps below advance tokio's clock, not the wall's.
    #[tokio::test(start_paused = true)]
    async fn a_message_left_open_fails_the_read_at_its_deadline_pings_or_not() {
        let limit = Duration::from_millis(500);
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut watched = Watched::new(server, limit);
        // Finished messages close what they opened: time between them does not count.
        pass(&mut client, &mut watched, frame(true, 0x1, 3))
            .await
            .expect("a whole message");
        tokio::time::sleep(limit * 2).await;
        // A first fragment, then pings.
        let opened = Instant::now();
        pass(&mut client, &mut watched, frame(false, 0x1, 3))
            .await
            .expect("the first fragment");
        for _ in 0..3 {
            tokio::time::sleep(limit / 5).await;
            pass(&mut client, &mut watched, frame(true, 0x9, 0))
                .await
                .expect("a ping in time");
        }
        // Silence: the waiting read fails when the deadline comes.
        let mut buf = [0u8; 16];
        let e = watched.read(&mut buf).await.expect_err("the deadline");
        assert!(is_deadline(&e), "{e}");
        assert!(opened.elapsed() >= limit);
        // A ping past the deadline does not revive a message.
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut watched = Watched::new(server, limit);
        pass(&mut client, &mut watched, frame(false, 0x1, 3))
            .await
            .expect("the first fragment");
        tokio::time::sleep(limit + limit / 5).await;
        let e = pass(&mut client, &mut watched, frame(true, 0x9, 0))
            .await
            .expect_err("past the deadline");
        assert!(is_deadline(&e), "{e}");
    }
}
