-- kill -9 at random points of `cartwright import`, against simulators that keep taking new
-- orders and changing old ones, then a rerun: the database must equal the cart.
--
-- Usage: cartwright run tests/reliability/kill9.lua [N] [CART...] [--orders M] [--seed S] [--overlap MIN]
--   N rounds per cart (default 100); carts: shopify bigcommerce woocommerce (default all);
--   M orders each simulator starts with (default per cart, sized so a full import lasts
--   about half a second here); S seeds the round plan and the writer (default: the clock);
--   MIN sets overlap_minutes in the config (default: unset, 5).
--   CW_BIN names the binary. tests/reliability/README.md says what is asserted.
--
-- Each simulator runs in its own process (tests/reliability/sim_server.lua, rate limit off);
-- each import is a real `cartwright import CART` process with a real config and one SQLite
-- file shared by every round and cart. While a cart's rounds run, a writer task in this
-- process adds orders and changes old ones at the cart through its /_sim control endpoints.
local T = require "t"
local task = require "cartwright.task"
local http = require "cartwright.http"
local json = require "cjson.safe"
local jraw = require "cartwright.jsonraw"
local store = require "cartwright.store"
local time = require "cartwright.time"

local null = json.null

---------------------------------------------------------------------------------------------
-- Arguments
---------------------------------------------------------------------------------------------

