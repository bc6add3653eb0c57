-- cartwright.oauth1, the OAuth 1.0a signer WooCommerce (one-legged, query) and Magento
-- (integration tokens, Authorization header) share: published and independently computed vectors.
local T = require "t"
local oauth1 = require "cartwright.oauth1"

-- The OAuth 1.0 example (RFC 5849 §1.2 / Core 1.0 appendix A.5): HMAC-SHA1 with a token
local creds = { consumer_key = "dpf43f3p2l4k3l03", consumer_secret = "kd94hf93k423kf44",
                token = "nnch734d00sl2jdk", token_secret = "pfkkdhi9sl3r4s00" }
local query = { { "file", "vacation.jpg" }, { "size", "original" } }
local opts = { algo = "HMAC-SHA1", version = true, nonce = "kllo9940pd9333jh", timestamp = 1191242096 }
local list = assert(oauth1.sign("GET", "http://photos.example.net/photos", query, creds, opts))
T.eq(list[#list][1], "oauth_signature", "the signature comes last")
T.eq(list[#list][2], "tR3+Ty81lMeYAr/Fid0kMTYa/WM=", "RFC 5849 example, HMAC-SHA1 with token")
T.eq(#list, 7, "consumer key, nonce, method, timestamp, token, version, signature")
T.eq(#query, 2, "the query list is not changed")

-- the same request with HMAC-SHA256 (value computed with Python's hmac module)
opts.algo = "HMAC-SHA256"
list = assert(oauth1.sign("GET", "http://photos.example.net:80/photos", query, creds, opts))
T.eq(list[#list][2], "WVPzl1j6ZsnkIjWr7e3OZ3jkenL57KwaLFhYsroX1hg=", "HMAC-SHA256 with token; default port dropped")

-- one-legged (no token, no version), a bracketed Magento-style key, key = secret & ""
list = assert(oauth1.sign("GET", "http://shop.example/rest/default/V1/orders?x=ignored",
  { { "searchCriteria[pageSize]", "100" } }, { consumer_key = "ck", consumer_secret = "cs" },
  { nonce = "n1", timestamp = 1700000000 }))
T.eq(list[#list][2], "8LFIgc4yW4Ouw4DzzQLIn1+xD9rcAGwdoqcAGAkyAnY=", "one-legged HMAC-SHA256, bracketed key signed encoded")
T.eq(#list, 5, "no token, no version")

local sig, err = oauth1.signature("GET", "http://a.example/", {}, "k&", "RSA-SHA1")
T.eq(sig, nil, "an unknown method is refused")
T.match(err, "unknown OAuth signature method 'RSA%-SHA1'", "and named")

T.eq(oauth1.header({ { "oauth_consumer_key", "a b" }, { "oauth_signature", "x+/=" } }),
  'OAuth oauth_consumer_key="a%20b", oauth_signature="x%2B%2F%3D"', "header values are encoded and quoted")
T.eq(oauth1.base_url("HTTPS://Shop.Example:443"), "https://shop.example/", "base URL: case, port, path")
T.eq(oauth1.key("c&s", nil), "c%26s&", "key: secrets encoded, empty token secret")

return T.done()
