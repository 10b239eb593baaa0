-- echo-10k: POST / with a 10,240-byte body; wrk.format adds Content-Length.
wrk.method = "POST"
wrk.body = string.rep("x", 10240)
wrk.headers["Content-Type"] = "application/octet-stream"
