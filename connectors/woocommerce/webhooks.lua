-- WooCommerce connector, webhooks (docs/connectors.md "The webhooks capability"): a delivery
-- carries X-WC-Webhook-Signature = base64(HMAC-SHA256(webhook secret, raw body)); register
-- creates one webhook per topic (order.created, order.updated) with that secret.
-- Uses: cartwright.webhook_sig, api.lua, cjson.safe.
local json = require "cjson.safe"
local sig = require "cartwright.webhook_sig"
local api = require "connectors.woocommerce.api"

local TOPICS = { "order.created", "order.updated" }

-- verify(cart, headers, raw_body) -> true | nil, why
local function verify(cart, headers, raw_body)
  return sig.hmac_b64(cart, headers, raw_body, "x-wc-webhook-signature")
end

-- register(ctx, url, secret) -> true | nil, err
local function register(ctx, url, secret)
  for _, topic in ipairs(TOPICS) do
    local body = json.encode({ name = "Cartwright " .. topic, topic = topic, delivery_url = url,
      secret = secret, status = "active" })
    local res, err = api.call(api.once(ctx), "POST", "webhooks", {}, "create webhook " .. topic, body)
    if not res then return nil, err end
  end
  return true
end

return { verify = verify, register = register, topics = TOPICS }
