-- Stock: on hand per SKU and warehouse (set one, or import a CSV all or nothing), aliases, what
-- each cart is shown, and the push to the carts that sync their inventory (flows/stock_out.lua).
-- After a stock change and after an import that changed what open orders reserve, every
-- syncing cart affected is pushed to, each once per command (coalesced).
local carts = require "cartwright.carts"
local stock = require "cartwright.stock"
local rules = require "cartwright.rules"
local sandbox = require "cartwright.sandbox"
local stock_out = require "cartwright.flows.stock_out"
local ops = require "cartwright.ops"

local M = {}

M.DEFAULT_WAREHOUSE = "main"
M.MAX_PUSHES = 3 -- pushes to one cart in one command (a cart selling while we push asks again)

local function text_ok(v) return type(v) == "string" and v ~= "" and not v:find("[%z\1-\31\127]") end

local function quantity(v)
  local n = type(v) == "string" and v:match("^%s*(%d+)%s*$") and math.tointeger(tonumber(v)) or math.tointeger(v)
  if not n or n < 0 or n > 2^31 then return nil end
  return n
end

---------------------------------------------------------------- which carts

-- Every cart of the config, validated (not resolved). list | nil, err, kind.
local function all_carts(s)
  local list, err = carts.load_all(s.cfg)
  if not list then return ops.fail("config", err) end
  return list
end

