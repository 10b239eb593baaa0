//! The driver over real loopback sockets, with a handler that answers in
//! Rust: the bounds on output, the step budget, every timeout and the
//! concurrency limit. Time is moved forward with `tick_at`.

use super::connection::{ConnRef, Flush, WRITE_HIGH_WATER, WRITE_LOW_WATER};
use super::driver::{Driver, DriverConfig, Handler};
use super::file_output::{FileBody, COPY_CHUNK};
use super::listener::Listener;
use crate::http1::{RequestHead, ResponseDefaults};
use crate::ws::{WsConfig, WsConn, WsEvent};
use bytes::Bytes;
use std::cell::{Cell, RefCell};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// How the test handler answers each request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// A response of this many body bytes, at once.
    Bytes(usize),
    /// Nothing: the application is busy.
    Hold,
    /// Switch to WebSocket (no 101: the test client does not need it).
    Upgrade,
    /// `len` bytes of `TestHandler::file` as the body (chunked or with a
    /// content-length of `len`), by `sendfile` or by the copy path.
    File {
        len: u64,
        chunked: bool,
        sendfile: bool,
    },
}

pub(super) struct TestHandler {
    answer: Answer,
    pub(super) requests: Cell<usize>,
    body_bytes: Cell<usize>,
    pub(super) gone: Cell<usize>,
    /// The largest unsent output seen when a request arrived.
    pub(super) max_unsent_at_request: Cell<usize>,
    running_tasks: Cell<usize>,
    ws_messages: RefCell<Vec<WsEvent>>,
    /// The file `Answer::File` sends.
    file: RefCell<Option<std::path::PathBuf>>,
    /// How long the application takes for each request, in order (before
    /// answering); no time for requests beyond the list.
    work: RefCell<Vec<Duration>>,
    /// A client socket whose received bytes are noted at every request.
    watched: RefCell<Option<TcpStream>>,
    pub(super) watched_bytes_at_request: RefCell<Vec<usize>>,
}

impl TestHandler {
    fn new(answer: Answer) -> Self {
        TestHandler {
            answer,
            requests: Cell::new(0),
            body_bytes: Cell::new(0),
            gone: Cell::new(0),
            max_unsent_at_request: Cell::new(0),
            running_tasks: Cell::new(0),
            ws_messages: RefCell::new(Vec::new()),
            file: RefCell::new(None),
            work: RefCell::new(Vec::new()),
            watched: RefCell::new(None),
            watched_bytes_at_request: RefCell::new(Vec::new()),
        }
    }
}

impl Handler for TestHandler {
    type Session = ();

    fn on_request(&self, conn: &ConnRef<()>, _head: RequestHead) {
        self.requests.set(self.requests.get() + 1);
        if let Some(watched) = self.watched.borrow().as_ref() {
            let mut buf = [0u8; 4096];
            let received = watched.peek(&mut buf).unwrap_or(0);
            self.watched_bytes_at_request.borrow_mut().push(received);
        }
        let work = self.work.borrow().get(self.requests.get() - 1).copied();
        std::thread::sleep(work.unwrap_or_default());
        let mut c = conn.borrow_mut();
        let unsent = c.unsent().max(self.max_unsent_at_request.get());
        self.max_unsent_at_request.set(unsent);
        match self.answer {
            Answer::Hold => {}
            Answer::Upgrade => c.upgrade(WsConn::new(WsConfig::default())),
            Answer::Bytes(size) => {
                let (http, out) = c.http_and_out().expect("an HTTP connection");
                let length = size.to_string();
                let mut head = http.start_response(200).expect("a request to answer");
                head.header(b"content-length", length.as_bytes())
                    .expect("a valid header");
                head.finish(&ResponseDefaults::default(), b"", out)
                    .expect("a valid head");
                http.send_body(&vec![b'x'; size], false, out)
                    .expect("the whole body");
                c.output_added(Flush::Now);
                c.response_completed();
            }
            Answer::File {
                len,
                chunked,
                sendfile,
            } => {
                let path = self.file.borrow().clone().expect("a file to send");
                let file = std::fs::File::open(path).expect("the file");
                c.sendfile = sendfile;
                let (http, out) = c.http_and_out().expect("an HTTP connection");
                let length = len.to_string();
                let mut head = http.start_response(200).expect("a request to answer");
                if !chunked {
                    head.header(b"content-length", length.as_bytes())
                        .expect("a valid header");
                }
                head.finish(&ResponseDefaults::default(), b"", out)
                    .expect("a valid head");
                let suffix = http
                    .send_external_body(len, out)
                    .expect("a body")
                    .expect("a body that is sent");
                c.add_file(FileBody::new(file, 0, len));
                let (http, out) = c.http_and_out().expect("an HTTP connection");
                out.extend_from_slice(suffix);
                http.send_body(b"", false, out).expect("the end");
                c.output_added(Flush::Now);
                c.response_completed();
            }
        }
    }

