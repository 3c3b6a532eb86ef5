-- wrk script for make bench: POSTs Segment events to the collector with
-- unique messageIds. BATCH=1 posts single events to /v1/track, otherwise
-- BATCH events per /v1/batch request. With BODIES=FILE, it posts the
-- single events of that file to /v1/track in turn instead (bench.py makes
-- it: "<size>\n<body>" each, ready made, so that gzip bodies need no zlib
-- here); with GZIP=1 they are gzip and go with Content-Encoding: gzip.
local batch = tonumber(os.getenv("BATCH") or "100")
local auth = os.getenv("AUTH")
local run = os.getenv("RUN") or tostring(os.time())
local counter = 0
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = auth }
local bodies = nil
if os.getenv("BODIES") then
  bodies = {}
  local file = assert(io.open(os.getenv("BODIES"), "rb"))
  for size in file:lines() do
    bodies[#bodies + 1] = file:read(tonumber(size))
  end
  file:close()
  if os.getenv("GZIP") == "1" then
    headers["Content-Encoding"] = "gzip"
  end
end

local function event(n)
  return string.format(
    '{"type":"track","event":"Product Viewed","anonymousId":"anon-%d","messageId":"%s-%d",' ..
    '"timestamp":"2026-05-01T10:00:00.000Z","properties":{"product_id":"p%d","name":"Green tea",' ..
    '"price":4.5,"category":"tea"},"context":{"library":{"name":"wrk","version":"4"}}}',
    n % 5000, run, n, n % 50)
end

request = function()
  counter = counter + 1
  if bodies then
    return wrk.format("POST", "/v1/track", headers, bodies[(counter - 1) % #bodies + 1])
  end
  if batch == 1 then
    return wrk.format("POST", "/v1/track", headers, event(counter))
  end
  local parts = {}
  for i = 1, batch do
    parts[i] = event(counter * batch + i)
  end
  return wrk.format("POST", "/v1/batch", headers, '{"batch":[' .. table.concat(parts, ",") .. ']}')
end

done = function(summary, latency, requests)
  io.write(string.format('{"requests":%d,"seconds":%.3f,"errors":%d,"non2xx":%d,"p99_ms":%.2f}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(99) / 1000))
end
