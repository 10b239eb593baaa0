//! The driver over real loopback sockets, with a handler that answers in
//! Rust: the bounds on output, the step budget, every timeout and the
//! concurrency limit. Time is moved forward with `tick_at`.

use super::connection::{ConnRef, Flush, WRITE_HIGH_WATER};
use super::driver::{Driver, DriverConfig, Handler};
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
        }
    }
}

impl Handler for TestHandler {
    type Session = ();

    fn on_request(&self, conn: &ConnRef<()>, _head: RequestHead) {
        self.requests.set(self.requests.get() + 1);
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
    fx.pump_for(Duration::from_millis(200));
    let answered = fx.handler().requests.get();
    assert!(answered < total, "all {total} requests were parsed");
    // Output never passed the high-water mark by more than one response.
    let unsent = fx.handler().max_unsent_at_request.get();
    assert!(
        unsent <= WRITE_HIGH_WATER + response + 512,
        "{unsent} bytes were unsent when a request was parsed"
    );

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

#[test]
fn output_the_client_does_not_take_closes_the_connection_after_the_send_timeout() {
    // More than any loopback socket buffers.
    let mut fx = Fixture::new(
        Answer::Bytes(64 << 20),
        config_with(|c| c.timeouts.send = Some(60 * SECOND)),
    );
    let mut sleeper = fx.connect();
    sleeper.write_all(GET).expect("a request");
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
