-- The Lua side of the command line: main.c parses options with getopt_long and calls
-- main(cmd, opts, args); each command lives in cartwright/commands/<name>.lua and returns an
-- exit code (0 ok, 1 failed, 2 bad usage or config).
local config = require "cartwright.config"

local M = {}

local EXIT_USAGE = 2

--- Prints a message on stderr.
function M.err(fmt, ...)
  io.stderr:write("cartwright: ", string.format(fmt, ...), "\n")
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
  local mod = commands[cmd]
  if not mod then
    M.err("unknown command '%s'", cmd)
    return EXIT_USAGE
  end
  return require(mod).run(opts, args, M)
end

return M
