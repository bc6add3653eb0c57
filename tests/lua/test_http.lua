-- HTTP client and server through real sockets on 127.0.0.1: concurrency, transport errors,
-- large bodies, many headers, keep-alive reuse.
local T = require "t"
local task = require "cartwright.task"
local http = require "cartwright.http"
local httpd = require "cartwright.httpd"
local crypto = require "cartwright.crypto"
local json = require "cjson.safe"

local inflight, max_inflight, peers = 0, 0, {}
local srv = assert(httpd.listen{ host = "127.0.0.1", port = 0, handler = function(req)
  peers[req.peer] = true
  if req.path == "/slow" then
    inflight = inflight + 1
    max_inflight = math.max(max_inflight, inflight)
    task.sleep(tonumber(req.query.s) or 0.2)
    inflight = inflight - 1
    return { status = 200, body = "slow" }
  elseif req.path == "/echo" then
    local h = {}
    for k, v in pairs(req.headers) do if k:match("^x%-") then h[k] = v end end
    return { status = 201, headers = { ["Content-Type"] = "application/json" },
             body = json.encode{ method = req.method, len = #req.body, sha = crypto.hex(crypto.sha256(req.body)), headers = h, q = req.query } }
  elseif req.path == "/big" then
    return { status = 200, body = string.rep("0123456789", 1024 * 1024) }
  elseif req.path == "/many" then
    local h = {}
    for i = 1, 100 do h["X-H" .. i] = "v" .. i end
    return { status = 200, headers = h, body = "" }
  elseif req.path == "/boom" then
    error("handler exploded")
  end
  return { status = 404, body = "no" }
end })
local base = "http://127.0.0.1:" .. srv.port

-- 50 concurrent tasks against a server that answers after 200 ms
local t0 = task.monotonic()
local ts = {}
for i = 1, 50 do
  ts[i] = task.spawn(function() return http.request{ url = base .. "/slow?i=" .. i } end)
end
local okn = 0
for i = 1, 50 do
  local ok, res = ts[i]:wait()
  if ok and res and res.status == 200 and res.body == "slow" then okn = okn + 1 end
end
local elapsed = task.monotonic() - t0
T.eq(okn, 50, "50 concurrent requests all answered")
T.ok(max_inflight >= 45, "requests overlapped at the server", "max in flight " .. max_inflight)
T.ok(elapsed < 1.0, "50 x 200 ms finished in well under 1 s (concurrently)", "took " .. elapsed)

-- transport errors are values with a stable token
local res, err = http.request{ url = "http://127.0.0.1:1/" }
T.eq(res, nil, "refused: no response")
T.match(err, "^refused", "refused: token")
res, err = http.request{ url = base .. "/slow?s=2", timeout = 0.3 }
T.eq(res, nil, "timeout: no response")
T.match(err, "^timeout", "timeout: token")
res, err = http.request{ url = "http://no-such-host.invalid/" }
T.eq(res, nil, "dns: no response")
T.match(err, "^dns", "dns: token")

-- 10 MB each way
local body = crypto.random_bytes(10 * 1024 * 1024)
res = assert(http.request{ method = "POST", url = base .. "/echo?a=1&b=x%20y", body = body,
                           headers = { ["X-One"] = "1" } })
local doc = json.decode(res.body)
T.eq(res.status, 201, "POST 10 MB: status")
T.eq(doc.len, #body, "POST 10 MB: server got every byte")
T.eq(doc.sha, crypto.hex(crypto.sha256(body)), "POST 10 MB: same bytes")
T.eq(doc.q.b, "x y", "query decoded")
T.eq(res.headers["content-type"], "application/json", "response header names are lower-case")
res = assert(http.request{ url = base .. "/big" })
T.eq(#res.body, 10 * 1024 * 1024, "GET 10 MB body")

-- many headers both ways
local h = {}
for i = 1, 100 do h["X-Req-" .. i] = "value-" .. i end
res = assert(http.request{ method = "PUT", url = base .. "/echo", headers = h, body = "" })
doc = json.decode(res.body)
local n = 0
for k, v in pairs(doc.headers) do if k:match("^x%-req%-") and v == "value-" .. k:match("%d+$") then n = n + 1 end end
T.eq(n, 100, "100 request headers arrive")
T.eq(doc.method, "PUT", "method passed")
res = assert(http.request{ url = base .. "/many" })
n = 0
for i = 1, 100 do if res.headers["x-h" .. i] == "v" .. i then n = n + 1 end end
T.eq(n, 100, "100 response headers kept")

-- a handler error is a 500, and the server goes on
res = assert(http.request{ url = base .. "/boom" })
T.eq(res.status, 500, "handler error answers 500")
res = assert(http.request{ url = base .. "/nothing" })
T.eq(res.status, 404, "server still serving after a handler error")

-- keep-alive: sequential requests from one task reuse one connection
peers = {}
for _ = 1, 20 do assert(http.request{ url = base .. "/nothing" }) end
local npeers = 0
for _ in pairs(peers) do npeers = npeers + 1 end
T.eq(npeers, 1, "20 sequential requests over one kept-alive connection")

-- misuse raises an error naming the API
local ok, e = pcall(http.request, {})
T.match(e, "url is required", "missing url is an error")
T.ok(not ok, "missing url raises")

srv:close()
return T.done()
