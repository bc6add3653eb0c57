-- Operations on a cart's webhooks: register subscribes a URL (the service's
-- /webhooks/{cart}) to the cart's order events through its connector's webhooks capability.
local carts = require "cartwright.carts"
local context = require "cartwright.ctx"
local ops = require "cartwright.ops"

local M = {}

--- Registers `url` at cart `name` for its order events: { cart, connector, url, topics } |
--- nil, err, kind (usage: a bad URL; config: no such cart, no webhooks, no webhook_secret;
--- failed: the cart refused).
function M.register(s, name, url)
  if type(url) ~= "string" or not url:match("^https?://[^/%s]+") then
    return ops.fail("usage", "URL must be an http:// or https:// address, e.g. https://sync.example/webhooks/%s", tostring(name))
  end
  local cart, conn = carts.connect(s.cfg, name)
  if not cart then return ops.fail("config", conn) end
  if not conn.webhooks then
    return ops.fail("config", "cart %s: connector %s has no webhooks (poll it on a schedule)", name, conn.name)
  end
  local secret = cart.webhook_secret
  if secret == nil and conn.name ~= "shopify" then -- Shopify signs with the app's secret instead
    return ops.fail("config", "cart %s: set webhook_secret (e.g. webhook_secret = env \"%s_WEBHOOK_SECRET\")"
      .. " before registering webhooks", name, (name:upper():gsub("[^%w]", "_")))
  end
  local ctx = context.new(cart, conn)
  local ok, err = conn.webhooks.register(ctx, url, secret)
  if not ok then return ops.fail("failed", "cart %s: %s", name, tostring(err)) end
  return { cart = name, connector = conn.name, url = url,
    topics = conn.webhooks.topics or conn.webhooks.scopes or {} }
end

return M
