-- Shopify as of 2026, through the real binary against a Shopify simulator process on 127.0.0.1
-- and real SQLite files: a retired API version is served as the oldest supported one and
-- warned about once per run; access tokens by the client-credentials grant (client_id +
-- client_secret), renewed before they expire and after a 401, never printed or stored; exactly
-- one way to sign in.
local T = require "t"
local http = require "cartwright.http"
local json = require "cjson.safe"
local store = require "cartwright.store"

local dir = T.tmpdir()
local sim = T.sim("shopify", { "--orders", "240", "--seed", "26" })
local CLIENT_ID, SECRET = "cid-2026-a7f3c9", "cs_supersecret_2026_e41b"
local VERSION_WARNING = "shopify served another API version" -- the warning's message (plain)
local env = { STATIC_TOKEN = "shpat_test", CC_ID = CLIENT_ID, CC_SECRET = SECRET }

local function sim_call(method, path, body)
  local res = assert(http.request{ method = method, url = sim.url .. path, body = body and json.encode(body),
                                   headers = { ["Content-Type"] = "application/json" } })
  return json.decode(res.body)
end

-- A config with one Shopify cart "shop" and its own database; `settings` are its credentials.
local function config(name, settings)
  return T.write(dir .. "/" .. name .. ".lua", string.format([[
db = %q
cart "shop" {
  connector = "shopify", url = %q,
  %s
  batch_size = 10,
}
]], dir .. "/" .. name .. ".db", sim.url, settings))
end
local function cw(cfg, args, extra_env)
  local e = {}
  for k, v in pairs(env) do e[k] = v end
  for k, v in pairs(extra_env or {}) do e[k] = v end
  return T.cw({ "-c", cfg, table.unpack(args) }, e, { timeout = 120 })
end
-- external ids stored, as a set, and their count; n and distinct_n of the store
local function stored(cfg)
  local db = assert(store.open(dir .. "/" .. cfg:match("([^/]+)%.lua$") .. ".db"))
  local set, n = {}, 0
  for _, r in ipairs(assert(db:orders_list{})) do
    set[r.external_id] = true
    n = n + 1
  end
  local c = assert(db:orders_count{})
  db:close()
  return set, n, c
end
local function same_set(a, b)
  for k in pairs(a) do if not b[k] then return false end end
  for k in pairs(b) do if not a[k] then return false end end
  return true
end
local function count(s, plain)
  local n, from = 0, 1
  for _ = 1, 10000 do -- bounded
    local at = s:find(plain, from, true)
    if not at then break end
    n, from = n + 1, at + #plain
  end
  return n
end

