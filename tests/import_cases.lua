-- The import cases every connector must pass, run in-process against its simulator over
-- real HTTP on 127.0.0.1 into a real SQLite file. Each test_import_<cart>.lua calls run(adapter).
-- adapter = { cart = "shopify", downloadable = fn(doc) -> bool, id = fn(doc) -> string,
--             settings = "lua text of the cart's credentials", sim_opts = {...},
--             cancel = { status = ... } (change that leaves the download statuses) }
local T = require "t"
local task = require "cartwright.task"
local config = require "cartwright.config"
local carts = require "cartwright.carts"
local importer = require "cartwright.flows.orders_in"
local rules = require "cartwright.rules"
local json = require "cjson.safe"

local M = {}

local function new_env(a, sim, extra, dir)
  dir = dir or T.tmpdir()
  local cfgpath = dir .. "/cw.lua"
  T.write(cfgpath, string.format([[
db = %q
cart "c1" {
  connector = %q, url = %q, %s
  batch_size = 50, timeout = 1, retry_base_seconds = 0.02, retry_max_seconds = 0.2, max_attempts = 12,
  rate_limit = { capacity = 1000, per_second = 1000 }, %s
}
]], dir .. "/cw.db", a.cart, sim.url, a.settings, extra or ""))
  local cfg = assert(config.load(cfgpath))
  local cart, conn = assert(carts.load(cfg, "c1"))
  local db = assert(carts.open_db(cfg))
  return { cfg = cfg, cart = cart, conn = conn, db = db, dir = dir }
end

local function import(env, opts)
  local run = assert(importer.new(env.db, env.cart, env.conn, opts or {}))
  return run:run()
end

-- The ids the cart would let us download now.
local function expected(a, sim)
  local set, n = {}, 0
  for _, doc in ipairs(sim.orders) do
    if a.downloadable(doc) then set[a.id(doc)] = true n = n + 1 end
  end
  return set, n
end

local function stored(db)
  local set, n = {}, 0
  for _, row in ipairs(assert(db:orders_list{})) do
    if set[row.external_id] then return nil, "duplicate " .. row.external_id end
    set[row.external_id] = row
    n = n + 1
  end
  return set, n
end

local function env_count(db)
  return assert(db:orders_count{})
end

-- Every expected id is stored, and nothing else unless `also` allows it.
local function check_exact(a, sim, db, name, also)
  local want, nwant = expected(a, sim)
  local have, nhave = stored(db)
  T.ok(have ~= nil, name .. ": no duplicate orders", nhave)
  if not have then return end
  local missing, extra = 0, 0
  for id in pairs(want) do if not have[id] then missing = missing + 1 end end
  for id in pairs(have) do if not want[id] and not (also and also[id]) then extra = extra + 1 end end
  T.eq(missing, 0, name .. ": no expected order missing (" .. nwant .. " expected)")
  T.eq(extra, 0, name .. ": nothing stored that should not be")
  local c = env_count(db)
  T.eq(c.n, c.distinct_n, name .. ": (cart, external_id) unique")
  return have, nhave
end

