"""Watching the server's memory while a test pushes data through it."""

import threading
import time

MiB = 1024 * 1024


class RssSampler(threading.Thread):
    """Samples the server's RSS every 10 ms; `stop()` returns the peak."""

    def __init__(self, srv):
        super().__init__(daemon=True)
        self.srv = srv
        self.peak = srv.rss()
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                self.peak = max(self.peak, self.srv.rss())
            except (OSError, AssertionError):
                return
            time.sleep(0.01)

    def stop(self):
        self.done.set()
        self.join(5)
        return self.peak
