-- `connector check` against the Magento simulator through the real binary: every check ok with
-- an integration's OAuth credentials; with a bare token the simulator (like 2.4.4+) refuses the
-- Bearer until the store allows it; an admin token from /V1/integration/admin/token works.
local T = require "t"
local http = require "cartwright.http"
local json = require "cjson"

local CHECKS = { "connection", "paging", "model", "reimport", "overlap", "faults" }
local dir = T.tmpdir()
local sim = T.sim("magento", { "--orders", "40", "--seed", "5" })
local oauth = 'consumer_key = "mg_ck", consumer_secret = "mg_cs", access_token = "mg_at", access_token_secret = "mg_ats"'
local cfg = T.write(dir .. "/cw.lua", string.format([[
db = %q
cart "mg" { connector = "magento", url = %q, %s, retry_base_seconds = 0.05 }
cart "sha1" { connector = "magento", url = %q, %s, signature_method = "HMAC-SHA1" }
cart "bearer" { connector = "magento", url = %q, token = "mg_at", max_attempts = 1 }
cart "wrong" { connector = "magento", url = %q, consumer_key = "mg_ck", consumer_secret = "nope",
  access_token = "mg_at", access_token_secret = "mg_ats", max_attempts = 1 }
]], dir .. "/merchant.db", sim.url, oauth, sim.url, oauth, sim.url, sim.url))

local code, out, err = T.cw({ "-c", cfg, "connector", "check", "mg" }, {}, { timeout = 120 })
T.eq(code, 0, "connector check exits 0", err)
for _, c in ipairs(CHECKS) do T.match("\n" .. out, "\nok   " .. c .. " %(", "ok   " .. c) end
T.ok(not out:find("FAIL", 1, true) and not out:find("skip", 1, true), "no FAIL, no skip", out)
T.match(out, "paging %(40 orders", "paging: the simulator's 40 orders")
T.match(out, "faults %(429 and 500 survived%)", "a 429 and a 500 survived")

code, out = T.cw({ "-c", cfg, "test", "sha1" }, {}, { timeout = 60 })
T.eq(code, 0, "HMAC-SHA1 signatures are accepted too", out)

-- a bare token: refused as a Bearer while the store keeps the 2.4.4+ default
code, out, err = T.cw({ "-c", cfg, "test", "bearer" }, {}, { timeout = 60 })
T.eq(code, 1, "bearer refused: exit 1")
T.match(out .. err, "http 401: The consumer isn.t authorized to access Magento_Sales::actions_view%. %(GET orders%)",
  "Magento's 401 with the resource, after the storeConfigs fallback")
T.ok(not (out .. err):find("mg_at", 1, true), "the token is not printed")
assert(http.request{ method = "POST", url = sim.url .. "/_sim/config", body = '{"bearer":true}' })
code, out = T.cw({ "-c", cfg, "test", "bearer" }, {}, { timeout = 60 })
T.eq(code, 0, "bearer allowed by the store: test passes", out)

code, out, err = T.cw({ "-c", cfg, "test", "wrong" }, {}, { timeout = 60 })
T.eq(code, 1, "a wrong consumer secret: exit 1")
T.match(out .. err, "http 401: The signature is invalid%. Verify and try again%.", "Magento's signature message")
T.ok(not (out .. err):find("nope", 1, true), "the secret is not printed")

-- an admin token (4 h) from the token endpoint works as a Bearer
local res = assert(http.request{ method = "POST", url = sim.url .. "/rest/V1/integration/admin/token",
  headers = { ["Content-Type"] = "application/json" }, body = '{"username":"admin","password":"admin123"}' })
T.eq(res.status, 200, "admin token issued")
local token = json.decode(res.body)
T.eq(type(token) == "string" and #token, 32, "a JSON string")
res = assert(http.request{ url = sim.url .. "/rest/default/V1/orders?searchCriteria[pageSize]=1",
  headers = { Authorization = "Bearer " .. token } })
T.eq(res.status, 200, "the admin token reads orders")
T.eq(json.decode(res.body).total_count, 40, "total_count")
res = assert(http.request{ method = "POST", url = sim.url .. "/rest/V1/integration/admin/token",
  headers = { ["Content-Type"] = "application/json" }, body = '{"username":"admin","password":"x"}' })
T.eq(res.status, 401, "a wrong password: 401")
T.ok(not io.open(dir .. "/merchant.db", "rb"), "the check never opens the merchant's database")

sim.stop()
os.execute("rm -rf " .. dir)
return T.done()