function M.run(a)
  local sim_opts = a.sim_opts or {}
  sim_opts.orders = sim_opts.orders or 600
  sim_opts.seed = sim_opts.seed or 7
  sim_opts.port = 0
  local sim = require("sim." .. a.cart).start(sim_opts)
  local env = new_env(a, sim)

  -- 1. a full first import over many pages
  local st, err = import(env)
  T.ok(st ~= nil, a.cart .. ": first import succeeds", err)
  if not st then return T.done() end
  local _, nwant = expected(a, sim)
  T.ok(st.seen >= 500, a.cart .. ": saw 500+ orders", st.seen)
  T.ok(nwant >= 200, a.cart .. ": many of them downloadable", nwant)
  T.ok(st.pages >= 10, a.cart .. ": paged through many pages", st.pages)
  T.eq(st.seen, st.imported + st.skipped_status + st.skipped_early + st.unchanged + st.updated,
       a.cart .. ": every order seen is accounted for")
  T.eq(st.imported, nwant, a.cart .. ": imported exactly the downloadable orders")
  check_exact(a, sim, env.db, "first import")
  local wm = env.db:cart_get{ name = "c1" }.watermark
  T.ok(wm ~= nil, a.cart .. ": watermark set", wm)

  -- 2. a second run changes nothing
  st = assert(import(env))
  T.eq(st.imported, 0, a.cart .. ": rerun imports nothing new")
  T.eq(st.updated, 0, a.cart .. ": rerun rewrites nothing")
  check_exact(a, sim, env.db, "rerun")

  -- 3. orders added and changed while a run pages through
  local some_id = a.id(sim.orders[#sim.orders])
  local target_rec
  for _, rec in ipairs(sim.records) do if a.downloadable(rec.doc) then target_rec = rec end end
  local target = a.id(target_rec.doc)
  local added = {}
  sim:add_orders(60) -- makes the next window several pages long
  local base_page = sim.pages_served
  sim.on_page = function(s, n)
    if n == base_page + 2 then
      for _, id in ipairs(s:add_orders(7)) do added[#added + 1] = id end
      assert(s:change_order(target_rec.id, a.cancel))
    end
  end
  st = assert(import(env))
  sim.on_page = nil
  st = assert(import(env)) -- the next incremental run picks up what changed behind the cursor
  local have = check_exact(a, sim, env.db, "changes during a run", { [target] = true })
  T.ok(have and have[target] ~= nil, a.cart .. ": changed order still stored")
  T.ok(have and have[target] and have[target].status == "cancelled", a.cart .. ": change applied (cancelled)",
       have and have[target] and have[target].status)
  local row = env.db:order_get{ cart = "c1", external_id = target }
  local events = assert(env.db:order_events{ order_id = row.id })
  T.ok(#events >= 2 and events[#events].kind == "updated", a.cart .. ": change recorded as an event",
       json.encode(events))
  local nadded = 0
  for _, id in ipairs(added) do if have and have[tostring(id)] then nadded = nadded + 1 end end
  T.ok(#added == 7, a.cart .. ": simulator added orders mid-run")
  _ = some_id

  -- 4. a 429 storm, 500s and a timeout are retried; nothing is lost
  sim:add_orders(30)
  sim:fault{ status = 429, count = 6 }
  sim:fault{ status = 500, count = 2 }
  sim:fault{ status = 503, count = 1 }
  sim:fault{ delay = 2, count = 1 }
  st, err = import(env)
  T.ok(st ~= nil, a.cart .. ": import through 429/500/503/timeout succeeds", err)
  T.ok(st and st.retries >= 10, a.cart .. ": every fault was retried", st and st.retries)
  check_exact(a, sim, env.db, "after faults", { [target] = true })

  -- 5. a truncated body and a malformed one fail the run clearly; a rerun completes it
  sim:add_orders(120)
  for _, kind in ipairs{ "truncate", "malformed" } do
    local before = env_count(env.db).n
    sim:fault{ [kind] = true, count = 1 }
    st, err = import(env)
    if st then
      T.ok(true, a.cart .. ": " .. kind .. " body: retried by the connector")
    else
      T.match(err, "JSON", a.cart .. ": " .. kind .. " body: error says the JSON is bad")
      T.ok(env_count(env.db).n >= before, a.cart .. ": " .. kind .. " body: nothing stored was lost")
    end
  end
  st, err = import(env)
  T.ok(st ~= nil, a.cart .. ": rerun after bad bodies succeeds", err)
  check_exact(a, sim, env.db, "after bad bodies", { [target] = true })

  -- 6. a cart that keeps failing: clear error after the last attempt, nothing lost
  sim:add_orders(5)
  local before = env_count(env.db).n
  local wm_before = env.db:cart_get{ name = "c1" }.watermark
  sim:fault{ status = 500, count = 100, on = "any" }
  st, err = import(env)
  T.eq(st, nil, a.cart .. ": persistent 500s fail the run")
  T.match(err, "http 500 after 12 attempts", a.cart .. ": error names the status and the attempts")
  T.ok(env_count(env.db).n == before, a.cart .. ": stored orders untouched")
  T.eq(env.db:cart_get{ name = "c1" }.watermark, wm_before, a.cart .. ": watermark did not move")
  sim.faults = {}
  st = assert(import(env))
  check_exact(a, sim, env.db, "after the outage", { [target] = true })

  -- 7. two carts with the same order numbers stay apart
  local env2 = new_env(a, sim, 'order_prefix = "B-",', env.dir)
  env2.db:close()
  local dir2 = env.dir
  T.write(dir2 .. "/two.lua", string.format([[
db = %q
cart "c1" { connector = %q, url = %q, %s batch_size = 100, rate_limit = { capacity = 1000, per_second = 1000 } }
cart "c2" { connector = %q, url = %q, %s batch_size = 100, order_prefix = "B-", rate_limit = { capacity = 1000, per_second = 1000 } }
]], dir2 .. "/two.db", a.cart, sim.url, a.settings, a.cart, sim.url, a.settings))
  local cfg2 = assert(config.load(dir2 .. "/two.lua"))
  local db2 = assert(carts.open_db(cfg2))
  for _, name in ipairs{ "c1", "c2" } do
    local c, conn = assert(carts.load(cfg2, name))
    assert(assert(importer.new(db2, c, conn, {})):run())
  end
  local c1 = assert(db2:orders_count{ cart = "c1" })
  local c2 = assert(db2:orders_count{ cart = "c2" })
  local _, nnow = expected(a, sim)
  T.ok(c1.n >= nnow and c1.n == c2.n, a.cart .. ": both carts hold all their orders", c1.n .. " vs " .. c2.n)
  local all = assert(db2:orders_count{})
  T.eq(all.n, c1.n + c2.n, a.cart .. ": same ids in two carts are two orders")
  local numbers, clash = {}, 0
  for _, r in ipairs(assert(db2:orders_list{})) do
    if numbers[r.number] then clash = clash + 1 end
    numbers[r.number] = true
  end
  T.eq(clash, 0, a.cart .. ": order numbers never collide (prefix)")
  db2:close()

  -- 8. dry run writes nothing; --since never moves the watermark back
  sim:add_orders(10)
  local n0 = env_count(env.db).n
  local wm0 = env.db:cart_get{ name = "c1" }.watermark
  st = assert(import(env, { dry_run = true }))
  T.ok(st.imported >= 1, a.cart .. ": dry run counts new orders", st.imported)
  T.eq(env_count(env.db).n, n0, a.cart .. ": dry run stores nothing")
  T.eq(env.db:cart_get{ name = "c1" }.watermark, wm0, a.cart .. ": dry run keeps the watermark")
  st = assert(import(env, { since = "2020-01-01" }))
  T.ok(env.db:cart_get{ name = "c1" }.watermark >= wm0, a.cart .. ": --since did not move the watermark back")
  check_exact(a, sim, env.db, "after --since", { [target] = true })

  -- 9. rules that fail hold the order with name and file:line; the import goes on
  local rdir = env.dir .. "/rules"
  os.execute("mkdir -p " .. rdir)
  T.write(rdir .. "/explode.lua", "return { apply = function(order)\n  if order.external_id:sub(-1) == '3' then error('no 3s here') end\nend }\n")
  T.write(rdir .. "/spin.lua", "return { apply = function(order)\n  if order.external_id:sub(-1) == '5' then while true do end end\nend }\n")
  T.write(rdir .. "/sneaky.lua", "return { apply = function(order)\n  if order.external_id:sub(-1) == '7' then order.callback = function() end end\nend }\n")
  rules.clear_cache()
  local env3 = new_env(a, sim, 'rules = { "status_map", "explode", "spin", "sneaky" },', T.tmpdir())
  local run = assert(importer.new(env3.db, env3.cart, env3.conn, { rules_dir = rdir }))
  st = assert(run:run())
  local _, nexp = expected(a, sim)
  T.eq(st.imported, nexp, a.cart .. ": every order stored despite failing rules")
  local held3, held5, held7 = 0, 0, 0
  for _, r in ipairs(assert(env3.db:orders_list{ held = true })) do
    if r.hold_rule == "explode" and r.hold_reason:find("rules/explode%.lua:2: no 3s here") then held3 = held3 + 1 end
    if r.hold_rule == "spin" and r.hold_reason:find("rules/spin%.lua:2: instruction limit exceeded") then held5 = held5 + 1 end
    if r.hold_rule == "sneaky" and r.hold_reason:find("%[rule sneaky%] left something that is not plain data in the order: order%.callback holds a function") then held7 = held7 + 1 end
  end
  local w3, w5, w7 = 0, 0, 0
  for id in pairs(expected(a, sim)) do
    if id:sub(-1) == "3" then w3 = w3 + 1 end
    if id:sub(-1) == "5" then w5 = w5 + 1 end
    if id:sub(-1) == "7" then w7 = w7 + 1 end
  end
  T.eq(held3, w3, a.cart .. ": erroring rule holds its orders with file:line")
  T.eq(held5, w5, a.cart .. ": looping rule stopped and holds its orders with file:line")
  T.ok(w7 > 0 and held7 == w7, a.cart .. ": an order a rule left a function in is held by that rule, the page goes on", held7 .. "/" .. w7)
  env3.db:close()
  os.execute("rm -rf " .. env3.dir)

  -- 10. an order the connector cannot read is kept raw and held, never dropped
  -- (tests/connectors/brittle_<cart>.lua: the real connector, failing on marked orders)
  local victim
  for _, rec in ipairs(sim.records) do if a.downloadable(rec.doc) then victim = rec end end
  local envb = new_env(a, sim, "", T.tmpdir())
  envb.cart.connector = "brittle_" .. a.cart
  envb.conn = assert(carts.connector("brittle_" .. a.cart))
  assert(import(envb))
  assert(sim:change_order(victim.id, { fields = { cartwright_test_break = true } }))
  st = assert(import(envb))
  local vrow = envb.db:order_get{ cart = "c1", external_id = a.id(victim.doc) }
  T.ok(type(vrow) == "table", a.cart .. ": unreadable order still stored")
  T.eq(vrow and vrow.hold_rule, "normalize", a.cart .. ": held by normalize")
  T.match(vrow and vrow.hold_reason, "cannot normalize: unreadable test order", a.cart .. ": with the reason")
  local vev = vrow and assert(envb.db:order_events{ order_id = vrow.id }) or {}
  local kinds = {}
  for i, e in ipairs(vev) do kinds[i] = e.kind end
  T.ok(kinds[1] == "imported" or kinds[1] == "held", a.cart .. ": events: the first says it arrived", table.concat(kinds, ","))
  T.match(table.concat(kinds, ","), ",updated,held$", a.cart .. ": events: then updated and held")
  T.match(vev[#vev] and vev[#vev].detail, "cannot normalize", a.cart .. ": the held event says why")
  local raws = vrow and assert(envb.db:orders_raw{ cart = "c1", after = vrow.id - 1, limit = 1 }) or {}
  T.ok(raws[1] and raws[1].raw:find("cartwright_test_break", 1, true) ~= nil, a.cart .. ": the cart's raw bytes are kept")
  envb.db:close()
  os.execute("rm -rf " .. envb.dir)

  -- 11. earliest_order_date: nothing older is imported
  local mid = sim.orders[#sim.orders // 2]
  local cut = a.created(mid):sub(1, 10)
  local env4 = new_env(a, sim, string.format("earliest_order_date = %q,", cut), T.tmpdir())
  st = assert(import(env4))
  local older = 0
  for _, r in ipairs(assert(env4.db:orders_list{})) do if r.created_at < cut then older = older + 1 end end
  T.ok(st.skipped_early > 0 or st.seen < #sim.orders // 2 + 50, a.cart .. ": older orders not downloaded or skipped")
  T.eq(older, 0, a.cart .. ": no order created before earliest_order_date stored")
  T.ok(st.imported > 0, a.cart .. ": newer orders imported", st.imported)
  env4.db:close()
  os.execute("rm -rf " .. env4.dir)

  -- 12. an older copy of a stored order (as a re-read window or a late retry brings) is ignored
  local stale
  for _, rec in ipairs(sim.records) do
    if a.downloadable(rec.doc) and env.db:order_get{ cart = "c1", external_id = a.id(rec.doc) } then stale = rec end
  end
  local kept = env.db:order_get{ cart = "c1", external_id = a.id(stale.doc) }
  local t_old = require("cartwright.time").parse(kept.updated_at) - 7200
  assert(sim:change_order(stale.id, { status = a.cancel.status or a.cancel.status_id, status_id = a.cancel.status_id, at = t_old }))
  st = assert(import(env, { since = "2020-01-01" }))
  local now_row = env.db:order_get{ cart = "c1", external_id = a.id(stale.doc) }
  T.eq(now_row.updated_at, kept.updated_at, a.cart .. ": an older copy does not overwrite the stored order")
  T.eq(now_row.status, kept.status, a.cart .. ": status kept from the newer copy")

  env.db:close()
  sim:close()
  os.execute("rm -rf " .. env.dir)
  return T.done()
end

return M
