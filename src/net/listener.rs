//! Listening sockets handed over by the Python front (which binds them, so
//! that "address in use" is reported before the core starts).

use mio::net::{TcpListener, TcpStream};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

pub struct Listener {
    socket: TcpListener,
    local: SocketAddr,
}

impl Listener {
    /// Takes a duplicate of `fd`, a bound and listening TCP socket; the
    /// caller keeps its own descriptor.
    pub fn from_fd(fd: RawFd) -> io::Result<Listener> {
        // SAFETY: `dup` returns a fresh descriptor that nothing else owns.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `dup` is a valid descriptor owned only by us.
        let owned = unsafe { OwnedFd::from_raw_fd(dup) };
        let std_listener = std::net::TcpListener::from(owned);
        std_listener.set_nonblocking(true)?;
        let local = std_listener.local_addr()?;
        Ok(Listener {
            socket: TcpListener::from_std(std_listener),
            local,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        self.socket.accept()
    }

    pub(crate) fn source(&mut self) -> &mut TcpListener {
        &mut self.socket
    }
}
