-- wrk script of benches/load.sh: POST a JSON-RPC `tools/call whoami` with a bearer token.
--
-- env (read in each wrk thread):
--   TOKENS_FILE   one bearer token per line (required)
--   ROTATE        "1": every request takes the next token of the file (threads start at
--                 different offsets); "disjoint": each thread cycles through its own slice of
--                 the file (THREADS slices), so the threads together send every token once
--                 before any repeats; otherwise the first line only
--   THREADS       wrk's thread count (for "disjoint" and SESSIONS_FILE)
--   TARGET        the path (default /mcp)
--   SESSIONS_FILE one Mcp-Session-Id per line, as many as connections (stateful MCP): each
--                 thread takes its slice (THREADS slices) and every request the next session
--                 of it. The requests in flight on a thread's connections are its latest ones,
--                 so each session has one at a time, as if it were bound to a connection
--   BODY_MARK     a string a correct 200 body contains (default "user-")
--   RESULT_FILE   done() appends one JSON line with the results here
--
-- JSON-RPC ids are unique per request: a stateful MCP session routes answers by id.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  body_ok = 0
  auth = {}
  local rotate = os.getenv("ROTATE") or ""
  local f = assert(io.open(assert(os.getenv("TOKENS_FILE"), "TOKENS_FILE not set"), "r"))
  for line in f:lines() do
    if #line > 0 then auth[#auth + 1] = "Bearer " .. line end
    if rotate ~= "1" and rotate ~= "disjoint" then break end
  end
  f:close()
  if rotate == "disjoint" then
    local t = tonumber(os.getenv("THREADS") or "1")
    local from, to = math.floor(#auth * tid / t) + 1, math.floor(#auth * (tid + 1) / t)
    local slice = {}
    for i = from, to do slice[#slice + 1] = auth[i] end
    auth = slice
  end
  path = os.getenv("TARGET") or "/mcp"
  mark = os.getenv("BODY_MARK") or "user-"
  headers = {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
    ["MCP-Protocol-Version"] = "2025-06-18",
  }
  sessions = {}
  local file = os.getenv("SESSIONS_FILE")
  if file and #file > 0 then
    local all = {}
    for line in assert(io.open(file, "r")):lines() do
      if #line > 0 then all[#all + 1] = line end
    end
    local t = tonumber(os.getenv("THREADS") or "1")
    for i = math.floor(#all * tid / t) + 1, math.floor(#all * (tid + 1) / t) do
      sessions[#sessions + 1] = all[i]
    end
    assert(#sessions > 0, "no session for thread " .. tid)
  end
  session_idx = 0
  n = #auth
  idx = rotate == "disjoint" and 0 or (tid * 7919) % n
  sent = 0
  rpc_id = tid * 1000000000
end

function request()
  idx = idx + 1
  if idx > n then idx = 1 end
  sent = sent + 1
  rpc_id = rpc_id + 1
  headers["Authorization"] = auth[idx]
  if #sessions > 0 then
    session_idx = session_idx % #sessions + 1
    headers["Mcp-Session-Id"] = sessions[session_idx]
  end
  return wrk.format("POST", path, headers,
    '{"jsonrpc":"2.0","id":' .. rpc_id .. ',"method":"tools/call","params":{"name":"whoami","arguments":{}}}')
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 200 and body and string.find(body, mark, 1, true) then
    body_ok = body_ok + 1
  end
end

function done(summary, latency, requests)
  -- distinct: tokens sent at least once (exact for "disjoint" and single-token runs).
  local agg, ok, distinct = {}, 0, 0
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do agg[k] = (agg[k] or 0) + v end
    ok = ok + t:get("body_ok")
    distinct = distinct + math.min(t:get("sent"), t:get("n"))
  end
  local parts = {}
  for k, v in pairs(agg) do parts[#parts + 1] = string.format('"%d":%d', k, v) end
  local e = summary.errors
  local secs = summary.duration / 1e6
  local line = string.format(
    '{"requests":%d,"duration_s":%.3f,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
    '"sock_errors":%d,"body_ok":%d,"distinct_tokens":%d,"statuses":{%s}}',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.timeout, ok, distinct, table.concat(parts, ","))
  local rf = os.getenv("RESULT_FILE")
  if rf and #rf > 0 then
    local f = io.open(rf, "a")
    if f then f:write(line .. "\n"); f:close() end
  end
end
