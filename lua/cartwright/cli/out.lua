-- The only way a command writes to the terminal. Cart data is untrusted (an email may hold
-- terminal escapes or a newline; a cart may echo our token in an error), so every line is
-- redacted, human lines have their control characters escaped, and JSON lines are valid UTF-8
-- with every digit of an integer.
local text = require "cartwright.text"
local jraw = require "cartwright.jsonraw"

local M = {}

--- Prints a human line on stdout (secrets redacted, control characters escaped). With more
--- than one argument, the first is a string.format pattern.
function M.out(fmt, ...)
  local line = select("#", ...) > 0 and string.format(fmt, ...) or fmt
  io.stdout:write(text.terminal(line), "\n")
end

--- Prints one JSON value as a line on stdout.
function M.json(v)
  local ok, s = pcall(jraw.encode, v)
  if not ok then error("cannot encode output: " .. tostring(s), 2) end
  io.stdout:write(text.json_safe(s), "\n")
end

--- Prints a message on stderr, after "cartwright: ".
function M.err(fmt, ...)
  local line = select("#", ...) > 0 and string.format(fmt, ...) or fmt
  io.stderr:write("cartwright: ", text.terminal(line), "\n")
end

--- A progress line on stderr, rewritten in place (call only when stderr is a terminal).
function M.progress(fmt, ...)
  io.stderr:write("\r", text.terminal(string.format(fmt, ...)), "\27[K")
end

--- Clears a progress line.
function M.progress_done()
  io.stderr:write("\r\27[K")
end

--- A list that encodes as [] when empty.
function M.list(t)
  return setmetatable(t or {}, jraw.array_mt)
end

return M
