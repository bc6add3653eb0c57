-- The Shopify stock capability (connectors/shopify/stock.lua) against the Shopify simulator over
-- real HTTP on 127.0.0.1, through a ctx of a cart from a real config: locations and the primary
-- one; 600 SKUs looked up in ceil(600/250) calls, the right inventory items, unknown SKUs
-- missing; 300 quantities pushed in 2 calls and the shop's figures exact; a sale at the shop
-- between our read and our push reported stale with nothing of that call applied; one key
-- applied once; a 429 retried by ctx; GraphQL THROTTLED waited out, or returned for a retry.
local T = require "t"
local http = require "cartwright.http"
local json = require "cjson.safe"
local carts = require "cartwright.carts"
local config = require "cartwright.config"
local context = require "cartwright.ctx"

local ITEM = "gid://shopify/InventoryItem/"

-- a Plus-sized GraphQL budget, so only the THROTTLED cases below wait for points
local sim = require("sim.shopify").start{ port = 0, orders = 20, seed = 11, rate = false, stock_skus = 700,
                                          graphql = { maximum = 20000, restore = 1000 },
                                          client_id = "cid-stock", client_secret = "cs_stock_secret_1" }
local dir = T.tmpdir()
T.write(dir .. "/cw.lua", string.format([[
cart "s" { connector = "shopify", url = %q, token = "shpat_test", retry_base_seconds = 0.05, retry_max_seconds = 2 }
cart "cc" { connector = "shopify", url = %q, client_id = "cid-stock", client_secret = "cs_stock_secret_1" }
]], sim.url, sim.url))
local cart, conn = assert(carts.connect(assert(config.load(dir .. "/cw.lua")), "s"))
local stock = conn.stock
local ctx = context.new(cart, conn)

local function sim_call(method, path, body)
  local res = assert(http.request{ method = method, url = sim.url .. path, body = body and json.encode(body),
                                   headers = { ["Content-Type"] = "application/json" } })
  return json.decode(res.body), res.status
end
local function stats() return (sim_call("GET", "/_sim/stats")) end
local function reset() sim_call("POST", "/_sim/reset-stats") end
local PRIMARY, EAST = tostring(sim.locations[1].id), tostring(sim.locations[2].id)
local function figure(sku, loc) return sim_call("GET", "/_sim/stock").stock[sku][loc or PRIMARY] end
local function gid(sku) return ITEM .. string.format("%d", sim.variant_by_sku[sku].item_id) end

---------------------------------------------------------------- the capability as loaded
T.eq(conn.capabilities.stock, true, "shopify declares the stock capability")
T.eq(stock.batch_max, 250, "batch_max 250")
T.eq(stock.multi_location, true, "multi_location")
T.eq(stock.compare, true, "compare: the shop checks changeFromQuantity itself")
T.eq(type(stock.read), "function", "read is there too")
T.eq(stock._sku_query{ "A-1", 'odd "q" \\x' }, 'sku:"A-1" OR sku:"odd \\"q\\" \\\\x"', "SKUs are quoted in the search")

