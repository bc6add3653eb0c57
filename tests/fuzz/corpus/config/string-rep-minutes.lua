-- Found by fuzz_config (a timeout; its input had binary bytes in the string, this is the same
-- loop made readable). Each iteration is ~8 VM instructions and one string.rep building 4.7 MB:
-- about 710 iterations per CPU second in the plain build, so a 1e6-instruction budget lets it
-- run for ~2.5 minutes of CPU (and rules get 5e6 instructions per rule per order). The budget
-- bounds instructions, not time.
for i = 0, 1e9 do local _ = string.rep("0123456789abcdefghijkl", 213636) .. i end
