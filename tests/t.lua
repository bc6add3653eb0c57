-- A tiny test harness for Lua tests run with `cartwright run`. Each check prints a line;
-- T.done() prints "N passed, N failed" and returns the exit code.
local T = { passed = 0, failed = 0 }

T.bin = os.getenv("CW_BIN") or "build/cartwright"
T.home = os.getenv("CW_HOME_DIR") or "."

local function fmt(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

function T.ok(cond, name, detail)
  if cond then
    T.passed = T.passed + 1
    print("ok   " .. name)
  else
    T.failed = T.failed + 1
    print("FAIL " .. name .. (detail and ("\n     " .. tostring(detail)) or ""))
  end
  return cond
end

function T.eq(got, want, name, detail)
  return T.ok(got == want, name, "got " .. fmt(got) .. ", want " .. fmt(want) .. (detail and (" (" .. tostring(detail) .. ")") or ""))
end

function T.match(s, pattern, name)
  return T.ok(type(s) == "string" and s:find(pattern) ~= nil, name, "got " .. fmt(s) .. ", want match " .. fmt(pattern))
end

function T.done()
  print(string.format("%d passed, %d failed", T.passed, T.failed))
  return T.failed == 0 and 0 or 1
end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end
T.slurp = slurp

function T.write(path, content)
  local f = assert(io.open(path, "wb"))
  f:write(content)
  f:close()
  return path
end

function T.tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p " .. p))
  return p
end

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
T.q = q

--- Runs the cartwright binary (blocking) and returns exit code, stdout, stderr.
--- args is a list of words; env is an optional table of environment variables; opts.timeout
--- (seconds) bounds the run: a command still going then is killed and its code is 124.
function T.cw(args, env, opts)
  local dir = T.tmpdir()
  local parts = {}
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. q(v) end
  if opts and opts.timeout then parts[#parts + 1] = "timeout -k 2 " .. opts.timeout end
  parts[#parts + 1] = q(T.bin)
  for _, a in ipairs(args) do parts[#parts + 1] = q(a) end
  local cmd = table.concat(parts, " ") .. " >" .. dir .. "/out 2>" .. dir .. "/err </dev/null"
  local _, _, code = os.execute(cmd)
  local out, err = slurp(dir .. "/out"), slurp(dir .. "/err")
  os.execute("rm -rf " .. dir)
  return code, out, err
end

--- Starts the cartwright binary in the background: returns { pid, dir, signal = fn(SIG),
--- wait = fn(max_seconds) -> code | nil (still running), out = fn(), err = fn(),
--- listening = fn(max_seconds) -> url | nil, clean = fn() }.
--- The exit code is read from a file the shell writes when the process ends.
function T.spawn(args, env)
  local dir = T.tmpdir()
  local parts = {}
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. q(v) end
  parts[#parts + 1] = "exec " .. q(T.bin)
  for _, a in ipairs(args) do parts[#parts + 1] = q(a) end
  -- the child's pid is the inner shell's ($$ after exec is the binary); its code lands in rc
  local inner = table.concat(parts, " ") .. " >" .. dir .. "/out 2>" .. dir .. "/err </dev/null"
  os.execute("(sh -c " .. q("echo $$ >" .. dir .. "/pid; " .. inner) .. "; echo $? >" .. dir .. "/rc) &")
  local pid
  for _ = 1, 200 do -- bounded: 200 x 10 ms
    pid = slurp(dir .. "/pid"):match("%d+")
    if pid then break end
    os.execute("sleep 0.01")
  end
  assert(pid, "could not start " .. T.bin)
  local p = { pid = pid, dir = dir }
  function p.signal(sig) os.execute("kill -" .. sig .. " " .. pid .. " 2>/dev/null") end
  function p.wait(max_seconds)
    local t0 = os.time()
    for _ = 1, math.ceil(max_seconds * 100) + 1 do -- bounded by count and time
      local rc = slurp(dir .. "/rc"):match("%d+")
      if rc then return tonumber(rc) end
      if os.time() - t0 > max_seconds + 1 then break end
      os.execute("sleep 0.01")
    end
    return nil
  end
  function p.out() return slurp(dir .. "/out") end
  --- The http://HOST:PORT the process says it listens on, within max_seconds (10) | nil.
  function p.listening(max_seconds)
    for _ = 1, math.ceil((max_seconds or 10) * 10) do -- bounded by count and time
      local url = slurp(dir .. "/out"):match("listening on (http://[%d.:]+)")
      if url then return url end
      os.execute("sleep 0.1")
    end
  end
  function p.err() return slurp(dir .. "/err") end
  function p.clean()
    os.execute("kill -9 " .. pid .. " 2>/dev/null")
    os.execute("rm -rf " .. dir)
  end
  return p
end

--- A ctx for cart `name` of `connector` at `url` (its other settings: Lua text), in-process,
--- with a test's limits: a rate limit that never waits, short retries. Returns ctx, conn, cart.
function T.connect(name, connector, url, settings)
  local config = require "cartwright.config"
  local carts = require "cartwright.carts"
  local context = require "cartwright.ctx"
  local dir = T.tmpdir()
  T.write(dir .. "/cw.lua", string.format("cart %q { connector = %q, url = %q, rate_limit = { capacity = 1000,"
    .. " per_second = 1000 }, retry_base_seconds = 0.01, retry_max_seconds = 2, %s }\n", name, connector, url, settings or ""))
  local cart, conn = assert(carts.connect(assert(config.load(dir .. "/cw.lua")), name))
  os.execute("rm -rf " .. dir)
  return context.new(cart, conn), conn, cart
end

--- Starts `cartwright sim CART ...` in the background; returns {port=, pid=, url=, stop=fn}.
function T.sim(cart, args, env)
  local dir = T.tmpdir()
  local parts = {}
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. q(v) end
  parts[#parts + 1] = q(T.bin) .. " sim " .. cart .. " --port 0"
  for _, a in ipairs(args or {}) do parts[#parts + 1] = q(a) end
  os.execute(table.concat(parts, " ") .. " >" .. dir .. "/out 2>" .. dir .. "/err </dev/null & echo $! >" .. dir .. "/pid")
  local pid = slurp(dir .. "/pid"):match("%d+")
  local port
  for _ = 1, 200 do -- bounded: 200 x 50 ms
    port = slurp(dir .. "/out"):match("127%.0%.0%.1:(%d+)")
    if port then break end
    os.execute("sleep 0.05")
  end
  assert(port, "simulator " .. cart .. " did not start: " .. slurp(dir .. "/err"))
  return {
    port = tonumber(port), pid = pid, url = "http://127.0.0.1:" .. port, dir = dir,
    stop = function()
      os.execute("kill " .. pid .. " 2>/dev/null; sleep 0.1")
      os.execute("rm -rf " .. dir)
    end,
  }
end

return T
