//! Response bodies that come from a file (`http.response.pathsend`,
//! `http.response.zerocopysend`): queued behind the output already
//! buffered, and written by the driver as the socket takes them, never
//! loaded whole into memory.
//!
//! Two ways out, chosen per connection (`Connection::can_sendfile`):
//! - `sendfile(2)` from the file to a plain socket: the kernel copies, no
//!   byte passes through user space;
//! - read-and-copy: a chunk of at most `COPY_CHUNK` bytes is read into the
//!   ordinary output buffer, only while that buffer holds less than the
//!   low-water mark, for streams that must see every byte (TLS).
//!
//! Order is kept with a queue of segments: while a file is queued, output
//! the bridge adds goes into a byte segment after it, and moves into the
//! output buffer once everything before it has gone out.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::FileExt;

/// Largest piece read into the output buffer at once on the copy path.
pub(super) const COPY_CHUNK: usize = 64 * 1024;
/// Largest `sendfile` call: the kernel takes what the socket buffer holds
/// anyway; a bound keeps one call from hogging the loop on a fast peer.
const SENDFILE_CHUNK: usize = 1024 * 1024;

/// A byte range of an open file, to be sent as (part of) a response body.
pub struct FileBody {
    file: File,
    offset: u64,
    remaining: u64,
}

impl FileBody {
    /// `len` bytes of `file` from `offset`. The caller has checked them
    /// against the file's size; a file that shrinks meanwhile makes the
    /// connection fail (`FileError::Short`) rather than send fewer bytes
    /// than the framing announced.
    pub fn new(file: File, offset: u64, len: u64) -> Self {
        FileBody {
            file,
            offset,
            remaining: len,
        }
    }
}

enum Segment {
    File(FileBody),
    Bytes(Vec<u8>),
}

/// The file(s) and the output queued behind them.
#[derive(Default)]
pub(super) struct FileQueue {
    segments: VecDeque<Segment>,
}

/// Why the queue cannot go on: the connection must fail.
#[derive(Debug)]
pub(super) enum FileError {
    /// The file ended before the bytes the response announced.
    Short,
    Io,
}

/// What one step of the queue did.
pub(super) enum Step {
    /// Bytes went to the socket through `sendfile`.
    Sent(usize),
    /// Bytes were put into the output buffer (the copy path, or output
    /// queued after a finished file): write them.
    Buffered,
    /// The socket takes nothing more now.
    WouldBlock,
    /// Nothing queued.
    Empty,
}

impl FileQueue {
    pub(super) fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Bytes still queued (file ranges and the output behind them).
    pub(super) fn pending(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::File(f) => f.remaining,
                Segment::Bytes(b) => b.len() as u64,
            })
            .sum()
    }

    pub(super) fn push_file(&mut self, file: FileBody) {
        if file.remaining > 0 {
            self.segments.push_back(Segment::File(file));
        }
    }

    /// Where output added now goes: after the last file.
    pub(super) fn tail(&mut self) -> &mut Vec<u8> {
        if !matches!(self.segments.back(), Some(Segment::Bytes(_))) {
            self.segments.push_back(Segment::Bytes(Vec::new()));
        }
        match self.segments.back_mut() {
            Some(Segment::Bytes(bytes)) => bytes,
            _ => unreachable!("a byte segment was just pushed"),
        }
    }

    /// Advances the front segment once the output buffer `buf` is written
    /// out (`sendfile`), or while it holds less than `low_water` bytes
    /// (copy). `socket` is `Some` when `sendfile` may be used.
    pub(super) fn step(
        &mut self,
        buf: &mut Vec<u8>,
        socket: Option<RawFd>,
        low_water: usize,
    ) -> Result<Step, FileError> {
        let Some(front) = self.segments.front_mut() else {
            return Ok(Step::Empty);
        };
        let file = match front {
            Segment::Bytes(bytes) => {
                if buf.is_empty() {
                    std::mem::swap(buf, bytes);
                } else {
                    buf.append(bytes);
                }
                self.segments.pop_front();
                return Ok(Step::Buffered);
            }
            Segment::File(file) => file,
        };
        let step = match socket {
            Some(fd) if buf.is_empty() => send_from(file, fd)?,
            Some(_) => Step::WouldBlock, // the buffer first
            None if buf.len() < low_water => copy_from(file, buf)?,
            None => Step::WouldBlock,
        };
        if file.remaining == 0 {
            self.segments.pop_front();
        }
        Ok(step)
    }
}

/// One `sendfile` call from the file's offset to the socket.
fn send_from(file: &mut FileBody, socket: RawFd) -> Result<Step, FileError> {
    let count = file.remaining.min(SENDFILE_CHUNK as u64) as usize;
    let mut offset = file.offset as libc::off_t;
    loop {
        // SAFETY: both descriptors are open (the file is owned here, the
        // socket by the connection for the duration of the call) and
        // `offset` is a valid pointer to a local.
        let n = unsafe { libc::sendfile(socket, file.file.as_raw_fd(), &mut offset, count) };
        if n > 0 {
            let n = n as usize;
            file.offset += n as u64;
            file.remaining -= n as u64;
            return Ok(Step::Sent(n));
        }
        if n == 0 {
            return Err(FileError::Short);
        }
        match io::Error::last_os_error().kind() {
            io::ErrorKind::WouldBlock => return Ok(Step::WouldBlock),
            io::ErrorKind::Interrupted => continue,
            _ => return Err(FileError::Io),
        }
    }
}

/// Reads the next chunk of the file into the output buffer.
fn copy_from(file: &mut FileBody, buf: &mut Vec<u8>) -> Result<Step, FileError> {
    let want = file.remaining.min(COPY_CHUNK as u64) as usize;
    let start = buf.len();
    buf.resize(start + want, 0);
    let read = loop {
        // pread: the file's own position is left alone (sendfile with an
        // offset does the same), so the application's descriptor is not
        // moved.
        match file.file.read_at(&mut buf[start..], file.offset) {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                buf.truncate(start);
                return Err(FileError::Io);
            }
        }
    };
    buf.truncate(start + read);
    if read == 0 {
        return Err(FileError::Short);
    }
    file.offset += read as u64;
    file.remaining -= read as u64;
    Ok(Step::Buffered)
}
