-- The one wrk script of bench/run.sh. Configured by environment variables:
--   WRK_METHOD, WRK_BODY, WRK_AUTH      a fixed request (method, form body, Authorization header)
--   WRK_RATE, WRK_CONNS                 pace each connection so that all of them offer WRK_RATE requests/s
--   WRK_REFRESH_CHAINS                  a file of refresh tokens, one per line: each request rotates one of them
--                                       and the response's new refresh token goes back in the pool, so every
--                                       request presents a fresh token (strict rotation, sustained)
--   WRK_REFRESH_EXTRA                   appended to the refresh form body (e.g. "&scope=profile%20email")
-- done() prints one line `WRKJSON {...}` that run.sh reads.

local body = os.getenv("WRK_BODY")
wrk.method = os.getenv("WRK_METHOD") or "GET"
wrk.body = body
local auth = os.getenv("WRK_AUTH")
if auth then wrk.headers["Authorization"] = auth end
if body or os.getenv("WRK_REFRESH_CHAINS") then
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

local rate = tonumber(os.getenv("WRK_RATE") or "")
if rate then
  local conns = tonumber(os.getenv("WRK_CONNS") or "1")
  function delay()
    return conns * 1000 / rate
  end
end

local chains = os.getenv("WRK_REFRESH_CHAINS")
if chains then
  local pool = {}
  for line in io.lines(chains) do
    if #line > 0 then pool[#pool + 1] = line end
  end
  local extra = os.getenv("WRK_REFRESH_EXTRA") or ""
  -- wrk calls request() once before the run to check the request (script_verify_request): that call must not
  -- take a token out of the pool, or one connection would run without a chain.
  local checked = false
  function request()
    local token
    if checked then
      token = table.remove(pool, 1) or "pool-exhausted"
    else
      checked, token = true, pool[1]
    end
    return wrk.format("POST", nil, nil, "grant_type=refresh_token&refresh_token=" .. token .. extra)
  end
  function response(status, headers, body)
    local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if status == 200 and token then pool[#pool + 1] = token end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
