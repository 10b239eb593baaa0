//! The bridge's side of the driver: each protocol event becomes an
//! application call or an ASGI message.

use super::context::{reject, resolve, AppContext};
use super::errors::ClientDisconnected;
use super::finish::finish_request;
use super::proxy;
use super::receive::{disconnect_message, take_request_message, wake_receiver, Receive};
use super::runner::{self, awaitable_steps, AppRunner};
use super::scope::{client_value, host_port_tuple, Via};
use super::send::Send;
use super::session::{http_and_out, HttpSession};
use super::websocket::{self, WsReceive, WsSend};
use super::ws_session::WsSession;
use crate::http1::{BodyFraming, RequestHead};
use crate::net::{ConnRef, Handler};
use crate::ws::{check_upgrade, reject_response, Upgrade, WsEvent};
use bytes::Bytes;
use pyo3::prelude::*;
use std::rc::Rc;

pub struct AsgiHandler {
    pub ctx: Rc<AppContext>,
}

impl AsgiHandler {
    /// Builds the scope, calls `app(scope, receive, send)` and starts the
    /// coroutine as a task. A WebSocket handshake gets a `websocket` scope.
    fn dispatch(
        &self,
        py: Python<'_>,
        conn: &ConnRef<HttpSession>,
        head: RequestHead,
    ) -> PyResult<()> {
        let ctx = &self.ctx;
        let offer = if ctx.ws.enabled {
            match check_upgrade(head.method(), head.version, head.headers()) {
                Upgrade::NotWebSocket => None,
                Upgrade::WebSocket(offer) => Some(offer),
                Upgrade::Invalid(err) => {
                    let mut c = conn.borrow_mut();
                    reject_response(&err, http_and_out(&mut c)?.1);
                    c.close_soon();
                    return Ok(());
                }
            }
        } else {
            None
        };
        let subprotocols = offer.as_ref().map(|o| o.subprotocols.clone());
        let (seq, client, server, secure, tls) = {
            let mut c = conn.borrow_mut();
            let seq = c.session.seq + 1;
            c.session
                .begin_request(seq, head.framing == BodyFraming::Empty);
            if let Some(offer) = offer {
                c.session.ws = Some(Box::new(WsSession::new(offer, ctx.ws.max_queue)));
            }
            if ctx.access_log_enabled() {
                c.session.request_line = Some(format!(
                    "{} {} HTTP/{}",
                    String::from_utf8_lossy(head.method()),
                    String::from_utf8_lossy(head.target()),
                    head.version.as_str()
                ));
            }
            // Behind a trusted proxy each request may come from another
            // client; otherwise the peer's tuple is built once.
            let forwarded = match ctx.proxy.headers && c.peer_trusted() {
                true => proxy::interpret(head.headers(), &ctx.proxy.trusted),
                false => proxy::Forwarded::default(),
            };
            // A trusted proxy's word on the scheme wins; otherwise TLS
            // on this connection decides.
            c.session.secure = forwarded.secure.unwrap_or_else(|| c.is_tls());
            let client = match (forwarded.client, &c.session.client) {
                (Some((host, port)), _) => {
                    let client = host_port_tuple(py, &host, port)?.unbind();
                    c.session.forwarded_client = Some((host, port));
                    client
                }
                (None, Some(client)) => client.clone_ref(py),
                (None, None) => {
                    let client = client_value(py, &c.peer)?.unbind();
                    c.session.client = Some(client.clone_ref(py));
                    client
                }
            };
            if ctx.access_log_enabled() {
                c.session.access_extra = ctx.access_extra(&head);
            }
            (seq, client, c.local.clone(), c.session.secure, c.tls_info())
        };
        let scope = ctx.scope.build(
            py,
            &head,
            client.bind(py),
            &Via {
                server: &server,
                secure,
                tls: tls.as_deref(),
            },
            subprotocols.as_deref(),
        )?;
        let called = if subprotocols.is_some() {
            let receive = Py::new(py, WsReceive::new(ctx.clone(), conn.clone()))?;
            let send = Py::new(py, WsSend::new(ctx.clone(), conn.clone()))?;
            ctx.app.bind(py).call1((scope, receive, send))
        } else {
            let receive = Py::new(py, Receive::new(ctx.clone(), conn.clone(), seq))?;
            let send = Py::new(py, Send::new(ctx.clone(), conn.clone(), seq))?;
            ctx.app.bind(py).call1((scope, receive, send))
        };
        let coro = match called.and_then(awaitable_steps) {
            Ok(coro) => coro,
            Err(err) => {
                finish_request(py, ctx, conn, seq, Err(err));
                return Ok(());
            }
        };
        let runner = Bound::new(
            py,
            AppRunner::new(coro.unbind(), ctx.clone(), conn.clone(), seq),
        )?;
        runner::start(py, ctx, runner)
    }
}

