-- Found by fuzz_config (a timeout): each iteration is a few VM instructions but string.rep
-- copies 2393 bytes one memcpy at a time, so a 1e6-instruction budget takes 1-8 s of CPU in the
-- plain build (machine load) and ~16 s under ASan; the budget bounds instructions, not time.
local t = {} for i =                                                       0, 1e9 do t[i] = string.rep("x", 2393) . i end