-- every output of a command that had the client credentials, for the leak check at the end
local seen = {}
local function keep(...) for _, s in ipairs{ ... } do seen[#seen + 1] = s end end

---------------------------------------------------------------- the reference: a static token
local ref = config("ref", 'token = env "STATIC_TOKEN",')
local code, out, err, _
code, _, err = cw(ref, { "import", "shop" })
T.eq(code, 0, "static token: import succeeds", err)
local want, nwant = stored(ref)
T.ok(nwant >= 150, "static token: most orders stored (the open ones)", nwant)
T.eq(count(err, VERSION_WARNING), 0, "static token, default version 2026-10: no warning", err)

---------------------------------------------------------------- 1. API versions
local old = config("old", 'token = env "STATIC_TOKEN", api_version = "2025-01",')
code, _, err = cw(old, { "import", "shop" })
T.eq(code, 0, "1: api_version 2025-01: the import succeeds", err)
local got, n = stored(old)
T.eq(n, nwant, "1: api_version 2025-01: every order stored")
T.ok(same_set(got, want), "1: api_version 2025-01: the same orders as the reference")
T.eq(count(err, VERSION_WARNING), 1, "1: exactly one warning over the whole import (" .. math.ceil(nwant / 10) .. "+ pages)", err)
local warn = err:match("[^\n]*" .. VERSION_WARNING .. "[^\n]*") or ""
T.ok(warn:find("requested=2025-01", 1, true) and warn:find("served=2026-01", 1, true) and warn:find("cart=shop", 1, true),
     "1: the warning names the cart, the version asked for and the one served", warn)
code, out = cw(old, { "test", "shop" })
T.eq(code, 0, "1: test passes with a retired version")
T.match(out, "Test passed: shopify 2026%-01 ", "1: test shows the version really served")

local current = config("current", 'token = env "STATIC_TOKEN", api_version = "2026-07",')
code, out, err = cw(current, { "test", "shop" })
T.eq(code, 0, "1: api_version 2026-07: test passes")
T.match(out, "Test passed: shopify 2026%-07 ", "1: a supported version is echoed")
T.eq(count(err, VERSION_WARNING), 0, "1: a supported version: no warning", err)

for _, bad in ipairs{ "2026-13", "v2", "2026-1", "latest" } do
  local cfg = config("bad", 'token = env "STATIC_TOKEN", api_version = "' .. bad .. '",')
  code, _, err = cw(cfg, { "carts" })
  T.eq(code, 2, "1: api_version " .. bad .. " is a config error")
  T.match(err, "bad%.lua:2: cart \"shop\": api_version must be a version written YYYY%-MM", "1: " .. bad .. ": file:line and the form")
end

---------------------------------------------------------------- 2. one way to sign in
local ways = {
  { "both", 'token = env "STATIC_TOKEN", client_id = env "CC_ID", client_secret = env "CC_SECRET",',
    "set either token or client_id and client_secret, not both" },
  { "neither", "", "needs credentials: token" },
  { "id only", 'client_id = env "CC_ID",', "client_id needs client_secret" },
  { "secret only", 'client_secret = env "CC_SECRET",', "client_secret needs client_id" },
}
for _, w in ipairs(ways) do
  local cfg = config("ways", w[2])
  code, _, err = cw(cfg, { "carts" })
  T.eq(code, 2, "2: " .. w[1] .. ": a config error")
  T.ok(err:find('ways.lua:2: cart "shop": ' .. w[3], 1, true), "2: " .. w[1] .. ": names file:line and why", err)
end

---------------------------------------------------------------- 3. client credentials
-- the shop's own bucket off: the runs below set their pace with rate_limit, and a 429's wait
-- (2 s) would outlast the short-lived tokens they test
sim_call("POST", "/_sim/rate", { off = true })
sim_call("POST", "/_sim/app", { client_id = CLIENT_ID, client_secret = SECRET, token_ttl = 86399 })
local cc = config("cc", 'client_id = env "CC_ID", client_secret = env "CC_SECRET",')
code, out, err = cw(cc, { "--log-level", "debug", "test", "shop" })
keep(out, err)
T.eq(code, 0, "3: test passes with client credentials", out .. err)
T.match(out, "Test passed: shopify 2026%-10 ", "3: test output")
code, out, err = cw(cc, { "--log-level", "debug", "import", "shop" })
keep(out, err)
T.eq(code, 0, "3: import with client credentials succeeds", err)
got, n = stored(cc)
T.eq(n, nwant, "3: every order stored")
T.ok(same_set(got, want), "3: the same orders as with a static token")
local app = sim_call("GET", "/_sim/app")
T.eq(app.issued, 2, "3: one token per run (test, import): it lives 24 h")

-- a token that lives 3 s, an import that takes about 6 (4 requests a second): renewed before it
-- expires (when 10% of its life is left: 0.3 s)
sim_call("POST", "/_sim/app", { client_id = CLIENT_ID, client_secret = SECRET, token_ttl = 3 })
local before = sim_call("GET", "/_sim/app")
local short = config("short", 'client_id = env "CC_ID", client_secret = env "CC_SECRET",'
  .. ' rate_limit = { capacity = 1, per_second = 4 },')
local t0 = os.time()
code, out, err = cw(short, { "--log-level", "debug", "import", "shop" })
keep(out, err)
local took = os.time() - t0
T.eq(code, 0, "3: import with 3 s tokens succeeds", err)
app = sim_call("GET", "/_sim/app")
T.ok(took >= 5, "3: the import took about two token lifetimes", took)
T.ok(app.issued - before.issued >= 3, "3: tokens renewed during the import (a first one and 2+ renewals)", app.issued - before.issued)
T.eq(app.expired - before.expired, 0, "3: renewed before they expired (no request with an expired token)")
got, n = stored(short)
local _, _, c = stored(short)
T.eq(n, nwant, "3: 3 s tokens: exactly the orders of the reference, nothing lost")
T.eq(c.n, c.distinct_n, "3: 3 s tokens: nothing doubled")
T.ok(same_set(got, want), "3: 3 s tokens: the same orders")

-- a shop that revokes tokens early (announces 24 h, refuses after 1 s): renewed on the 401
sim_call("POST", "/_sim/app", { client_id = CLIENT_ID, client_secret = SECRET, token_ttl = 1, expires_in = 86399 })
before = sim_call("GET", "/_sim/app")
local revoked = config("revoked", 'client_id = env "CC_ID", client_secret = env "CC_SECRET",'
  .. ' rate_limit = { capacity = 1, per_second = 8 },')
code, out, err = cw(revoked, { "--log-level", "debug", "import", "shop" })
keep(out, err)
T.eq(code, 0, "3: import with tokens revoked early succeeds", err)
app = sim_call("GET", "/_sim/app")
local renewals, refusals = app.issued - before.issued - 1, app.expired - before.expired
T.ok(renewals >= 2, "3: tokens renewed after 401s", renewals)
T.eq(refusals, renewals, "3: one 401 per renewal (each refused request sent once more with the new token)")
got, n = stored(revoked)
_, _, c = stored(revoked)
T.eq(n, nwant, "3: revoked tokens: exactly the orders of the reference")
T.eq(c.n, c.distinct_n, "3: revoked tokens: nothing doubled")
T.ok(same_set(got, want), "3: revoked tokens: the same orders")

-- a wrong secret
sim_call("POST", "/_sim/app", { client_id = CLIENT_ID, client_secret = SECRET, token_ttl = 86399 })
code, out, err = cw(cc, { "--log-level", "debug", "test", "shop" }, { CC_SECRET = "cs_wrong_secret_77" })
keep(out, err)
T.eq(code, 1, "3: a wrong secret fails the test")
T.match(out, "Test failed: getting an access token with the cart's client_id and client_secret: http 400", "3: says what failed")
T.match(out, "invalid_client", "3: with the shop's reason")

---------------------------------------------------------------- 4. nothing leaks
app = sim_call("GET", "/_sim/app")
T.ok(#app.tokens >= 8, "4: tokens issued to look for", #app.tokens)
for _, name in ipairs{ "cc", "short", "revoked" } do
  local dump = io.popen("sqlite3 " .. T.q(dir .. "/" .. name .. ".db") .. " .dump"):read("a")
  T.ok(#dump > 100000, "4: " .. name .. ".db dumped", #dump)
  keep(dump)
end
local all = table.concat(seen, "\n")
T.ok(all:find("shopify access token received", 1, true) ~= nil, "4: debug logs were written")
local leaks = {}
for _, s in ipairs{ SECRET, "cs_wrong_secret_77", table.unpack(app.tokens) } do
  if all:find(s, 1, true) then leaks[#leaks + 1] = s end
end
T.eq(#leaks, 0, "4: the secret and the issued tokens appear nowhere (stdout, stderr, debug logs, .dump)",
     table.concat(leaks, " "))

sim.stop()
os.execute("rm -rf " .. dir)
T.done()
