-- The benchmark's wrk script. bench/run.py starts wrk with as many threads as connections, so
-- each thread is exactly one connection and its Lua state is that connection's own.
--
--   wrk -t N -c N -d 10s -s bench/wrk.lua http://127.0.0.1:8099 -- <data file>
--
-- The data file (written by bench/run.py) returns a table:
--   { mode = "requests", requests = { {method, path, token, body}, ... } }
--       each connection cycles through the list from its own starting point;
--   { mode = "refresh", path = "/api/v1/auth/refresh", tokens = { "<refresh token>", ... } }
--       connection i starts with tokens[i] and keeps the latest token each response hands
--       back (rotation: replaying an old one would be reuse, a 401, and revoke the session).
-- done() prints one "BENCH_RESULT {json}" line that bench/run.py parses.

local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("id", counter)
   table.insert(threads, thread)
end

local data, prepared, position, refresh_token

local function headers_for(token, body)
   local headers = { ["Accept"] = "application/json" }
   if token and token ~= "" then
      headers["Authorization"] = "Bearer " .. token
   end
   if body then
      headers["Content-Type"] = "application/json"
   end
   return headers
end

function init(args)
   data = dofile(args[1])
   if data.mode == "refresh" then
      refresh_token = data.tokens[((id - 1) % #data.tokens) + 1]
      return
   end
   prepared = {}
   for i, r in ipairs(data.requests) do
      prepared[i] = wrk.format(r[1], r[2], headers_for(r[3], r[4]), r[4])
   end
   -- Spread the connections over the list, so they do not all ask for the same row at once.
   position = ((id - 1) * 7919) % #prepared
end

function request()
   if data.mode == "refresh" then
      local body = '{"refreshToken":"' .. refresh_token .. '"}'
      return wrk.format("POST", data.path, headers_for(nil, body), body)
   end
   position = position % #prepared + 1
   return prepared[position]
end

function response(status, headers, body)
   if data.mode == "refresh" and status == 200 then
      local token = string.match(body, '"refreshToken"%s*:%s*"([^"]+)"')
      if token then
         refresh_token = token
      end
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, '
         .. '"max_us": %d, "status_errors": %d, "socket_errors": %d}\n',
      summary.requests, summary.duration,
      latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
      e.status, e.connect + e.read + e.write + e.timeout
   ))
end
