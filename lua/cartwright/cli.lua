-- The Lua side of the command line: main.c parses options with getopt_long and calls
-- main(cmd, opts, args); each command lives in cartwright/commands/<name>.lua and returns an
-- exit code (0 ok, 1 failed, 2 bad usage or config).
-- Everything a command writes goes through M.out / M.json / M.err: cart data is untrusted
-- (an email may hold terminal escapes or a newline; a cart may echo our token in an error),
-- so every line is redacted, human lines have their control characters escaped, and JSON
-- lines are valid UTF-8.
local config = require "cartwright.config"
local text = require "cartwright.text"
local jraw = require "cartwright.jsonraw"

local M = {}

local EXIT_USAGE = 2

--- Prints a human line on stdout (secrets redacted, control characters escaped).
function M.out(fmt, ...)
  local line = select("#", ...) > 0 and string.format(fmt, ...) or fmt
  io.stdout:write(text.terminal(line), "\n")
end

--- Prints one JSON value as a line on stdout (secrets redacted, valid UTF-8, integers with
--- every digit).
function M.json(v)
  local ok, s = pcall(jraw.encode, v)
  if not ok then error("cannot encode output: " .. tostring(s), 2) end
  io.stdout:write(text.json_safe(s), "\n")
end

--- Prints a message on stderr (secrets redacted, control characters escaped).
function M.err(fmt, ...)
  io.stderr:write("cartwright: ", text.terminal(string.format(fmt, ...)), "\n")
end

--- A progress line on stderr, rewritten in place (only when stderr is a terminal).
function M.progress(fmt, ...)
  io.stderr:write("\r", text.terminal(string.format(fmt, ...)), "\27[K")
end

--- Loads the config named by -c / $CARTWRIGHT_CONFIG / ./cartwright.lua, or reports why not.
---@return table|nil cfg, integer|nil exit_code
function M.load_config(opts)
  local path = config.path(opts.config)
  local cfg, err = config.load(path)
  if not cfg then
    M.err("config error: %s", err)
    return nil, EXIT_USAGE
  end
  return cfg
end

--- Loads the config and opens its database, or reports why not.
---@return table|nil cfg, table|integer db_or_exit_code
function M.open(opts)
  local cfg, code = M.load_config(opts)
  if not cfg then return nil, code end
  local db, err = require("cartwright.carts").open_db(cfg)
  if not db then
    M.err("%s", err)
    return nil, 1
  end
  return cfg, db
end

local commands = {
  carts = "cartwright.commands.carts", test = "cartwright.commands.test",
  import = "cartwright.commands.import", orders = "cartwright.commands.orders",
  ["ship-map"] = "cartwright.commands.ship_map", rules = "cartwright.commands.rules",
  sim = "cartwright.commands.sim",
}

function M.main(cmd, opts, args)
  -- a connector's stray print() is output too: it never shows a secret
  local raw_print = print
  print = function(...) -- luacheck: ignore 121
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = text.redact(tostring(parts[i])) end
    raw_print(table.unpack(parts, 1, parts.n))
  end
  local mod = commands[cmd]
  if not mod then
    M.err("unknown command '%s'", cmd)
    return EXIT_USAGE
  end
  return require(mod).run(opts, args, M)
end

return M
