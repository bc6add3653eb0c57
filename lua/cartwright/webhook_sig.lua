-- Webhook signatures the connectors check (connectors/<name>/webhooks.lua): a base64
-- HMAC-SHA256 of the raw body, or a shared secret echoed in a header. Every comparison is
-- constant time (cartwright.crypto.equal over digests of equal length).
-- Uses: cartwright.crypto.
local crypto = require "cartwright.crypto"

local M = {}

-- The cart's webhook secret | nil, why.
local function secret_of(cart)
  local s = cart.webhook_secret
  if type(s) ~= "string" or s == "" then return nil, "the cart has no webhook_secret" end
  return s
end

--- true when headers[name] is base64(HMAC-SHA256(cart.webhook_secret, raw_body)) | nil, why.
--- `name` is lower case (the server's headers are).
function M.hmac_b64(cart, headers, raw_body, name)
  local secret, why = secret_of(cart)
  if not secret then return nil, why end
  local got = headers and headers[name]
  if type(got) ~= "string" or got == "" then return nil, "no " .. name .. " header" end
  local want = crypto.hmac_sha256(secret, raw_body or "")
  local raw = crypto.unbase64(got)
  -- hash both sides: equal() then compares 32 bytes whatever the header holds
  if not raw or not crypto.equal(crypto.sha256(raw), crypto.sha256(want)) then
    return nil, name .. " does not match the body"
  end
  return true
end

--- true when headers[name] is the cart's webhook secret itself | nil, why.
function M.shared(cart, headers, name)
  local secret, why = secret_of(cart)
  if not secret then return nil, why end
  local got = headers and headers[name]
  if type(got) ~= "string" or got == "" then return nil, "no " .. name .. " header" end
  if not crypto.equal(crypto.sha256(got), crypto.sha256(secret)) then return nil, name .. " is not the secret" end
  return true
end

--- The schema entry every connector with webhooks declares.
function M.setting(what)
  return { type = "string", secret = true,
    description = what .. "; read it with `env \"NAME\"`. `POST /webhooks/{cart}` of `cartwright serve`"
      .. " refuses (401) a webhook without it" }
end

return M
