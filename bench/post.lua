-- wrk script for bench/run.py: POSTs one report body, each request with a fresh
-- client_report_id (a repeated id would be an idempotent replay, not a write).
-- Set by run.py in the environment: BENCH_PATH, BENCH_TOKEN (may be empty),
-- BENCH_BODY_PREFIX and BENCH_BODY_SUFFIX (the JSON around the id), BENCH_SEED,
-- BENCH_EXPECT (the status every response must have); optionally BENCH_TARGETS_FILE, a
-- file of "path token" lines: then requests go round-robin over those (path, token) pairs
-- (one per block, --blocks), each thread starting at a different pair. BENCH_METHOD=GET
-- (the timeline) sends no body: the same GET, with the token, every time.

local path = os.getenv("BENCH_PATH")
local token = os.getenv("BENCH_TOKEN") or ""
local prefix = os.getenv("BENCH_BODY_PREFIX")
local suffix = os.getenv("BENCH_BODY_SUFFIX")
local seed = tonumber(os.getenv("BENCH_SEED") or "1")
local expect = tonumber(os.getenv("BENCH_EXPECT") or "201")
local targets_file = os.getenv("BENCH_TARGETS_FILE") or ""
local method = os.getenv("BENCH_METHOD") or "POST"

wrk.method = method
wrk.path = path
if method == "POST" then
  wrk.headers["Content-Type"] = "application/json"
end
if token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

local counter = 0
local id_prefix = ""
local targets = {} -- {path, headers} per block, when BENCH_TARGETS_FILE is set
-- Globals, so that done() can read them from each thread.
unexpected = 0
first_unexpected = ""

function init(args)
  math.randomseed(seed * 1000 + thread_number)
  local r = math.random
  -- A random version-4 UUID prefix per thread; the last 48 bits count requests.
  id_prefix = string.format(
    "%04x%04x-%04x-4%03x-%x%03x-",
    r(0, 0xffff), r(0, 0xffff), r(0, 0xffff), r(0, 0xfff), r(8, 11), r(0, 0xfff)
  )
  if targets_file ~= "" then
    for line in io.lines(targets_file) do
      local p, t = string.match(line, "^(%S+)%s+(%S+)$")
      if p then
        table.insert(targets, {p, {
          ["Content-Type"] = "application/json",
          ["Authorization"] = "Bearer " .. t,
        }})
      end
    end
    if #targets == 0 then
      error("no targets in " .. targets_file)
    end
    -- Threads start at different blocks, so they do not move over the blocks in step.
    counter = (thread_number - 1) * math.floor(#targets / 2 + 1)
  end
end

function request()
  if method == "GET" then
    return wrk.format(nil, nil, nil, nil)
  end
  counter = counter + 1
  local body = prefix .. id_prefix .. string.format("%012x", counter) .. suffix
  if #targets > 0 then
    local t = targets[(counter % #targets) + 1]
    return wrk.format(nil, t[1], t[2], body)
  end
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status ~= expect then
    unexpected = unexpected + 1
    if first_unexpected == "" then
      first_unexpected = status .. " " .. string.sub(body or "", 1, 300)
    end
  end
end

function done(summary, latency, requests)
  local bad, sample = 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("unexpected") or 0)
    local s = thread:get("first_unexpected") or ""
    if sample == "" then
      sample = s
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "unexpected": %d, "connect": %d, '
      .. '"read": %d, "write": %d, "timeout": %d, "status_errors": %d, "p50_us": %d, '
      .. '"p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, bad, e.connect, e.read, e.write, e.timeout,
    e.status, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean
  ))
  io.write("BENCH_SAMPLE " .. string.gsub(sample, "\n", " ") .. "\n")
end
