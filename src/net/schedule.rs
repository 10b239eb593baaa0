//! Work that arrives outside the driver's callback (an application task sent
//! a response, consumed body, ...) is queued here and picked up by the next
//! `on_ready`. The queue's waker makes the driver's epoll fd readable, so the
//! event loop calls `on_ready` again without any Python-level scheduling.

use mio::{Token, Waker};
use std::cell::{Cell, RefCell};
use std::io;

pub struct Scheduler {
    waker: Waker,
    pending: RefCell<Vec<Token>>,
    /// True while the driver's callback runs: it drains the queue itself
    /// before returning, so no wake-up is needed.
    in_callback: Cell<bool>,
    woken: Cell<bool>,
    /// The connection the driver is processing: its output is flushed when
    /// it settles, so asking for another visit would be wasted.
    current: Cell<Option<Token>>,
}

impl Scheduler {
    pub(crate) fn new(waker: Waker) -> Self {
        Scheduler {
            waker,
            pending: RefCell::new(Vec::new()),
            in_callback: Cell::new(false),
            woken: Cell::new(false),
            current: Cell::new(None),
        }
    }

    /// Asks the driver to look at this connection again soon.
    pub fn schedule(&self, token: Token) {
        self.pending.borrow_mut().push(token);
        if !self.in_callback.get() {
            self.wake();
        }
    }

    /// Makes the driver's descriptor readable, so that the loop calls
    /// `on_ready` again (once, however often this is called before).
    pub(crate) fn wake(&self) {
        if !self.woken.get() {
            // A failed wake only delays work until the next socket event or
            // tick, which also drain the queue; nothing is lost.
            let _ = self.waker.wake();
            self.woken.set(true);
        }
    }

    pub(crate) fn set_current(&self, token: Option<Token>) {
        self.current.set(token);
    }

    /// Whether the driver is processing this connection right now.
    pub(crate) fn is_current(&self, token: Token) -> bool {
        self.current.get() == Some(token)
    }

    /// Whether the caller runs inside the driver's callback, where writes
    /// are batched and flushed once at its end.
    pub fn in_callback(&self) -> bool {
        self.in_callback.get()
    }

    pub(crate) fn enter(&self) {
        self.in_callback.set(true);
        self.woken.set(false);
    }

    pub(crate) fn leave(&self) {
        self.in_callback.set(false);
    }

    pub(crate) fn take_pending(&self) -> Vec<Token> {
        std::mem::take(&mut *self.pending.borrow_mut())
    }
}

pub(crate) fn new_waker(registry: &mio::Registry, token: Token) -> io::Result<Waker> {
    Waker::new(registry, token)
}
