-- The command line in Lua: main.c hands over every word but the runtime's own options; this
-- parses them against the declarations of cli/commands.lua, runs the command's function and
-- returns its exit code (0 ok, 1 the operation failed, 2 bad usage or config). A command's
-- function parses nothing itself: it gets (args, opts, cli) and calls an operation (ops/).
local decl = require "cartwright.cli.commands"
local out = require "cartwright.cli.out"
local config = require "cartwright.config"
local text = require "cartwright.text"

local M = {}

local EXIT_FAILED, EXIT_USAGE = 1, 2

M.out, M.json, M.err, M.progress, M.progress_done, M.list = out.out, out.json, out.err, out.progress,
  out.progress_done, out.list

-- The declaration a command's words name (the longest: "orders show" before "orders"), and
-- how many words it took.
local function find_command(words, i)
  local best, taken
  for _, c in ipairs(decl.list) do
    local n = select(2, c.name:gsub(" ", "")) + 1
    if table.concat(words, " ", i, math.min(#words, i + n - 1)) == c.name and (not best or n > taken) then
      best, taken = c, n
    end
  end
  return best, taken
end

local function allowed(cmd, name)
  for _, g in ipairs(decl.global) do if g == name then return true end end
  for _, o in ipairs(cmd and cmd.options or {}) do if o == name then return true end end
  return false
end

-- "--name", "--name=value" or a short "-c": name, inline value | nil.
local function option_word(w)
  local name, value = w:match("^%-%-([%w][%w%-]*)=(.*)$")
  if name then return name, value end
  name = w:match("^%-%-([%w][%w%-]*)$")
  if name then return name end
  local short = w:match("^%-(%a)$")
  if short then
    for n, o in pairs(decl.options) do if o.short == short then return n end end
    return "-" .. short
  end
  return nil
end

--- Parses the words: cmd (a declaration) | nil, args, opts | nil, err (a usage error).
function M.parse(words)
  local opts, args, cmd = {}, {}, nil
  local i, rest = 1, false
  while i <= #words do
    local w = words[i]
    if not rest and w == "--" then
      rest = true
    elseif not rest and w:sub(1, 1) == "-" and w ~= "-" then
      local name, inline = option_word(w)
      local spec = name and decl.options[name]
      if not spec then return nil, "unknown option '" .. w .. "'" end
      if not allowed(cmd, name) then
        return nil, cmd and ("option --" .. name .. " is not one of " .. cmd.name .. "'s") or ("option --" .. name .. " goes after a command")
      end
      if spec.value then
        if inline == nil then
          i = i + 1
          inline = words[i]
          if inline == nil then return nil, "--" .. name .. " needs a value (" .. spec.value .. ")" end
        end
        if spec["repeat"] then
          opts[name] = opts[name] or {}
          table.insert(opts[name], inline)
        else
          opts[name] = inline
        end
      elseif inline ~= nil then
        return nil, "--" .. name .. " takes no value"
      else
        opts[name] = true
      end
    elseif not cmd then
      local taken
      cmd, taken = find_command(words, i)
      if not cmd or cmd.engine then return nil, "unknown command '" .. w .. "'" end
      i = i + taken - 1
    else
      args[#args + 1] = w
    end
    i = i + 1
  end
  if not cmd then return nil, opts.help and "help" or "missing command", opts end
  local min, max = cmd.args[1], cmd.args[2]
  if #args < min or (max and #args > max) then return nil, "usage: cartwright " .. cmd.usage end
  for _, r in ipairs(cmd.required or {}) do
    if opts[r] == nil then return nil, "usage: cartwright " .. cmd.usage .. " (--" .. r .. " is required)" end
  end
  return cmd, args, opts
end

--- The help text: every command, or one.
function M.help(name)
  local lines = {}
  local function add(s) lines[#lines + 1] = s end
  local one = name and name ~= "" and select(1, find_command(M.split(name), 1))
  if one then
    add("usage: cartwright " .. one.usage)
    add("  " .. one.summary)
    for _, o in ipairs(one.options or {}) do
      local spec = decl.options[o]
      add(string.format("  --%-22s %s", o .. (spec.value and (" " .. spec.value) or ""), spec.help))
    end
    return table.concat(lines, "\n")
  end
  add("usage: cartwright [options] COMMAND [ARGS]")
  add("")
  add("commands:")
  for _, c in ipairs(decl.list) do
    if #c.usage <= 30 then
      add(string.format("  %-30s %s", c.usage, c.summary))
    else
      add("  " .. c.usage)
      add(string.format("  %-30s %s", "", c.summary))
    end
  end
  add("")
  add("options:")
  for _, g in ipairs(decl.global) do
    local spec = decl.options[g]
    add(string.format("  %s--%-20s %s", spec.short and ("-" .. spec.short .. ", ") or "    ",
      g .. (spec.value and (" " .. spec.value) or ""), spec.help))
  end
  for _, r in ipairs(decl.runtime) do add("      " .. r) end
  add("")
  add("`cartwright help COMMAND` shows a command's options. Exit codes: 0 ok, 1 the operation failed,")
  add("2 bad usage or config.")
  return table.concat(lines, "\n")
end

function M.split(s)
  local words = {}
  for w in tostring(s):gmatch("%S+") do words[#words + 1] = w end
  return words
end

--- Loads the config named by -c / $CARTWRIGHT_CONFIG / ./cartwright.lua. cfg | nil, exit code.
function M.load_config(opts)
  local cfg, err = config.load(config.path(opts.config))
  if not cfg then
    M.err("config error: %s", err)
    return nil, EXIT_USAGE
  end
  return cfg
end

--- A session of the operations layer for the config. s | nil, exit code.
function M.session(opts)
  local cfg, code = M.load_config(opts)
  if not cfg then return nil, code end
  return require("cartwright.ops").session(cfg)
end

--- The exit code for an operation's error kind, after saying the error.
function M.fail(err, kind)
  local config_error = kind == "config"
  M.err("%s%s", config_error and "config error: " or "", tostring(err))
  return (kind == "usage" or config_error) and EXIT_USAGE or EXIT_FAILED
end

local function registry() return debug.getregistry() end

function M.main(words)
  -- a connector's stray print() is output too: it never shows a secret
  local raw_print = print
  print = function(...) -- luacheck: ignore 121
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = text.redact(tostring(parts[i])) end
    raw_print(table.unpack(parts, 1, parts.n))
  end
  local cmd, args, opts = M.parse(words)
  if not cmd then
    local err = args
    if err == "help" then
      io.stdout:write(M.help(), "\n")
      return 0
    end
    M.err("%s", err)
    if err == "missing command" or err:match("^unknown command") then io.stderr:write(M.help(), "\n") end
    return EXIT_USAGE
  end
  if opts.help then
    io.stdout:write(M.help(cmd.name), "\n")
    return 0
  end
  registry()["cartwright.command"] = cmd.name
  if cmd.serving then registry()["cartwright.serving"] = true end
  if cmd.run == "help" then
    io.stdout:write(M.help(table.concat(args, " ")), "\n")
    return 0
  end
  local modname, fname = cmd.run:match("^([%w_]+)%.([%w_]+)$")
  local mod = require("cartwright.cli." .. modname)
  return mod[fname](args, opts, M)
end

return M
