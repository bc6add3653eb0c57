-- Micro-benchmark: ns per call of string.find/match/gmatch/gsub, Lua 5.4's own functions (kept
-- in the registry for this and the differential tests) against the engine's budgeted ones,
-- on the patterns the connectors and the engine's library use per order field.
-- Each figure is the best of 25 bursts of ~3 ms (wall clock: the CPU clock is too coarse here), with a task.yield() between bursts: a run
-- lasting two watchdog ticks gets the instruction-count hook (see budget.c), which would
-- slow the loop around the call; short runs never get it.
-- Usage: cartwright run tests/bench/patterns.lua
local task = require "cartwright.task"

local lua = debug.getregistry()["cartwright.lua_string"]
local mine = { find = string.find, match = string.match, gmatch = string.gmatch, gsub = string.gsub }

local link = '<https://shop.example/admin/api/2025-01/orders.json?limit=250&page_info=eyJsYXN0X2lkIjo1MTIwMDAxNzc0MDE1fQ>; rel="next", '
  .. '<https://shop.example/admin/api/2025-01/orders.json?limit=250&page_info=eyJkaXJlY3Rpb24iOiJwcmV2In0>; rel="previous"'
local body = ('{"errors": "Too many requests",\n   "retry_after":   2.0 }\n'):rep(4)
local cases = {
  { "match date", "match", "2025-01-15T10:22:31-05:00", "^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):[0-5]%d:[0-5]%d(.*)$" },
  { "match ymd", "match", "2025-01-15T10:22:31Z", "^(%d%d%d%d)%-(%d%d)" },
  { "match money", "match", "  -1234.50 ", "^%s*([+-]?)(%d*)%.?(%d*)%s*$" },
  { "match money2", "match", "19.99", "^(%-?)(%d+)%.(%d%d)$" },
  { "match zone", "match", "+05:30", "^([+-])(%d%d):?(%d%d)$" },
  { "match no", "match", "refused: connection refused", "^timeout" },
  { "match name", "match", "order_prefix_2", "^[%w_]+$" },
  { "match csv", "match", "  SKU-123 ,  Blue shirt, large  ", "^%s*([^,]-)%s*,%s*(.-)%s*$" },
  { "match unanch", "match", "the quick brown fox (error 404) jumps", "(%d+)" },
  { "find plain", "find", "Content-Type: application/json; charset=utf-8", "json", 1, true },
  { "find nospec", "find", "Content-Type: application/json; charset=utf-8", "charset" },
  { "find %S", "find", "      x", "%S" },
  { "gsub trail/", "gsub", "https://shop.example.com///", "/+$", "" },
  { "gsub spaces", "gsub", body, "%s+", " " },
  { "gsub fn", "gsub", "a-b-c-d-e-f-g-h", "%a", function(c) return c end },
  { "gmatch link", "gmatch", link, '<([^>]+)>%s*;%s*rel="?([%w-]+)"?' },
  { "gmatch words", "gmatch", "alpha beta gamma delta epsilon zeta eta theta", "%a+" },
}

local function timed(lib, c, n)
  local f, s, p, a3, a4 = lib[c[2]], c[3], c[4], c[5], c[6]
  local t0 = task.monotonic()
  if c[2] == "gmatch" then
    for _ = 1, n do for _ in f(s, p) do end end
  else
    for _ = 1, n do f(s, p, a3, a4) end
  end
  return (task.monotonic() - t0) / n * 1e9
end

print(string.format("%-14s %10s %10s %7s", "case", "lua ns", "engine ns", "ratio"))
local sum_l, sum_m = 0, 0
for _, c in ipairs(cases) do
  local n = 100
  while timed(lua, c, n) * n < 3e6 do n = n * 2 end -- bounded: doubles up to ~3 ms a burst
  local best_l, best_m = math.huge, math.huge
  for _ = 1, 25 do
    task.yield()
    best_l = math.min(best_l, timed(lua, c, n))
    task.yield()
    best_m = math.min(best_m, timed(mine, c, n))
  end
  sum_l, sum_m = sum_l + best_l, sum_m + best_m
  print(string.format("%-14s %10.1f %10.1f %7.2f", c[1], best_l, best_m, best_m / best_l))
end
print(string.format("%-14s %10.1f %10.1f %7.2f", "sum", sum_l, sum_m, sum_m / sum_l))
