-- make install: `cmake --install` of this build into a temporary prefix, then the installed
-- binary runs from there with its Lua tree from <prefix>/share/cartwright (not the source
-- tree it was built from): `version`, `carts -c …`, and a script that names its home.
local T = require "t"

local dir = T.tmpdir()
local prefix = dir .. "/prefix"
local build = T.bin:match("^(.*)/[^/]+$") or "."
local ok = os.execute("cmake --install " .. T.q(build) .. " --prefix " .. T.q(prefix) .. " >" .. dir .. "/install.log 2>&1")
T.ok(ok, "cmake --install into a temporary prefix", T.slurp(dir .. "/install.log"))
local bin = prefix .. "/bin/cartwright"
local share = prefix .. "/share/cartwright"
for _, f in ipairs{ "lua/cartwright/cli/init.lua", "lua/cartwright/service/metrics.lua", "connectors/shopify/init.lua",
                    "sql/sqlite/outbox.sql", "sql/sqlite/migrations", "docs/operations.md", "cartwright.service" } do
  T.ok(os.execute("test -e " .. T.q(share .. "/" .. f)), "installed: share/cartwright/" .. f)
end

-- run from elsewhere, with no CARTWRIGHT_HOME: the binary finds its share directory
local function run(args)
  local out = dir .. "/out"
  local cmd = "cd " .. T.q(dir) .. " && env -u CARTWRIGHT_HOME " .. T.q(bin) .. " " .. args .. " >" .. out .. " 2>" .. dir .. "/err"
  local _, _, code = os.execute(cmd)
  return code, T.slurp(out), T.slurp(dir .. "/err")
end
local code, out = run("version")
T.eq(code, 0, "installed: version exits 0")
T.match(out, "^cartwright %d+%.%d+%.%d+\n", "installed: version")

T.write(dir .. "/cw.lua", string.format([[
db = %q
cart "shop" { connector = "shopify", url = "https://shop.example", token = "shpat_x" }
]], dir .. "/cw.db"))
local err
code, out, err = run("carts -c cw.lua")
T.eq(code, 0, "installed: carts -c exits 0", err)
T.match(out, "shop", "installed: carts lists the cart")
T.ok(not out:find("shpat_x", 1, true), "installed: the token is not printed")

T.write(dir .. "/home.lua", "print(package.cartwright_home)\n")
code, out, err = run("run home.lua")
T.eq(code, 0, "installed: run exits 0", err)
local real = io.popen("cd " .. T.q(share) .. " && pwd -P"):read("l")
local got = io.popen("cd " .. T.q((out:gsub("\n$", ""))) .. " 2>/dev/null && pwd -P"):read("l")
T.eq(got, real, "installed: its home is <prefix>/share/cartwright")

os.execute("rm -rf " .. T.q(dir))
T.done()
