//! `pyre-floor --port P [--host H]`: answers every request with the hello
//! response of benchmarks/apps/bench_hello.py (200, text/plain, 13 bytes),
//! with the same default fields as pyre-http (date, server), and nothing
//! else. No Python, no ASGI: what is left of pyre-http's per-request CPU
//! when the Python part is taken away.
//!
//! Parsing and response encoding are pyre-http's own (`_core::http1`), so
//! every framing rule and limit is the product's. The driver keeps to the
//! product's style: one thread, mio (epoll, edge-triggered), one read per
//! readiness (a short read is taken to have emptied the socket, as in
//! src/net/connection.rs), every response of a pass written with one
//! write per connection.

use _core::http1::{error_response, http_date, Event, Limits, ResponseDefaults, ServerConn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant, SystemTime};

const LISTENER: Token = Token(usize::MAX);
const BODY: &[u8] = b"Hello, world!";

struct Conn {
    stream: TcpStream,
    http: ServerConn,
    out: Vec<u8>,
    sent: usize,
    closing: bool,
}

struct Clock {
    date: [u8; 29],
    at: Instant,
}

impl Clock {
    fn now() -> Self {
        Clock {
            date: http_date(SystemTime::now()),
            at: Instant::now(),
        }
    }
    fn refresh(&mut self) {
        if self.at.elapsed() >= Duration::from_millis(500) {
            *self = Clock::now();
        }
    }
}

fn main() -> io::Result<()> {
    let mut host = String::from("127.0.0.1");
    let mut port = String::from("8000");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--host" => host = args.next().unwrap_or(host),
            "--port" => port = args.next().unwrap_or(port),
            other => {
                eprintln!(
                    "pyre-floor: unknown argument {other}; usage: pyre-floor [--host H] [--port P]"
                );
                std::process::exit(2);
            }
        }
    }
    let addr = format!("{host}:{port}")
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut listener = TcpListener::bind(addr)?;
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let defaults = ResponseDefaults::new(Some(b"pyre-http".to_vec()), true, Vec::new());
    let limits = Limits::default();
    let mut conns: HashMap<usize, Conn> = HashMap::new();
    let mut next_token = 0usize;
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; 64 * 1024];
    let mut clock = Clock::now();
    loop {
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        clock.refresh();
        for event in events.iter() {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let _ = stream.set_nodelay(true);
                            let token = next_token;
                            next_token += 1;
                            poll.registry().register(
                                &mut stream,
                                Token(token),
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            conns.insert(
                                token,
                                Conn {
                                    stream,
                                    http: ServerConn::new(limits.clone()),
                                    out: Vec::new(),
                                    sent: 0,
                                    closing: false,
                                },
                            );
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(_) => break,
                    }
                }
                continue;
            }
            let token = event.token().0;
            let Some(conn) = conns.get_mut(&token) else {
                continue;
            };
            let mut done = false;
            if event.is_readable() || event.is_read_closed() {
                done = conn.read_and_answer(&mut scratch, &defaults, &clock.date);
            }
            if !done {
                done = conn.flush();
            }
            if done {
                if let Some(mut conn) = conns.remove(&token) {
                    let _ = poll.registry().deregister(&mut conn.stream);
                }
            }
        }
    }
}

impl Conn {
    /// Reads what the socket has and answers every complete request.
    /// Returns true when the connection is over.
    fn read_and_answer(
        &mut self,
        scratch: &mut [u8],
        defaults: &ResponseDefaults,
        date: &[u8],
    ) -> bool {
        loop {
            match self.stream.read(scratch) {
                Ok(0) => {
                    self.http.recv_eof();
                    break;
                }
                Ok(n) => {
                    self.http.recv_buf().extend_from_slice(&scratch[..n]);
                    if n < scratch.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return true,
            }
        }
        loop {
            match self.http.next_event() {
                Event::Request(_head) => {
                    if self.respond(defaults, date).is_err() {
                        return true;
                    }
                }
                Event::Data(_) | Event::EndOfBody => {}
                Event::NeedData | Event::AwaitingResponse => break,
                Event::Close => {
                    self.closing = true;
                    break;
                }
                Event::Error(err) => {
                    error_response(&err, &mut self.out);
                    self.closing = true;
                    break;
                }
            }
        }
        false
    }

    fn respond(&mut self, defaults: &ResponseDefaults, date: &[u8]) -> Result<(), ()> {
        let mut head = self.http.start_response(200).map_err(drop)?;
        head.header(b"content-type", b"text/plain; charset=utf-8")
            .map_err(drop)?;
        head.header(b"content-length", b"13").map_err(drop)?;
        head.finish(defaults, date, &mut self.out).map_err(drop)?;
        self.http
            .send_body(BODY, false, &mut self.out)
            .map_err(drop)
    }

    /// Writes what is buffered. Returns true when the connection is over.
    fn flush(&mut self) -> bool {
        while self.sent < self.out.len() {
            match self.stream.write(&self.out[self.sent..]) {
                Ok(0) => return true,
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return true,
            }
        }
        self.out.clear();
        self.sent = 0;
        self.closing
    }
}
