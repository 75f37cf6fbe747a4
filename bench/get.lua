-- wrk script for bench/compare.py: wrk's own GET of the URL it is given; prints a JSON summary
-- ("non_2xx" is wrk's count of statuses >= 400).
done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "rps": %.1f, "non_2xx": %d, "socket_errors": %d, "bytes": %d, ' ..
    '"p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f}\n',
    summary.requests, seconds, summary.requests / seconds, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.bytes,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
