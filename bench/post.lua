-- wrk script for bench/post_load.py and bench/compare.py: POST /api/messages as one of several agents, round robin.
-- Keys come from the environment (CHATR_BENCH_KEYS, comma-separated); prints a JSON summary, in which
-- "not_201" counts every answer that was not 201 Created (wrk's own "non_2xx" only counts statuses >= 400).
-- With CHATR_BENCH_MENTIONS (comma-separated names) and CHATR_BENCH_REPLY_TO (a message id), every post
-- @mentions those agents and replies to that message: the conversation post beside the plain one.
local keys = {}
for key in string.gmatch(os.getenv("CHATR_BENCH_KEYS") or "", "[^,]+") do
  keys[#keys + 1] = key
end
local prefix = ""
for name in string.gmatch(os.getenv("CHATR_BENCH_MENTIONS") or "", "[^,]+") do
  prefix = prefix .. "@" .. name .. " "
end
local reply = os.getenv("CHATR_BENCH_REPLY_TO") or ""
local reply_field = reply ~= "" and (',"replyTo":"' .. reply .. '"') or ""
local counter = 0
not201 = 0
local threads = {}

setup = function(thread)
  threads[#threads + 1] = thread
end

request = function()
  counter = counter + 1
  local key = keys[(counter % #keys) + 1]
  local body = '{"content":"' .. prefix .. 'bench ' .. counter .. '"' .. reply_field .. '}'
  return wrk.format("POST", "/api/messages", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key,
  }, body)
end

response = function(status, headers, body)
  if status ~= 201 then
    not201 = not201 + 1
  end
end

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local others = 0
  for _, thread in ipairs(threads) do
    others = others + thread:get("not201")
  end
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "rps": %.1f, "non_2xx": %d, "not_201": %d, "socket_errors": %d, ' ..
    '"p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f}\n',
    summary.requests, seconds, summary.requests / seconds, summary.errors.status, others,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
