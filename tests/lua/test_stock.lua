-- Stock out through the real binary: the model and commands (on hand, reserved from imported
-- orders, what each cart is shown with warehouses, minimum and aliases), CSV imports all or
-- nothing, and the push to two test carts over real HTTP (tests/stock/serve.lua, connector
-- tests/connectors/stocktest): only changes, batches of batch_max, missing SKUs reported once,
-- an import lowering the other cart, a sale at the cart not overwritten, 500s retried, the
-- outbox written before sending (kill -9 mid-push, then the rerun ends right).
local T = require "t"
local http = require "cartwright.http"
local json = require "cjson.safe"

local dir = T.tmpdir()

local function cart(qty, skus)
  local p = T.spawn({ "run", "tests/stock/serve.lua", skus, tostring(qty) })
  local url
  for _ = 1, 200 do -- bounded: 200 x 25 ms
    url = p.out():match("(http://127%.0%.0%.1:%d+)")
    if url then break end
    os.execute("sleep 0.025")
  end
  assert(url, "stock cart did not start: " .. p.err())
  p.url = url
  return p
end
-- west knows the items by their "west" aliases (C has none; G's alias NOPE is no product there)
local east, west = cart(100, "A,B,C,D,E,F,G"), cart(100, "W-A,W-B,W-D,W-E,W-F,C")

local function call(c, path, body)
  local res = assert(http.request{ method = body and "POST" or "GET", url = c.url .. path,
    body = body and json.encode(body), headers = { ["Content-Type"] = "application/json" } })
  return json.decode(res.body)
end

local cfg = T.write(dir .. "/cw.lua", string.format([[
db = %q
cart "east" {
  connector = "stocktest", url = %q, sync_inventory = true, rules = { "minimum_inventory" },
  inventory = { warehouses = { "main", "east" }, minimum = 3 }, max_attempts = 2, retry_base_seconds = 0.01,
}
cart "west" {
  connector = "stocktest", url = %q, sync_inventory = true, rules = { "minimum_inventory" },
  inventory = { alias = "west" }, max_attempts = 2, retry_base_seconds = 0.01,
}
cart "fba" { connector = "stocktest", url = %q, marketplace_fulfilled = true, rules = { "minimum_inventory" } }
]], dir .. "/cw.db", east.url, west.url, west.url))
local function cw(...) return T.cw({ "run", "tests/tools/cli.lua", "-c", cfg, ... }, nil, { timeout = 60 }) end
local function lines(out)
  local list = {}
  for l in out:gmatch("[^\n]+") do list[#list + 1] = json.decode(l) end
  return list
end
local function shown(sku)
  local _, out = cw("stock", "--sku", sku, "--json")
  local r = lines(out)[1] or { carts = {} }
  local by = {}
  for _, c in ipairs(r.carts) do by[c.cart] = c end
  return r, by
end

-- stock set before any alias: east gets every SKU of main+east; west (alias "west") nothing
local code, out, err = cw("stock", "set", "A", "10")
T.eq(code, 0, "stock set: exit 0", err)
T.match(out, "A in main: on hand 10", "stock set says what it set")
T.match(out, "east: sent 1 figures in 1 batches", "and pushed to east")
T.match(out, "west: sent 0 figures in 0 batches; 1 SKUs without the alias skipped", "west: unaliased A skipped, never zeroed")
local s = call(east, "/_t/state")
T.eq(s.stock.A, 10, "east shows A = 10")
T.eq(s.stock.B, 100, "east: B untouched (we hold no figure for B yet)")
T.eq(call(west, "/_t/state").stock["W-A"], 100, "west: W-A untouched (no alias yet)")

-- CSV: a bad row names its line, nothing applied
T.write(dir .. "/bad.csv", "sku,warehouse,quantity\nB,main,5\nC,main,-1\n")
code, out, err = cw("stock", "import", dir .. "/bad.csv")
T.eq(code, 2, "stock import with a bad row: exit 2")
T.match(err, "bad%.csv:3: quantity must be a whole number from 0 %(got '%-1'%)", "names file:line")
T.eq(shown("B").sku, nil, "nothing from the bad file applied")
T.write(dir .. "/dup.csv", "sku,warehouse,quantity\nB,main,5\nB,main,6\n")
code, _, err = cw("stock", "import", dir .. "/dup.csv")
T.eq(code, 2, "a SKU twice in one warehouse: exit 2")
T.match(err, "dup%.csv:3: sku B in warehouse main is already on line 2", "names both lines")

-- aliases for west (C has none), then a good CSV: 7 figures, east in batches of 3
T.write(dir .. "/alias.csv", "sku,type,alias\nA,west,W-A\nB,west,W-B\nD,west,W-D\nE,west,W-E\nF,west,W-F\nG,west,NOPE\n")
code, out, err = cw("alias", "import", dir .. "/alias.csv")
T.eq(code, 0, "alias import: exit 0", err)
T.write(dir .. "/ok.csv", "sku,warehouse,quantity\nA,main,10\nB,main,5\nB,east,2\nB,west,40\nC,main,2\nD,main,7\nE,main,8\nF,main,9\nG,main,1\n")
code, out, err = cw("stock", "import", dir .. "/ok.csv", "--json")
T.eq(code, 0, "stock import: exit 0", err)
local pushes = {}
for _, l in ipairs(lines(out)) do if l.push then pushes[l.push] = l end end
T.eq(pushes.east and pushes.east.sent, 6, "east: only the 6 changed figures sent (A was 10 already)")
T.eq(pushes.east and pushes.east.batches, 2, "east: in 2 batches (batch_max 3)")
T.eq(pushes.west and #pushes.west.missing_new, 1, "west: one SKU not found at the cart (NOPE)")
T.eq(pushes.west and pushes.west.unaliased[1], "C", "west: C has no alias: skipped")
s = call(east, "/_t/state")
local sizes = {}
for i, b in ipairs(s.batches) do sizes[i] = string.format("%d", b) end
T.eq(table.concat(sizes, ","), "1,3,3", "east's push calls carried 1, then 3 and 3 figures")
-- east: main+east, minimum 3 -> B 7, C 2 -> 0, G 1 -> 0
T.eq(s.stock.B, 7, "east B = main 5 + east 2 (west's 40 not counted)")
T.eq(s.stock.C, 0, "east C: 2 is below the minimum 3 -> 0")
T.eq(s.stock.G, 0, "east G: 1 is below the minimum -> 0")
local w = call(west, "/_t/state")
T.eq(w.stock["W-B"], 47, "west B = every warehouse (5 + 2 + 40)")
T.eq(w.stock.C, 100, "west C untouched (no alias)")

-- again: nothing changed, nothing sent; the missing SKU not reported again
code, out = cw("stock", "push", "--all", "--json")
pushes = {}
for _, l in ipairs(lines(out)) do pushes[l.push] = l end
T.eq(pushes.east.sent + pushes.west.sent, 0, "push --all with nothing changed: nothing sent")
T.eq(#pushes.west.missing_new, 0, "the missing SKU is reported once")
T.eq(call(east, "/_t/state").pushes, 3, "and no push call made")
code, out = cw("stock", "unmapped", "west")
T.match(out, "^NOPE ", "stock unmapped west lists NOPE")

-- a sale at east, imported: west (the other cart) lowered; east lowered its own figure itself
call(east, "/_t/order", { sku = "B", qty = 4 })
code, out, err = cw("import", "east")
T.eq(code, 0, "import east: exit 0", err)
T.match(out, "west: sent 1 figures in 1 batches", "the import pushed to west")
T.ok(not out:find("east: sent"), "and not to east, whose sale it was")
T.eq(call(west, "/_t/state").stock["W-B"], 43, "west B = 47 - 4 reserved")
T.eq(call(east, "/_t/state").stock.B, 3, "east B = 3 (the cart's own sale)")
local row, by = shown("B")
T.eq(row.reserved, 4, "stock: B reserved 4")
T.eq(by.east.available, 3, "stock: east is shown 3")
T.eq(by.east.accepted, 7, "stock: east last accepted 7 (before its sale)")
T.eq(by.west.available, 43, "stock: west is shown 43")
T.eq(by.west.accepted, 43, "stock: west last accepted 43")
T.eq(by.west.cart_sku, "W-B", "stock: west knows B as W-B")

-- a sale at east that we have not imported, then a stock change: the push reads the cart's
-- figure, sees it moved, imports east's orders first and then sends the right figure
call(east, "/_t/order", { sku = "D", qty = 2 }) -- east D: 7 -> 5 at the cart
code, out, err = cw("stock", "set", "D", "9")
T.eq(code, 0, "stock set D 9: exit 0", err)
T.match(out, "east: .*its orders imported first", "east: stale, re-imported")
T.eq(call(east, "/_t/state").stock.D, 7, "east D = 9 - 2 (the sale at the cart is kept)")
T.eq(call(west, "/_t/state").stock["W-D"], 7, "west D = 9 - 2 reserved by east's order")
T.eq(call(east, "/_t/state").stock.B, 3, "east B stays 3 (the read found it at the new figure)")
row = shown("D")
T.eq(row.reserved, 2, "stock: D reserved 2 after the re-import")

-- 500s: retried within the try (max_attempts 2), then the entry fails and waits; outbox retry
call(east, "/_t/fail", { status = 500, count = 1 })
code = cw("stock", "set", "E", "20")
T.eq(code, 0, "one 500 during a push: retried, exit 0")
T.eq(call(east, "/_t/state").stock.E, 20, "east E = 20 after the retry")
call(east, "/_t/fail", { status = 500, count = 2 })
code, _, err = cw("stock", "set", "E", "21")
T.eq(code, 1, "500 twice (max_attempts 2): exit 1")
T.match(err, "outbox entry %d+: http 500 after 2 attempts", "says which entry failed")
code, out = cw("outbox", "--failed", "--json")
local failed = lines(out)
T.eq(#failed, 1, "outbox --failed: one entry")
T.eq(failed[1] and failed[1].attempts, 1, "attempted once")
T.ok(failed[1] and failed[1].next_at ~= json.null, "with a next try time")
T.eq(call(east, "/_t/state").stock.E, 20, "east E still 20")
code, out, err = cw("outbox", "retry", tostring(failed[1].id))
T.eq(code, 0, "outbox retry ID: exit 0", err)
T.eq(call(east, "/_t/state").stock.E, 21, "east E = 21 after the retry")
code, out = cw("outbox", "--failed", "--json")
T.eq(out, "", "no failed entries left")

-- kill -9 mid-push: the entry is in the outbox (sending) and the rerun ends right, same key
call(east, "/_t/hang", { seconds = 30 })
local p = T.spawn({ "run", "tests/tools/cli.lua", "-c", cfg, "stock", "set", "F", "30" })
local arrived
for _ = 1, 300 do -- bounded: 300 x 20 ms
  arrived = call(east, "/_t/state").pushes
  if call(east, "/_t/state").stock.F == 30 then break end
  os.execute("sleep 0.02")
end
T.eq(call(east, "/_t/state").stock.F, 30, "the push reached the cart")
p.signal("KILL")
p.wait(10)
p.clean()
code, out = cw("outbox", "--cart", "east", "--json")
local open
for _, e in ipairs(lines(out)) do if e.state ~= "done" then open = e end end
T.eq(open and open.state, "sending", "after kill -9: the entry is left sending")
local keys_before = #call(east, "/_t/state").keys
code, out, err = cw("stock", "push", "--all", "--json")
T.eq(code, 0, "the rerun: exit 0", err)
local r = lines(out)[1]
T.eq(r and r.push, "east", "the rerun pushes east first")
T.eq(r and r.resumed, 1, "the rerun resumed the entry")
s = call(east, "/_t/state")
T.eq(#s.keys, keys_before, "the read showed the figure already set: no second push")
T.eq(s.stock.F, 30, "east F = 30")
T.eq(call(west, "/_t/state").stock["W-F"], 30, "west F = 30 (the killed run never got to west: the rerun did)")
code, out = cw("outbox", "--cart", "east", "--json")
local all_done = true
for _, e in ipairs(lines(out)) do if e.state ~= "done" then all_done = false end end
T.ok(all_done, "every outbox entry done")
T.ok(arrived ~= nil, "pushes counted")

-- a sale at west, the aliased cart: its order line carries W-E, which reserves E (west knows E
-- as W-E): importing it lowers east's E by exactly the sale
local east_e = call(east, "/_t/state").stock.E
call(west, "/_t/order", { sku = "W-E", qty = 3 })
code, out, err = cw("import", "west")
T.eq(code, 0, "import west (aliased): exit 0", err)
T.eq(call(east, "/_t/state").stock.E, east_e - 3, "east E lowered by the aliased cart's sale of W-E")
row = shown("E")
T.eq(row.reserved, 3, "stock: E reserved 3 by west's W-E line")

east.clean()
west.clean()
os.execute("rm -rf " .. dir)
return T.done()
