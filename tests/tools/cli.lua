-- The real CLI, run as a developer's script so the test tree is on the module path: a test can
-- point a command at a test connector (tests/connectors/), which a merchant's config cannot.
-- cartwright run tests/tools/cli.lua WORDS...   (the same words, output and exit code)
return require("cartwright.cli").main({ ... })