---------------------------------------------------------------- locations
reset()
local locs, lerr = stock.locations(ctx)
T.ok(locs ~= nil, "locations", lerr)
locs = locs or {}
T.eq(#locs, 2, "two locations")
T.eq(locs[1] and locs[1].id, "gid://shopify/Location/" .. PRIMARY, "ids are GIDs")
T.eq(locs[1] and locs[1].name, "Main Warehouse", "the first by name")
T.eq(locs[1] and locs[1].primary, true, "Main Warehouse is primary")
T.eq(locs[2] and locs[2].name, "East Coast 3PL", "the second by name")
T.eq(locs[2] and locs[2].primary, nil, "East Coast 3PL is not")
stock.locations(ctx)
T.eq(stats().stock_location_requests, 1, "locations are read once per ctx")

---------------------------------------------------------------- lookup
local ODD = 'Odd "SKU" with: spaces'
sim_call("POST", "/_sim/stock", { sku = ODD, quantity = 3, create = true })
local skus, unknown = { ODD }, {}
for i = 1, 594 do skus[#skus + 1] = string.format("STK-%05d", i) end
for i = 1, 5 do
  unknown[i] = "NOPE-" .. i
  skus[#skus + 1] = unknown[i]
end
skus[#skus + 1] = "STK-00001" -- twice: looked up once
T.eq(#skus, 601, "600 different SKUs to look up (one twice)")
reset()
local refs, missing = stock.lookup(ctx, skus)
T.ok(refs ~= nil, "lookup of 600 SKUs", missing)
refs, missing = refs or {}, missing or {}
T.eq(stats().stock_lookup_requests, 3, "600 SKUs: ceil(600/250) = 3 calls")
local right, count = 0, 0
for _, s in ipairs(skus) do
  if refs[s] and sim.variant_by_sku[s] and refs[s].inventory_item_id == gid(s) then right = right + 1 end
end
for _ in pairs(refs) do count = count + 1 end
T.eq(count, 595, "595 found")
T.eq(right, 596, "each found SKU has its own inventory item GID (STK-00001 counted twice)")
T.eq(refs[ODD] and refs[ODD].inventory_item_id, gid(ODD), "a SKU with quotes, spaces and a colon is found")
T.eq(table.concat(missing, ","), table.concat(unknown, ","), "the unknown SKUs are missing, in order")
local back = json.decode(json.encode(refs["STK-00002"]) or "")
T.ok(back and back.inventory_item_id == gid("STK-00002") and next(back, next(back)) == nil, "a ref is plain JSON: the id only")
local r2, m2 = stock.lookup(ctx, { "MUG-RED", "mug-red-x" })
T.eq(r2 and r2["MUG-RED"] and r2["MUG-RED"].inventory_item_id, gid("MUG-RED"), "a catalog SKU")
T.eq(m2 and table.concat(m2, ","), "mug-red-x", "only exact SKUs count")

---------------------------------------------------------------- push 300
local items, before = {}, sim_call("GET", "/_sim/stock").stock
for i = 1, 300 do
  local s = string.format("STK-%05d", i)
  items[i] = { sku = s, ref = refs[s], quantity = (i * 7) % 50, previous = before[s][PRIMARY] }
end
reset()
local all_ok, results = true, {}
for first = 1, #items, stock.batch_max do -- as the engine sends them: batch_max a call
  local batch = table.move(items, first, math.min(#items, first + stock.batch_max - 1), 1, {})
  local res, err = stock.push(ctx, batch, { key = "outbox-1-" .. first })
  if not res then all_ok = false; print(err) end
  for k, v in pairs(res or {}) do results[k] = v end
end
local st = stats()
T.eq(st.stock_push_requests, 2, "300 quantities: 2 calls")
local ok_n, exact = 0, 0
local after = sim_call("GET", "/_sim/stock").stock
for _, it in ipairs(items) do
  if results[it.sku] == "ok" then ok_n = ok_n + 1 end
  if after[it.sku][PRIMARY] == it.quantity and after[it.sku][EAST] == before[it.sku][EAST] then exact = exact + 1 end
end
T.ok(all_ok, "both calls answered")
T.eq(ok_n, 300, "300 ok")
T.eq(exact, 300, "the shop's figures are exactly the ones pushed, at the primary location only")
local got = stock.read(ctx, items)
local same = 0
for _, it in ipairs(items) do if got and got[it.sku] == it.quantity then same = same + 1 end end
T.eq(same, 300, "read gives them back")
T.eq(stats().stock_read_requests, 2, "read of 300 at one location: 2 calls")
local too_many = table.move(items, 1, 251, 1, {})
local none, terr = stock.push(ctx, too_many, { key = "x" })
T.ok(none == nil and tostring(terr):find("more than 250", 1, true), "251 quantities are refused before sending", terr)

-- a figure at the second location, by its id; the primary one is left alone
local e1 = { sku = "STK-00400", ref = refs["STK-00400"], location = EAST, quantity = 9, previous = before["STK-00400"][EAST] }
local r = stock.push(ctx, { e1 }, { key = "east-1" })
T.eq(r and r["STK-00400"], "ok", "a push to East Coast 3PL")
T.eq(figure("STK-00400", EAST), 9, "the East Coast 3PL figure is set")
T.eq(figure("STK-00400"), before["STK-00400"][PRIMARY], "the primary figure is not")

---------------------------------------------------------------- a sale between our read and our push
-- the items we push: the lines of an order not placed yet and two SKUs it does not have
local watch = {}
for _, v in ipairs(sim.variants) do
  if not v.sku:match("^STK") and v.sku ~= ODD then watch[#watch + 1] = v.sku end
end
local wrefs = assert(stock.lookup(ctx, watch))
local seen = assert(stock.read(ctx, (function()
  local l = {}
  for i, s in ipairs(watch) do l[i] = { sku = s, ref = wrefs[s] } end
  return l
end)()))
local placed = sim_call("POST", "/_sim/orders", { count = 1 }) -- the shop sells now
local order = sim_call("GET", "/_sim/orders/" .. string.format("%d", placed.ids[1]))
local sold, batch = {}, {}
for _, li in ipairs(order.line_items) do
  if wrefs[li.sku] then sold[li.sku] = (sold[li.sku] or 0) + li.quantity end
end
for s in pairs(sold) do batch[#batch + 1] = { sku = s, ref = wrefs[s], quantity = 40, previous = seen[s] } end
local others = {}
for _, s in ipairs(watch) do
  if not sold[s] and #others < 2 then
    others[#others + 1] = s
    batch[#batch + 1] = { sku = s, ref = wrefs[s], quantity = 41, previous = seen[s] }
  end
end
T.ok(next(sold) ~= nil and #others == 2, "the order has catalog lines; two other SKUs beside them")
local stale_right = 0
for s, q in pairs(sold) do if figure(s) == seen[s] - q then stale_right = stale_right + 1 end end
T.eq(stale_right, #batch - 2, "the order lowered the shop's figures at the primary location")
reset()
local res, perr = stock.push(ctx, batch, { key = "outbox-7" })
T.ok(res ~= nil, "the push answers", perr)
res = res or {}
local stale_ok, untouched = 0, 0
for s, q in pairs(sold) do
  local x = res[s]
  if type(x) == "table" and x.stale == true and x.current == seen[s] - q then stale_ok = stale_ok + 1 end
  if figure(s) == seen[s] - q then untouched = untouched + 1 end
end
T.eq(stale_ok, #batch - 2, "each sold SKU: stale, with the shop's figure now")
for _, s in ipairs(others) do
  T.eq(type(res[s]) == "table" and res[s].again, true, "the other SKU " .. s .. " is reported not applied, to send again")
  T.eq(figure(s), seen[s], "and the shop's figure of " .. s .. " is unchanged")
end
T.eq(untouched, #batch - 2, "the sale is not overwritten")
T.eq(stats().stock_push_requests, 1, "one push call")
T.eq(stats().stock_read_requests, 1, "one read for the stale figures")
-- the engine imports the order, then pushes again from the shop's figures: a new operation,
-- even under the same outbox key (the Shopify key covers the figures)
for _, it in ipairs(batch) do
  if sold[it.sku] then it.previous = res[it.sku].current end
end
res = stock.push(ctx, batch, { key = "outbox-7" }) or {}
local all = 0
for _, it in ipairs(batch) do
  if res[it.sku] == "ok" and figure(it.sku) == it.quantity then all = all + 1 end
end
T.eq(all, #batch, "pushed again from the shop's figures: every one applied")
T.eq(stats().stock_push_replays, 0, "not taken for a repeat of the stale call")

-- a figure changed at the shop (POST /_sim/stock) between read and push
local s1 = "STK-00500"
local was = figure(s1)
sim_call("POST", "/_sim/stock", { sku = s1, quantity = was - 2 })
res = stock.push(ctx, { { sku = s1, ref = refs[s1], quantity = 77, previous = was } }, { key = "outbox-8" }) or {}
T.ok(type(res[s1]) == "table" and res[s1].stale and res[s1].current == was - 2, "a figure changed at the shop: stale",
     json.encode(res[s1]))
T.eq(figure(s1), was - 2, "and left as the shop has it")

---------------------------------------------------------------- the same key twice
local s2 = "STK-00501"
local start = figure(s2)
local item = { sku = s2, ref = refs[s2], quantity = start + 5, previous = start }
reset()
local a = stock.push(ctx, { item }, { key = "outbox-9" })
T.eq(a and a[s2], "ok", "first push: ok")
T.eq(figure(s2), start + 5, "applied")
sim_call("POST", "/_sim/stock", { sku = s2, quantity = start + 1 }) -- the shop moves on
local b = stock.push(ctx, { item }, { key = "outbox-9" }) -- a retry of the same outbox entry
T.eq(b and b[s2], "ok", "the same key again: the first answer")
T.eq(figure(s2), start + 1, "applied once: the shop's later figure stands")
local st2 = stats()
T.eq(st2.stock_push_requests, 2, "both calls reached the shop")
T.eq(st2.stock_push_replays, 1, "the second was a replay")
T.ok(stock._idempotency_key("k", {}) ~= stock._idempotency_key("k2", {}), "another outbox key, another Shopify key")

---------------------------------------------------------------- a 429 during a push
local s3 = "STK-00502"
local f3 = figure(s3)
reset()
sim_call("POST", "/_sim/faults", { status = 429, count = 2, on = "any", retry_after = "0.1" })
local retries = ctx.stats.retries
res, perr = stock.push(ctx, { { sku = s3, ref = refs[s3], quantity = f3 + 3, previous = f3 } }, { key = "outbox-10" })
T.eq(res and res[s3], "ok", "a push through two 429s: ok", perr)
T.eq(ctx.stats.retries - retries, 2, "ctx retried twice")
T.eq(stats().by_status["429"], 2, "the shop answered 429 twice")
T.eq(figure(s3), f3 + 3, "applied once")

---------------------------------------------------------------- GraphQL THROTTLED
local s4 = "STK-00503"
local f4 = figure(s4)
reset()
sim_call("POST", "/_sim/graphql", { throttle = 1 })
res, perr = stock.push(ctx, { { sku = s4, ref = refs[s4], quantity = f4 + 1, previous = f4 } }, { key = "outbox-11" })
T.eq(res and res[s4], "ok", "THROTTLED once: waited out", perr)
T.eq(stats().graphql_throttled, 1, "one THROTTLED answer")
T.eq(figure(s4), f4 + 1, "applied")
sim_call("POST", "/_sim/graphql", { throttle = 50 })
res, perr = stock.push(ctx, { { sku = s4, ref = refs[s4], quantity = f4 + 9, previous = f4 + 1 } }, { key = "outbox-12" })
T.ok(res == nil and tostring(perr):find("^throttled"), "THROTTLED on every try: nil, err to retry later", perr)
T.eq(stats().graphql_throttled, 5, "1 + 3 tries, then given up")
T.eq(figure(s4), f4 + 1, "nothing applied")
sim_call("POST", "/_sim/graphql", { throttle = 0 })

-- the budget spent: the next query waits for its points before it is sent (the budget each
-- answer reports and what the operation asked for last time), so it is never THROTTLED
sim_call("POST", "/_sim/graphql", { maximum = 600, restore = 500 })
reset()
local t0 = require("cartwright.task").monotonic()
local r3, m3 = stock.lookup(ctx, table.move(skus, 1, 300, 1, {}))
local took = require("cartwright.task").monotonic() - t0
T.ok(r3 ~= nil and #m3 == 0, "300 SKUs with a budget of 600 points: found", m3)
T.eq(stats().graphql_throttled, 0, "the second page waited for its points: not THROTTLED")
T.eq(stats().stock_lookup_requests, 2, "2 calls, none sent twice")
T.ok(took > 0.5 and took < 2, "waited for the points (502 asked, ~98 left, 500/s)", took)
sim_call("POST", "/_sim/graphql", { maximum = 20000, restore = 1000 })

---------------------------------------------------------------- items the shop cannot take
res = stock.push(ctx, {
  { sku = "NOREF", ref = {}, quantity = 1 },
  { sku = "BADLOC", ref = refs["STK-00504"], location = "Somewhere", quantity = 1 },
  { sku = "STK-00505", ref = { inventory_item_id = ITEM .. "1" }, quantity = 1 },
}, { key = "outbox-13" }) or {}
T.ok(type(res.NOREF) == "table" and res.NOREF.error:find("no inventory_item_id", 1, true), "a ref without an id: error")
T.ok(type(res.BADLOC) == "table" and res.BADLOC.error:find("not a Shopify location", 1, true), "a location that is no id: error")
T.ok(type(res["STK-00505"]) == "table" and res["STK-00505"].error:find("INVALID_INVENTORY_ITEM", 1, true),
     "an item the shop does not know: its user error", json.encode(res["STK-00505"]))

---------------------------------------------------------------- a token from the client-credentials grant
local cc_cart, cc_conn = assert(carts.connect(assert(config.load(dir .. "/cw.lua")), "cc"))
local cc = context.new(cc_cart, cc_conn)
local s5 = "STK-00506"
local f5 = figure(s5)
res, perr = stock.push(cc, { { sku = s5, ref = refs[s5], quantity = f5 + 2, previous = f5 } }, { key = "outbox-14" })
T.eq(res and res[s5], "ok", "a push with a token from the grant", perr)
sim_call("POST", "/_sim/app", { expire = true }) -- the shop revokes it
res, perr = stock.push(cc, { { sku = s5, ref = refs[s5], quantity = f5 + 4, previous = f5 + 2 } }, { key = "outbox-15" })
T.eq(res and res[s5], "ok", "after a 401: a new token, and the push goes through", perr)
T.eq(sim_call("GET", "/_sim/app").issued, 2, "two tokens issued")
T.eq(figure(s5), f5 + 4, "both applied")

---------------------------------------------------------------- the simulator refuses what Shopify refuses
local function raw_gql(query, variables)
  local resp = assert(http.request{ method = "POST", url = sim.url .. "/admin/api/2026-10/graphql.json",
    body = json.encode({ query = query, variables = variables }),
    headers = { ["Content-Type"] = "application/json", ["X-Shopify-Access-Token"] = "shpat_test" } })
  return json.decode(resp.body) or {}
end
local one = { inventoryItemId = gid("STK-00507"), locationId = "gid://shopify/Location/" .. PRIMARY, quantity = 1 }
local MUT = "mutation($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input)%s"
  .. " { userErrors { code field message } } }"
local f7 = figure("STK-00507")
local d1 = raw_gql(MUT:format(""), { input = { name = "available", reason = "correction",
  quantities = { { inventoryItemId = one.inventoryItemId, locationId = one.locationId, quantity = 1, changeFromQuantity = json.null } } } })
T.ok(d1.errors and d1.errors[1].message:find("@idempotent", 1, true), "sim: no @idempotent directive: an error (2026-04 on)")
local d2 = raw_gql(MUT:format(' @idempotent(key: "k-raw-1")'), { input = { name = "available", reason = "correction", quantities = { one } } })
T.ok(d2.errors and d2.errors[1].message:find("changeFromQuantity", 1, true), "sim: changeFromQuantity left out: an error")
local d3 = raw_gql(MUT:format(' @idempotent(key: "k-raw-2")'), { input = { name = "available", reason = "correction",
  quantities = { { inventoryItemId = one.inventoryItemId, locationId = one.locationId, quantity = 1, changeFromQuantity = f7 + 1 } } } })
local ue = d3.data and d3.data.inventorySetQuantities.userErrors[1] or {}
T.eq(ue.code, "CHANGE_FROM_QUANTITY_STALE", "sim: a wrong changeFromQuantity is stale")
T.eq(table.concat(ue.field or {}, "."), "input.quantities.0.changeFromQuantity", "sim: the error names the quantity")
T.ok(d3.extensions and d3.extensions.cost and d3.extensions.cost.throttleStatus.maximumAvailable == 20000,
     "sim: extensions.cost.throttleStatus")
local d4 = raw_gql(MUT:format(' @idempotent(key: "k-raw-2")'), { input = { name = "available", reason = "correction",
  quantities = { { inventoryItemId = one.inventoryItemId, locationId = one.locationId, quantity = 1, changeFromQuantity = f7 } } } })
ue = d4.data and d4.data.inventorySetQuantities.userErrors[1] or {}
T.eq(ue.code, "IDEMPOTENCY_KEY_PARAMETER_MISMATCH", "sim: a key used again with other parameters is refused")
T.eq(figure("STK-00507"), f7, "sim: none of these applied anything")

---------------------------------------------------------------- the loader checks stock.lua
local connector = require "cartwright.connector"
local pdir = T.tmpdir()
local function package(name, stock_src)
  os.execute("mkdir -p " .. T.q(pdir .. "/" .. name))
  T.write(pdir .. "/" .. name .. "/init.lua", string.format(
    'return { name = %q, schema = {}, capabilities = { orders = true, stock = true } }\n', name))
  T.write(pdir .. "/" .. name .. "/orders.lua", "return { fetch_orders = print, normalize = print }\n")
  T.write(pdir .. "/" .. name .. "/stock.lua", stock_src)
end
package("stock_good", "return { batch_max = 10, lookup = print, push = print, read = print }\n")
package("stock_nopush", "return { batch_max = 10, lookup = print }\n")
package("stock_typo", "return { batch_max = 10, lookup = print, push = print, compre = true }\n")
local good, gerr = connector.load("stock_good", carts.common, pdir)
T.ok(good and good.stock and good.stock.batch_max == 10, "a stock.lua with batch_max, lookup and push loads", gerr)
local _, le1 = connector.load("stock_nopush", carts.common, pdir)
T.ok(tostring(le1):find("stock.lua: push is missing (a function)", 1, true), "push is required", le1)
local _, le2 = connector.load("stock_typo", carts.common, pdir)
T.ok(tostring(le2):find("stock.lua: unknown field 'compre'", 1, true), "an unknown field is refused", le2)
os.execute("rm -rf " .. pdir)

sim:close()
os.execute("rm -rf " .. dir)
return T.done()
