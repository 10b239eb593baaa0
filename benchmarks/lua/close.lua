-- tls-hello-close: GET / with `Connection: close`, so that every request
-- opens a new connection (wrk reconnects), with a full TLS handshake.
wrk.headers["Connection"] = "close"
