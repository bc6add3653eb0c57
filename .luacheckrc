-- luacheck for the engine's Lua, the rules and the connectors (make test runs it when installed).
std = "lua54"
max_line_length = false
globals = { "package" }
