# Every tests/lua/test_*.lua is a ctest test run by the real binary.
file(GLOB CW_LUA_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/lua/test_*.lua)
foreach(test_file ${CW_LUA_TESTS})
  get_filename_component(test_name ${test_file} NAME_WE)
  add_test(NAME ${test_name} COMMAND cartwright run ${test_file}
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(${test_name} PROPERTIES
    ENVIRONMENT "CW_BIN=$<TARGET_FILE:cartwright>;ASAN_OPTIONS=detect_leaks=1"
    TIMEOUT 300)
endforeach()

# test_npm_clients exits 77 when node/npm or the npm registry is not there: skipped, not passed.
if(TEST test_npm_clients)
  set_tests_properties(test_npm_clients PROPERTIES SKIP_RETURN_CODE 77)
endif()

# The simulators' own checks (wire format, paging, faults) over real HTTP.
add_test(NAME sim_selftest COMMAND cartwright run ${CMAKE_SOURCE_DIR}/tests/sim/selftest.lua
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(sim_selftest PROPERTIES ENVIRONMENT "CW_BIN=$<TARGET_FILE:cartwright>" TIMEOUT 300)

# luacheck over the engine's Lua, rules and connectors (installed by make deps: lua-check).
find_program(LUACHECK luacheck)
if(LUACHECK)
  add_test(NAME luacheck COMMAND ${LUACHECK} --no-color lua rules connectors
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
endif()

# kill -9 at random points of imports against busy simulators, then the database against the
# cart (tests/reliability/README.md). CI runs a few rounds per cart on small carts.
add_test(NAME reliability_kill9
         COMMAND cartwright run ${CMAKE_SOURCE_DIR}/tests/reliability/kill9.lua 6 --orders 800
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(reliability_kill9 PROPERTIES
  ENVIRONMENT "CW_BIN=$<TARGET_FILE:cartwright>;ASAN_OPTIONS=detect_leaks=1" TIMEOUT 300)

# The settings tables of docs/configuration.md are generated from the schemas: this fails when
# they are out of date (tests/tools/settings_doc.lua writes them).
add_test(NAME settings_doc COMMAND cartwright run ${CMAKE_SOURCE_DIR}/tests/tools/settings_doc.lua --check
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
