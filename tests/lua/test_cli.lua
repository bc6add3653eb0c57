-- The command line: exit codes, usage, version, script errors, config errors with file:line.
local T = require "t"

local code, out, err = T.cw{ "version" }
T.eq(code, 0, "version exits 0")
for _, lib in ipairs{ "cartwright", "libevent", "libcurl", "sqlite", "lua 5%.4" } do
  T.match(out, lib, "version names " .. lib)
end
code, out = T.cw{ "--help" }
T.eq(code, 0, "--help exits 0")
T.match(out, "usage: cartwright", "--help prints usage")
code, _, err = T.cw{ "frobnicate" }
T.eq(code, 2, "unknown command exits 2")
T.match(err, "unknown command 'frobnicate'", "says which")
T.match(err, "usage:", "usage on stderr")
code, _, err = T.cw{ "carts", "--bogus" }
T.eq(code, 2, "unknown option exits 2")
code = T.cw{ "orders", "--port", "3" }
T.eq(code, 2, "option of another command exits 2")
code = T.cw{}
T.eq(code, 2, "no command exits 2")

local dir = T.tmpdir()
T.write(dir .. "/ok.lua", "print('args', arg[0] ~= nil, ...)\n")
code, out = T.cw{ "run", dir .. "/ok.lua", "a", "--flag" }
T.eq(code, 0, "run exits 0")
T.match(out, "args\ttrue\ta\t%-%-flag", "run passes ARGS, options included, to the script")
T.write(dir .. "/fail.lua", "local x = 1\nlocal y = nil\nreturn y.z\n")
code, _, err = T.cw{ "run", dir .. "/fail.lua" }
T.eq(code, 1, "script error exits 1")
T.match(err, "fail%.lua:3:", "script error names file:line")
T.write(dir .. "/syntax.lua", "local x = = 1\n")
code, _, err = T.cw{ "run", dir .. "/syntax.lua" }
T.eq(code, 1, "script syntax error exits 1")
T.match(err, "syntax%.lua:1:", "syntax error names file:line")
T.write(dir .. "/orphan.lua", "local task = require 'cartwright.task'\ntask.spawn(function() error('lost') end)\n")
code, _, err = T.cw{ "run", dir .. "/orphan.lua" }
T.eq(code, 1, "an error in a task nobody waits for exits 1")
T.match(err, "orphan%.lua:2: lost", "and is reported with file:line")

-- config errors: file:line, exit 2
T.write(dir .. "/bad.lua", "db = 'x.db'\ncart \"a\" {\n  connector = 'shopify',\n  url = 'http://x' +\n}\n")
code, _, err = T.cw{ "carts", "-c", dir .. "/bad.lua" }
T.eq(code, 2, "config syntax error exits 2")
T.match(err, "bad%.lua:5:", "config syntax error names file:line")
T.write(dir .. "/typo.lua", "db = '" .. dir .. "/x.db'\ncart \"a\" {\n  connector = 'shopify', url = 'http://x',\n  token = 't0ken-secret', bach_size = 10,\n}\n")
code, _, err = T.cw{ "carts", "-c", dir .. "/typo.lua" }
T.eq(code, 2, "unknown cart setting exits 2")
T.match(err, "typo%.lua:2.*unknown setting 'bach_size'", "names the cart's line and the setting")
-- env is read only by the commands that talk to the cart
T.write(dir .. "/env.lua", "db = '" .. dir .. "/env.db'\ncart \"a\" { connector = 'shopify', url = 'http://x',\n token = env 'CW_TEST_UNSET_VAR' }\n")
code, _, err = T.cw{ "carts", "-c", dir .. "/env.lua" }
T.eq(code, 0, "carts with an unset env secret: exit 0", err)
code, _, err = T.cw{ "test", "a", "-c", dir .. "/env.lua" }
T.eq(code, 2, "test with an unset env secret: exit 2")
T.match(err, "env%.lua:3: environment variable CW_TEST_UNSET_VAR is not set", "names the variable and line")
T.write(dir .. "/escape.lua", "os.execute('touch " .. dir .. "/pwned')\n")
code, _, err = T.cw{ "carts", "-c", dir .. "/escape.lua" }
T.eq(code, 2, "config cannot run commands")
T.ok(not io.open(dir .. "/pwned"), "nothing was executed")
code, _, err = T.cw({ "carts" }, { CARTWRIGHT_CONFIG = dir .. "/nope.lua" })
T.eq(code, 2, "missing config exits 2")
T.match(err, "nope%.lua", "names the file")

-- secrets never printed
T.write(dir .. "/good.lua", "db = '" .. dir .. "/g.db'\ncart \"a\" { connector = 'shopify', url = 'http://127.0.0.1:9',\n token = env 'CW_TEST_TOKEN' }\n")
code, out, err = T.cw({ "carts", "--json", "-c", dir .. "/good.lua" }, { CW_TEST_TOKEN = "shpat_supersecret" })
T.eq(code, 0, "carts exits 0")
T.match(out, '"name":"a"', "carts lists the cart")
T.ok(not (out .. err):find("supersecret"), "token never printed")
-- logfmt on stderr, with registered secrets redacted wherever they appear
T.write(dir .. "/log.lua", [[
local log = require "cartwright.log"
log.secret("s3cr3t-token")
log.warn("calling cart", { cart = "acme", url = "http://x/?key=s3cr3t-token", note = "a b" })
]])
code, _, err = T.cw{ "run", dir .. "/log.lua" }
T.match(err, "^ts=%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ level=warn msg=\"calling cart\"", "log line is logfmt")
T.match(err, 'url="http://x/%?key=%[redacted%]"', "secret redacted inside a value")
T.match(err, 'note="a b"', "values with spaces are quoted")
T.ok(not err:find("s3cr3t"), "secret never printed")
code, _, err = T.cw{ "--log-level", "error", "run", dir .. "/log.lua" }
T.eq(err, "", "--log-level error hides warnings")
os.execute("rm -rf " .. dir)
return T.done()
