-- Magento 2.4 / Adobe Commerce (REST /rest/<store>/V1/): the settings a Magento store is
-- configured with, its rate limit and what the connector does (orders: orders.lua, stock:
-- stock.lua, shipments and status out: shipments.lua; all call the API through api.lua).
-- Magento Open Source sends no webhooks: the scheduled poll is the only way orders come in.
-- Contract: docs/connectors.md.

local OAUTH = { "consumer_key", "consumer_secret", "access_token", "access_token_secret" }

-- OAuth needs all four of an integration's credentials; bearer needs token.
local function check_settings(cart)
  local have, missing = 0, {}
  for _, k in ipairs(OAUTH) do
    if cart[k] ~= nil then have = have + 1 else missing[#missing + 1] = k end
  end
  local auth = cart.auth or "auto"
  if auth == "auto" then auth = have > 0 and "oauth" or "bearer" end
  if auth == "oauth" and have < #OAUTH then
    return nil, "OAuth needs the integration's four credentials: " .. table.concat(missing, ", ") .. " missing"
      .. " (System > Extensions > Integrations > the integration's Integration Details)"
  end
  if auth == "bearer" and cart.token == nil then
    return nil, "needs credentials: consumer_key, consumer_secret, access_token and access_token_secret (an"
      .. " integration, signed with OAuth 1.0a), or token (sent as a Bearer token)"
  end
  return true
end

return {
  name = "magento", api_version = "V1",
  schema = {
    url = { type = "string", required = true,
      description = "the store's base URL as Magento has it (Stores > Configuration > General > Web), e.g."
        .. " `https://shop.example`; the REST API is at `{url}/rest/{store_code}/V1/` and OAuth signs that URL" },
    store_code = { type = "string", default = "default",
      description = "the store view code in the REST path (`default`, or `all`); orders of every store view"
        .. " are listed whatever it is" },
    consumer_key = { type = "string", secret = true,
      description = "the integration's Consumer Key (System > Extensions > Integrations)" },
    consumer_secret = { type = "string", secret = true, description = "the integration's Consumer Secret" },
    access_token = { type = "string", secret = true, description = "the integration's Access Token" },
    access_token_secret = { type = "string", secret = true, description = "the integration's Access Token Secret" },
    token = { type = "string", secret = true,
      description = "a token sent as `Authorization: Bearer`: the integration's Access Token on a store that"
        .. " allows it (Stores > Configuration > Services > OAuth > Consumer Settings > Allow OAuth Access"
        .. " Tokens to be used as standalone Bearer tokens; off by default since 2.4.4)" },
    auth = { type = "string", default = "auto", enum = { "auto", "oauth", "bearer" },
      description = "how requests are authenticated: `oauth` signs each with OAuth 1.0a (the four integration"
        .. " credentials), `bearer` sends `token`; `auto` signs when consumer_key is set" },
    signature_method = { type = "string", default = "HMAC-SHA256", enum = { "HMAC-SHA256", "HMAC-SHA1" },
      description = "the OAuth signature method (Magento accepts both)" },
    stock_api = { type = "string", default = "msi", enum = { "msi", "legacy" },
      description = "where stock goes: `msi` = Inventory Management source items (`/V1/inventory/source-items`,"
        .. " sources as locations); `legacy` = the catalog stock item of each product"
        .. " (`/V1/products/{sku}/stockItems/{id}`, one default stock), for stores with MSI disabled" },
  },
  check_settings = check_settings,
  rate = { capacity = 10, per_second = 5 }, -- no limit in Magento core; hosts and WAFs throttle, be gentle
  intervals = { orders = 60 }, -- `serve` default: no webhooks in Magento Open Source, the poll is the only way in
  capabilities = { orders = true, stock = true, shipments = true },
}
