-- Helpers for the demo's stock part (tests/demo.sh), talking to the local simulators only.
--   cartwright run tests/tools/demo_stock.lua csv QTY          a stock CSV: every catalog SKU, QTY in main
--   cartwright run tests/tools/demo_stock.lua order URL         places one order at a simulator; prints its SKUs
--   cartwright run tests/tools/demo_stock.lua show SKU NAME=URL…  what each simulator shows for SKU
--   cartwright run tests/tools/demo_stock.lua bc-order URL ID     a BigCommerce order's status and shipments
--   cartwright run tests/tools/demo_stock.lua open-order URL      places Shopify orders until one is open;
--                                                                 prints "id ID", then its SKUs
--   cartwright run tests/tools/demo_stock.lua shop-order URL ID   a Shopify order's fulfillments
--   cartwright run tests/tools/demo_stock.lua hook-secret URL S   the secret the Shopify simulator signs with
local http = require "cartwright.http"
local json = require "cjson.safe"
local common = require "sim.common"

local function call(method, url, body)
  local res, err = http.request{ method = method, url = url, body = body,
    headers = body and { ["Content-Type"] = "application/json" } or nil }
  if not res or res.status ~= 200 then error((url:gsub("%?.*", "")) .. ": " .. tostring(res and res.status or err), 0) end
  return assert(json.decode(res.body))
end

-- The figure a simulator shows for sku: at its primary location where it has locations.
local function figure(url, sku)
  local s = call("GET", url .. "/_sim/stock")
  local per = s.stock and s.stock[sku] or s[sku]
  if type(per) ~= "table" then return per end
  for _, l in ipairs(s.locations or {}) do if l.primary then return per[l.id] end end
  return per["1"]
end

local what = arg[1]
if what == "csv" then
  io.write("sku,warehouse,quantity\n")
  for _, item in ipairs(common.catalog) do io.write(item.sku, ",main,", arg[2] or "40", "\n") end
elseif what == "order" then
  local id = string.format("%.0f", call("POST", arg[2] .. "/_sim/orders", '{"count":1}').ids[1])
  local order = call("GET", arg[2] .. "/_sim/orders/" .. id)
  for _, li in ipairs(order.line_items or {}) do
    if li.sku and li.sku ~= "" then io.write(li.sku, " ", string.format("%.0f", li.quantity), "\n") end
  end
elseif what == "show" then
  local parts = {}
  for i = 3, #arg do
    local name, url = arg[i]:match("^([^=]+)=(.+)$")
    local n = figure(url, arg[2])
    parts[#parts + 1] = string.format("%s %s", name, type(n) == "number" and string.format("%.0f", n) or tostring(n))
  end
  io.write(string.format("%-14s %s\n", arg[2], table.concat(parts, "   ")))
elseif what == "bc-order" then
  local o = call("GET", arg[2] .. "/_sim/orders/" .. arg[3])
  local ships = call("GET", arg[2] .. "/_sim/shipments/" .. arg[3])
  io.write(string.format("  at the cart: order %s is '%s', %d shipment(s)", arg[3], tostring(o.status), #ships))
  for _, sh in ipairs(ships) do io.write(string.format("; %s %s", tostring(sh.tracking_carrier), tostring(sh.tracking_number))) end
  io.write("\n")
elseif what == "open-order" then
  for _ = 1, 20 do -- bounded: the simulator makes some orders closed or cancelled, as shops have them
    local id = string.format("%.0f", call("POST", arg[2] .. "/_sim/orders", '{"count":1}').ids[1])
    local o = call("GET", arg[2] .. "/_sim/orders/" .. id)
    if o.cancelled_at == json.null and o.closed_at == json.null and o.fulfillment_status == json.null then
      io.write("id ", id, "\n")
      for _, li in ipairs(o.line_items or {}) do
        if li.sku and li.sku ~= "" then io.write(li.sku, " ", string.format("%.0f", li.quantity), "\n") end
      end
      return 0
    end
  end
  io.stderr:write("no open order in 20 tries\n")
  return 1
elseif what == "shop-order" then
  local s = call("GET", arg[2] .. "/_sim/shipments/" .. arg[3])
  io.write(string.format("  at the cart: order %s has %d fulfillment(s)", arg[3], #(s.fulfillments or {})))
  for _, f in ipairs(s.fulfillments or {}) do
    io.write(string.format("; %s %s", tostring(f.tracking_company), tostring(f.tracking_number)))
  end
  io.write("\n")
elseif what == "hook-secret" then
  call("POST", arg[2] .. "/_sim/webhooks", json.encode({ secret = arg[3] }))
else
  io.stderr:write("usage: demo_stock.lua csv QTY | order URL | show SKU NAME=URL... | bc-order URL ID | open-order URL"
    .. " | shop-order URL ID | hook-secret URL SECRET\n")
  return 2
end
return 0
