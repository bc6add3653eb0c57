-- Each simulator checked with the cart's real client library: tests/npm/shopify.js pages through
-- the Shopify simulator with shopify-api-node (cursor paging, status=any, limit 250) and
-- tests/npm/woocommerce.js through the WooCommerce one with @woocommerce/woocommerce-rest-api
-- (OAuth 1.0a over http, per_page 100, X-WP-TotalPages). The packages are installed with
-- `npm ci` from tests/npm/package-lock.json into a temporary copy of tests/npm, never into the
-- source tree. Without node/npm, or when the npm registry cannot be reached, the test prints
-- "SKIPPED: ..." and exits 77, which tests/tests.cmake makes ctest count as skipped.
local T = require "t"
local task = require "cartwright.task"
local http = require "cartwright.http"
local json = require "cjson.safe"

local SKIP = 77
local ORDERS, SEED = 600, 3
local SRC = "tests/npm" -- ctest runs us from the source root
local q = T.q

local function sh(cmd)
  local ok, _, code = os.execute(cmd)
  return ok and 0 or (code or 1)
end

local function skip(reason)
  print("SKIPPED: npm registry unreachable (" .. reason .. ")")
  return SKIP
end

-- The last few non-blank lines of a log, for messages.
local function tail(text, n)
  local lines = {}
  for line in text:gmatch("[^\n]+") do
    if not line:find("Unknown user config", 1, true) then lines[#lines + 1] = line end
  end
  return table.concat(lines, "\n     ", math.max(1, #lines - (n or 8) + 1))
end

-- npm's words for "could not talk to the registry" (as opposed to the registry saying no).
local NETWORK_ERRORS = { "ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT",
  "ENETUNREACH", "EHOSTUNREACH", "ENETDOWN", "ESOCKETTIMEDOUT", "ERR_SOCKET_TIMEOUT",
  "FETCH_ERROR", "network timeout", "UNABLE_TO_GET_ISSUER_CERT", "SELF_SIGNED_CERT_IN_CHAIN",
  "request to http" }

local function network_error(log)
  for _, word in ipairs(NETWORK_ERRORS) do
    if log:find(word, 1, true) then
      -- npm's FetchError: "... reason: connect ECONNREFUSED ..." or "network timeout at: ..."
      local reason = log:match("reason: ([^\n]+)") or log:match("(network timeout[^\n]*)")
      return "npm ci: " .. (reason or ("code " .. word)):sub(1, 200)
    end
  end
end

local function main()
  if sh("command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1") ~= 0 then
    return skip("node/npm not installed; `make deps` installs them")
  end

  -- A private copy of tests/npm; npm ci installs exactly what package-lock.json pins.
  local dir = T.tmpdir()
  local files = { "package.json", "package-lock.json", "shopify.js", "woocommerce.js" }
  for _, f in ipairs(files) do
    assert(sh("cp " .. q(SRC .. "/" .. f) .. " " .. q(dir .. "/" .. f)) == 0, "copy " .. f)
  end
  local t0 = task.monotonic()
  -- Bounded: one retry with short back-off (npm's defaults wait about a minute on a refused
  -- connection), 30 s per fetch, 120 s in all.
  local rc = sh("cd " .. q(dir) .. " && timeout 120 npm ci --no-audit --no-fund --prefer-offline"
    .. " --update-notifier=false --fetch-retries=1 --fetch-retry-mintimeout=1000"
    .. " --fetch-retry-maxtimeout=5000 --fetch-timeout=30000 >npm.log 2>&1 </dev/null")
  local log = T.slurp(dir .. "/npm.log")
  if rc ~= 0 then
    local why = rc == 124 and "npm ci timed out after 120 s" or network_error(log)
    if why then
      os.execute("rm -rf " .. q(dir))
      return skip(why)
    end
    T.ok(false, "npm ci installs the pinned client libraries", "exit " .. rc .. "\n     " .. tail(log))
    os.execute("rm -rf " .. q(dir))
    return T.done()
  end
  T.ok(true, string.format("npm ci installs the pinned client libraries (%.1f s)", task.monotonic() - t0))

  local function run(cart, script)
    local sim = T.sim(cart, { "--orders", tostring(ORDERS), "--seed", tostring(SEED) })
    local start = task.monotonic()
    local code = sh("timeout 120 node " .. q(dir .. "/" .. script) .. " " .. q(sim.url)
      .. " >" .. q(dir .. "/" .. cart .. ".out") .. " 2>" .. q(dir .. "/" .. cart .. ".err") .. " </dev/null")
    local secs = task.monotonic() - start
    local out, err = T.slurp(dir .. "/" .. cart .. ".out"), T.slurp(dir .. "/" .. cart .. ".err")
    local stats
    local res = http.request{ method = "GET", url = sim.url .. "/_sim/stats", timeout = 10 }
    if res and res.status == 200 then stats = json.decode(res.body) end
    sim.stop()

    local name = cart .. " (" .. script .. ")"
    T.eq(code, 0, name .. ": the client exits 0", tail(err))
    local r = json.decode(out:match("[^\n]*") or "")
    if not T.ok(type(r) == "table", name .. ": prints one JSON line", out .. tail(err)) then return end
    T.eq(r.count, ORDERS, name .. ": pages through every order the simulator holds")
    T.eq(r.ids_unique, true, name .. ": no order seen twice")
    T.ok(type(r.pages) == "number" and r.pages > 1, name .. ": more than one page", "pages = " .. tostring(r.pages))
    if T.ok(stats ~= nil, name .. ": simulator stats readable") then
      T.eq(stats.order_list_requests, r.pages, name .. ": one order-list request per page")
      T.eq(stats.by_status and stats.by_status["200"], stats.requests, name .. ": every request answered 200")
    end
    print(string.format("     %s: %d orders in %d pages, %.2f s", cart, r.count or -1, r.pages or -1, secs))
  end

  run("shopify", "shopify.js")
  run("woocommerce", "woocommerce.js")
  os.execute("rm -rf " .. q(dir))
  return T.done()
end

return main()
