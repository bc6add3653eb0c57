-- One string.match call is one VM instruction: the instruction budget never fires, the C
-- matcher backtracks exponentially (about 4x per extra "a*": 14 -> 1 s, 16 -> ~15 s,
-- 28 -> years), and SIGTERM is not acted on while it runs. Rules have string.match too.
local s = string.rep("a", 16)
local _ = s:match(string.rep("a*", 16) .. "b")
