-- Every command of the command line, declared once: its words, arguments, options, one line of
-- help and the function that runs it (module.function under lua/cartwright/cli/). The parser,
-- the usage messages and `cartwright help` all come from this table. `run` and `version` are
-- the engine's own (engine/main.c) and are only listed here for the help.
local M = {}

-- Options, by name: value = the placeholder when the option takes a value (else it is a flag).
M.options = {
  config = { short = "c", value = "FILE", help = "config file (default $CARTWRIGHT_CONFIG, then ./cartwright.lua)" },
  help = { short = "h", help = "this text, or a command's" },
  json = { help = "JSON lines for machines (one object per line)" },
  all = { help = "every active cart" },
  cart = { value = "CART", help = "only this cart" },
  since = { value = "DATE", help = "from this date (YYYY-MM-DD or ISO 8601)" },
  ["dry-run"] = { help = "download and count, write nothing" },
  status = { value = "STATUS", help = "only orders with this status of ours" },
  held = { help = "only held orders" },
  folder = { value = "FOLDER", help = "only orders in this folder" },
  tag = { value = "TAG", help = "only orders with this tag" },
  note = { value = "TEXT", help = "a note recorded with the event" },
  reason = { value = "TEXT", help = "why (recorded as the hold's reason)" },
  list = { help = "list the mappings" },
  sample = { value = "FILE", help = "your own orders, JSON lines as `orders --json` prints them" },
  apply = { help = "write the new results (each changed order gets a \"replayed\" event)" },
  port = { value = "N", help = "port to listen on (0: any)" },
  orders = { value = "N", help = "orders the simulator starts with" },
  seed = { value = "S", help = "seed of the generated orders" },
  host = { value = "HOST", help = "address to listen on (default 127.0.0.1)" },
  plan = { value = "PLAN", help = "the cart's plan, for its rate limit (Shopify standard|advanced|plus, BigCommerce standard|plus|pro)" },
  write = { help = "also check the cart's write capabilities (there are none yet: nothing is written)" },
  dir = { value = "DIR", help = "where the new package goes (default the engine's connectors/)" },
}

-- Global options: accepted before the command and after it, by every command.
M.global = { "config", "help" }

-- Commands, in the order help lists them. args = { min, max } (max nil: any number).
M.list = {
  { name = "carts", usage = "carts [--json]", summary = "list configured carts and their state",
    args = { 0, 0 }, options = { "json" }, run = "carts.list" },
  { name = "test", usage = "test CART [--json]", summary = "test the connection to a cart",
    args = { 1, 1 }, options = { "json" }, run = "carts.test" },
  { name = "import", usage = "import CART|--all [--since DATE] [--dry-run] [--json]",
    summary = "download new and changed orders", args = { 0, 1 }, options = { "all", "since", "dry-run", "json" },
    run = "import.run" },
  { name = "orders", usage = "orders [--cart C] [--status S] [--held] [--folder F] [--tag T] [--json]",
    summary = "list stored orders", args = { 0, 0 }, options = { "cart", "status", "held", "folder", "tag", "json" },
    run = "orders.list" },
  { name = "orders show", usage = "orders show ORDER [--json]",
    summary = "one order with its lines, hold, folder, tags and history",
    args = { 1, 1 }, options = { "json" }, run = "orders.show" },
  { name = "release", usage = "release ORDER [--note TEXT] [--json]", summary = "waive the holds an order has now",
    args = { 1, 1 }, options = { "note", "json" }, run = "orders.release" },
  { name = "hold", usage = "hold ORDER --reason TEXT [--note TEXT] [--json]",
    summary = "hold an order until an operator releases it", args = { 1, 1 }, options = { "reason", "note", "json" },
    required = { "reason" }, run = "orders.hold" },
  { name = "ship-map", usage = "ship-map CODE METHOD [--cart C] [--json] | ship-map --list [--json]",
    summary = "map a cart's shipping code to a ship method; release the orders held for it",
    args = { 0, 2 }, options = { "cart", "list", "json" }, run = "ship_map.run" },
  { name = "rules check", usage = "rules check [FILE...] [--sample FILE] [--json]",
    summary = "load rules and run them on sample orders, or on your own", args = { 0 },
    options = { "sample", "json" }, run = "rules.check" },
  { name = "rules replay", usage = "rules replay [--cart C] [--since DATE] [--apply] [--json]",
    summary = "run stored orders through the current rules: what changes (written with --apply)",
    args = { 0, 0 }, options = { "cart", "since", "apply", "json" }, run = "rules.replay" },
  { name = "connector check", usage = "connector check CART [--since DATE] [--write] [--json]",
    summary = "conformance checks of a cart's connector against the cart (read-only; a scratch database)",
    args = { 1, 1 }, options = { "since", "write", "json" }, run = "connector.check" },
  { name = "connector new", usage = "connector new NAME [--dir DIR] [--json]",
    summary = "a new connector package to fill in, with a simulator skeleton",
    args = { 1, 1 }, options = { "dir", "json" }, run = "connector.new" },
  { name = "sim", usage = "sim shopify|bigcommerce|woocommerce|NAME|FILE.lua [--port N] [--orders N] [--seed S] [--host H] [--plan P]",
    summary = "serve a local cart simulator (for tests and demos)", args = { 1, 1 },
    options = { "port", "orders", "seed", "host", "plan" }, serving = true, run = "sim.run" },
  { name = "help", usage = "help [COMMAND]", summary = "every command, or one", args = { 0, 2 }, options = {},
    run = "help" },
  { name = "run", usage = "run FILE.lua [ARGS...]", summary = "run a Lua file in the engine's runtime", engine = true },
  { name = "version", usage = "version", summary = "versions of cartwright and its libraries", engine = true },
}

M.runtime = {
  "--log-level L          debug, info, warn, error (default info)",
  "--max-memory MB        memory cap of the Lua state (default 1024)",
  "--max-instructions N   instructions a task may run without yielding (default 2e9)",
}

return M
