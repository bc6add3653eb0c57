-- One measured import for tests/bench/import.lua, in a process of its own.
-- Usage: cartwright run tests/bench/import_run.lua CONFIG DB NOW [dry]
-- Imports the config's cart "bench" into the (new) database DB with the window ending at NOW
-- and prints one JSON line: seen, stored, requests, pages, wall and CPU seconds of the import,
-- then of closing the database (the write-ahead log's checkpoint), bytes written, peak RSS.
local task = require "cartwright.task"
local config = require "cartwright.config"
local carts = require "cartwright.carts"
local importer = require "cartwright.flows.orders_in"
local json = require "cjson.safe"

local conf, db_path, now, dry = arg[1], arg[2], tonumber(arg[3]), arg[4] == "dry"
assert(conf and db_path and now, "usage: import_run.lua CONFIG DB NOW [dry]")

local function slurp(p) local f = io.open(p) if not f then return "" end local s = f:read("a") f:close() return s end
-- bytes this process handed to write(2)/pwrite(2): the database's log and its checkpoints
local function written() return tonumber(slurp("/proc/self/io"):match("wchar: (%d+)")) or 0 end

local cfg = assert(config.load(conf))
cfg.db = db_path
local cart, conn = assert(carts.load(cfg, "bench"))
local db = assert(carts.open_db(cfg))

local w0, t0, cpu0 = written(), task.monotonic(), task.cpu()
local st = assert(assert(importer.new(db, cart, conn, { now = now, dry_run = dry })):run())
local wall, cpu = task.monotonic() - t0, task.cpu() - cpu0
local tc, cpuc = task.monotonic(), task.cpu()
db:close()
local close, close_cpu = task.monotonic() - tc, task.cpu() - cpuc
local bytes = written() - w0

db = assert(carts.open_db(cfg))
local count = db:orders_count{}
db:close()
print(json.encode{
  seen = st.seen, stored = count.n, distinct = count.distinct_n, requests = st.requests, pages = st.pages,
  wall = wall, cpu = cpu, close = close, close_cpu = close_cpu, bytes = bytes,
  rss_kb = tonumber(slurp("/proc/self/status"):match("VmHWM:%s*(%d+) kB")),
})
