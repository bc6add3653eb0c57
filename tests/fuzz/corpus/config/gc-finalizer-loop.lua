-- A finalizer that never returns. It runs when the table is collected: inside a budgeted task
-- it is stopped, but at exit lua_close (rt_free) runs it with no budget, so
-- `cartwright -c THIS carts` never exits, and SIGTERM is not acted on (the event loop is no
-- longer running): only SIGKILL ends it.
setmetatable({}, { __gc = function() while true do end end })
cart "a" { connector = "shopify", url = "x", token = "shpat_abcd" }
