# Fuzz targets (tests/fuzz/fuzz_<name>.c, each an LLVMFuzzerTestOneInput over cartwright_core).
# With CW_FUZZ (clang, `make fuzz`): fuzz_<name> linked with libFuzzer. Otherwise:
# fuzz_replay_<name>, the same target with tests/fuzz/replay.c as main, and a ctest test that
# replays its committed corpus, so both `make test` passes (plain and ASan/UBSan) run it.
set(CW_FUZZ_TARGETS jsonraw urlcode config patterns)
foreach(name ${CW_FUZZ_TARGETS})
  set(src ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_${name}.c)
  if(CW_FUZZ)
    add_executable(fuzz_${name} ${src})
    target_link_libraries(fuzz_${name} PRIVATE cartwright_core)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
  else()
    add_executable(fuzz_replay_${name} ${src} ${CMAKE_SOURCE_DIR}/tests/fuzz/replay.c)
    target_link_libraries(fuzz_replay_${name} PRIVATE cartwright_core)
    add_test(NAME fuzz_replay_${name}
             COMMAND fuzz_replay_${name} ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${name}
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(fuzz_replay_${name} PROPERTIES
      ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1" TIMEOUT 300)
  endif()
endforeach()
