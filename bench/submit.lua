-- wrk script: each request is one form submission, answered with its result page (no redirect).
-- CSRF cookie and token come from the environment; every submission carries a submission key of
-- its own, as each form page a browser loads does. SUBMIT_PATH (default "/") is where it posts.
local path = os.getenv("SUBMIT_PATH") or "/"
local token = os.getenv("CSRF_TOKEN")
local cookie = "csrftoken=" .. os.getenv("CSRF_COOKIE")
local threads = {}
results, failures, counter = 0, 0, 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local height = string.format("%.2f", 20 + (counter % 20000) * 0.01 + id * 0.001)
  local weight = string.format("%.1f", 5 + (counter % 4000) * 0.1)
  local key = string.format("wrk%d-%d-%016d", id, os.time(), counter)
  local body = "csrfmiddlewaretoken=" .. token .. "&submission_key=" .. key
    .. "&height=" .. height .. "&weight=" .. weight
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = cookie,
    ["Referer"] = "http://127.0.0.1/",
  }, body)
end

function response(status, headers, body)
  if status == 200 then
    results = results + 1
  else
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local r, f = 0, 0
  for _, thread in ipairs(threads) do
    r = r + thread:get("results")
    f = f + thread:get("failures")
  end
  local seconds = summary.duration / 1e6
  io.write(string.format("RESULT results=%d failures=%d seconds=%.2f\n", r, f, seconds))
  io.write(string.format("LATENCY p50_ms=%.2f p99_ms=%.2f\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
