-- wrk script: POST an image-to-video create with a bearer token (bench/simulator_wrk.sh).
wrk.method = "POST"
wrk.body = '{"assets":{"image_file_path":"api-assets/id/image.png"},"end_seconds":5.0,"model":"kling-3.0","resolution":"720p"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench-token"

local statuses = {}

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  io.write(string.format("requests/s: %.0f\n", summary.requests / (summary.duration / 1e6)))
  io.write(string.format("non-2xx or socket errors: %d\n",
    summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout))
end
