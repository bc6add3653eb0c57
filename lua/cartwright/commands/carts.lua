-- cartwright carts [--json]: every configured cart with its state; never a secret.
local json = require "cjson.safe"
local carts = require "cartwright.carts"

local M = {}

function M.run(opts, _, cli)
  local cfg, code = cli.load_config(opts)
  if not cfg then return code end
  local list, err = carts.load_all(cfg)
  if not list then
    cli.err("config error: %s", err)
    return 2
  end
  local db, derr = carts.open_db(cfg)
  if not db then
    cli.err("%s", derr)
    return 1
  end
  for _, c in ipairs(list) do
    local st = db:cart_get{ name = c.name } or {}
    local row = {
      name = c.name, connector = c.connector, active = c.active, url = c.url,
      watermark = st.watermark or json.null, last_import = st.last_import_at or json.null,
      last_summary = st.last_summary or json.null, last_error = st.last_error or json.null,
    }
    if opts.json then
      cli.json(row)
    else
      cli.out(string.format("%-20s %-12s %-8s %-40s watermark=%s last_import=%s", c.name, c.connector,
        c.active and "active" or "inactive", c.url or "-", st.watermark or "-", st.last_import_at or "-"))
    end
  end
  db:close()
  return 0
end

return M
