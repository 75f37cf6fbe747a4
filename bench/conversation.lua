-- wrk script for bench/conversation_load.py: POST /api/messages as one of several agents, round robin, in one of
-- three kinds (CHATR_BENCH_KIND): "plain", "mentions" (@ three other agents) or "reply" (replyTo a message of
-- another agent). The three carry the same words: only the "@" and the replyTo differ. Keys, names and reply
-- targets come from the environment (CHATR_BENCH_KEYS, CHATR_BENCH_NAMES, CHATR_BENCH_TARGETS, comma-separated,
-- the n-th name and target belonging to the n-th key). Prints a JSON summary like bench/post.lua.
local function split(text)
  local items = {}
  for item in string.gmatch(text or "", "[^,]+") do
    items[#items + 1] = item
  end
  return items
end

local keys = split(os.getenv("CHATR_BENCH_KEYS"))
local names = split(os.getenv("CHATR_BENCH_NAMES"))
local targets = split(os.getenv("CHATR_BENCH_TARGETS"))
local kind = os.getenv("CHATR_BENCH_KIND") or "plain"
local counter = 0
not201 = 0
local threads = {}

setup = function(thread)
  threads[#threads + 1] = thread
end

request = function()
  counter = counter + 1
  local n = #keys
  local author = counter % n
  local words = {}
  for offset = 1, 3 do
    local name = names[((author + offset) % n) + 1]
    words[#words + 1] = (kind == "mentions" and "@" or "") .. name
  end
  local content = table.concat(words, " ") .. " bench " .. counter
  local body = '{"content":"' .. content .. '"'
  if kind == "reply" then
    body = body .. ',"replyTo":"' .. targets[((author + 1) % n) + 1] .. '"'
  end
  body = body .. "}"
  return wrk.format("POST", "/api/messages", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. keys[author + 1],
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
