-- wrk script for bench/proxy_bench.py: POST an image-to-video create (3 s, 144 credits) with the
-- bearer key in PROXY_BENCH_KEY, then print one machine-readable line of results.
wrk.method = "POST"
wrk.body = '{"assets":{"image_file_path":"api-assets/id/a.png"},"end_seconds":3}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("PROXY_BENCH_KEY") or "bench-token")

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "PROXY_BENCH requests=%d duration_us=%d non2xx=%d socket_errors=%d "
      .. "p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
