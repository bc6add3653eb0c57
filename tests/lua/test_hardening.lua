-- Hardening: what a careless merchant's rule or config, or a cart's bytes, must not do. One
-- section per item of the hardening issue (numbers in the names), each through the real binary
-- against a Shopify simulator process on 127.0.0.1 and a real SQLite file. Items 1, 7 and 8
-- (a hostile cart's links, loops and waits) are in test_hostile_cart.lua.
local T = require "t"
local task = require "cartwright.task"
local http = require "cartwright.http"
local json = require "cjson.safe"
local store = require "cartwright.store"

local dir = T.tmpdir()
local sim = T.sim("shopify", { "--orders", "60", "--seed", "11" })
local env = { ACME_TOKEN = "shpat_test" }
local N_OPEN -- open orders at the cart (the ones an import stores)

-- A config with one Shopify cart; `extra` goes into the cart's settings, `top` before it.
local function config(name, extra, top)
  return T.write(dir .. "/" .. name, string.format([[
db = %q
%s
cart "acme" {
  connector = "shopify", url = %q, token = env "ACME_TOKEN",
  order_prefix = "SH-", batch_size = 25, %s
}
]], dir .. "/" .. name .. ".db", top or "", sim.url, extra or ""))
end
local function cw(cfg, args, opts) return T.cw({ "-c", cfg, table.unpack(args) }, env, opts or { timeout = 60 }) end
local function rules_dir(files)
  local rdir = T.tmpdir()
  for name, src in pairs(files) do T.write(rdir .. "/" .. name .. ".lua", src) end
  return rdir
end
local function orders(cfg)
  local db = assert(store.open(T.slurp(cfg):match('db = "([^"]+)"')))
  local rows = assert(db:orders_list{})
  local c = assert(db:orders_count{})
  db:close()
  return rows, c
end
-- Of the stored orders whose external id ends in `digit`: how many, and how many are held by
-- `rule` with `reason` (plain text) in the reason.
local function held_by(cfg, digit, rule, reason)
  local held, want = 0, 0
  for _, r in ipairs(orders(cfg)) do
    if r.external_id:sub(-1) == digit then
      want = want + 1
      if r.hold_rule == rule and (r.hold_reason or ""):find(reason, 1, true) then held = held + 1 end
    end
  end
  return held, want
end

local function sim_post(path, body)
  local res = assert(http.request{ method = "POST", url = sim.url .. path, body = json.encode(body),
                                   headers = { ["Content-Type"] = "application/json" } })
  return json.decode(res.body)
end

-- a plain import first: how many orders a run stores
do
  local cfg = config("plain.lua")
  local code, out = cw(cfg, { "import", "acme" })
  T.eq(code, 0, "baseline import: exit 0")
  local _, c = orders(cfg)
  N_OPEN = c.n
  T.ok(N_OPEN > 20, "baseline import stored the open orders", out)
end

---------------------------------------------------------------- 3. log redaction
do
  local script = T.write(dir .. "/log.lua", [[
local log = require "cartwright.log"
for i = 1, 100 do log.secret(string.format("filler-secret-%03d", i)) end
log.secret('tok"en\\with space')
log.warn("cart answered", { body = 'error: bad token tok"en\\with space here', last = "filler-secret-100" })
]])
  local code, _, err = T.cw{ "run", script }
  T.eq(code, 0, "3: script ran")
  T.ok(not err:find("with space", 1, true) and not err:find('tok\\"en', 1, true), "3: a secret holding \" \\ and a space is redacted", err)
  T.ok(not err:find("filler-secret-100", 1, true), "3: the 101st secret is redacted too (no cap)", err)
  T.match(err, "%[redacted%]", "3: the marker is there")
end

---------------------------------------------------------------- 4. __gc finalizers
do
  local rdir = rules_dir{ fin = "setmetatable({}, {__gc = function() while true do end end})\n"
    .. "return { apply = function() end }\n" }
  local cfg = config("gc.lua", 'rules = { "status_map", "fin" },', string.format("rules_dir = %q", rdir))
  local t0 = task.monotonic()
  local code, _, err = cw(cfg, { "rules", "check" }, { timeout = 20 })
  T.eq(code, 2, "4: rules check with a __gc rule: exit 2, no hang")
  T.match(err, "fin%.lua:1: setmetatable: __gc is not allowed", "4: names the rule file and line")
  code = cw(cfg, { "import", "acme" }, { timeout = 20 })
  T.eq(code, 2, "4: import with a __gc rule: exit 2, no hang")
  local gc_cfg = T.write(dir .. "/gccfg.lua", "local x = setmetatable({}, {__gc = function() while true do end end})\n"
    .. "db = '" .. dir .. "/gccfg.db'\n")
  code, _, err = T.cw({ "carts", "-c", gc_cfg }, env, { timeout = 20 })
  T.eq(code, 2, "4: carts with a __gc in the config: exit 2, no hang")
  T.match(err, "gccfg%.lua:1: setmetatable: __gc is not allowed", "4: names the config file and line")
  T.ok(task.monotonic() - t0 < 15, "4: all three ended promptly")
end

---------------------------------------------------------------- 5. pattern functions under the budget
do
  local rdir = rules_dir{ regex = "return { apply = function(order)\n"
    .. "  if order.external_id:sub(-1) == '1' then string.find(('a'):rep(24), ('a*'):rep(24) .. 'b') end\n"
    .. "end }\n" }
  local cfg = config("pat.lua", 'rules = { "status_map", "regex" },', string.format("rules_dir = %q", rdir))
  local t0 = task.monotonic()
  local code, _, err = cw(cfg, { "import", "acme" }, { timeout = 60 })
  local took = task.monotonic() - t0
  T.eq(code, 0, "5: import with a backtracking pattern in a rule: exit 0", err)
  local held, want = held_by(cfg, "1", "regex", rdir .. "/regex.lua:2: instruction limit exceeded")
  T.ok(want > 0 and held == want, "5: each such order held by the rule with file:line", held .. "/" .. want)
  T.eq(#orders(cfg), N_OPEN, "5: every order stored")
  T.ok(took < 20, "5: the import was not held up", string.format("%.1f s for %d spinning orders", took, want))
  -- the same spin outside any rule, stopped by SIGTERM at once (not by the deadline)
  local spin = T.write(dir .. "/pspin.lua", "string.find(('a'):rep(30), ('a*'):rep(30) .. 'b')\n")
  local p = T.spawn({ "--max-instructions", "100000000000000", "run", spin })
  task.sleep(0.5)
  t0 = task.monotonic()
  p.signal("TERM")
  code = p.wait(5)
  took = task.monotonic() - t0
  T.ok(code ~= nil and took < 0.5, "5/6: SIGTERM stops a pattern spin at once", string.format("%s in %.2f s", tostring(code), took))
  T.ok(not p.err():find("still running"), "5/6: without the deadline")
  p.clean()
end

---------------------------------------------------------------- budgets bound CPU time too (a fuzz finding)
do
  -- few instructions per iteration, megabytes of copying per call: the instruction count alone
  -- would let this run for minutes per order
  local rdir = rules_dir{ rep = "return { apply = function(order)\n"
    .. "  if order.external_id:sub(-1) == '3' then for i = 1, 1e9 do local s = string.rep('x', 4000000) end end\n"
    .. "end }\n" }
  local cfg = config("rep.lua", 'rules = { "status_map", "rep" },', string.format("rules_dir = %q", rdir))
  local t0 = task.monotonic()
  local code, _, err = cw(cfg, { "import", "acme" }, { timeout = 120 })
  local took = task.monotonic() - t0
  T.eq(code, 0, "time: import with a rule looping on string.rep: exit 0", err)
  local held, want = held_by(cfg, "3", "rep", rdir .. "/rep.lua:2: time limit exceeded")
  T.ok(want > 0 and held == want, "time: each such order held with file:line and 'time limit exceeded'", held .. "/" .. want)
  T.ok(took < 3 * want + 10, "time: about a second or two per such order, not minutes",
    string.format("%.1f s for %d orders", took, want))
end

---------------------------------------------------------------- 6. stop signals
do
  -- a rule that burns its whole budget on every order: an import that is busy in Lua
  local rdir = rules_dir{ burn = "return { apply = function() local x = 0 for i = 1, 4000000 do x = x + i end end }\n" }
  local cfg = config("sig.lua", 'rules = { "burn", "status_map" },', string.format("rules_dir = %q", rdir))
  local p = T.spawn({ "-c", cfg, "import", "acme" }, env)
  task.sleep(0.6)
  local t0 = task.monotonic()
  p.signal("TERM")
  local code = p.wait(5)
  local took = task.monotonic() - t0
  T.eq(code, 1, "6: SIGTERM during a busy import: exit 1")
  T.ok(took < 2, "6: stopped within 2 s of SIGTERM", string.format("%.2f s", took))
  T.match(p.err(), "import interrupted; what was stored so far is kept", "6: says so")
  p.clean()
  local db = assert(store.open(dir .. "/sig.lua.db"))
  local c = assert(db:orders_count{})
  db:close()
  T.eq(c.n, c.distinct_n, "6: no duplicate after the interrupt")
  -- integrity: the sqlite3 CLI (installed by make deps) reads the file as SQLite sees it
  local f = io.popen("sqlite3 " .. T.q(dir .. "/sig.lua.db") .. " 'PRAGMA integrity_check' 2>&1")
  local check = f:read("a")
  f:close()
  T.eq(check, "ok\n", "6: database consistent after the interrupt")
  -- pure Lua spinning inside pcall, and a second signal exiting at once
  local spin = T.write(dir .. "/spin.lua", "while true do pcall(function() while true do end end) end\n")
  p = T.spawn({ "--max-instructions", "100000000000", "run", spin })
  task.sleep(0.3)
  t0 = task.monotonic()
  p.signal("TERM")
  code = p.wait(5)
  took = task.monotonic() - t0
  T.ok(code ~= nil and took < 2, "6: a Lua loop inside pcall stops on SIGTERM", string.format("%s in %.2f s", tostring(code), took))
  p.clean()
  -- a spin in C that checks nothing (one table.sort of 20 million numbers): the deadline ends it
  local cspin = T.write(dir .. "/cspin.lua", "local t = {} for i = 1, 20000000 do t[i] = (i * 7919) % 1000003 end\n"
    .. "io.stdout:write('sorting\\n') io.stdout:flush()\nwhile true do table.sort(t) end\n")
  local function sorting(q)
    for _ = 1, 600 do -- bounded: 60 s
      if q.out():find("sorting") then return true end
      task.sleep(0.1)
    end
    return false
  end
  p = T.spawn({ "--max-instructions", "100000000000", "run", cspin })
  T.ok(sorting(p), "6: the C spin started")
  t0 = task.monotonic()
  p.signal("INT")
  code = p.wait(5)
  took = task.monotonic() - t0
  T.ok(code == 1 and took < 2, "6: SIGINT during a long C call: gone within 2 s", string.format("%s in %.2f s", tostring(code), took))
  T.match(p.err(), "still running 1%.5 s after the stop signal: exiting now", "6: the deadline says so")
  p.clean()
  p = T.spawn({ "--max-instructions", "100000000000", "run", cspin })
  T.ok(sorting(p), "6: the C spin started again")
  t0 = task.monotonic()
  p.signal("TERM")
  task.sleep(0.05)
  p.signal("TERM")
  code = p.wait(5)
  took = task.monotonic() - t0
  T.ok(code == 1 and took < 0.5, "6: a second signal exits at once", string.format("%s in %.2f s", tostring(code), took))
  T.match(p.err(), "second signal: exiting now", "6: and says so")
  p.clean()
end

---------------------------------------------------------------- 9, 10, 11, 16. rules
do
  local rdir = rules_dir{
    merge = "return { apply = function(order) order.external_id = '1' end }\n",
    tamper = "return { apply = function(order, ctx)\n"
      .. "  pcall(function() ctx.cart.order_prefix = 'EVIL-' end)\n"
      .. "  pcall(function() ctx.ship_method = function() return 'Free' end end)\n"
      .. "  pcall(function() rawset(ctx, 'connector', 'x') end)\n"
      .. "end }\n",
    tostr = "return { apply = function(order)\n"
      .. "  if order.external_id:sub(-1) == '2' then\n"
      .. "    return 'hold', setmetatable({}, { __tostring = function() while true do end end })\n"
      .. "  end\n"
      .. "  if order.external_id:sub(-1) == '4' then return 'Hold', 'typo' end\n"
      .. "end }\n",
    crash = "return { apply = function(order) if order.external_id:sub(-1) == '6' then error('boom') end end }\n",
    -- a table with a metatable made when the file loads, put into some orders: the engine reads
    -- orders outside any budget, so this __index must never run there
    preset = "local evil = setmetatable({}, { __index = function() while true do end end })\n"
      .. "return { apply = function(order) if order.external_id:sub(-1) == '8' then order.customer = evil end end }\n",
  }
  local cfg = config("rules.lua", 'rules = { "tamper", "status_map", "order_prefix", "tostr", "crash", "preset", "reject_unmapped_shipping" },',
    string.format("rules_dir = %q", rdir))
  local code, out, err = cw(cfg, { "import", "acme" })
  T.eq(code, 0, "10/11: import with tampering and hostile rules: exit 0", err)
  local rows = orders(cfg)
  T.eq(#rows, N_OPEN, "10/11: every order stored", out)
  local evil, prefixed, by = 0, 0, {}
  for _, r in ipairs(rows) do
    if r.number:find("^EVIL%-") then evil = evil + 1 end
    if r.number:find("^SH%-") then prefixed = prefixed + 1 end
    by[r.external_id] = r
  end
  T.eq(evil, 0, "10: a rule cannot change ctx.cart for the next rules")
  local dirty = 0
  for id in pairs(by) do if id:sub(-1) == "8" then dirty = dirty + 1 end end
  -- (an order a rule left unusable is stored as the cart sent it, without any rule's changes)
  T.eq(prefixed, N_OPEN - dirty, "10: every order got the configured prefix")
  local frees, held2, held4, held6, held8, shipping = 0, 0, 0, 0, 0, 0
  for id, r in pairs(by) do
    if r.hold_rule == nil then frees = frees + 1 end
    local last = id:sub(-1)
    if last == "2" and r.hold_rule == "tostr" then held2 = held2 + 1 end
    if last == "4" and r.hold_rule == "tostr" and (r.hold_reason or ""):find("returned unknown verdict 'Hold'", 1, true) then held4 = held4 + 1 end
    if last == "6" and r.hold_rule == "crash" and (r.hold_reason or ""):find(rdir .. "/crash.lua:1: boom", 1, true)
        and not r.hold_reason:find("\n") then
      held6 = held6 + 1
    end
    if last == "8" and r.hold_rule == "preset" and (r.hold_reason or ""):find("not plain data in the order: order.customer holds a table with a metatable", 1, true) then
      held8 = held8 + 1
    end
    if r.hold_rule == "reject_unmapped_shipping" then shipping = shipping + 1 end
  end
  local w2, w4, w6, w8 = 0, 0, 0, 0
  for id in pairs(by) do
    local last = id:sub(-1)
    if last == "2" then w2 = w2 + 1 elseif last == "4" then w4 = w4 + 1 elseif last == "6" then w6 = w6 + 1
    elseif last == "8" then w8 = w8 + 1 end
  end
  T.eq(frees, 0, "10: ctx.ship_method replaced by no rule: nothing released to 'Free'")
  T.ok(w2 > 0 and held2 == w2, "11: a reason whose __tostring loops holds its order; the import goes on", held2 .. "/" .. w2)
  T.ok(w4 > 0 and held4 == w4, "9: an unknown verdict holds with [rule NAME] returned unknown verdict 'Hold'", held4 .. "/" .. w4)
  T.ok(w6 > 0 and held6 == w6, "16: a rule error names the real path in rules_dir, on one line", held6 .. "/" .. w6)
  T.ok(w8 > 0 and held8 == w8, "9: a metatable a rule made at load time, put into orders, holds them (never read outside the budget)",
    held8 .. "/" .. w8)
  T.eq(shipping, N_OPEN - w2 - w4 - w6 - w8, "10: the rules after the tamperer still saw the real ship_method")
  local tcfg = config("typo.lua", 'rules = { "status_map", "typo" },', string.format("rules_dir = %q",
    rules_dir{ typo = "return { apply = function() return 'Hold', 'x' end }\n" }))
  code, _, err = cw(tcfg, { "rules", "check" })
  T.eq(code, 2, "9: rules check fails on the unknown verdict")
  T.match(err, "returned unknown verdict 'Hold'", "9: and says which")

  -- identity: a rule that sets external_id merges nothing
  local mcfg = config("merge.lua", 'rules = { "status_map", "merge" },', string.format("rules_dir = %q", rdir))
  code = cw(mcfg, { "import", "acme" })
  T.eq(code, 0, "9: import with an identity-changing rule: exit 0")
  local mrows, mc = orders(mcfg)
  T.eq(mc.n, N_OPEN, "9: no order merged into another (" .. N_OPEN .. " stored)")
  T.eq(mc.distinct_n, N_OPEN, "9: every external id distinct")
  local named = 0
  for _, r in ipairs(mrows) do
    if r.hold_rule == "merge" and r.hold_reason:find("changed the order's identity (external_id '" .. r.external_id .. "' -> '1')", 1, true) then
      named = named + 1
    end
  end
  T.eq(named, N_OPEN, "9: each held by the rule, named, with the ids")
end

---------------------------------------------------------------- 14, 15. config
do
  local function bad(name, cart_extra, top, want, label)
    local cfg = config(name, cart_extra, top)
    local code, _, err = T.cw({ "carts", "-c", cfg }, env, { timeout = 30 })
    T.eq(code, 2, label .. ": exit 2")
    T.match(err, want, label .. ": names file:line and why")
    return err
  end
  bad("d1.lua", 'earliest_order_date = "2099-01-01 ",', nil, "d1%.lua:3: .*earliest_order_date must be a real date", "14: trailing space in a date")
  bad("d2.lua", 'earliest_order_date = "2025-13-45",', nil, "d2%.lua:3: .*earliest_order_date must be a real date", "14: month 13")
  bad("d3.lua", 'earliest_order_date = "2025-02-29",', nil, "d3%.lua:3: .*earliest_order_date", "14: 29 February of a common year")
  local err = bad("r1.lua", "rate_limit = { capacity = 5 },", nil, "r1%.lua:3: .*rate_limit needs capacity and per_second", "14: rate_limit without per_second")
  T.ok(not err:find("traceback"), "14: no Lua traceback")
  bad("r2.lua", "rate_limit = { capacity = 0, per_second = 0 },", nil, "r2%.lua:3: .*rate_limit capacity must be at least 1", "14: rate_limit of zero")
  bad("b1.lua", "batch_size = 0.5,", nil, "b1%.lua:3: .*batch_size must be an integer from 1", "14: fractional batch size")
  bad("b2.lua", "timeout = 0/0,", nil, "b2%.lua:3: .*timeout must be a number from", "14: NaN timeout")
  bad("b3.lua", "timeout = -1,", nil, "b3%.lua:3: .*timeout must be a number from", "14: negative timeout")
  bad("s1.lua", 'download_statuses = { "open", 3 },', nil, "s1%.lua:3: .*download_statuses must list non%-empty strings", "14: a number among statuses")
  bad("m1.lua", "rate_limit = setmetatable({}, { __index = function() while true do end end }),", nil,
    "m1%.lua:3: .*rate_limit holds a table with a metatable", "14: a metatable in the settings")
  bad("t1.lua", "", "db = 42", "t1%.lua:2: db must be a non%-empty string", "14: db of the wrong type")
  bad("l1.lua", "", "local n = 0 while true do n = n + 1 end", "l1%.lua:2: instruction limit exceeded", "15: an endless loop in the config")
  bad("l2.lua", "", "local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(1000) .. i end", "l2%.lua:2: memory limit exceeded",
    "15: a memory bomb in the config")
end

---------------------------------------------------------------- 17. a new database, many commands at once
do
  -- six commands started by one shell line, so they open the new file at the same moment;
  -- five rounds, each on a new database
  local failed, first_err = 0, nil
  for round = 1, 5 do
    local cfg = config("race" .. round .. ".lua")
    local rdir = T.tmpdir()
    os.execute(string.format("for i in 1 2 3 4 5 6; do (ACME_TOKEN=shpat_test timeout 30 %s -c %s carts"
      .. " >%s/o$i 2>%s/e$i; echo $? >%s/rc$i) & done; wait", T.q(T.bin), T.q(cfg), rdir, rdir, rdir))
    for i = 1, 6 do
      if T.slurp(rdir .. "/rc" .. i) ~= "0\n" then
        failed = failed + 1
        first_err = first_err or T.slurp(rdir .. "/e" .. i)
      end
    end
    os.execute("rm -rf " .. T.q(rdir))
  end
  T.eq(failed, 0, "17: six commands on a new database at once all succeed (5 rounds)", first_err)
end

---------------------------------------------------------------- 18, 19. output and ship-map
do
  -- no shipping rule: orders are not held, so the listing shows each customer's email
  local cfg = config("out.lua", 'rules = { "status_map", "order_prefix" },')
  -- an email with a terminal escape and a newline, a name with invalid UTF-8
  local page = sim_post("/_sim/orders", { count = 1 })
  local id = page.ids[1]
  sim_post("/_sim/orders/" .. string.format("%d", id), { fields = {
    email = "\27[2J\nacme  FAKE-1  paid  \27[0m@x.example", note = "bad \255\254 utf8",
    customer = { first_name = "\192\175", email = "\27]0;owned\7@x.example" } } })
  local code, _, err = cw(cfg, { "import", "acme" })
  T.eq(code, 0, "18: import of hostile bytes: exit 0", err)
  local out
  code, out = cw(cfg, { "orders", "--json" })
  T.eq(code, 0, "18: orders --json: exit 0")
  local lines, valid, decoded = 0, 0, 0
  for line in out:gmatch("[^\n]+") do
    lines = lines + 1
    if utf8.len(line) then valid = valid + 1 end
    if json.decode(line) then decoded = decoded + 1 end
  end
  T.ok(lines > 0 and valid == lines, "18: every JSON line is valid UTF-8", valid .. "/" .. lines)
  T.eq(decoded, lines, "18: every JSON line decodes")
  code, out = cw(cfg, { "orders" })
  T.eq(code, 0, "18: orders: exit 0")
  T.ok(not out:find("\27", 1, true), "18: no raw escape character in human output")
  T.ok(not out:find("\nacme  FAKE", 1, true), "18: an email's newline cannot start a fake order line")
  local _, n = out:gsub("\n", "")
  T.eq(n, N_OPEN + 2, "18: one line per order plus the count line")
  -- ship-map
  code, _, err = cw(cfg, { "ship-map", "Standard", "" })
  T.eq(code, 2, "19: ship-map CODE \"\": exit 2")
  T.match(err, "METHOD must not be empty", "19: says why")
  code = cw(cfg, { "ship-map", "Standard", "   " })
  T.eq(code, 2, "19: a blank method: exit 2")
  local rdir = rules_dir{ dump = "return { apply = function(order) order.note = tostring(('').dump) end }\n" }
  local dcfg = config("dump.lua", 'rules = { "dump" },', string.format("rules_dir = %q", rdir))
  code = cw(dcfg, { "import", "acme" })
  local rows = orders(dcfg)
  local leaked = 0
  for _, r in ipairs(rows) do if r.doc:find("function", 1, true) then leaked = leaked + 1 end end
  T.eq(leaked, 0, "19: (\"\").dump reaches nothing")
end

sim.stop()
os.execute("rm -rf " .. dir)
return T.done()
