-- wrk script: POST a provision request with a unique device name per request and
-- count the replies that are not SUCCESS (the hub answers 200 for every outcome).
local key = os.getenv("PKEY") or ""
local secret = os.getenv("PSECRET") or ""
local prefix = os.getenv("PREFIX") or "w"
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  failed = 0
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"deviceName":"%s-%d-%d","provisionDeviceKey":"%s","provisionDeviceSecret":"%s"}',
    prefix, tid, counter, key, secret)
  return wrk.format("POST", "/api/v1/provision", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"SUCCESS"', 1, true) then
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local total_failed = 0
  for _, thread in ipairs(threads) do
    total_failed = total_failed + thread:get("failed")
  end
  io.write(string.format("GRIDLINKS failed=%d p50_us=%d p99_us=%d\n", total_failed,
    latency:percentile(50), latency:percentile(99)))
end
