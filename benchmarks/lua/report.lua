-- Appended by benchmarks/run.py to every scenario's script: at the end of the
-- run, print wrk's summary as one JSON line the harness parses (no scraping of
-- wrk's human output). Times are in microseconds. summary.requests counts
-- responses (each pipelined response counts once); errors.status counts
-- responses with a status >= 400.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,' ..
    '"errors":{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f},' ..
    '"latency_us":{"p50":%.1f,"p75":%.1f,"p90":%.1f,"p99":%.1f,"p999":%.1f,' ..
    '"mean":%.1f,"stdev":%.1f,"max":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9),
    latency.mean, latency.stdev, latency.max))
end
