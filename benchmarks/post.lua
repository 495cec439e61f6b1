-- wrk script used by benchmarks/run.py: sends requests with the API headers, rotating through the
-- lines of $BENCH_BODIES, and counts bad answers per thread: any non-2xx status, and any response
-- body carrying an "errors" member (GraphQL errors; REST bodies never have one).
-- $BENCH_METHOD is POST (default: each line is a JSON body sent to the URL's path) or GET (each
-- line is a path with its query string, e.g. /api/public/v1/customers/cus_x).
-- done() prints one machine-readable line: BENCH_JSON {...}

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id_offset", #threads * 7)
end

function init(args)
  local method = os.getenv("BENCH_METHOD") or "POST"
  local headers = {
    ["accept"] = "application/json",
    ["x-api-key"] = os.getenv("BENCH_API_KEY") or "",
    ["x-organization-id"] = os.getenv("BENCH_ORG_ID") or "",
  }
  if method == "POST" then
    headers["content-type"] = "application/json"
  end
  requests_ = {}
  for line in io.lines(os.getenv("BENCH_BODIES")) do
    if #line > 0 then
      if method == "POST" then
        table.insert(requests_, wrk.format("POST", nil, headers, line))
      else
        table.insert(requests_, wrk.format(method, line, headers, nil))
      end
    end
  end
  if #requests_ == 0 then
    error("no request bodies in " .. tostring(os.getenv("BENCH_BODIES")))
  end
  -- Threads start at different offsets so they do not read the same row in lockstep.
  index_ = (id_offset or 0) % #requests_
  non2xx = 0
  gql_errors = 0
  first_bad = ""
end

function request()
  index_ = index_ % #requests_ + 1
  return requests_[index_]
end

function response(status, headers, body)
  local bad = false
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    bad = true
  end
  if body ~= nil and string.find(body, '"errors"', 1, true) then
    gql_errors = gql_errors + 1
    bad = true
  end
  if bad and first_bad == "" then
    first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 300)
  end
end

local function json_string(s)
  s = string.gsub(s, '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end)
  return '"' .. s .. '"'
end

function done(summary, latency, requests)
  local non2xx_total, gql_total, sample = 0, 0, ""
  for _, thread in ipairs(threads) do
    non2xx_total = non2xx_total + (thread:get("non2xx") or 0)
    gql_total = gql_total + (thread:get("gql_errors") or 0)
    local bad = thread:get("first_bad") or ""
    if sample == "" then sample = bad end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"non2xx": %d, "graphql_errors": %d, "first_bad": %s}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout,
    non2xx_total, gql_total, json_string(sample)))
end
