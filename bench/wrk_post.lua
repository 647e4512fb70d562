-- POST one request body in a loop and report a latency distribution as one JSON line.
--
-- Environment (set by bench/run.py): BENCH_BODY (file holding the request body), BENCH_PATH
-- (request path), BENCH_MAX_REQUESTS (stop after this many responses per thread: the count cap;
-- wrk's -d is the time cap), BENCH_VARY (optional: a string of the body, the patient id, that is
-- replaced in every request by a new one of the same length, so that every resource differs
-- from all earlier requests' and the service's validation cache is cold). wrk sleeps the whole -d even when a thread stops early, so the
-- elapsed time of a capped run is measured here with CLOCK_MONOTONIC to keep throughput honest.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
]]
local function now_us()
  local ts = ffi.new("bench_timespec")
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local file = assert(io.open(assert(os.getenv("BENCH_BODY"), "BENCH_BODY unset"), "rb"))
wrk.body = file:read("*a")
file:close()
wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/"
wrk.headers["Content-Type"] = "application/json"
local vary = os.getenv("BENCH_VARY")
if vary == "" then
  vary = nil
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  max_requests = tonumber(os.getenv("BENCH_MAX_REQUESTS") or "20000")
  responses = 0
  non_200 = 0
  started_us = now_us()
  finished_us = 0
  sent = 0
  -- Microseconds since boot as the first id: later runs never repeat an earlier run's ids.
  vary_base = math.floor(now_us())
end

if vary then
  local pattern = vary:gsub("%p", "%%%0")
  local tail = vary:sub(9)
  function request()
    sent = sent + 1
    local id = string.format("%08x", (vary_base + sent) % 4294967296) .. tail
    return wrk.format(nil, nil, nil, (wrk.body:gsub(pattern, id)))
  end
end

function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 then
    non_200 = non_200 + 1
  end
  if responses >= max_requests then
    finished_us = now_us()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local capped, non_ok, elapsed = 0, 0, 0
  for _, thread in ipairs(threads) do
    non_ok = non_ok + thread:get("non_200")
    local finished = thread:get("finished_us")
    if finished > 0 then
      capped = capped + 1
      elapsed = math.max(elapsed, finished - thread:get("started_us"))
    end
  end
  if capped < #threads then
    elapsed = summary.duration
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"elapsed_us":%d,"capped":%s,"non_200":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d}}\n',
    summary.requests, elapsed, capped > 0 and "true" or "false", non_ok,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
