//! What the bridge keeps for a WebSocket request: the client's handshake
//! until the application answers it, messages waiting for `receive()`, and
//! how the connection ended.

use crate::ws::Offer;
use bytes::Bytes;
use std::collections::VecDeque;

/// Where the WebSocket exchange stands, as the application drives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsPhase {
    /// `websocket.connect` is (or will be) delivered; no answer yet.
    Handshake,
    /// The application refuses with its own HTTP response
    /// (`websocket.http.response.start`), still being sent.
    Denying,
    /// `101 Switching Protocols` was sent: messages flow.
    Accepted,
    /// Over: refused, closed by either side, or failed.
    Closed,
}

pub enum Inbound {
    Text(String),
    Binary(Bytes),
}

pub struct WsSession {
    /// The client's handshake, kept until the application answers it.
    pub offer: Option<Box<Offer>>,
    pub phase: WsPhase,
    pub connect_delivered: bool,
    pub inbox: VecDeque<Inbound>,
    /// Most messages held for the application before reading pauses.
    pub max_queue: usize,
    /// The close code and reason for `websocket.disconnect`, once known.
    pub disconnect: Option<(u16, String)>,
}

impl WsSession {
    pub fn new(offer: Offer, max_queue: usize) -> Self {
        WsSession {
            offer: Some(Box::new(offer)),
            phase: WsPhase::Handshake,
            connect_delivered: false,
            inbox: VecDeque::new(),
            max_queue: max_queue.max(1),
            disconnect: None,
        }
    }

    /// Records how the connection ended; the first reason wins.
    pub fn ended(&mut self, code: u16, reason: String) {
        self.phase = WsPhase::Closed;
        if self.disconnect.is_none() {
            self.disconnect = Some((code, reason));
        }
    }
}
