-- wrk script of tests/faults/soak.rs: each request carries a token of a known kind (valid,
-- old, expired, forged, unknown kid, garbage) and says which in `x-kind`; the server echoes it, and every
-- answer is checked against what that kind must get. An `old` token's key is withdrawn at
-- SOAK_ROTATE_AT: accepted before, refused from SOAK_GRACE seconds after (401, or the
-- documented 503 when the refetch meant to find its key failed), either in between and
-- counted apart. Results go to stdout as one JSON line.
local tokens = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(os.getenv("SOAK_TOKENS")) do
    local kind, token = line:match("^(%S+) (%S+)$")
    table.insert(tokens, { kind = kind, token = token })
  end
  counts = {}
  wrong = 0
  rotate_at = tonumber(os.getenv("SOAK_ROTATE_AT"))
  grace = tonumber(os.getenv("SOAK_GRACE"))
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
end

function request()
  local t = tokens[math.random(#tokens)]
  return wrk.format("GET", "/api", { ["authorization"] = "Bearer " .. t.token, ["x-kind"] = t.kind })
end

local expect = { valid = "200", expired = "401", forged = "401", garbage = "401" }

function right(kind, status)
  if kind == "unknown" then
    -- Refused; 503 when the refetch meant to find its key failed (documented).
    return status == "401" or status == "503"
  end
  if kind ~= "old" then
    return expect[kind] == status
  end
  local now = os.time()
  if now < rotate_at then
    return status == "200"
  elseif now >= rotate_at + grace then
    return status == "401" or status == "503"
  end
  return status == "200" or status == "401" or status == "503"
end

function response(status, headers, body)
  local kind = headers["x-kind"] or "none"
  local key = kind .. " " .. status
  counts[key] = (counts[key] or 0) + 1
  if not right(kind, tostring(status)) then
    wrong = wrong + 1
  end
end

function done(summary, latency, requests)
  local total = {}
  local wrongs = 0
  for _, thread in ipairs(threads) do
    wrongs = wrongs + thread:get("wrong")
    for k, v in pairs(thread:get("counts")) do
      total[k] = (total[k] or 0) + v
    end
  end
  local parts = {}
  for k, v in pairs(total) do
    table.insert(parts, string.format('"%s": %d', k, v))
  end
  io.write(string.format('SOAK {"requests": %d, "errors": %d, "wrong": %d, "p99_ms": %.2f, "by_kind": {%s}}\n',
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout, wrongs, latency:percentile(99) / 1000, table.concat(parts, ", ")))
end
