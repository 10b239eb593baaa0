//! State that belongs to the event loop's thread, held by Python objects.
//!
//! The per-request objects (`send`, `receive`, the app runner) hold the
//! connection as `Rc<RefCell<..>>`, which is neither `Send` nor `Sync`.
//! PyO3's `unsendable` classes guard such state by comparing
//! `std::thread::current()` on every access (a thread-local lookup and an
//! atomic reference count, several times per request). `LoopBound` is the
//! cheaper guarantee used instead:
//!
//! - Soundness. Every access happens from Python, with the thread attached
//!   to the interpreter and holding the GIL: the module declares
//!   `gil_used = true`, and on a free-threaded build it refuses to load
//!   while the GIL is disabled (`lib.rs`). The GIL admits one thread at a
//!   time and orders each hand-over (a release happens-before the next
//!   acquire), so the non-atomic counts of `Rc` and the flags of `RefCell`
//!   are never touched by two threads at once: no data race, whichever
//!   thread a call comes from. That is what makes the `Send`/`Sync`
//!   implementations below sound. Dropping happens under the GIL too
//!   (`tp_dealloc`).
//! - Correctness. The objects still belong to their event loop (its futures
//!   are not thread-safe), so `get` compares the calling thread with the
//!   one that created the value: `pthread_self()`, which glibc reads from
//!   the thread pointer in a couple of instructions, and answers a call
//!   from another thread with an exception rather than a panic.

use pyo3::exceptions::PyRuntimeError;
use pyo3::PyResult;

pub struct LoopBound<T> {
    value: T,
    owner: libc::pthread_t,
}

// SAFETY: see the module documentation: every access is made holding the
// GIL, which serializes them and orders them across threads.
unsafe impl<T> Send for LoopBound<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for LoopBound<T> {}

fn current_thread() -> libc::pthread_t {
    // SAFETY: pthread_self has no preconditions and cannot fail.
    unsafe { libc::pthread_self() }
}

impl<T> LoopBound<T> {
    /// Binds `value` to the calling thread (the event loop's).
    pub fn new(value: T) -> Self {
        LoopBound {
            value,
            owner: current_thread(),
        }
    }

    fn check(&self) -> PyResult<()> {
        // SAFETY: pthread_equal only compares its two arguments.
        if unsafe { libc::pthread_equal(self.owner, current_thread()) } != 0 {
            Ok(())
        } else {
            Err(PyRuntimeError::new_err(
                "called from a thread other than the server's event loop; use loop.call_soon_threadsafe",
            ))
        }
    }

    pub fn get(&self) -> PyResult<&T> {
        self.check()?;
        Ok(&self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owning_thread_gets_the_value_and_others_an_error() {
        let bound = std::sync::Arc::new(LoopBound::new(7));
        assert_eq!(*bound.get().expect("the owner's access"), 7);
        let shared = bound.clone();
        let elsewhere = std::thread::spawn(move || shared.get().is_err())
            .join()
            .expect("the thread");
        assert!(elsewhere);
    }
}
