-- A hostile (or broken) cart that sends an order without its id, to the connectors that page
-- by "id greater than the last one" (Magento entity_id, Cart.com id): the listing stops at once
-- with an error naming the page and the order, instead of starting over from the first page
-- until the page limit. Real HTTP on 127.0.0.1 through each connector's ctx. And the encoded
-- forms of secrets (a Basic header, a URL's query) never reach a log line.
local T = require "t"
local httpd = require "cartwright.httpd"

-- a server answering every order list with one page: an order with an id, then one without
-- (and the other resources a connector reads first from `others`, by path)
local function server(body, others)
  local hits = 0
  local srv = assert(httpd.listen{ host = "127.0.0.1", port = 0, handler = function(req)
    for path, b in pairs(others or {}) do
      if req.path:find(path, 1, true) then return { status = 200, headers = { ["Content-Type"] = "application/json" }, body = b } end
    end
    hits = hits + 1
    return { status = 200, headers = { ["Content-Type"] = "application/json" }, body = body }
  end })
  return srv, function() return hits end
end

local CASES = {
  { connector = "magento", settings = 'token = "mg_bearer_token", auth = "bearer",',
    body = '{"items":[{"entity_id":7,"increment_id":"000000007","updated_at":"2026-11-01 10:00:00"},'
      .. '{"entity_id":null,"increment_id":"000000008","updated_at":"2026-11-01 10:00:01"}],"total_count":999}',
    want = "order 2 has no entity_id" },
  { connector = "cartcom", settings = 'token = "ac_test_token",',
    body = '{"total_count":999,"next_page":"x","orders":[{"id":7,"updated_at":"2026-11-01T10:00:00Z"},'
      .. '{"updated_at":"2026-11-01T10:00:01Z"}]}',
    others = { ["/order_statuses"] = '{"total_count":1,"order_statuses":[{"id":1,"name":"Pending Processing",'
      .. '"is_open":true}]}' },
    want = "order 2 has no id" },
}

for _, c in ipairs(CASES) do
  local srv, hits = server(c.body, c.others)
  local ctx, conn = T.connect("h", c.connector, "http://127.0.0.1:" .. srv.port, c.settings)
  local pages = 0
  local ok, err = conn.fetch_orders(ctx, { since = "2026-11-01T00:00:00Z", ["until"] = "2026-11-02T00:00:00Z",
    page_size = 100 }, function() pages = pages + 1 return true end)
  T.eq(ok, nil, c.connector .. ": an order without an id fails the listing")
  T.match(tostring(err), c.want, c.connector .. ": the error names the order", err)
  T.eq(pages, 0, c.connector .. ": the page is not stored")
  T.ok(hits() <= 3, c.connector .. ": at once (a request or two, not the page limit)", hits())
  srv:close()
end

-- secrets in their encoded forms are secrets too: the PrestaShop key as its Basic header and a
-- Cart.com webhook secret as the webhook URL carries it never reach a log line
local script = T.write(T.tmpdir() .. "/redact.lua", [[
local http = require "cartwright.http"
local log = require "cartwright.log"
local crypto = require "cartwright.crypto"
local hooks = require "connectors.cartcom.webhooks"
local secret = "s3cr+t/with=specials"
hooks.verify({ webhook_secret = secret }, {}, "", { query = { key = "wrong" } })
log.warn("a request the service logs", { uri = "/webhooks/cc?key=" .. http.urlencode(secret) })
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)
local f = assert(io.open(dir .. "/cw.lua", "w"))
f:write('cart "p" { connector = "prestashop", url = "http://127.0.0.1:9", key = "PS8KEY00000000000000000000SECRET",'
  .. ' timezone = "+01:00", max_attempts = 1 }\n')
f:close()
local cart, conn = assert(require("cartwright.carts").connect(assert(require("cartwright.config").load(dir .. "/cw.lua")), "p"))
os.execute("rm -rf " .. dir)
local ok = conn.test(require("cartwright.ctx").new(cart, conn)) -- refused: no shop there, the header was made
log.warn("an echoed header", { h = "Basic " .. crypto.base64("PS8KEY00000000000000000000SECRET:") })
assert(not ok)
]])
local rc, _, rerr = T.cw({ "run", script }, {}, { timeout = 30 })
T.eq(rc, 0, "the redaction script runs", rerr)
T.ok(not rerr:find("s3cr%2Bt%2Fwith%3Dspecials", 1, true) and rerr:find("a request the service logs", 1, true) ~= nil,
  "cartcom: the URL-encoded webhook secret is redacted in the log", rerr)
T.ok(not rerr:find(require("cartwright.crypto").base64("PS8KEY00000000000000000000SECRET:"), 1, true)
  and rerr:find("an echoed header", 1, true) ~= nil, "prestashop: the Basic form of the key is redacted", rerr)

os.exit(T.done())