local N, orders_opt, overlap_opt, seed = 100, nil, nil, math.floor(task.now() * 1000) % 1000000007
local chosen = {}
do
  local i = 1
  while i <= select("#", ...) do -- bounded by the argument count
    local a = select(i, ...)
    if a == "--orders" then
      i = i + 1
      orders_opt = tonumber((select(i, ...)))
    elseif a == "--overlap" then
      i = i + 1
      overlap_opt = tonumber((select(i, ...)))
    elseif a == "--seed" then
      i = i + 1
      seed = tonumber((select(i, ...))) or seed
    elseif tonumber(a) then
      N = math.tointeger(tonumber(a)) or N
    else
      chosen[#chosen + 1] = a
    end
    i = i + 1
  end
end
if #chosen == 0 then chosen = { "shopify", "bigcommerce", "woocommerce" } end
math.randomseed(seed)
local here = (arg and arg[0] or "tests/reliability/kill9.lua"):match("^(.*)/[^/]*$") or "."

---------------------------------------------------------------------------------------------
-- What each cart is: its settings, its download rule, how the writer changes its orders and
-- how the test reads an order's status, modified time and lines from the cart's document
---------------------------------------------------------------------------------------------

local function nonempty(s) return (type(s) == "string" and s ~= "") and s or "" end

-- "sku x qty; ..." of a list of { sku, quantity } (nil and "" SKUs alike)
local function lines_text(list)
  local out = {}
  for i, l in ipairs(list) do out[i] = nonempty(l.sku) .. " x " .. tostring(math.tointeger(l.quantity) or l.quantity) end
  return table.concat(out, "; ")
end

-- One line of the writer's line edits: drop the last line or add one to a quantity.
local function edit_lines(items)
  if #items > 1 and math.random() < 0.4 then
    items[#items] = nil
  else
    local k = math.random(1, #items)
    items[k].quantity = (math.tointeger(items[k].quantity) or 1) + 1
  end
  return { fields = { line_items = items } }
end

local CARTS = {
  shopify = {
    orders = 4000,
    settings = 'token = "shpat_test", batch_size = 250,',
    status = function(doc)
      return doc.cancelled_at ~= null and "cancelled" or doc.closed_at ~= null and "closed" or "open"
    end,
    download = { open = true },
    updated = function(doc) return time.datetime_utc(doc.updated_at) end,
    changes = { { 3, "cancelled" }, { 3, "open" }, { 1, "closed" }, { 1, "paid" }, { 1, "shipped" },
                { 2, "lines" } },
    bulk = { { 2, "shipped" }, { 1, "paid" }, { 1, "cancelled" }, { 1, "open" } },
    edit = function(doc) return edit_lines(doc.line_items) end,
  },
  bigcommerce = {
    orders = 2000,
    settings = 'token = "bc_test", store_hash = "abc123", concurrency = 8, batch_size = 250,',
    status = function(doc) return doc.status end,
    download = { ["Awaiting Fulfillment"] = true, ["Awaiting Shipment"] = true, ["Awaiting Pickup"] = true },
    updated = function(doc) return time.rfc2822_utc(doc.date_modified) end,
    -- the lines are a sub-resource: read through the cart's API
    products = function(sim, id)
      local res, err = http.request{ url = sim.url .. "/stores/abc123/v2/orders/" .. id .. "/products?limit=250",
        headers = { ["X-Auth-Token"] = "bc_test" }, timeout = 30 }
      if not res then return nil, err end
      if res.status == 204 then return {} end
      return jraw.decode(res.body)
    end,
    changes = { { 3, "cancelled" }, { 2, "Awaiting Fulfillment" }, { 1, "Awaiting Shipment" },
                { 1, "Awaiting Pickup" }, { 1, "shipped" }, { 1, "completed" }, { 1, "refunded" } },
    bulk = { { 2, "Awaiting Shipment" }, { 1, "shipped" }, { 1, "cancelled" }, { 1, "Awaiting Fulfillment" } },
  },
  woocommerce = {
    orders = 4000,
    settings = 'consumer_key = "ck_test", consumer_secret = "cs_test", batch_size = 100,',
    status = function(doc) return doc.status end,
    download = { processing = true, ["on-hold"] = true },
    updated = function(doc) return type(doc.date_modified_gmt) == "string" and doc.date_modified_gmt .. "Z" or nil end,
    changes = { { 3, "cancelled" }, { 2, "processing" }, { 1, "on-hold" }, { 1, "completed" },
                { 1, "refunded" }, { 2, "lines" } },
    bulk = { { 2, "on-hold" }, { 1, "completed" }, { 1, "cancelled" }, { 1, "processing" } },
    edit = function(doc) return edit_lines(doc.line_items) end,
  },
}
for _, name in ipairs(chosen) do assert(CARTS[name], "unknown cart " .. name .. " (shopify, bigcommerce, woocommerce)") end

local function weighted(choices)
  local total = 0
  for _, c in ipairs(choices) do total = total + c[1] end
  local r = math.random() * total
  for _, c in ipairs(choices) do
    r = r - c[1]
    if r < 0 then return c[2] end
  end
  return choices[#choices][2]
end

---------------------------------------------------------------------------------------------
-- Processes and files
---------------------------------------------------------------------------------------------

local q, slurp = T.q, T.slurp
local dir = T.tmpdir()
local dbpath = dir .. "/cw.db"

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- Starts a simulator process; returns { url, pid }.
local function start_sim(name, orders, sim_seed)
  local base = dir .. "/sim-" .. name
  os.execute(string.format("%s run %s %s %d %d >%s.out 2>%s.err </dev/null & echo $! >%s.pid",
    q(T.bin), q(here .. "/sim_server.lua"), name, orders, sim_seed, base, base, base))
  local url
  for _ = 1, 1200 do -- bounded: 60 s to generate the orders
    url = slurp(base .. ".out"):match("(http://127%.0%.0%.1:%d+)")
    if url then break end
    task.sleep(0.05)
  end
  assert(url, "simulator " .. name .. " did not start: " .. slurp(base .. ".err"))
  return { url = url, pid = slurp(base .. ".pid"):match("%d+") }
end

-- sqlite3 -json over the database file -> rows | nil, err
local function sql(query)
  local p = io.popen("sqlite3 -json " .. q(dbpath) .. " " .. q(query) .. " 2>&1")
  local out = p:read("a")
  p:close()
  if not out:find("%S") then return {} end
  local rows = json.decode(out)
  if type(rows) ~= "table" then return nil, out end
  return rows
end

-- Starts `cartwright import NAME [extra...]` in the background; its exit status lands in
-- BASE.rc once it ends, whether it finished or was killed (137).
local function spawn_import(cfg, name, extra, base)
  os.execute(string.format("(%s -c %s import %s %s >%s.out 2>%s.err </dev/null & echo $! >%s.pid; wait $!; echo $? >%s.rc) >/dev/null 2>&1 &",
    q(T.bin), q(cfg), name, extra, base, base, base, base))
end

local function rc_of(base)
  local s = slurp(base .. ".rc")
  return tonumber(s:match("%d+"))
end

---------------------------------------------------------------------------------------------
-- The writer: new orders and changes at the cart while the rounds run
---------------------------------------------------------------------------------------------

local function control(sim, method, path, body)
  local res, err = http.request{ method = method, url = sim.url .. path, timeout = 30,
    headers = { ["Content-Type"] = "application/json" }, body = body and json.encode(body) or nil }
  if not res then return nil, err end
  if res.status ~= 200 then return nil, "http " .. res.status .. ": " .. res.body end
  return jraw.decode(res.body)
end

-- w.ever[id]: the order was downloadable at some moment of the run (as far as the writer saw:
-- before and after each of its changes; an order it never touched is as it started).
local function writer(c, sim, ids)
  local w = { ever = {}, last = {}, added = 0, changed = 0, left = 0, back = 0, edits = 0, bulk = 0, errors = 0,
              stop = false, ids = ids }
  local function key(id) return tostring(math.tointeger(id) or id) end -- as stored: text
  local function learn(id, doc)
    local status = c.status(doc)
    w.last[key(id)] = status
    if c.download[status] then w.ever[key(id)] = true end
  end
  local function add(count)
    local got, err = control(sim, "POST", "/_sim/orders", { count = count })
    if not got then return nil, err end
    for _, id in ipairs(got.ids) do
      local doc, derr = control(sim, "GET", "/_sim/orders/" .. id)
      if not doc then return nil, derr end
      ids[#ids + 1] = id
      learn(id, doc)
      w.added = w.added + 1
    end
    return true
  end
  local function change_one(what)
    -- half the changes go to the newest tenth (orders the imports are busy with), half anywhere
    local lo = math.random() < 0.5 and math.max(1, #ids - #ids // 10) or 1
    local id = ids[math.random(lo, #ids)]
    local doc
    if not w.last[key(id)] or what == "lines" then
      local err
      doc, err = control(sim, "GET", "/_sim/orders/" .. id)
      if not doc then return nil, err end
      learn(id, doc)
    end
    local change
    if what == "lines" then
      if type(doc.line_items) ~= "table" or #doc.line_items == 0 then return true end
      change = c.edit(doc)
      w.edits = w.edits + 1
    else
      change = { status = what }
    end
    local was = c.download[w.last[key(id)]]
    local got, err = control(sim, "POST", "/_sim/orders/" .. id, change)
    if not got then return nil, err end
    learn(id, got.order)
    local is = c.download[w.last[key(id)]]
    if was and not is then w.left = w.left + 1 end
    if is and not was then w.back = w.back + 1 end
    w.changed = w.changed + 1
    return true
  end
  -- one step: a few new orders, a few changes, or now and then a bulk edit (the merchant
  -- fulfils or cancels a few hundred orders at once), so windows stay long and many pages write
  local function step()
    local r = math.random()
    if r < 0.2 then return add(math.random(1, 5)) end
    local n = r < 0.98 and math.random(1, 4) or math.random(50, 250)
    if n > 4 then w.bulk = w.bulk + 1 end
    for _ = 1, n do
      local ok, err = change_one(n > 4 and weighted(c.bulk) or weighted(c.changes))
      if not ok then return nil, err end
    end
    return true
  end
  w.task = task.spawn(function()
    local t0 = task.monotonic()
    for k = 1, 1000000 do -- bounded: stopped by the rounds' end, at most an hour
      if w.stop or task.monotonic() - t0 > 3600 then break end
      local ok, err
      if k == 1 then ok, err = add(3) else ok, err = step() end
      if not ok then
        w.errors = w.errors + 1
        w.last_error = err
      end
      task.sleep(0.01 + math.random() * 0.04)
    end
  end)
  return w
end

---------------------------------------------------------------------------------------------
-- One round: start an import, kill -9 it after `delay` seconds, say where the kill landed
---------------------------------------------------------------------------------------------

local PHASES = { "startup", "first page", "mid-import", "after final watermark", "after finish record",
                 "exited" }
local PHASE_NOTE = {
  startup = "before the import began (process start, config, database open)",
  ["first page"] = "import started, no order page served yet",
  ["mid-import"] = "pages served, the window not finished (in a page's transaction or between two)",
  ["after final watermark"] = "the window's watermark written, the finish not recorded",
  ["after finish record"] = "finish recorded, the process had not exited",
  exited = "the import had finished before the kill",
}

local function db_state(name)
  local rows = sql(string.format([[SELECT (SELECT count(*) FROM orders WHERE cart = '%s') AS n,
    (SELECT count(*) FROM order_events) AS events,
    (SELECT coalesce(watermark, '') FROM carts WHERE name = '%s') AS wm,
    (SELECT coalesce(last_import_at, '') FROM carts WHERE name = '%s') AS li]], name, name, name))
  local r = rows and rows[1] or {}
  return { n = r.n or 0, events = r.events or 0, wm = r.wm or "", li = r.li or "" }
end

local function pages_served(sim)
  local st = assert(control(sim, "GET", "/_sim/stats"))
  return st.order_pages
end

-- -> { rc, phase, duration (when it exited by itself), wrote (the database changed), state }
local function round(cfg, name, sim, i, extra, delay, before)
  local base = dir .. "/round-" .. name .. "-" .. i
  local pages0 = pages_served(sim)
  spawn_import(cfg, name, extra, base)
  local t0 = task.monotonic()
  local finished_at
  for _ = 1, 100000 do -- bounded: ends at the delay (at most a few seconds)
    local left = delay - (task.monotonic() - t0)
    if exists(base .. ".rc") then finished_at = task.monotonic() - t0 break end
    if left <= 0 then break end
    task.sleep(math.min(0.005, left))
  end
  local pid
  for _ = 1, 400 do -- bounded: 2 s for the background shell to write the pid
    pid = slurp(base .. ".pid"):match("%d+")
    if pid then break end
    task.sleep(0.005)
  end
  assert(pid, "import process did not start")
  if not finished_at and not exists(base .. ".rc") then os.execute("kill -9 " .. pid .. " 2>/dev/null") end
  local rc
  for _ = 1, 2000 do -- bounded: 10 s for the process to be gone
    rc = rc_of(base)
    if rc then break end
    task.sleep(0.005)
  end
  local r = { rc = rc, err = slurp(base .. ".err"), out = slurp(base .. ".out"), duration = finished_at }
  local after = db_state(name)
  local pages = pages_served(sim) - pages0
  local started = r.err:find('msg="import started"', 1, true) ~= nil
  local window_until = r.err:match("until=(%S+)")
  r.wrote = after.events ~= before.events or after.wm ~= before.wm or after.n ~= before.n
  if rc == 0 or rc == 1 then
    r.phase = "exited"
  elseif not started then
    r.phase = "startup"
  elseif after.li ~= before.li then
    r.phase = "after finish record"
  elseif after.wm ~= before.wm and after.wm == window_until then
    r.phase = "after final watermark"
  elseif pages > 0 or r.wrote then
    r.phase = "mid-import"
  else
    r.phase = "first page"
  end
  r.state = after
  os.execute("rm -f " .. base .. ".*")
  return r
end

---------------------------------------------------------------------------------------------
-- The cart as it is now, and the database against it
---------------------------------------------------------------------------------------------

-- Every order at the cart: { [id] = { status, updated, lines } }
local function read_cart(c, sim)
  local list = assert(control(sim, "GET", "/_sim/orders"))
  local ids, out, failure = list.ids, {}, nil
  local next_i = 0
  local function worker()
    while not failure do
      next_i = next_i + 1
      local id = ids[next_i]
      if not id then return end
      local doc, err = control(sim, "GET", "/_sim/orders/" .. id)
      if not doc then failure = err return end
      local items = doc.line_items
      if c.products then
        items, err = c.products(sim, id)
        if not items then failure = err return end
      end
      out[tostring(math.tointeger(id) or id)] = { status = c.status(doc), updated = c.updated(doc),
        lines = lines_text(items or {}) }
    end
  end
  local tasks = {}
  for k = 1, 8 do tasks[k] = task.spawn(worker) end
  for _, t in ipairs(tasks) do t:wait() end
  assert(not failure, "reading the cart: " .. tostring(failure))
  return out, #ids
end

local function check_cart(name, c, sim, w)
  local cart, ncart = read_cart(c, sim)
  local db = assert(store.open(dbpath))
  local count = assert(db:orders_count{ cart = name })
  local rows = assert(db:orders_list{ cart = name })
  db:close()
  -- the lines as the back office reads them: order_lines, in line order
  local stored_lines = {}
  local lrows = assert(sql(string.format("SELECT o.external_id AS id, l.sku, l.quantity FROM order_lines l"
    .. " JOIN orders o ON o.id = l.order_id WHERE o.cart = '%s' ORDER BY o.id, l.line_no", name)))
  for _, l in ipairs(lrows) do
    local t = stored_lines[l.id] or {}
    t[#t + 1] = { sku = l.sku ~= null and l.sku or nil, quantity = l.quantity }
    stored_lines[l.id] = t
  end
  local seen, dup, extra, mismatched, examples = {}, 0, 0, 0, {}
  local function example(s) if #examples < 8 then examples[#examples + 1] = s end end
  for _, r in ipairs(rows) do
    local id = r.external_id
    if seen[id] then dup = dup + 1 example("duplicate " .. id) end
    seen[id] = true
    local now = cart[id]
    if not now or not (c.download[now.status] or w.ever[id]) then
      extra = extra + 1
      example("extra " .. id .. (now and (" (" .. now.status .. ", never downloadable)") or " (not at the cart)"))
    else
      local doc = json.decode(r.doc) or {}
      local why
      if r.cart_status ~= now.status then why = "status " .. tostring(r.cart_status) .. " at the cart " .. now.status
      elseif r.updated_at ~= now.updated then why = "updated_at " .. tostring(r.updated_at) .. " at the cart " .. tostring(now.updated)
      elseif lines_text(stored_lines[id] or {}) ~= now.lines then
        why = "order_lines [" .. lines_text(stored_lines[id] or {}) .. "] at the cart [" .. now.lines .. "]"
      elseif lines_text(type(doc.lines) == "table" and doc.lines or {}) ~= now.lines then
        why = "document lines [" .. lines_text(doc.lines or {}) .. "] at the cart [" .. now.lines .. "]"
      end
      if why then mismatched = mismatched + 1 example("mismatch " .. id .. ": " .. why) end
    end
  end
  local missing, downloadable, ever = 0, 0, 0
  for id, now in pairs(cart) do
    if c.download[now.status] then
      downloadable = downloadable + 1
      if not seen[id] then missing = missing + 1 example("missing " .. id .. " (" .. now.status .. ")") end
    end
    if c.download[now.status] or w.ever[id] then ever = ever + 1 end
  end
  return { cart = ncart, downloadable = downloadable, ever = ever, stored = #rows, count = count,
           dup = dup, missing = missing, extra = extra, mismatched = mismatched, examples = examples }
end

-- Whole-database checks: SQLite's own, then what a half-applied page would break.
local function check_db()
  local res = {}
  local ic = sql("PRAGMA integrity_check")
  res.integrity = ic and ic[1] and ic[1].integrity_check or "no answer"
  local fk = sql("PRAGMA foreign_key_check")
  res.fk = fk and #fk or -1
  local function one(query)
    local rows = sql(query)
    return rows and rows[1] and rows[1].n or -1
  end
  res.orphan_lines = one("SELECT count(*) AS n FROM order_lines WHERE order_id NOT IN (SELECT id FROM orders)")
  res.orphan_events = one("SELECT count(*) AS n FROM order_events WHERE order_id NOT IN (SELECT id FROM orders)")
  res.no_arrival = one("SELECT count(*) AS n FROM orders o WHERE (SELECT kind FROM order_events e"
    .. " WHERE e.order_id = o.id ORDER BY e.id LIMIT 1) IS NOT 'imported'"
    .. " AND (SELECT kind FROM order_events e WHERE e.order_id = o.id ORDER BY e.id LIMIT 1) IS NOT 'held'")
  -- each stored order counted once in its customer's row (customer_seen runs with its insert)
  res.customers = one("SELECT count(*) AS n FROM (SELECT lower(email) AS e, count(*) AS k FROM orders"
    .. " WHERE email IS NOT NULL GROUP BY 1) o FULL OUTER JOIN customers c ON c.email = o.e"
    .. " WHERE coalesce(o.k, 0) != coalesce(c.orders, 0)")
  return res
end

---------------------------------------------------------------------------------------------
-- The run
---------------------------------------------------------------------------------------------

-- The N rounds of one cart with its writer running. -> phases, stats of the rounds
local function rounds(cfg, name, c, sim)
  -- how long a whole import of this cart takes, measured by a dry run (writes nothing)
  local t0 = task.monotonic()
  local code, out = T.cw({ "-c", cfg, "import", name, "--dry-run", "--log-level", "warn" })
  assert(code == 0, "dry run failed: " .. out)
  local full = task.monotonic() - t0
  local est = { incremental = full, reread = full }
  print(string.format("%s: %d orders at the cart; a whole import (dry run) takes %.2f s", name, c.orders, full))

  local w = writer(c, sim, assert(control(sim, "GET", "/_sim/orders")).ids)
  local st = { phases = {}, modes = { incremental = 0, reread = 0 }, bad = {}, wrote = 0, unsettled = 0, w = w }
  for _, p in ipairs(PHASES) do st.phases[p] = 0 end
  local state = db_state(name)
  for i = 1, N do
    -- a quarter of the rounds re-read everything (--since), the rest continue from the watermark
    local mode = math.random() < 0.25 and "reread" or "incremental"
    st.modes[mode] = st.modes[mode] + 1
    local extra = mode == "reread" and "--since 2000-01-01" or ""
    -- spread over the whole import and past it; one in ten within its first 30 ms
    local delay = math.random() < 0.1 and math.random() * 0.03 or math.random() * 1.5 * est[mode]
    local r = round(cfg, name, sim, i, extra, delay, state)
    if os.getenv("KILL9_DEBUG") then
      print(string.format("  round %d %s delay %.3f est %.3f -> %s rc %s%s", i, mode, delay, est[mode], r.phase,
        tostring(r.rc), r.duration and string.format(" took %.3f", r.duration) or ""))
    end
    state = r.state
    st.phases[r.phase] = st.phases[r.phase] + 1
    if r.phase == "mid-import" and r.wrote then st.wrote = st.wrote + 1 end
    if r.rc == 1 and r.err:find("orders kept changing during", 1, true) then
      st.unsettled = st.unsettled + 1 -- WooCommerce's passes over a window that never settled: by design
    elseif r.rc ~= 0 and r.rc ~= 137 then
      st.bad[#st.bad + 1] = string.format("round %d: exit %s\n%s%s", i, tostring(r.rc), r.out, r.err:sub(-600))
    end
    if r.duration then
      est[mode] = 0.5 * est[mode] + 0.5 * r.duration
    elseif delay > 0.7 * est[mode] then
      est[mode] = 1.3 * est[mode] -- still running near or past the estimate: it takes longer now
    end
  end
  w.stop = true
  w.task:wait()
  return st
end

-- One cart: the rounds, the reruns, the comparison; prints and checks. -> the rounds' phases
local function run_cart(cfg, name, sim)
  local c = CARTS[name]
  local t_cart = task.monotonic()
  local st = rounds(cfg, name, c, sim)
  local w = st.w
  local t_rounds = task.monotonic() - t_cart

  -- the rerun: to completion, then once more (which must find nothing to do)
  local t_rerun = task.monotonic()
  local code1, out1, err1 = T.cw({ "-c", cfg, "import", name, "--log-level", "warn" })
  t_rerun = task.monotonic() - t_rerun
  local code2, out2, err2 = T.cw({ "-c", cfg, "import", name, "--log-level", "warn" })
  local res = check_cart(name, c, sim, w)

  local ph = {}
  for _, p in ipairs(PHASES) do ph[#ph + 1] = p .. " " .. st.phases[p] end
  print(string.format("%s: %d rounds in %.1f s (%d incremental, %d re-read); kills: %s (%d of the mid-import ones after a page was written)%s",
    name, N, t_rounds, st.modes.incremental, st.modes.reread, table.concat(ph, ", "), st.wrote,
    st.unsettled > 0 and string.format("; %d imports gave up on a window that kept changing", st.unsettled) or ""))
  print(string.format("%s: writer added %d orders, made %d changes (%d bulk edits, %d line edits; %d left the download statuses, %d came back), %d errors%s",
    name, w.added, w.changed, w.bulk, w.edits, w.left, w.back, w.errors, w.last_error and (" (" .. w.last_error .. ")") or ""))
  print(string.format("%s: rerun (%.2f s): %s", name, t_rerun, (out1:gsub("\n$", ""))))
  print(string.format("%s: again: %s", name, (out2:gsub("\n$", ""))))
  print(string.format("%s: at the cart %d orders, %d downloadable now, %d downloadable at some point; stored %d;"
    .. " duplicates %d, missing %d, extra %d, mismatched %d", name, res.cart, res.downloadable, res.ever,
    res.stored, res.dup, res.missing, res.extra, res.mismatched))
  for _, e in ipairs(res.examples) do print("     " .. e) end

  T.eq(#st.bad, 0, name .. ": every import ended by itself (exit 0) or by the kill (137)", table.concat(st.bad, "\n"))
  T.eq(w.errors, 0, name .. ": the writer's requests all succeeded", w.last_error)
  T.ok(w.added > 0 and w.changed > 0, name .. ": the cart took new orders and changes during the rounds",
    w.added .. " added, " .. w.changed .. " changed")
  T.eq(code1, 0, name .. ": the rerun succeeds", err1)
  T.eq(code2, 0, name .. ": a second rerun succeeds", err2)
  T.match(out2, "imported 0, updated 0,", name .. ": the second rerun finds nothing new or changed")
  T.eq(res.count.n, res.count.distinct_n, name .. ": (cart, external_id) unique")
  T.eq(res.dup, 0, name .. ": no duplicate order")
  T.eq(res.missing, 0, name .. ": every order the cart would let us download is stored")
  T.eq(res.extra, 0, name .. ": nothing stored that was never downloadable")
  T.eq(res.mismatched, 0, name .. ": every stored order has the cart's status, modified time and lines")
  T.ok(res.stored >= res.downloadable and res.stored > 0, name .. ": stored at least the downloadable orders",
    res.stored .. " stored, " .. res.downloadable .. " downloadable")
  return st.phases
end

local function main(sims)
  local t_start = task.monotonic()
  print(string.format("kill9: %d rounds per cart, carts %s, seed %d, dir %s", N, table.concat(chosen, " "), seed, dir))
  for k, name in ipairs(chosen) do
    local c = CARTS[name]
    c.orders = orders_opt or c.orders
    sims[name] = start_sim(name, c.orders, seed % 100000 + k)
  end
  local parts = { string.format("db = %q\n", dbpath) }
  for _, name in ipairs(chosen) do
    parts[#parts + 1] = string.format('cart %q { connector = %q, url = %q, %s\n  rate_limit = { capacity = 100000, per_second = 100000 },%s }\n',
      name, name, sims[name].url, CARTS[name].settings, overlap_opt and (" overlap_minutes = " .. overlap_opt .. ",") or "")
  end
  local cfg = T.write(dir .. "/cw.lua", table.concat(parts))

  local totals = {}
  for _, p in ipairs(PHASES) do totals[p] = 0 end
  for _, name in ipairs(chosen) do
    local phases = run_cart(cfg, name, sims[name])
    for _, p in ipairs(PHASES) do totals[p] = totals[p] + phases[p] end
  end

  local dbres = check_db()
  print(string.format("database: integrity_check %s, foreign keys %d, orphan lines %d, orphan events %d,"
    .. " orders without an arrival event %d, customer counts off %d", dbres.integrity, dbres.fk,
    dbres.orphan_lines, dbres.orphan_events, dbres.no_arrival, dbres.customers))
  T.eq(dbres.integrity, "ok", "PRAGMA integrity_check")
  T.eq(dbres.fk, 0, "PRAGMA foreign_key_check finds nothing")
  T.eq(dbres.orphan_lines, 0, "no order line without its order")
  T.eq(dbres.orphan_events, 0, "no event without its order")
  T.eq(dbres.no_arrival, 0, "every order's first event says it arrived (imported or held)")
  T.eq(dbres.customers, 0, "every customer's order count equals the orders stored with that email")

  local ph = {}
  for _, p in ipairs(PHASES) do ph[#ph + 1] = string.format("%s %d", p, totals[p]) end
  print(string.format("summary: %d rounds, kills: %s; wall time %.1f s", N * #chosen, table.concat(ph, ", "),
    task.monotonic() - t_start))
  for _, p in ipairs(PHASES) do print(string.format("  %-22s %s", p, PHASE_NOTE[p])) end
end

-- the simulators are servers: stop them however the run ends
local sims = {}
local ok, err = xpcall(main, debug.traceback, sims)
T.ok(ok, "the run went through", err)
for _, sim in pairs(sims) do os.execute("kill " .. sim.pid .. " 2>/dev/null") end
if T.failed == 0 then os.execute("rm -rf " .. q(dir)) else print("kept for a look: " .. dir) end
return T.done()
