-- The service's webhook endpoint, POST /webhooks/{cart}: the cart's connector checks the
-- signature (its webhooks capability, constant time); a valid one only tells the caller which
-- cart changed (on_valid(cart_name): the scheduler coalesces it into one immediate import that
-- re-reads the cart, the body is never trusted); an invalid one is answered 401 and logged with
-- the cart and the reason, never the secret or the body.
-- Uses: cartwright.carts (the session's config), cartwright.log, cjson.safe.
local json = require "cjson.safe"
local carts = require "cartwright.carts"
local log = require "cartwright.log"

local M = {}

M.PREFIX = "/webhooks/"
M.routes = { { method = "POST", path = "/webhooks/{cart}" } }

local function answer(status, body)
  return { status = status, headers = { ["Content-Type"] = "application/json" }, body = json.encode(body) }
end

local function refuse(status, code, message)
  return answer(status, { error = { code = code, message = message } })
end

--- handler(s, req, on_valid) -> res | nil (nil: the path is not under /webhooks/).
--- s: an ops session ({ cfg }); req: as cartwright.httpd gives it; on_valid(cart_name) is called
--- once per valid delivery, before the 200 goes out (it must not wait for the import).
function M.handler(s, req, on_valid)
  local path = req.path or ""
  if path:sub(1, #M.PREFIX) ~= M.PREFIX then return nil end
  local name = path:sub(#M.PREFIX + 1)
  if req.method ~= "POST" then
    return { status = 405, headers = { ["Allow"] = "POST", ["Content-Type"] = "application/json" },
      body = json.encode({ error = { code = "method_not_allowed", message = "webhooks are POSTed" } }) }
  end
  local cfg = s.cfg
  if name == "" or name:find("/", 1, true) or not (cfg and cfg.carts and cfg.carts[name]) then
    log.warn("webhook for an unknown cart", { cart = name })
    return refuse(404, "not_found", "no such cart")
  end
  local cart, conn = carts.connect(cfg, name)
  if not cart then
    log.error("webhook: the cart's settings cannot be read", { cart = name, error = conn })
    return refuse(503, "unavailable", "the cart is not configured for webhooks")
  end
  if not conn.webhooks then
    log.warn("webhook for a cart whose connector has none", { cart = name, connector = conn.name })
    return refuse(404, "not_found", "this cart takes no webhooks")
  end
  local ok, why = conn.webhooks.verify(cart, req.headers or {}, req.body or "", req)
  if not ok then
    log.warn("webhook refused", { cart = name, reason = tostring(why) })
    return refuse(401, "unauthorized", "invalid signature")
  end
  if on_valid then on_valid(name) end
  return answer(200, { ok = true })
end

return M
