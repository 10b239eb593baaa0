-- pipelined: 16 GET / requests concatenated into one string, written at once.
-- wrk parses what request() returns at start-up, learns it holds 16 requests,
-- and then counts every response: summary.requests (and so requests/s) counts
-- all 16, while a latency sample is taken once per batch (first byte written
-- to the 16th response read).
local depth = 16
local batch

init = function(args)
  local parts = {}
  for i = 1, depth do
    parts[i] = wrk.format("GET", "/")
  end
  batch = table.concat(parts)
end

request = function()
  return batch
end
