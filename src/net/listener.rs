//! Listening sockets handed over by the Python front (which binds them, so
//! that "address in use" is reported before the core starts): TCP over IPv4
//! or IPv6, or a Unix socket.

use super::stream::Stream;
use super::trust::SockAddr;
use mio::event::Source;
use mio::net::{TcpListener, UnixListener};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;

enum Socket {
    Tcp(TcpListener),
    Unix(UnixListener),
}

pub struct Listener {
    socket: Socket,
    local: SockAddr,
}

impl Listener {
    /// Takes a duplicate of `fd`, a bound and listening stream socket (TCP
    /// or Unix); the caller keeps its own descriptor.
    pub fn from_fd(fd: RawFd) -> io::Result<Listener> {
        // SAFETY: `dup` returns a fresh descriptor that nothing else owns.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `dup` is a valid descriptor owned only by us.
        let owned = unsafe { OwnedFd::from_raw_fd(dup) };
        if is_unix(dup)? {
            let std_listener = std::os::unix::net::UnixListener::from(owned);
            std_listener.set_nonblocking(true)?;
            let path = std_listener
                .local_addr()?
                .as_pathname()
                .map(|p| Rc::from(p.to_string_lossy().as_ref()));
            return Ok(Listener {
                socket: Socket::Unix(UnixListener::from_std(std_listener)),
                local: SockAddr::Unix(path),
            });
        }
        let std_listener = std::net::TcpListener::from(owned);
        std_listener.set_nonblocking(true)?;
        let local = std_listener.local_addr()?;
        Ok(Listener {
            socket: Socket::Tcp(TcpListener::from_std(std_listener)),
            local: SockAddr::Inet(local),
        })
    }

    pub fn local_addr(&self) -> &SockAddr {
        &self.local
    }

    pub fn accept(&self) -> io::Result<(Stream, SockAddr)> {
        match &self.socket {
            Socket::Tcp(l) => {
                let (stream, peer) = l.accept()?;
                let _ = stream.set_nodelay(true);
                Ok((Stream::Tcp(stream), SockAddr::Inet(peer)))
            }
            Socket::Unix(l) => {
                let (stream, _) = l.accept()?;
                Ok((Stream::Unix(stream), SockAddr::Unix(None)))
            }
        }
    }

    pub(super) fn source(&mut self) -> &mut dyn Source {
        match &mut self.socket {
            Socket::Tcp(l) => l,
            Socket::Unix(l) => l,
        }
    }
}

/// Whether `fd` is a Unix-domain socket.
fn is_unix(fd: RawFd) -> io::Result<bool> {
    // SAFETY: an all-zero sockaddr_storage is a valid value to be filled.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `addr` and `len` describe a writable buffer of that size.
    let rc = unsafe { libc::getsockname(fd, std::ptr::addr_of_mut!(addr).cast(), &mut len) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(i32::from(addr.ss_family) == libc::AF_UNIX)
}