    fn on_body(&self, _conn: &ConnRef<()>, chunk: Option<Bytes>) {
        let size = chunk.map_or(0, |c| c.len());
        self.body_bytes.set(self.body_bytes.get() + size);
    }

    fn on_input_settled(&self, _conn: &ConnRef<()>) {}

    fn on_client_gone(&self, _conn: &ConnRef<()>) {
        self.gone.set(self.gone.get() + 1);
    }

    fn on_drained(&self, _conn: &ConnRef<()>) {}

    fn body_buffered(_session: &()) -> usize {
        0
    }

    fn on_ws_event(&self, _conn: &ConnRef<()>, event: WsEvent) {
        self.ws_messages.borrow_mut().push(event);
    }

    fn ws_may_read(_session: &()) -> bool {
        true
    }

    fn running_tasks(&self) -> usize {
        self.running_tasks.get()
    }
}

pub(super) struct Fixture {
    pub(super) driver: Driver<TestHandler>,
    address: std::net::SocketAddr,
    _listener: TcpListener,
}

impl Fixture {
    pub(super) fn new(answer: Answer, config: DriverConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let address = listener.local_addr().expect("its address");
        let taken = Listener::from_fd(listener.as_raw_fd()).expect("the listener");
        let driver = Driver::new(TestHandler::new(answer), config, vec![taken]).expect("a driver");
        Fixture {
            driver,
            address,
            _listener: listener,
        }
    }

