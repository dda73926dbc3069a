-- bench/wrk_mcp.lua: load an MCP server with `tools/call echo` over streamable HTTP.
--
--   MCP_MODE=modern|legacy  wrk -t1 -c16 -d10s -s bench/wrk_mcp.lua http://127.0.0.1:PORT/mcp
--
-- Environment:
--   MCP_MODE      modern (default): protocol revision 2026-07-28, stateless. The revision and the
--                 client capabilities travel in the request's `_meta`; `Mcp-Method`/`Mcp-Name`
--                 headers mirror the body so a router can dispatch without parsing JSON.
--                 legacy: revision 2025-11-25 with a session (`Mcp-Session-Id`).
--   MCP_SESSIONS  legacy only: comma-separated session ids (from `initialize` responses).
--                 Thread i (1-based) uses id i; with more ids than threads, thread i takes ids
--                 i, i+T, i+2T, … and rotates through them request by request.
--   MCP_TOKEN     bearer token; sent as `Authorization: Bearer …` when set.
--   (legacy requests carry a fresh JSON-RPC id each: ids must be unique per session in flight)
--   MCP_TEXT      text to echo (default "bench-hello"); a response is good only when the status is
--                 200, the body contains `"text":"<MCP_TEXT>"` and no `"isError":true`.
--   MCP_LABEL     free-form label copied into the JSON line.
--
-- Output: one line `WRK_JSON {...}` with requests, rps, latency p50/p90/p99/max in ms and error
-- counts summed over all threads (wrk runs each thread in its own Lua state, so the per-thread
-- counters are collected with thread:get in done()).

local mode = os.getenv("MCP_MODE") or "modern"
local token = os.getenv("MCP_TOKEN")
local text = os.getenv("MCP_TEXT") or "bench-hello"
local label = os.getenv("MCP_LABEL") or ""
local expect = '"text":"' .. text .. '"'

local function json_escape(s)
  return (s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end))
end

local function headers_for(sid)
  local h = {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
  }
  if token and token ~= "" then h["Authorization"] = "Bearer " .. token end
  if mode == "modern" then
    h["MCP-Protocol-Version"] = "2026-07-28"
    h["Mcp-Method"] = "tools/call"
    h["Mcp-Name"] = "echo"
  else
    h["MCP-Protocol-Version"] = "2025-11-25"
    h["Mcp-Session-Id"] = sid
  end
  return h
end

local function body_for(id)
  local args = '{"text":"' .. json_escape(text) .. '"}'
  if mode == "modern" then
    return '{"jsonrpc":"2.0","id":' .. id .. ',"method":"tools/call","params":{"name":"echo",'
      .. '"arguments":' .. args .. ',"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
      .. '"io.modelcontextprotocol/clientCapabilities":{}}}}'
  end
  return '{"jsonrpc":"2.0","id":' .. id .. ',"method":"tools/call","params":{"name":"echo","arguments":' .. args .. '}}'
end

-- ---- main Lua state: hand each thread its number ----
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

-- ---- per-thread Lua state ----
local reqs = {}
local next_req = 1
bad_status = 0
bad_body = 0
sample = ""

function init(args)
  local my = {}
  if mode == "legacy" then
    local list = {}
    for s in string.gmatch(os.getenv("MCP_SESSIONS") or os.getenv("MCP_SESSION") or "", "[^,]+") do
      table.insert(list, s)
    end
    if #list == 0 then
      io.stderr:write("wrk_mcp.lua: legacy mode needs MCP_SESSIONS\n")
      os.exit(2)
    end
    -- Thread ids are 1..T; threads beyond the list reuse ids cyclically.
    local t = tid or 1
    local nthreads = tonumber(os.getenv("MCP_THREADS") or "") or 0
    if nthreads > 0 and #list > nthreads then
      for i = t, #list, nthreads do table.insert(my, list[i]) end
    else
      table.insert(my, list[((t - 1) % #list) + 1])
    end
  else
    table.insert(my, false)
  end
  if mode == "legacy" then
    -- JSON-RPC ids must be unique among a session's in-flight requests (the server routes each
    -- response to the HTTP stream waiting on that id), so every legacy request gets a fresh id;
    -- threads sharing a session use disjoint ranges.
    for i, sid in ipairs(my) do reqs[i] = headers_for(sid) end
    next_id = (tid or 1) * 1000000000
  else
    reqs[1] = wrk.format("POST", nil, headers_for(false), body_for(1))
  end
end

function request()
  if mode ~= "legacy" then return reqs[1] end
  local h = reqs[next_req]
  next_req = next_req % #reqs + 1
  next_id = next_id + 1
  return wrk.format("POST", nil, h, body_for(next_id))
end

function response(status, headers, body)
  if status ~= 200 then
    bad_status = bad_status + 1
    if sample == "" then sample = "status=" .. status .. " body=" .. string.sub(body or "", 1, 160) end
  elseif not string.find(body, expect, 1, true) or string.find(body, '"isError":true', 1, true) then
    bad_body = bad_body + 1
    if sample == "" then sample = "body=" .. string.sub(body or "", 1, 160) end
  end
end

-- ---- main Lua state again ----
function done(summary, latency, requests)
  local bs, bb, first = 0, 0, ""
  for _, t in ipairs(threads) do
    bs = bs + (t:get("bad_status") or 0)
    bb = bb + (t:get("bad_body") or 0)
    local s = t:get("sample")
    if first == "" and s and s ~= "" then first = s end
  end
  local e = summary.errors
  local socket = e.connect + e.read + e.write + e.timeout
  local secs = summary.duration / 1e6
  if first ~= "" then io.write("WRK_FIRST_ERROR " .. first .. "\n") end
  io.write(string.format(
    'WRK_JSON {"label":"%s","mode":"%s","threads":%d,"requests":%d,"duration_s":%.3f,"rps":%.1f,'
      .. '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"errors":%d,'
      .. '"errors_status":%d,"errors_body":%d,"errors_socket":%d}\n',
    json_escape(label), mode, #threads, summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, bs + bb + socket, bs, bb, socket))
end
