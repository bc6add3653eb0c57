-- Operations: every domain action once, as a Lua function that takes plain arguments and returns
-- data, or nil, err, kind. The CLI (lua/cartwright/cli) and, later, the admin API call the same
-- functions; nothing here prints or reads argv.
--
-- A session is what an operation works in: { cfg = the loaded config, db = its database,
-- opened on first use }. Error kinds: "usage" (the caller asked wrongly), "config" (the config
-- or a rule file is wrong), "not_found", "failed" (the work itself failed: a cart's error, a
-- storage error), "conflict" (the thing is not in a state for this: an order not held, an
-- outbox entry not failed). The CLI exits 2 for usage and config, 1 for the others; the admin
-- API (service/api.lua) answers 400, 422, 404, 500, 409.
local carts = require "cartwright.carts"

local M = {}

local Session = {}
Session.__index = Session

--- A session for `cfg` (config.load's result).
function M.session(cfg)
  return setmetatable({ cfg = cfg }, Session)
end

--- The session's database, opened (and migrated) on first use. db | nil, err.
function Session:open()
  if self.db then return self.db end
  local db, err = carts.open_db(self.cfg)
  if not db then return nil, err end
  self.db = db
  return db
end

function Session:close()
  if self.db then self.db:close() end
  self.db = nil
end

--- nil, err, kind: the error triple every operation returns.
function M.fail(kind, fmt, ...)
  return nil, select("#", ...) > 0 and string.format(fmt, ...) or fmt, kind
end

return M