impl Handler for AsgiHandler {
    type Session = HttpSession;

    fn on_request(&self, conn: &ConnRef<HttpSession>, head: RequestHead) {
        self.ctx.count_request();
        Python::attach(|py| {
            if let Err(err) = self.dispatch(py, conn, head) {
                // The server's own failure (out of memory, a broken loop):
                // answer 500 rather than leave the client waiting.
                let seq = conn.borrow().session.seq;
                finish_request(py, &self.ctx, conn, seq, Err(err));
            }
        });
    }

    fn on_body(&self, conn: &ConnRef<HttpSession>, chunk: Option<Bytes>) {
        let session = &mut conn.borrow_mut().session;
        match chunk {
            Some(data) => {
                session.body_buffered += data.len();
                session.body.push_back(data);
            }
            None => session.body_complete = true,
        }
    }

    fn on_input_settled(&self, conn: &ConnRef<HttpSession>) {
        let (waiting, websocket) = {
            let c = conn.borrow();
            (c.session.receive_waiter.is_some(), c.session.ws.is_some())
        };
        if !waiting {
            return;
        }
        Python::attach(|py| {
            if websocket {
                websocket::deliver(py, conn);
            } else {
                wake_receiver(py, conn, take_request_message);
            }
        });
    }

    fn on_client_gone(&self, conn: &ConnRef<HttpSession>) {
        if conn.borrow().session.ws.is_some() {
            Python::attach(|py| websocket::on_gone(py, conn));
            return;
        }
        let (receive_waiter, send_waiter) = {
            let mut c = conn.borrow_mut();
            c.session.client_gone = true;
            (
                c.session.receive_waiter.take(),
                c.session.send_waiter.take(),
            )
        };
        if receive_waiter.is_none() && send_waiter.is_none() {
            return;
        }
        Python::attach(|py| {
            if let Some(waiter) = receive_waiter {
                match disconnect_message(py) {
                    Ok(message) => resolve(py, waiter, message.into_any()),
                    Err(err) => err.write_unraisable(py, None),
                }
            }
            if let Some(waiter) = send_waiter {
                reject(
                    py,
                    waiter,
                    ClientDisconnected::new_err("the client has disconnected"),
                );
            }
        });
    }

    fn on_drained(&self, conn: &ConnRef<HttpSession>) {
        let waiter = conn.borrow_mut().session.send_waiter.take();
        if let Some(waiter) = waiter {
            Python::attach(|py| resolve(py, waiter, py.None().into_bound(py)));
        }
    }

    fn body_buffered(session: &HttpSession) -> usize {
        session.body_buffered
    }

    fn on_ws_event(&self, conn: &ConnRef<HttpSession>, event: WsEvent) {
        websocket::on_event(&mut conn.borrow_mut(), event);
    }

    fn running_tasks(&self) -> usize {
        self.ctx.task_count()
    }

    fn ws_may_read(session: &HttpSession) -> bool {
        session
            .ws
            .as_deref()
            .is_none_or(|ws| ws.inbox.len() < ws.max_queue)
    }
}
