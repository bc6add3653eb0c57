-- Connector kit: the conformance run of a connector against a configured cart (check), and a
-- new connector package with its simulator skeleton (new, in ops/connector_new.lua). The check
-- reads the cart and imports into a scratch SQLite file of its own, never the merchant's
-- database; it writes nothing to the cart (the simulators' fault controls are not the cart).
local carts = require "cartwright.carts"
local store = require "cartwright.store"
local http = require "cartwright.http"
local json = require "cjson.safe"
local task = require "cartwright.task"
local time = require "cartwright.time"
local crypto = require "cartwright.crypto"
local orders_in = require "cartwright.flows.orders_in"
local ops = require "cartwright.ops"

local M = {}

M.CHECKS = { "connection", "paging", "model", "reimport", "overlap", "faults" }

-- The small page the listing is read with a second time: many page boundaries, where gaps and
-- repeats happen.
local SMALL_PAGE = 3
local MAX_NAMED = 5 -- problems named in one check's detail ("and N more" after)

-- "a, b and 3 more"
local function some(list)
  local shown = {}
  for i = 1, math.min(#list, MAX_NAMED) do shown[i] = list[i] end
  local s = table.concat(shown, "; ")
  if #list > MAX_NAMED then s = s .. "; and " .. (#list - MAX_NAMED) .. " more" end
  return s
end

local function first_line(err)
  return (tostring(err):match("^(.-)\nstack traceback:") or tostring(err))
end

-- A document's id when it cannot be normalized (the id field most carts have, else a hash).
local function raw_id(doc, raw)
  if type(doc) == "table" and (type(doc.id) == "string" or math.type(doc.id) == "integer") then return tostring(doc.id) end
  return "raw-" .. crypto.hex(crypto.sha256(raw)):sub(1, 16)
end

-- Reads the whole listing of the window q with the connector, normalizing and checking each
-- order against the model (run:normalize). Returns { ids = { id, ... } in order read, pages,
-- where = { id -> "page N" }, dups = { "…" }, invalid = { "…" }, updated = { id -> updated_at } }
-- | nil, err (the listing failed).
local function read_all(run, q)
  local got = { ids = {}, pages = 0, where = {}, dups = {}, invalid = {}, updated = {} }
  local ok, done, err = pcall(run.conn.fetch_orders, run.ctx, q, function(raws, docs)
    got.pages = got.pages + 1
    for i = 1, #raws do
      local order, nerr = run:normalize(docs[i])
      local id = order and order.external_id or raw_id(docs[i], raws[i])
      if not order then
        got.invalid[#got.invalid + 1] = "order " .. id .. ": " .. tostring(nerr):gsub("^%[normalize%] ", "")
      end
      if got.where[id] then
        got.dups[#got.dups + 1] = "order " .. id .. " on " .. got.where[id] .. " and again on page " .. got.pages
      else
        got.where[id] = "page " .. got.pages
        got.ids[#got.ids + 1] = id
        got.updated[id] = order and order.updated_at
      end
    end
    return true
  end)
  if not ok then return nil, first_line(done) end
  if not done then return nil, tostring(err) end
  return got
end

-- The ids of `a` missing from `b`.
local function missing(a, b)
  local out = {}
  for _, id in ipairs(a.ids) do if not b.where[id] then out[#out + 1] = id end end
  return out
end

local function scratch_db()
  local path = os.tmpname()
  os.remove(path)
  path = path .. "-cartwright-check.db"
  local db, err = store.open(path)
  if not db then return nil, err end
  return db, path
end

local function remove_db(path)
  for _, suffix in ipairs{ "", "-wal", "-shm", "-journal" } do os.remove(path .. suffix) end
end

-- One import run into the scratch db: stats, ids seen | nil, err.
local function import(db, cart, conn, opts)
  local run, err = orders_in.new(db, cart, conn, opts)
  if not run then return nil, err end
  local seen = {}
  local page = getmetatable(run).__index.page
  run.page = function(self, raws, docs)
    for i = 1, #raws do
      local o = self:normalize(docs[i])
      seen[#seen + 1] = o and o.external_id or raw_id(docs[i], raws[i])
    end
    return page(self, raws, docs)
  end
  local ok, stats, rerr = pcall(run.run, run)
  if not ok then return nil, first_line(stats) end
  if not stats then return nil, rerr end
  return stats, seen
end

local function stored(db, name)
  local c = db:orders_count{ cart = name }
  return c.n, c.distinct_n
end

---------------------------------------------------------------- the simulators' fault controls

-- The cart's origin when it is a simulator (GET /_sim/stats answers with its counters), or nil.
local function sim_origin(ctx)
  local origin = ctx.origin and ctx.origin:gsub(":443$", ""):gsub("^(http://[^/]+):80$", "%1")
  if not origin then return nil end
  local res = http.request{ method = "GET", url = origin .. "/_sim/stats", timeout = 5 }
  local doc = res and res.status == 200 and json.decode(res.body)
  if type(doc) == "table" and doc.requests ~= nil and doc.faults ~= nil then return origin end
  return nil
end

local function sim_call(origin, method, path, body)
  local res, err = http.request{ method = method, url = origin .. path, timeout = 5,
    body = body and json.encode(body), headers = body and { ["Content-Type"] = "application/json" } or nil }
  if not res then return nil, err end
  return json.decode(res.body)
end

---------------------------------------------------------------- the checks

local function test_hook(ctx, conn)
  if type(conn.test) ~= "function" then return false, "the connector has no test hook (orders.lua: test)" end
  local ok, info, err = pcall(conn.test, ctx)
  if not ok then return false, "test raised: " .. first_line(info) end
  if type(info) ~= "table" then return false, "test failed: " .. tostring(err) end
  return true, tostring(info.api_version or conn.api_version) .. " " .. tostring(info.shop)
end

-- The re-read after an import that ended just past the newest order (the watermark there):
-- it starts overlap_minutes earlier, so the orders updated in those minutes are seen again,
-- and none may be stored twice. Runs as a cart of its own in the scratch database (a
-- watermark never moves back).
local function overlap_check(db, cart, conn, base, opts)
  local newest
  for _, id in ipairs(base.ids) do
    local u = base.updated[id]
    if u and (not newest or u > newest) then newest = u end
  end
  if not newest then return false, "no order with an updated_at to put the watermark at" end
  local c = {}
  for k, v in pairs(cart) do c[k] = v end
  c.name = cart.name .. "~overlap"
  db:cart_ensure{ name = c.name, connector = conn.name }
  local hi = time.parse(newest) + 1
  local st0, e0 = import(db, c, conn, { rules_dir = opts.rules_dir, now = hi, since = opts.since })
  if not st0 then return false, "the import up to the newest order failed: " .. tostring(e0) end
  local since = time.format(hi - (c.overlap_minutes or 5) * 60)
  local edge = {}
  for _, id in ipairs(base.ids) do
    if base.updated[id] and base.updated[id] >= since then edge[#edge + 1] = id end
  end
  local before = stored(db, c.name)
  local st, seen = import(db, c, conn, { rules_dir = opts.rules_dir, now = opts.now })
  if not st then return false, "the re-read failed: " .. tostring(seen) end
  local saw = {}
  for _, id in ipairs(seen) do saw[id] = true end
  local lost = {}
  for _, id in ipairs(edge) do if not saw[id] then lost[#lost + 1] = "order " .. id .. " (updated " .. base.updated[id] .. ")" end end
  if #lost > 0 then
    return false, "the re-read from " .. since .. " (watermark " .. time.format(hi) .. " minus overlap_minutes) did not see "
      .. some(lost)
  end
  local after, distinct = stored(db, c.name)
  if after ~= before or distinct ~= after or st.imported > 0 or st.updated > 0 then
    return false, string.format("the re-read stored orders again: %d rows before, %d after (%d distinct); imported %d, updated %d",
      before, after, distinct, st.imported, st.updated)
  end
  return true, string.format("%d edge order%s seen again from %s, none stored twice", #edge, #edge == 1 and "" or "s", since)
end

-- A 429 and a 500 from the simulator, each survived: the listing completes with every order.
local function faults_check(origin, run, q, base)
  local survived = {}
  for _, status in ipairs{ 429, 500 } do
    local before = sim_call(origin, "GET", "/_sim/stats")
    local queued, qerr = sim_call(origin, "POST", "/_sim/faults", { status = status, count = 1 })
    if not queued then return false, "cannot queue a fault: " .. tostring(qerr) end
    local got, err = read_all(run, q)
    sim_call(origin, "DELETE", "/_sim/faults")
    if not got then return false, "a " .. status .. " was not survived: " .. err end
    local after = sim_call(origin, "GET", "/_sim/stats")
    if type(before) == "table" and type(after) == "table" and (after.faults or 0) <= (before.faults or 0) then
      return false, "the simulator served no " .. status .. " (the connector read no order list?)"
    end
    local lost = missing(base, got)
    if #lost > 0 then return false, "after a " .. status .. ", orders missing: " .. some(lost) end
    survived[#survived + 1] = tostring(status)
  end
  return true, table.concat(survived, " and ") .. " survived"
end

--- Runs the conformance checks of cart `name`'s connector against the cart. opts: { since =
--- DATE (the window's start; default the cart's earliest_order_date, else 2000-01-01),
--- write = bool (accepted; no check writes yet) }. Returns { cart, connector, ok, written =
--- false, checks = { { name, ok = true|false|nil (skipped), detail }, ... } } | nil, err, kind.
function M.check(s, name, opts)
  opts = opts or {}
  local cart, conn = carts.connect(s.cfg, name)
  if not cart then return ops.fail("config", conn) end
  local since = opts.since and time.iso_utc(opts.since)
  if opts.since and not since then return ops.fail("usage", "bad --since date '%s' (want YYYY-MM-DD or ISO 8601)", opts.since) end
  since = since or (cart.earliest_order_date and time.iso_utc(cart.earliest_order_date)) or "2000-01-01T00:00:00Z"
  local r = { cart = name, connector = conn.name, ok = true, written = false, checks = {} }
  local function add(cname, ok, detail)
    r.checks[#r.checks + 1] = { name = cname, ok = ok, detail = detail }
    if ok == false then r.ok = false end
  end
  local db, path = scratch_db()
  if not db then return ops.fail("failed", "scratch database: %s", path) end
  db:cart_ensure{ name = cart.name, connector = conn.name }
  local now = task.now()
  local iopts = { rules_dir = s.cfg.rules_dir, now = now, since = since }
  local run, rerr = orders_in.new(db, cart, conn, iopts)
  if not run then
    db:close()
    remove_db(path)
    return ops.fail("config", rerr)
  end
  local function skip_rest(from, why)
    for i = from, #M.CHECKS do add(M.CHECKS[i], nil, why) end
  end

  local ok, detail = test_hook(run.ctx, conn)
  add("connection", ok, detail)
  if not ok then
    skip_rest(2, "not run: the connection failed")
  else
    local until_ = time.format(now)
    local q = { since = since, ["until"] = until_, page_size = cart.batch_size, statuses = cart.download_statuses }
    local small_n = math.min(SMALL_PAGE, conn.page_max or SMALL_PAGE)
    local base, berr = read_all(run, q)
    local small, serr
    if base then
      small, serr = read_all(run, { since = since, ["until"] = until_, statuses = cart.download_statuses, page_size = small_n })
    end
    if not base or not small then
      add("paging", false, "the listing failed: " .. tostring(berr or serr))
      skip_rest(3, "not run: the listing failed")
    else
      local problems = {}
      for _, d in ipairs(base.dups) do problems[#problems + 1] = d .. " (pages of " .. cart.batch_size .. ")" end
      for _, d in ipairs(small.dups) do problems[#problems + 1] = d .. " (pages of " .. small_n .. ")" end
      for _, id in ipairs(missing(base, small)) do problems[#problems + 1] = "order " .. id .. " missing from pages of " .. small_n end
      for _, id in ipairs(missing(small, base)) do problems[#problems + 1] = "order " .. id .. " missing from pages of " .. cart.batch_size end
      if #base.ids == 0 then problems[#problems + 1] = "no orders in the window from " .. since .. ": nothing to check" end
      add("paging", #problems == 0, #problems > 0 and some(problems)
        or string.format("%d orders: %d pages of up to %d, %d pages of up to %d, no gaps, no repeats", #base.ids,
             base.pages, cart.batch_size, small.pages, small_n))
      add("model", #base.invalid == 0, #base.invalid > 0 and some(base.invalid)
        or (#base.ids .. " orders valid against the order model"))

      local st1, e1 = import(db, cart, conn, iopts)
      local st2, e2
      if st1 then st2, e2 = import(db, cart, conn, iopts) end
      if not st1 or not st2 then
        add("reimport", false, "the import failed: " .. tostring(e1 or e2))
        skip_rest(5, "not run: the import failed")
      else
        local n = stored(db, cart.name)
        local same = st2.imported == 0 and st2.updated == 0 and stored(db, cart.name) == n
        add("reimport", same, same and string.format("first import stored %d, the second changed nothing (%d unchanged)",
              st1.imported, st2.unchanged)
          or string.format("the second import imported %d and updated %d", st2.imported, st2.updated))
        add("overlap", overlap_check(db, cart, conn, base, iopts))
        local origin = sim_origin(run.ctx)
        if origin then
          add("faults", faults_check(origin, run, q, base))
        else
          add("faults", nil, "skipped: the cart has no simulator fault controls (/_sim/faults)")
        end
      end
    end
  end
  db:close()
  remove_db(path)
  return r
end

return M
