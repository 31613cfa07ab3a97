-- wrk script of benches/load.sh: POST a JSON-RPC `tools/call whoami` with a bearer token.
--
-- env (read in each wrk thread):
--   TOKENS_FILE   one bearer token per line (required)
--   ROTATE        "1": every request takes the next token of the file (threads start at
--                 different offsets); otherwise the first line only
--   TARGET        the path (default /mcp)
--   SESSION_ID    sent as Mcp-Session-Id when set (stateful MCP)
--   EXPECT        the status every response should have (default 200)
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
  local f = assert(io.open(assert(os.getenv("TOKENS_FILE"), "TOKENS_FILE not set"), "r"))
  for line in f:lines() do
    if #line > 0 then auth[#auth + 1] = "Bearer " .. line end
    if os.getenv("ROTATE") ~= "1" then break end
  end
  f:close()
  path = os.getenv("TARGET") or "/mcp"
  mark = os.getenv("BODY_MARK") or "user-"
  headers = {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
    ["MCP-Protocol-Version"] = "2025-06-18",
  }
  local sid = os.getenv("SESSION_ID")
  if sid and #sid > 0 then headers["Mcp-Session-Id"] = sid end
  n = #auth
  idx = (tid * 7919) % n
  rpc_id = tid * 1000000000
end

function request()
  idx = idx + 1
  if idx > n then idx = 1 end
  rpc_id = rpc_id + 1
  headers["Authorization"] = auth[idx]
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
  local agg, ok = {}, 0
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do agg[k] = (agg[k] or 0) + v end
    ok = ok + t:get("body_ok")
  end
  local parts = {}
  for k, v in pairs(agg) do parts[#parts + 1] = string.format('"%d":%d', k, v) end
  local e = summary.errors
  local secs = summary.duration / 1e6
  local line = string.format(
    '{"requests":%d,"duration_s":%.3f,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
    '"sock_errors":%d,"body_ok":%d,"statuses":{%s}}',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.timeout, ok, table.concat(parts, ","))
  local rf = os.getenv("RESULT_FILE")
  if rf and #rf > 0 then
    local f = io.open(rf, "a")
    if f then f:write(line .. "\n"); f:close() end
  end
end
