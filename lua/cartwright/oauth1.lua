-- OAuth 1.0a request signing (RFC 5849) for the connectors that need it: WooCommerce's one-legged
-- form over plain http (no token, parameters in the query) and Magento's integrations (consumer
-- and access token, parameters in the Authorization header), HMAC-SHA1 or HMAC-SHA256.
-- Uses: cartwright.http (RFC 3986 encoding), cartwright.crypto, cartwright.task (the clock).

local http = require "cartwright.http"
local crypto = require "cartwright.crypto"
local task = require "cartwright.task"

local M = {}

local enc = http.urlencode

local HMAC = { ["HMAC-SHA256"] = crypto.hmac_sha256, ["HMAC-SHA1"] = crypto.hmac_sha1 }

--- The base string URL (RFC 5849 §3.4.1.2): scheme and host lower case, the default port
--- dropped, no query or fragment, "/" for an empty path.
function M.base_url(url)
  local scheme, host, path = url:match("^(%a[%w+.-]*)://([^/?#]+)([^?#]*)")
  if not scheme then return url end
  scheme, host = scheme:lower(), host:lower()
  if (scheme == "http" and host:match(":80$")) or (scheme == "https" and host:match(":443$")) then
    host = host:gsub(":%d+$", "")
  end
  return scheme .. "://" .. host .. (path ~= "" and path or "/")
end

--- The signing key: enc(consumer secret) & enc(token secret), the token secret empty when
--- there is no token (one-legged).
function M.key(consumer_secret, token_secret)
  return enc(consumer_secret) .. "&" .. enc(token_secret or "")
end

--- RFC 5849 §3.4: METHOD & enc(base URL) & enc(sorted "k=v" pairs, each side encoded, joined
--- with &). params: list of {k, v} (the query's and the oauth_* ones, no oauth_signature);
--- key: M.key(…); algo: "HMAC-SHA256" (default) or "HMAC-SHA1".
--- Returns the base64 signature and the base string (for tests and debugging) | nil, err.
function M.signature(method, url, params, key, algo)
  local hmac = HMAC[algo or "HMAC-SHA256"]
  if not hmac then return nil, "unknown OAuth signature method '" .. tostring(algo) .. "'" end
  local kv = {}
  for i, p in ipairs(params) do kv[i] = { enc(p[1]), enc(p[2]) } end
  table.sort(kv, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  for i, p in ipairs(kv) do kv[i] = p[1] .. "=" .. p[2] end
  local base = method:upper() .. "&" .. enc(M.base_url(url)) .. "&" .. enc(table.concat(kv, "&"))
  return crypto.base64(hmac(key, base)), base
end

--- The oauth_* parameters of one request, signature last, as a list of {k, v}.
--- query: the request's query parameters ({k, v} list, signed with the rest, not returned);
--- creds = { consumer_key, consumer_secret, token?, token_secret? } (no token: one-legged);
--- opts = { algo = "HMAC-SHA256"|"HMAC-SHA1", version = true (adds oauth_version=1.0),
---          nonce = s, timestamp = n (both for tests; fresh ones otherwise) }.
--- Sign every attempt anew: a server refuses a nonce it has seen. -> list | nil, err
function M.sign(method, url, query, creds, opts)
  opts = opts or {}
  local algo = opts.algo or "HMAC-SHA256"
  local oauth = {
    { "oauth_consumer_key", creds.consumer_key },
    { "oauth_nonce", opts.nonce or crypto.hex(crypto.random_bytes(16)) },
    { "oauth_signature_method", algo },
    { "oauth_timestamp", string.format("%d", opts.timestamp or math.floor(task.now())) },
  }
  if creds.token then oauth[#oauth + 1] = { "oauth_token", creds.token } end
  if opts.version then oauth[#oauth + 1] = { "oauth_version", "1.0" } end
  local all = {}
  for _, p in ipairs(query or {}) do all[#all + 1] = p end
  for _, p in ipairs(oauth) do all[#all + 1] = p end
  local sig, err = M.signature(method, url, all, M.key(creds.consumer_secret, creds.token and creds.token_secret), algo)
  if not sig then return nil, err end
  oauth[#oauth + 1] = { "oauth_signature", sig }
  return oauth
end

--- The Authorization header value for oauth (M.sign's list): OAuth k="v", … (values encoded).
function M.header(oauth)
  local parts = {}
  for i, p in ipairs(oauth) do parts[i] = enc(p[1]) .. '="' .. enc(p[2]) .. '"' end
  return "OAuth " .. table.concat(parts, ", ")
end

return M
