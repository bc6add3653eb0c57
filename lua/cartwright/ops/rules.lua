-- Rules, checked and replayed. check: load rules and run them on the built-in sample orders, or
-- on the merchant's own orders (JSON lines as `orders --json` prints them). replay: run the
-- stored orders of the carts again, from the cart's original bytes, through the current rules;
-- report every change, and with apply write them (through orders/decide.lua, as an import
-- would). Neither needs a cart's credentials.
local rules = require "cartwright.rules"
local samples = require "cartwright.samples"
local carts = require "cartwright.carts"
local sandbox = require "cartwright.sandbox"
local jraw = require "cartwright.jsonraw"
local time = require "cartwright.time"
local orders_in = require "cartwright.flows.orders_in"
local decide = require "cartwright.orders.decide"
local ops = require "cartwright.ops"

local M = {}

-- The rule names of every cart of the config (each once), or the shipped ones.
local function rule_names(cfg, files)
  if files and #files > 0 then return files end
  local names, seen = {}, {}
  for _, name in ipairs(cfg and cfg.cart_order or {}) do
    for _, r in ipairs(cfg.carts[name].rules or carts.default_rules) do
      if not seen[r] then seen[r], names[#names + 1] = true, r end
    end
  end
  if #names == 0 then names = carts.default_rules end
  return names
end

-- The ctx of a sample order of `connector` with no configured cart: a sample cart, and the
-- connector's own status table (for status_map) when it has one.
local function sample_ctx(connector, dir)
  local conn = connector and carts.connector(connector, dir)
  return sandbox.readonly{ cart = { name = "sample", order_prefix = "S-", connector = connector, folder = "new" },
    connector = connector, statuses = conn and orders_in.status_table(conn) or nil,
    ship_method = function(code) return code == "Standard" and "UPS Ground" or nil end, tag = function() end }
end

-- The merchant's own sample orders: JSON lines in the `orders --json` shape. list | nil, err.
local function read_samples(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, "cannot read " .. path .. ": " .. tostring(err) end
  local list, n = {}, 0
  for line in f:lines() do
    n = n + 1
    if line:find("%S") then
      local o, jerr = jraw.decode(line)
      if type(o) ~= "table" then
        f:close()
        return nil, string.format("%s:%d: not a JSON order (%s)", path, n, tostring(jerr or "not an object"))
      end
      local cart = o.cart
      -- what `orders --json` adds to the normalized order is not the rules' input
      o.cart, o.hold, o.status, o.folder, o.tags = nil, nil, nil, nil, {}
      list[#list + 1] = { order = o, cart = type(cart) == "string" and cart or nil, line = n }
    end
  end
  f:close()
  if #list == 0 then return nil, path .. ": no orders in it" end
  return list
end

--- Loads each rule (the config's carts' rules, or `files`) and runs it on the sample orders.
--- Returns { { file, orders, held, error }, ... } (error: the rule failed to load or failed on
--- an order) | nil, err, kind. cfg may be nil (no config: the shipped rules).
function M.check(cfg, files)
  local out = {}
  for _, name in ipairs(rule_names(cfg, files)) do
    local rule, err = rules.load(name, cfg and cfg.rules_dir)
    if not rule then
      out[#out + 1] = { file = name, error = err }
    else
      local r = { file = rule.file, orders = 0, held = 0 }
      for _, sm in ipairs(samples.all()) do
        local verdict = rules.run({ rule }, sm.order, sample_ctx(sm.connector, cfg and cfg.connectors_dir))
        r.orders = r.orders + 1
        if verdict and verdict.broken then r.error = r.error or verdict.reason
        elseif verdict then r.held = r.held + 1 end
      end
      out[#out + 1] = r
    end
  end
  return out
end

--- Runs each sample order of `path` through the rules of its cart (the order's `cart` field,
--- else the first cart of the config, else the shipped rules). Returns { { line, cart, number,
--- hold = nil | { rule, reason, broken }, status, method, folder, tags }, ... } | nil, err, kind.
function M.check_samples(s, path)
  local list, err = read_samples(path)
  if not list then return ops.fail("usage", err) end
  local cfg = s and s.cfg
  local runs, out = {}, {}
  for _, sm in ipairs(list) do
    local name = sm.cart or (cfg and cfg.cart_order[1])
    local run = name and runs[name]
    if name and run == nil and cfg and cfg.carts[name] then
      local cart, conn = carts.load(cfg, name)
      if not cart then return ops.fail("config", conn) end
      local db, derr = s:open()
      if not db then return ops.fail("failed", derr) end
      local r, rerr = orders_in.new(db, cart, conn, { rules_dir = cfg.rules_dir, dry_run = true })
      if not r then return ops.fail("config", rerr) end
      runs[name], run = r, r
    end
    local hold
    if run then
      hold = rules.run(run.rules, sm.order, run.rule_ctx)
    else
      local list_, lerr = rules.load_list(carts.default_rules, cfg and cfg.rules_dir)
      if not list_ then return ops.fail("config", lerr) end
      hold = rules.run(list_, sm.order, sample_ctx(sm.order.connector or "shopify", cfg and cfg.connectors_dir))
    end
    local o = sm.order
    out[#out + 1] = { line = sm.line, cart = name, number = o.number, external_id = o.external_id,
                      hold = hold, status = o.status, method = o.shipping and o.shipping.method,
                      folder = type(o.folder) == "string" and o.folder or nil, tags = o.tags }
  end
  return out
end

--- Runs stored orders (of `opts.cart`, changed since `opts.since`) through the current rules.
--- Returns { seen, changed, applied, items = { { cart, external_id, number, before, after,
--- changes = { { field, before, after }, ... } } } } | nil, err, kind. With opts.apply the
--- changes are written, each as an update with a "replayed" event.
function M.replay(s, opts)
  opts = opts or {}
  local db, err = s:open()
  if not db then return ops.fail("failed", err) end
  local since
  if opts.since then
    since = time.iso_utc(opts.since)
    if not since then return ops.fail("usage", "bad --since date '%s' (want YYYY-MM-DD or ISO 8601)", opts.since) end
  end
  if opts.cart and not s.cfg.carts[opts.cart] then return ops.fail("config", "no cart named \"%s\"", opts.cart) end
  local runs, res, after = {}, { seen = 0, changed = 0, applied = 0, items = {} }, 0
  for _ = 1, 1e9 do -- bounded by the table: pages of 500 by id
    local rows = assert(db:orders_raw{ cart = opts.cart, since = since, after = after, limit = 500 })
    if #rows == 0 then break end
    local ok, terr = db:transaction(function()
      for _, row in ipairs(rows) do
        after = row.id
        res.seen = res.seen + 1
        local run = runs[row.cart]
        if run == nil then
          local cart, conn = carts.load(s.cfg, row.cart)
          run = cart and assert(orders_in.new(db, cart, conn, { rules_dir = s.cfg.rules_dir })) or false
          runs[row.cart] = run
        end
        if run then
          local rec = run:process(run:decode(row.raw), row.raw)
          local stored_doc = run:decode_doc(row.doc)
          local tags = run:stored_tags(row)
          local action = decide.decide(row, rec, { kind = "rerun", cart = row.cart, event = "replayed",
                                                   stored_doc = stored_doc }, tags)
          if not action.skip then
            local before = decide.decided(stored_doc, decide.hold_of(row), row.folder, tags)
            local after_ = decide.decided(rec.doc, action.hold, action.update.folder, action.tags)
            local changes = decide.diff(before, after_)
            for _, d in ipairs(decide.doc_diff(stored_doc, rec.doc)) do
              if d[1] ~= "status" and d[1] ~= "number" and d[1] ~= "shipping.method" then changes[#changes + 1] = d end
            end
            res.changed = res.changed + 1
            res.items[#res.items + 1] = { cart = row.cart, external_id = row.external_id, number = row.number,
                                          before = before, after = after_, changes = changes }
            if opts.apply then
              decide.apply(db, action)
              res.applied = res.applied + 1
            end
          end
        end
      end
      return true
    end)
    if not ok then return ops.fail("failed", terr) end
  end
  return res
end

return M
