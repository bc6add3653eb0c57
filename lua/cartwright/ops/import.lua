-- Import: download new and changed orders of one cart or of every active cart. A cart that
-- fails (a cart's error, a Lua error in its connector) fails alone: the others go on, and its
-- error is recorded for `carts` (last_error).
local carts = require "cartwright.carts"
local orders_in = require "cartwright.flows.orders_in"
local rules = require "cartwright.rules"
local ops = require "cartwright.ops"
local lease = require "cartwright.service.lease"
local task = require "cartwright.task"
local time = require "cartwright.time"
local metrics = require "cartwright.service.metrics"

local function now_iso() return time.format(task.now()) end

local M = {}

-- The carts to import, validated, with their rules loaded: list | nil, err, "config".
local function plan(s, names, all)
  local cfg = s.cfg
  local list = {}
  for _, name in ipairs(all and cfg.cart_order or names) do
    local cart, conn = carts.load(cfg, name)
    if not cart then return ops.fail("config", conn) end
    if cart.active or not all then
      -- a rule file that does not load is a config error, found before anything is downloaded
      local ok, rerr = rules.load_list(cart.rules, cfg.rules_dir)
      if not ok then return ops.fail("config", "cart \"%s\": %s", name, rerr) end
      local resolved, serr = carts.resolve(cart, conn) -- secrets: only for the carts this run talks to
      if not resolved then return ops.fail("config", serr) end
      list[#list + 1] = { cart = resolved, conn = conn }
    end
  end
  return list
end

local function counts(st)
  return { seen = st.seen, imported = st.imported, updated = st.updated, unchanged = st.unchanged, held = st.held,
           skipped = st.skipped_status + st.skipped_early, skipped_status = st.skipped_status,
           skipped_early = st.skipped_early, pages = st.pages, requests = st.requests or 0 }
end

-- One cart's run. A Lua error anywhere in it (its connector's hooks) is caught here.
local function import_one(s, cart, conn, opts)
  local db = s.db
  local run, err = orders_in.new(db, cart, conn, {
    since = opts.since, dry_run = opts.dry_run, rules_dir = s.cfg.rules_dir, progress = opts.progress,
  })
  if not run then return { cart = cart.name, ok = false, error = err, summary = cart.name .. ": not started" } end
  local t0 = task.monotonic()
  local ok, stats, rerr, partial = pcall(run.run, run)
  local elapsed = task.monotonic() - t0
  if not ok then stats, rerr, partial = nil, (tostring(stats):match("^(.-)\nstack traceback:") or tostring(stats)), run.stats end
  local st = stats or partial
  local summary = orders_in.summary(cart.name, st)
  if not opts.dry_run then
    db:cart_finish_import{ name = cart.name, summary = summary, error = rerr }
    -- once per run (never per order): the import bench must not notice
    local labels = { cart = cart.name }
    metrics.count("cartwright_orders_imported_total", labels, st and st.imported or 0)
    metrics.observe("cartwright_import_duration_seconds", labels, elapsed)
    if stats then metrics.set("cartwright_last_success_timestamp_seconds", { cart = cart.name, service = "orders" }, task.now()) end
  end
  local r = counts(st)
  r.cart, r.ok, r.error, r.summary, r.dry_run = cart.name, stats ~= nil, rerr, summary, opts.dry_run or false
  return r
end

-- What open orders reserve, as one comparable string (an import that changes it pushes).
local function reserved_now(db)
  local rows = db:stock_reserved{}
  if not rows then return nil end
  local parts = {}
  for i, r in ipairs(rows) do parts[i] = r.sku .. "=" .. r.reserved end
  return table.concat(parts, "\n")
end

--- Imports `names` (a list of cart names), or every active cart with opts.all.
--- opts: { all, since = DATE, dry_run, progress = fn(cart, stats), no_push (the caller pushes),
--- wait = seconds to wait for a cart's lease held by another process (default 0), leased (the
--- caller holds the carts' "orders" leases: `serve`) }. A cart whose lease another process
--- holds is not imported: its result has ok = false, busy = the holder.
--- After the imports, when a cart's import changed what open orders reserve, every other cart
--- that syncs its inventory is pushed to (once each: ops/stock.lua); result.pushed lists those
--- pushes (flows/stock_out.lua results) and result.push_error says why they could not start.
--- Returns { result, ... } (one per cart: cart, ok, error, summary, seen, imported, updated,
--- unchanged, held, skipped, …) | nil, err, kind.
function M.run(s, names, opts)
  opts = opts or {}
  local list, err, kind = plan(s, names or {}, opts.all)
  if not list then return nil, err, kind end
  local _, derr = s:open()
  if derr then return ops.fail("failed", derr) end
  local results, moved = {}, {}
  local push = not opts.dry_run and not opts.no_push
  for _, c in ipairs(list) do
    local progress = opts.progress and function(st) opts.progress(c.cart.name, st) end
    local name, holder, got, other = c.cart.name, lease.holder("import"), true, nil
    if not opts.leased then got, other = lease.wait(s.db, name, "orders", holder, opts.wait) end
    if got then
      local release = not opts.leased and lease.keep(s.db, name, "orders", holder)
      local before = push and reserved_now(s.db)
      results[#results + 1] = import_one(s, c.cart, c.conn, { since = opts.since, dry_run = opts.dry_run, progress = progress })
      if release then release() end
      if push and reserved_now(s.db) ~= before then moved[#moved + 1] = name end
    else
      results[#results + 1] = { cart = name, ok = false, busy = other, summary = name .. ": not started",
        error = string.format("another process is importing %s (%s); try again when it is done", name, other) }
    end
  end
  if not opts.dry_run then
    -- the shipment and status entries due at each imported cart (after_import_status ones,
    -- and those an earlier failure left waiting)
    local due = {}
    for _, c in ipairs(list) do
      for _, e in ipairs(assert(s.db:outbox_open{ cart = c.cart.name, at = now_iso(), any = 0 })) do
        if e.kind == "shipment" or e.kind == "status" then
          due[#due + 1] = c.cart.name
          break
        end
      end
    end
    if #due > 0 then
      local sent, serr = require("cartwright.ops.ship").send(s, due)
      results.sent, results.send_error = sent or {}, serr
    end
  end
  if #moved > 0 then
    -- every syncing cart but one whose own sale it was, once (a cart sold: it lowered its figure)
    local stock_ops = require "cartwright.ops.stock"
    local syncing, nerr = stock_ops.syncing(s)
    local targets = {}
    for _, n in ipairs(syncing or {}) do
      local other = false
      for _, m in ipairs(moved) do if m ~= n then other = true end end
      if other then targets[#targets + 1] = n end
    end
    local pushed, perr = {}, nerr
    if syncing and #targets > 0 then pushed, perr = stock_ops.push(s, targets, {}) end
    results.pushed, results.push_error = pushed or {}, perr
  end
  return results
end

return M