--- The names of the active carts that sync their inventory, in config order.
function M.syncing(s)
  local list, err, kind = all_carts(s)
  if not list then return nil, err, kind end
  local out = {}
  for _, c in ipairs(list) do if c.sync_inventory and c.active then out[#out + 1] = c.name end end
  return out
end

---------------------------------------------------------------- pushing

-- Imports one cart's new orders before a push again (the cart sold under us): the import's
-- own pushes are left to the caller's queue. The cart's orders job (serve's, or a CLI import)
-- may be importing it right now: wait a little for its lease rather than fail the push (not
-- long: two carts' jobs each waiting on the other's would otherwise stall).
M.REIMPORT_WAIT = 5
local function reimporter(s, queue_others)
  return function(name)
    local results, err = require("cartwright.ops.import").run(s, { name }, { no_push = true, wait = M.REIMPORT_WAIT })
    if not results then return nil, err end
    if not results[1].ok then return nil, results[1].error end
    queue_others(name)
    return true
  end
end

--- Pushes to the carts `names` (or every syncing cart with opts.all). opts: { all, full (send
--- every figure, look missing SKUs up again), retry (failed entries now) }. Each cart once, plus
--- once more for a cart whose figures moved when another cart's orders were imported (at most
--- MAX_PUSHES each). Returns { result, … } (flows/stock_out.lua's, one per push) | nil, err, kind.
function M.push(s, names, opts)
  opts = opts or {}
  local list, err, kind = all_carts(s)
  if not list then return nil, err, kind end
  local by_name = {}
  for _, c in ipairs(list) do by_name[c.name] = c end
  if opts.all then
    names = {}
    for _, c in ipairs(list) do if c.sync_inventory and c.active then names[#names + 1] = c.name end end
  end
  for _, n in ipairs(names) do
    local c = by_name[n]
    if not c then return ops.fail("config", "no cart named \"%s\"", n) end
    if not c.sync_inventory then
      return ops.fail("usage", "cart \"%s\" does not sync its inventory (set sync_inventory = true)", n)
    end
  end
  local db, derr = s:open()
  if not db then return ops.fail("failed", derr) end
  local excluded = stock.excluded(list)
  local queue, queued, pushes, results = {}, {}, {}, {}
  local function enqueue(n)
    if not queued[n] and (pushes[n] or 0) < M.MAX_PUSHES then queued[n], queue[#queue + 1] = true, n end
  end
  local function others(name)
    for _, c in ipairs(list) do if c.name ~= name and c.sync_inventory and c.active then enqueue(c.name) end end
  end
  for _, n in ipairs(names) do enqueue(n) end
  local reimport = reimporter(s, others)
  local i = 0
  while i < #queue do
    i = i + 1
    local name = queue[i]
    queued[name] = nil
    pushes[name] = (pushes[name] or 0) + 1
    local cart, conn = carts.connect(s.cfg, name)
    if not cart then return ops.fail("config", conn) end
    if opts.full then db:stock_missing_clear{ cart = name } end
    local sync, serr = stock_out.new(db, cart, conn, { rules_dir = s.cfg.rules_dir, excluded = excluded,
                                                      full = opts.full and pushes[name] == 1, retry = opts.full or opts.retry,
                                                      reimport = reimport })
    local r
    if not sync then
      r = { cart = name, ok = false, error = serr, sent = 0, batches = 0 }
    else
      local ok, res = pcall(sync.run, sync)
      r = ok and res or sync.result
      if not ok then r.ok, r.error = false, (tostring(res):match("^(.-)\nstack traceback:") or tostring(res)) end
    end
    results[#results + 1] = r
  end
  return results
end

--- After a stock change or an import: pushes to every syncing cart but `except` (the carts
--- whose own orders moved the figures: they lowered their own figure when they sold).
--- Returns results (as M.push) | nil, err, kind.
function M.push_others(s, except)
  local names, err, kind = M.syncing(s)
  if not names then return nil, err, kind end
  local skip, out = {}, {}
  for _, n in ipairs(except or {}) do skip[n] = true end
  for _, n in ipairs(names) do if not skip[n] then out[#out + 1] = n end end
  if #out == 0 then return {} end
  return M.push(s, out, {})
end

---------------------------------------------------------------- on hand

-- Writes rows { sku, warehouse, on_hand } in one transaction, then pushes. r | nil, err, kind.
local function apply(s, rows)
  local db, err = s:open()
  if not db then return ops.fail("failed", err) end
  local ok, terr = db:transaction(function()
    for _, r in ipairs(rows) do assert(db:stock_set(r)) end
    return true
  end)
  if not ok then return ops.fail("failed", terr) end
  local pushed, perr, kind = M.push_others(s, {})
  if not pushed then return nil, perr, kind end
  return { rows = rows, pushed = pushed }
end

--- Sets the on-hand figure of one SKU in one warehouse (default "main"), then pushes to the
--- syncing carts. Returns { rows = { { sku, warehouse, on_hand } }, pushed = { results } } | nil, err, kind.
function M.set(s, sku, qty, warehouse)
  warehouse = warehouse or M.DEFAULT_WAREHOUSE
  if not text_ok(sku) then return ops.fail("usage", "SKU must be text without control characters") end
  if not text_ok(warehouse) then return ops.fail("usage", "the warehouse must be a name without control characters") end
  local n = quantity(qty)
  if not n then return ops.fail("usage", "QTY must be a whole number from 0 (got '%s')", tostring(qty)) end
  return apply(s, { { sku = sku, warehouse = warehouse, on_hand = n } })
end

-- One CSV line's fields (commas; a field may be "quoted", with "" for a quote). list | nil, err.
local function csv_fields(line)
  local fields, i, n = {}, 1, #line
  while i <= n + 1 do
    local c = line:sub(i, i)
    if c == '"' then
      local buf, j = {}, i + 1
      while true do
        local q = line:find('"', j, true)
        if not q then return nil, "a quote is not closed" end
        buf[#buf + 1] = line:sub(j, q - 1)
        if line:sub(q + 1, q + 1) == '"' then
          buf[#buf + 1] = '"'
          j = q + 2
        else
          j = q + 1
          break
        end
      end
      fields[#fields + 1] = table.concat(buf)
      if j <= n and line:sub(j, j) ~= "," then return nil, "text after a quoted field" end
      i = j + 1
    else
      local comma = line:find(",", i, true) or (n + 1)
      fields[#fields + 1] = line:sub(i, comma - 1):match("^%s*(.-)%s*$")
      i = comma + 1
    end
  end
  return fields
end

-- Reads a CSV whose header names `columns` (any order, no others). Each row becomes a table by
-- column, checked by check(row) -> row | nil, why. rows | nil, "file:line: why".
local function read_csv(path, columns, check)
  local f, err = io.open(path, "rb")
  if not f then return nil, "cannot read " .. path .. ": " .. tostring(err) end
  local rows, index, lineno = {}, nil, 0
  for line in f:lines() do
    lineno = lineno + 1
    line = line:gsub("\r$", "")
    if lineno == 1 then line = line:gsub("^\239\187\191", "") end -- a BOM from a spreadsheet
    if line:find("%S") then
      local fields, ferr = csv_fields(line)
      if not fields then
        f:close()
        return nil, string.format("%s:%d: %s", path, lineno, ferr)
      end
      if not index then
        index = {}
        for i, name in ipairs(fields) do index[name:lower()] = i end
        for _, c in ipairs(columns) do
          if not index[c] or #fields ~= #columns then
            f:close()
            return nil, string.format("%s:%d: the header must be %s", path, lineno, table.concat(columns, ","))
          end
        end
      else
        if #fields ~= #columns then
          f:close()
          return nil, string.format("%s:%d: %d fields, want %d (%s)", path, lineno, #fields, #columns, table.concat(columns, ","))
        end
        local row = { line = lineno }
        for _, c in ipairs(columns) do row[c] = fields[index[c]] end
        local ok, why = check(row)
        if not ok then
          f:close()
          return nil, string.format("%s:%d: %s", path, lineno, why)
        end
        rows[#rows + 1] = ok
      end
    end
  end
  f:close()
  if not index then return nil, path .. ": empty (the header must be " .. table.concat(columns, ",") .. ")" end
  return rows
end

--- Imports on-hand figures from a CSV (header sku,warehouse,quantity): every row checked first,
--- then all written in one transaction; one bad row names its line and nothing is written.
--- Returns { rows, pushed } | nil, err, kind ("usage" for a bad file).
-- A checker of { sku, warehouse, quantity, line } rows: each checked, a SKU and warehouse once.
local function row_checker()
  local seen = {}
  return function(r)
    if not text_ok(r.sku) then return nil, "sku must not be empty" end
    if not text_ok(r.warehouse) then return nil, "warehouse must not be empty" end
    local n = quantity(r.quantity)
    if not n then return nil, "quantity must be a whole number from 0 (got '" .. tostring(r.quantity) .. "')" end
    local k = r.sku .. "\0" .. r.warehouse
    if seen[k] then return nil, "sku " .. r.sku .. " in warehouse " .. r.warehouse .. " is already on " .. seen[k] end
    seen[k] = type(r.line) == "number" and "line " .. r.line or r.line
    return { sku = r.sku, warehouse = r.warehouse, on_hand = n }
  end
end

--- Reads and checks a stock CSV without writing: rows { sku, warehouse, on_hand } | nil, "file:line: why".
function M.read_csv(path)
  return read_csv(path, { "sku", "warehouse", "quantity" }, row_checker())
end

function M.import(s, path)
  local rows, err = M.read_csv(path)
  if not rows then return ops.fail("usage", err) end
  return apply(s, rows)
end

--- Sets a batch of on-hand figures { { sku, warehouse (default "main"), quantity }, … } all or
--- nothing, like a CSV import: one bad item names its position and nothing is written.
--- Returns { rows, pushed } | nil, err, kind.
function M.set_many(s, items)
  if type(items) ~= "table" or #items == 0 then return ops.fail("usage", "the batch needs at least one item") end
  local check, rows = row_checker(), {}
  for i, it in ipairs(items) do
    if type(it) ~= "table" then return ops.fail("usage", "item %d: not an object", i) end
    local row, why = check{ sku = it.sku, warehouse = it.warehouse or M.DEFAULT_WAREHOUSE, quantity = it.quantity,
                            line = "item " .. i }
    if not row then return ops.fail("usage", "item %d: %s", i, why) end
    rows[i] = row
  end
  return apply(s, rows)
end

---------------------------------------------------------------- aliases

--- Sets the alias of type `type` of a SKU. Returns { sku, type, alias } | nil, err, kind.
function M.alias_set(s, sku, type_, alias)
  for _, v in ipairs{ sku, type_, alias } do
    if not text_ok(v) then return ops.fail("usage", "SKU, TYPE and ALIAS must be text without control characters") end
  end
  local db, err = s:open()
  if not db then return ops.fail("failed", err) end
  local ok, aerr = db:alias_set{ sku = sku, type = type_, alias = alias }
  if not ok then return ops.fail("failed", aerr) end
  return { sku = sku, type = type_, alias = alias }
end

--- Imports aliases from a CSV (header sku,type,alias), all or nothing. { rows } | nil, err, kind.
function M.alias_import(s, path)
  local rows, err = read_csv(path, { "sku", "type", "alias" }, function(r)
    for _, c in ipairs{ "sku", "type", "alias" } do
      if not text_ok(r[c]) then return nil, c .. " must not be empty" end
    end
    return { sku = r.sku, type = r.type, alias = r.alias }
  end)
  if not rows then return ops.fail("usage", err) end
  local db, derr = s:open()
  if not db then return ops.fail("failed", derr) end
  local ok, terr = db:transaction(function()
    for _, r in ipairs(rows) do assert(db:alias_set(r)) end
    return true
  end)
  if not ok then return ops.fail("failed", terr) end
  return { rows = rows }
end

---------------------------------------------------------------- looking

--- What each SKU has and what each cart is shown. opts: { sku, cart }. Returns a list per SKU:
--- { sku, on_hand = { [warehouse] = n }, on_hand_total, reserved, carts = { { cart, available
--- (nil when skipped), accepted (nil when the cart never accepted a figure), skipped = why } } }
--- | nil, err, kind. The carts are the syncing ones (or opts.cart). Figures per location are
--- added up (the cart's locations are not read: nothing here talks to a cart).
function M.show(s, opts)
  opts = opts or {}
  local list, err, kind = all_carts(s)
  if not list then return nil, err, kind end
  local shown = {}
  for _, c in ipairs(list) do
    if (opts.cart and c.name == opts.cart) or (not opts.cart and c.sync_inventory and c.active) then shown[#shown + 1] = c end
  end
  if opts.cart and #shown == 0 then return ops.fail("config", "no cart named \"%s\"", opts.cart) end
  local db, derr = s:open()
  if not db then return ops.fail("failed", derr) end
  local snap, serr = stock.load(db, stock.excluded(list), opts.sku)
  if not snap then return ops.fail("failed", serr) end
  local per_cart = {}
  for _, c in ipairs(shown) do
    local conn = carts.connector(c.connector, s.cfg.connectors_dir)
    local inv = stock.settings(c)
    local multi = conn and conn.stock and conn.stock.multi_location
    local groups = assert(stock.groups(inv, multi and "(primary)" or nil, function(label) return label end))
    local rl, rerr = rules.load_list(c.rules or {}, s.cfg.rules_dir)
    if not rl then return ops.fail("config", "cart \"%s\": %s", c.name, rerr) end
    local rctx = sandbox.readonly{ cart = rules.public_settings(c, conn or {}), connector = c.connector }
    local items, skipped = stock.figures(snap, inv, groups, rules.stock_rules(rl), rctx,
      stock.reserves_own(conn and conn.stock, c) and c.name or nil)
    local avail, why = {}, {}
    for _, it in ipairs(items) do
      local a = avail[it.sku] or { n = 0, cart_sku = it.cart_sku }
      a.n = a.n + it.available
      avail[it.sku] = a
    end
    for _, sku in ipairs(skipped.unaliased) do why[sku] = "no " .. inv.alias .. " alias" end
    for _, e in ipairs(skipped.rule_errors) do why[e.sku] = e.error end
    local accepted = {}
    for _, a in ipairs(assert(db:stock_accepted_list{ cart = c.name })) do
      accepted[a.sku] = (accepted[a.sku] or 0) + a.quantity
    end
    per_cart[#per_cart + 1] = { name = c.name, avail = avail, why = why, accepted = accepted }
  end
  local out = {}
  for _, sku in ipairs(snap.skus) do
    local total = 0
    for _, q in pairs(snap.on_hand[sku]) do total = total + q end
    local row = { sku = sku, on_hand = snap.on_hand[sku], on_hand_total = total, reserved = snap.reserved[sku] or 0, carts = {} }
    for _, pc in ipairs(per_cart) do
      local a = pc.avail[sku]
      row.carts[#row.carts + 1] = { cart = pc.name, available = a and a.n, cart_sku = a and a.cart_sku,
                                    accepted = a and pc.accepted[a.cart_sku], skipped = pc.why[sku] }
    end
    out[#out + 1] = row
  end
  return out
end

--- The SKUs a cart has no product for (found missing by a push). list of { sku, at } | nil, err, kind.
function M.unmapped(s, name)
  local c, err = carts.load(s.cfg, name)
  if not c then return ops.fail("config", err) end
  local db, derr = s:open()
  if not db then return ops.fail("failed", derr) end
  return assert(db:stock_missing_list{ cart = name })
end

return M
