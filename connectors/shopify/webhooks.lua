-- Shopify connector, webhooks (docs/connectors.md "The webhooks capability"): Shopify signs
-- each delivery with X-Shopify-Hmac-Sha256 = base64(HMAC-SHA256(app client secret, raw body));
-- the cart's webhook_secret is that secret (else its client_secret). register subscribes the
-- service's URL to orders/create, orders/updated and orders/cancelled through GraphQL
-- webhookSubscriptionCreate (Shopify sets no per-subscription secret: `secret` is unused).
-- Uses: cartwright.webhook_sig, graphql.lua.
local sig = require "cartwright.webhook_sig"
local gql = require "connectors.shopify.graphql"

local TOPICS = { "ORDERS_CREATE", "ORDERS_UPDATED", "ORDERS_CANCELLED" }

local CREATE = [[
mutation CartwrightWebhook($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) {
    webhookSubscription { id topic }
    userErrors { field message }
  }
}]]

-- verify(cart, headers, raw_body) -> true | nil, why
local function verify(cart, headers, raw_body)
  local c = cart
  if cart.webhook_secret == nil and cart.client_secret ~= nil then
    c = { webhook_secret = cart.client_secret }
  end
  local ok, why = sig.hmac_b64(c, headers, raw_body, "x-shopify-hmac-sha256")
  if not ok and headers and headers["shopify-hmac-sha256"] then -- the header also comes without X-
    return sig.hmac_b64(c, headers, raw_body, "shopify-hmac-sha256")
  end
  return ok, why
end

-- register(ctx, url, secret) -> true | nil, err
local function register(ctx, url)
  for _, topic in ipairs(TOPICS) do
    local what = "webhookSubscriptionCreate " .. topic
    local data, err = gql.request(ctx, CREATE, { topic = topic, sub = { callbackUrl = url, format = "JSON" } }, what)
    if not data then return nil, err end
    local p = type(data.webhookSubscriptionCreate) == "table" and data.webhookSubscriptionCreate or {}
    local errs = type(p.userErrors) == "table" and p.userErrors or {}
    if errs[1] then return nil, "shopify refused " .. what .. ": " .. tostring(errs[1].message) end
    if type(p.webhookSubscription) ~= "table" then return nil, "shopify answered " .. what .. " without a subscription" end
  end
  return true
end

return { verify = verify, register = register, topics = TOPICS }
