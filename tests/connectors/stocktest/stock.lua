-- Stock of the test cart (tests/stock/server.lua): lookup POST /stock/lookup, read POST
-- /stock/read, push POST /stock/push with the batch's key in an Idempotency-Key header.
local json = require "cjson.safe"

local function post(ctx, path, body, headers)
  headers = headers or {}
  headers["Content-Type"] = "application/json"
  local res, err = ctx:request{ method = "POST", url = ctx.origin .. path, body = json.encode(body), headers = headers }
  if not res then return nil, err end
  if res.status ~= 200 then return nil, "HTTP " .. res.status .. " " .. res.body:sub(1, 80) end
  local doc = json.decode(res.body)
  if type(doc) ~= "table" then return nil, "not JSON" end
  return doc
end

return {
  batch_max = 3,
  multi_location = false,
  compare = false,
  lookup = function(ctx, skus)
    local doc, err = post(ctx, "/stock/lookup", { skus = skus })
    if not doc then return nil, err end
    local refs = {}
    for sku, id in pairs(doc.refs or {}) do refs[sku] = { id = id } end
    return refs, doc.missing or {}
  end,
  read = function(ctx, items)
    local ids = {}
    for i, it in ipairs(items) do ids[i] = it.ref.id end
    local doc, err = post(ctx, "/stock/read", { ids = ids })
    if not doc then return nil, err end
    local out = {}
    for i, it in ipairs(items) do out[it.sku] = math.tointeger(doc.figures[i]) end
    return out
  end,
  push = function(ctx, items, opts)
    local body = {}
    for i, it in ipairs(items) do body[i] = { id = it.ref.id, quantity = it.quantity } end
    local doc, err = post(ctx, "/stock/push", { items = body }, { ["Idempotency-Key"] = opts.key })
    if not doc then return nil, err end
    local out = {}
    for _, it in ipairs(items) do out[it.sku] = "ok" end
    return out
  end,
}