    pub(super) fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.address).expect("a connection");
        stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("a read timeout");
        stream
    }

    pub(super) fn handler(&self) -> &TestHandler {
        self.driver.handler()
    }

    /// Runs the driver until `done` holds (or fails after two seconds).
    pub(super) fn pump_until(&mut self, what: &str, done: impl Fn(&TestHandler) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while !done(self.driver.handler()) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            self.driver.on_ready().expect("a driver pass");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Runs the driver for a while, for work that should not happen.
    pub(super) fn pump_for(&mut self, duration: Duration) {
        let deadline = Instant::now() + duration;
        while Instant::now() < deadline {
            self.driver.on_ready().expect("a driver pass");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

pub(super) const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

/// Everything the peer sent until it closed or went quiet.
fn read_available(stream: &mut TcpStream) -> Vec<u8> {
    let mut data = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return data,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return data
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return data,
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

pub(super) fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

/// Reads until the peer closes (up to two seconds), driving the server.
pub(super) fn read_until_closed(fixture: &mut Fixture, stream: &mut TcpStream) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut data = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        assert!(Instant::now() < deadline, "the connection stayed open");
        fixture.driver.on_ready().expect("a driver pass");
        match stream.read(&mut buf) {
            Ok(0) => return data,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return data,
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

/// After a greedy client sent `total` requests for `response` bytes each
/// and read nothing: parsing stopped before the last (the answers would
/// exceed the socket buffers), and unsent output never passed the
/// high-water mark by more than one response. Returns the requests parsed.
pub(super) fn assert_parsing_stopped_at_the_high_water_mark(
    fx: &mut Fixture,
    total: usize,
    response: usize,
) -> usize {
    fx.pump_for(Duration::from_millis(200));
    let answered = fx.handler().requests.get();
    assert!(answered < total, "all {total} requests were parsed");
    let unsent = fx.handler().max_unsent_at_request.get();
    assert!(
        unsent <= WRITE_HIGH_WATER + response + 512,
        "{unsent} bytes were unsent when a request was parsed"
    );
    answered
}

#[test]
fn pipelined_requests_from_a_client_that_does_not_read_stop_at_the_high_water_mark() {
    let response = 16 * 1024;
    let mut fx = Fixture::new(Answer::Bytes(response), DriverConfig::default());
    let mut greedy = fx.connect();
    // 4096 requests would be 64 MiB of responses; the server must stop
    // parsing them once a few hundred KiB wait unsent.
    let total = 4096;
    let batch = GET.repeat(total);
    greedy.set_nonblocking(true).expect("non-blocking");
    let mut written = 0;
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline && written < batch.len() {
        match greedy.write(&batch[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("write failed: {e}"),
        }
        fx.driver.on_ready().expect("a driver pass");
    }
    let answered = assert_parsing_stopped_at_the_high_water_mark(&mut fx, total, response);

    // A well-behaved client is served meanwhile.
    let mut polite = fx.connect();
    polite.write_all(GET).expect("a request");
    fx.pump_until("the polite request", |h| h.requests.get() > answered);
    let one_response = read_available(&mut polite);
    assert_eq!(count(&one_response, b"HTTP/1.1 200"), 1);

    // Once the greedy client reads, every request is answered: nothing lost.
    greedy.set_nonblocking(false).expect("blocking");
    greedy
        .set_read_timeout(Some(Duration::from_millis(5)))
        .expect("a read timeout");
    let mut received = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = vec![0u8; 1 << 20];
    while received < written / GET.len() * one_response.len() {
        assert!(Instant::now() < deadline, "responses stopped coming");
        // Keep writing what is left, as the client would.
        if written < batch.len() {
            if let Ok(n) = greedy.write(&batch[written..(written + 4096).min(batch.len())]) {
                written += n;
            }
        }
        fx.driver.on_ready().expect("a driver pass");
        match greedy.read(&mut buf) {
            Ok(n) => received += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read failed: {e}"),
        }
    }
    assert_eq!(written, batch.len());
    assert_eq!(fx.handler().requests.get(), total + 1);
}

/// A masked client frame.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

#[test]
fn pings_from_a_websocket_peer_that_does_not_read_stop_at_the_high_water_mark() {
    let mut fx = Fixture::new(Answer::Upgrade, DriverConfig::default());
    let mut peer = fx.connect();
    peer.write_all(GET).expect("the handshake");
    fx.pump_until("the upgrade", |h| h.requests.get() == 1);
    // 64 MiB of pings would be as much of pongs.
    let ping = client_frame(0x9, &[b'p'; 125]);
    let pings = ping.repeat(8192);
    peer.set_nonblocking(true).expect("non-blocking");
    let mut written = 0;
    let mut rounds = 0;
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        match peer.write(&pings[(written % pings.len())..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("write failed: {e}"),
        }
        fx.driver.on_ready().expect("a driver pass");
        rounds += 1;
    }
    assert!(rounds > 0);
    // The pongs the server holds: at most the high-water mark and a frame,
    // while the peer sent far more pings than that.
    let unsent = fx
        .driver
        .connection_unsent()
        .into_iter()
        .max()
        .expect("the connection");
    assert!(
        written > 4 * WRITE_HIGH_WATER,
        "only {written} bytes of pings went out"
    );
    assert!(
        unsent <= WRITE_HIGH_WATER + 127,
        "{unsent} bytes of pongs wait unsent"
    );
    // And it still answers everything once the peer reads.
    peer.set_nonblocking(false).expect("blocking");
    let pongs = count(&read_available(&mut peer), &[0x8a, 125, b'p', b'p']);
    assert!(pongs > 0);
}

#[test]
fn a_busy_connection_takes_a_bounded_number_of_steps_per_pass() {
    let mut fx = Fixture::new(Answer::Bytes(10), DriverConfig::default());
    let mut busy = fx.connect();
    let mut other = fx.connect();
    busy.write_all(&GET.repeat(500)).expect("a pipelined batch");
    other.write_all(GET).expect("a request");
    std::thread::sleep(Duration::from_millis(50));
    // One pass accepts both, and serves the other client although the busy
    // one has hundreds of requests waiting.
    fx.driver.on_ready().expect("a driver pass");
    let first_pass = fx.handler().requests.get();
    assert!(first_pass <= 64 + 1, "{first_pass} requests in one pass");
    assert_eq!(count(&read_available(&mut other), b"HTTP/1.1 200"), 1);
    // The rest follows in later passes, without any new socket event.
    fx.pump_until("all requests", |h| h.requests.get() == 501);
    let mut received = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    while count(&received, b"HTTP/1.1 200") < 500 {
        assert!(Instant::now() < deadline);
        fx.driver.on_ready().expect("a driver pass");
        received.extend(read_available(&mut busy));
    }
}

/// `work.len()` clients with a request each, served in one pass, the
/// application taking `work[i]` for the i-th; the handler notes what the
/// first client had received when each request arrived.
fn serve_in_one_pass(work: &[Duration]) -> Vec<usize> {
    let n = work.len();
    let mut fx = Fixture::new(Answer::Bytes(10), DriverConfig::default());
    let mut clients: Vec<TcpStream> = (0..n).map(|_| fx.connect()).collect();
    let watched = clients[0].try_clone().expect("a second handle");
    watched
        .set_nonblocking(true)
        .expect("a non-blocking socket");
    *fx.handler().watched.borrow_mut() = Some(watched);
    *fx.handler().work.borrow_mut() = work.to_vec();
    for client in clients.iter_mut() {
        client.write_all(GET).expect("a request");
    }
    std::thread::sleep(Duration::from_millis(50));
    fx.driver.on_ready().expect("a driver pass");
    assert_eq!(fx.handler().requests.get(), n, "one pass takes them all");
    for client in clients.iter_mut() {
        assert_eq!(count(&read_available(client), b"HTTP/1.1 200"), 1);
    }
    fx.handler().watched_bytes_at_request.take()
}

const SLOW: Duration = Duration::from_millis(50);

#[test]
fn the_responses_of_one_pass_are_written_together_at_its_end() {
    // Answered at once, no response goes out before the last request of
    // the pass was handled.
    let received = serve_in_one_pass(&[Duration::ZERO; 3]);
    assert_eq!(
        received,
        [0, 0, 0],
        "a response went out before the pass ended"
    );
}

#[test]
fn the_response_of_a_slow_turn_is_written_right_after_it() {
    // A turn longer than the cork budget is not corked: waiting for the
    // others would add their turns to its latency.
    let received = serve_in_one_pass(&[SLOW, Duration::ZERO]);
    assert!(received[1] > 0, "the slow turn's response was held");
}

#[test]
fn corked_responses_wait_no_longer_than_the_budget() {
    // The first response is corked; the second request takes longer than
    // the budget, so the first goes out after that turn, not at the end.
    let received = serve_in_one_pass(&[Duration::ZERO, SLOW, Duration::ZERO]);
    assert_eq!(received[..2], [0, 0]);
    assert!(
        received[2] > 0,
        "the first response was held for the whole pass"
    );
}

pub(super) fn config_with(adjust: impl FnOnce(&mut DriverConfig)) -> DriverConfig {
    let mut config = DriverConfig::default();
    adjust(&mut config);
    config
}

pub(super) const SECOND: Duration = Duration::from_secs(1);

#[test]
fn a_request_head_not_complete_in_time_gets_408() {
    let mut fx = Fixture::new(
        Answer::Bytes(2),
        config_with(|c| c.timeouts.request_header = Some(30 * SECOND)),
    );
    let mut slow = fx.connect();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        .expect("part of a head");
    fx.pump_for(Duration::from_millis(20));
    let start = Instant::now();
    fx.driver.tick_at(start);
    // Longer than the keep-alive timeout: that one is for idle connections.
    fx.driver.tick_at(start + 29 * SECOND);
    assert_eq!(read_available(&mut slow), b"");
    fx.driver.tick_at(start + 30 * SECOND);
    let answer = read_until_closed(&mut fx, &mut slow);
    assert!(
        answer.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"),
        "{answer:?}"
    );
    assert_eq!(count(&answer, b"connection: close"), 1);
    assert_eq!(fx.handler().requests.get(), 0);
}

#[test]
fn an_idle_connection_closes_silently_after_the_keep_alive_timeout() {
    let mut fx = Fixture::new(
        Answer::Bytes(2),
        config_with(|c| c.timeouts.keep_alive = 5 * SECOND),
    );
    let mut idle = fx.connect();
    idle.write_all(GET).expect("a request");
    fx.pump_until("the request", |h| h.requests.get() == 1);
    assert_eq!(count(&read_available(&mut idle), b"HTTP/1.1 200"), 1);
    let start = Instant::now();
    fx.driver.tick_at(start);
    fx.driver.tick_at(start + 4 * SECOND);
    assert_eq!(fx.driver.connection_count(), 1);
    fx.driver.tick_at(start + 5 * SECOND);
    assert_eq!(read_until_closed(&mut fx, &mut idle), b"");
}

#[test]
fn a_stalled_request_body_gets_408_and_the_handler_hears_the_client_is_gone() {
    let mut fx = Fixture::new(
        Answer::Hold,
        config_with(|c| c.timeouts.request_body = Some(60 * SECOND)),
    );
    let mut slow = fx.connect();
    slow.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789")
        .expect("part of a request");
    fx.pump_until("the first body bytes", |h| h.body_bytes.get() == 10);
    let start = Instant::now();
    fx.driver.tick_at(start);
    fx.driver.tick_at(start + 59 * SECOND);
    // Progress restarts the wait.
    slow.write_all(b"0123456789").expect("more body");
    fx.pump_until("more body bytes", |h| h.body_bytes.get() == 20);
    fx.driver.tick_at(start + 61 * SECOND);
    fx.driver.tick_at(start + 120 * SECOND);
    assert_eq!(fx.handler().gone.get(), 0);
    fx.driver.tick_at(start + 121 * SECOND);
    let answer = read_until_closed(&mut fx, &mut slow);
    assert!(
        answer.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"),
        "{answer:?}"
    );
    assert_eq!(fx.handler().gone.get(), 1);
}

/// A client asks for more than the socket buffers hold and reads nothing:
/// with a 60 s send timeout it is dropped (and the handler told) after
/// 60 s, not before.
fn assert_a_client_that_does_not_read_is_dropped_after_60_seconds(fx: &mut Fixture) {
    let _sleeper = {
        let mut sleeper = fx.connect();
        sleeper.write_all(GET).expect("a request");
        sleeper
    };
    fx.pump_until("the request", |h| h.requests.get() == 1);
    fx.pump_for(Duration::from_millis(50));
    let start = Instant::now();
    fx.driver.tick_at(start);
    fx.driver.tick_at(start + 59 * SECOND);
    assert_eq!(fx.handler().gone.get(), 0);
    fx.driver.tick_at(start + 60 * SECOND);
    assert_eq!(fx.handler().gone.get(), 1);
    assert_eq!(fx.driver.connection_count(), 0);
}

#[test]
fn output_the_client_does_not_take_closes_the_connection_after_the_send_timeout() {
    // More than any loopback socket buffers.
    let mut fx = Fixture::new(
        Answer::Bytes(64 << 20),
        config_with(|c| c.timeouts.send = Some(60 * SECOND)),
    );
    assert_a_client_that_does_not_read_is_dropped_after_60_seconds(&mut fx);
}

#[test]
fn requests_beyond_the_concurrency_limit_get_503_without_the_application() {
    let mut fx = Fixture::new(
        Answer::Bytes(2),
        config_with(|c| c.limit_concurrency = Some(2)),
    );
    fx.driver.handler().running_tasks.set(2);
    let mut refused = fx.connect();
    refused.write_all(GET).expect("a request");
    let answer = read_until_closed(&mut fx, &mut refused);
    assert!(
        answer.starts_with(b"HTTP/1.1 503 Service Unavailable\r\n"),
        "{answer:?}"
    );
    assert_eq!(count(&answer, b"connection: close"), 1);
    assert_eq!(fx.handler().requests.get(), 0);

    fx.driver.handler().running_tasks.set(1);
    let mut served = fx.connect();
    served.write_all(GET).expect("a request");
    fx.pump_until("the request", |h| h.requests.get() == 1);
    assert_eq!(count(&read_available(&mut served), b"HTTP/1.1 200"), 1);
}

#[test]
fn shutdown_answers_a_request_already_on_its_way_then_closes_idle_connections() {
    let mut fx = Fixture::new(Answer::Bytes(2), DriverConfig::default());
    let mut idle = fx.connect();
    idle.write_all(GET).expect("a request");
    fx.pump_until("the request", |h| h.requests.get() == 1);
    assert_eq!(count(&read_available(&mut idle), b"HTTP/1.1 200"), 1);
    fx.driver.tick();
    let mut busy = fx.connect();
    busy.write_all(GET).expect("a request");
    fx.pump_until("the request", |h| h.requests.get() == 2);
    assert_eq!(count(&read_available(&mut busy), b"HTTP/1.1 200"), 1);

    fx.driver.stop_accepting();
    fx.driver.shutdown();
    fx.pump_for(Duration::from_millis(20));
    assert_eq!(fx.driver.connection_count(), 2);
    // A client's next request was on its way: it is answered, with
    // `connection: close`, and then the connection closes.
    busy.write_all(GET).expect("a request");
    let answer = read_until_closed(&mut fx, &mut busy);
    assert_eq!(count(&answer, b"HTTP/1.1 200"), 1);
    assert_eq!(count(&answer, b"connection: close"), 1);
    drop(busy); // its lingering close ends with the client's FIN
                // The quiet one closes once the grace is over, without an answer.
    fx.driver
        .tick_at(Instant::now() + Duration::from_millis(300));
    assert_eq!(read_until_closed(&mut fx, &mut idle), b"");
    fx.pump_for(Duration::from_millis(20));
    assert_eq!(fx.driver.connection_count(), 0);
}

#[test]
fn shutdown_closes_a_just_answered_connection_after_the_grace_period() {
    let mut fx = Fixture::new(Answer::Bytes(2), DriverConfig::default());
    let mut recent = fx.connect();
    recent.write_all(GET).expect("a request");
    fx.pump_until("the request", |h| h.requests.get() == 1);
    fx.driver.shutdown();
    fx.pump_for(Duration::from_millis(20));
    assert_eq!(fx.driver.connection_count(), 1);
    fx.driver.tick_at(Instant::now() + SECOND);
    let answer = read_until_closed(&mut fx, &mut recent);
    assert_eq!(count(&answer, b"HTTP/1.1 200"), 1);
}

#[test]
fn a_pass_takes_a_bounded_share_of_queued_connections() {
    let mut fx = Fixture::new(Answer::Bytes(2), DriverConfig::default());
    let clients: Vec<TcpStream> = (0..40).map(|_| fx.connect()).collect();
    std::thread::sleep(Duration::from_millis(50));
    fx.driver.on_ready().expect("a driver pass");
    // Another process sharing the socket gets its chance at the rest.
    assert_eq!(fx.driver.connection_count(), 16);
    // The rest is accepted in the next passes, without a new event.
    let deadline = Instant::now() + Duration::from_secs(2);
    while fx.driver.connection_count() < clients.len() {
        assert!(Instant::now() < deadline, "queued connections were left");
        fx.driver.on_ready().expect("a driver pass");
    }
}

/// A file of `len` bytes whose every 4-byte word is its own offset, so
/// that a misplaced or repeated piece shows.
fn pattern_file(len: usize) -> (tempdir::Dir, std::path::PathBuf, Vec<u8>) {
    let dir = tempdir::Dir::new();
    let path = dir.0.join("body.bin");
    let data: Vec<u8> = (0..len.div_ceil(4) as u32)
        .flat_map(|i| (i * 4).to_le_bytes())
        .take(len)
        .collect();
    std::fs::write(&path, &data).expect("the file written");
    (dir, path, data)
}

mod tempdir {
    /// A directory removed on drop (no crate for it in dev-dependencies).
    pub struct Dir(pub std::path::PathBuf);

    impl Dir {
        pub fn new() -> Self {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("pyre-file-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&path).expect("a temporary directory");
            Dir(path)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Reads, driving the server, until `want` bytes came (or the peer closed).
fn read_exactly(fixture: &mut Fixture, stream: &mut TcpStream, want: usize) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut data = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    while data.len() < want {
        assert!(
            Instant::now() < deadline,
            "only {} of {want} bytes came",
            data.len()
        );
        fixture.driver.on_ready().expect("a driver pass");
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read failed: {e}"),
        }
    }
    data
}

/// The body of one response starting at `at`: (body, where the next
/// response starts). Content-Length or chunked, as the head says.
fn split_response(data: &[u8], at: usize) -> (Vec<u8>, usize) {
    let head_end = at
        + data[at..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a head")
        + 4;
    let head = String::from_utf8_lossy(&data[at..head_end]).to_lowercase();
    if let Some(line) = head.lines().find(|l| l.starts_with("content-length:")) {
        let len: usize = line[15..].trim().parse().expect("a length");
        return (data[head_end..head_end + len].to_vec(), head_end + len);
    }
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let mut body = Vec::new();
    let mut pos = head_end;
    loop {
        let line_end = pos
            + data[pos..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("a size");
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[pos..line_end]).expect("hex"), 16)
                .expect("a chunk size");
        pos = line_end + 2;
        if size == 0 {
            assert_eq!(&data[pos..pos + 2], b"\r\n");
            return (body, pos + 2);
        }
        body.extend_from_slice(&data[pos..pos + size]);
        assert_eq!(&data[pos + size..pos + size + 2], b"\r\n");
        pos += size + 2;
    }
}

#[test]
fn a_file_body_goes_out_whole_and_in_order_by_sendfile_and_by_copy() {
    let len = (1 << 20) + 17;
    let (_dir, path, data) = pattern_file(len);
    for sendfile in [true, false] {
        for chunked in [false, true] {
            let answer = Answer::File {
                len: len as u64,
                chunked,
                sendfile,
            };
            let mut fx = Fixture::new(answer, DriverConfig::default());
            fx.handler().file.replace(Some(path.clone()));
            let mut client = fx.connect();
            // Two pipelined requests: the second head must follow the
            // whole first file.
            client.write_all(&GET.repeat(2)).expect("requests");
            let mut got = read_exactly(&mut fx, &mut client, 2 * len);
            // The rest of the framing (heads, chunk lines) is small.
            for _ in 0..20 {
                fx.driver.on_ready().expect("a driver pass");
                got.extend_from_slice(&read_available(&mut client));
            }
            let (first, next) = split_response(&got, 0);
            assert!(
                first == data,
                "first body differs (sendfile {sendfile}, chunked {chunked})"
            );
            let (second, end) = split_response(&got, next);
            assert!(
                second == data,
                "second body differs (sendfile {sendfile}, chunked {chunked})"
            );
            assert_eq!(end, got.len());
            assert_eq!(fx.handler().requests.get(), 2);
        }
    }
}

#[test]
fn the_copy_path_reads_a_file_only_while_the_buffer_is_low() {
    let len = 8 << 20;
    let (_dir, path, _) = pattern_file(len);
    let answer = Answer::File {
        len: len as u64,
        chunked: false,
        sendfile: false,
    };
    let mut fx = Fixture::new(answer, DriverConfig::default());
    fx.handler().file.replace(Some(path));
    let mut sleeper = fx.connect();
    sleeper.write_all(GET).expect("a request");
    fx.pump_until("the request", |h| h.requests.get() == 1);
    fx.pump_for(Duration::from_millis(50));
    // The client reads nothing: most of the file is still unsent, yet
    // what sits in memory is at most a low-water mark and one chunk.
    let unsent = fx.driver.connection_unsent()[0];
    assert!(unsent > len / 2, "{unsent} bytes unsent");
    let held = fx.driver.connection_buffer_capacity()[0];
    assert!(
        held <= WRITE_LOW_WATER + COPY_CHUNK,
        "{held} bytes held in memory"
    );
}

#[test]
fn a_file_shorter_than_announced_cuts_the_response_off() {
    let (_dir, path, data) = pattern_file(1000);
    for sendfile in [true, false] {
        let answer = Answer::File {
            len: 5000,
            chunked: false,
            sendfile,
        };
        let mut fx = Fixture::new(answer, DriverConfig::default());
        fx.handler().file.replace(Some(path.clone()));
        let mut client = fx.connect();
        client.write_all(GET).expect("a request");
        let got = read_until_closed(&mut fx, &mut client);
        let head_end = got
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a head")
            + 4;
        assert!(
            got[head_end..] == data[..],
            "sendfile {sendfile}: {} body bytes",
            got.len() - head_end
        );
        fx.pump_until("the close", |h| h.gone.get() == 1);
    }
}

#[test]
fn a_file_the_client_does_not_take_closes_after_the_send_timeout() {
    let len = 64 << 20; // more than any loopback socket buffers
    let (_dir, path, _) = pattern_file(len);
    let answer = Answer::File {
        len: len as u64,
        chunked: false,
        sendfile: true,
    };
    let mut fx = Fixture::new(answer, config_with(|c| c.timeouts.send = Some(60 * SECOND)));
    fx.handler().file.replace(Some(path));
    assert_a_client_that_does_not_read_is_dropped_after_60_seconds(&mut fx);
}

#[test]
fn a_client_leaving_in_the_middle_of_a_file_releases_the_connection() {
    let len = 16 << 20;
    let (_dir, path, _) = pattern_file(len);
    for sendfile in [true, false] {
        let answer = Answer::File {
            len: len as u64,
            chunked: true,
            sendfile,
        };
        let mut fx = Fixture::new(answer, DriverConfig::default());
        fx.handler().file.replace(Some(path.clone()));
        let mut client = fx.connect();
        client.write_all(GET).expect("a request");
        let got = read_exactly(&mut fx, &mut client, 100_000);
        assert!(got.len() >= 100_000);
        drop(client);
        fx.pump_until("the client gone", |h| h.gone.get() == 1);
        let deadline = Instant::now() + Duration::from_secs(2);
        while fx.driver.connection_count() > 0 {
            assert!(Instant::now() < deadline, "the connection stayed");
            fx.driver.on_ready().expect("a driver pass");
        }
    }
}
