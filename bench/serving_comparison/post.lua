-- wrk script of bench/serving_comparison.py: every request is the same JSON POST (BODY from the
-- environment). With CLOSE=1 it asks for "Connection: close", so every request opens a new
-- connection. Only 200 answers count; any other status or socket error is a failure.
local body = os.getenv("BODY")
local headers = { ["Content-Type"] = "application/json" }
if os.getenv("CLOSE") == "1" then
  headers["Connection"] = "close"
end
local threads = {}
answered, failures = 0, 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  prepared = wrk.format("POST", nil, headers, body)
end

function request()
  return prepared
end

function response(status, headers, body)
  if status == 200 then
    answered = answered + 1
  else
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local a, f = 0, 0
  for _, thread in ipairs(threads) do
    a = a + thread:get("answered")
    f = f + thread:get("failures")
  end
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  io.write(string.format("RESULT answered=%d failures=%d socket_errors=%d seconds=%.2f\n",
    a, f, socket_errors, summary.duration / 1e6))
  io.write(string.format("LATENCY p50_ms=%.2f p99_ms=%.2f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
