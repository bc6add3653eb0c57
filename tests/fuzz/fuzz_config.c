/* fuzz_config: the input bytes are a merchant's config file (untrusted). Each input runs the
 * real path, require("cartwright.config").load(path) then require("cartwright.carts")
 * .load_all(cfg), as a task of the engine's runtime (home: the source tree) with a small
 * instruction budget and memory cap. Any outcome of the Lua code is fine (a config, nil + err,
 * or a raised error such as the budget's); a crash, a sanitizer report, a leak or a hang is a
 * finding. With CW_FUZZ_LOG=FILE each outcome is appended to FILE (to see what inputs reach).
 * The file is a memfd read through /proc/self/fd, so nothing is left on disk.
 * Uses rt, log, libevent. */
#include <event2/event.h>
#include <lauxlib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "rt.h"

static const char driver[] =
    "local path = ...\n"
    "local config = require('cartwright.config')\n"
    /* the process's own budget, not the config's 20M instructions: a mutated loop then costs
     * ~20 ms, not ~300 ms (under ASan), and the fuzzer tries 15x more inputs */
    "config.limits = { instructions = 1000000, memory = 8 * 1024 * 1024 }\n"
    "local cfg, err = config.load(path)\n"
    "if not cfg then return 'config refused', err end\n"
    "local list, lerr = require('cartwright.carts').load_all(cfg)\n"
    "if not list then return 'carts refused', lerr end\n"
    "return 'loaded', #list .. ' carts'\n";

/* After each input: a full collection in a task of its own, so the finalizers (__gc) the input
 * set run now under a budget of their own, not later outside any (at lua_close a finalizer
 * loop would hang the process: see tests/fuzz/README.md). */
static const char collector[] = "collectgarbage()\n";

static struct event_base *base;
static rt *runtime;
static int fd = -1;
static char path[64];
static FILE *outcomes;

static void teardown(void)
{
    if (runtime) rt_free(runtime);
    if (base) event_base_free(base);
    if (fd >= 0) close(fd);
    if (outcomes) fclose(outcomes);
    log_clear_secrets();
    runtime = NULL, base = NULL, fd = -1, outcomes = NULL;
}

static void setup(void)
{
    rt_options opt = {16u << 20, 1000000, CW_HOME};
    base = event_base_new();
    runtime = base ? rt_new(base, &opt) : NULL;
    fd = memfd_create("cartwright.lua", MFD_CLOEXEC);
    if (!runtime || fd < 0) {
        fprintf(stderr, "fuzz_config: cannot start the runtime\n");
        abort();
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    log_set_level(LOG_OFF);
    /* a variable for `env "..."` in the seeds, so they reach the carts */
    setenv("CW_FUZZ_TOKEN", "shpat_fuzz_token", 1);
    const char *log_path = getenv("CW_FUZZ_LOG");
    if (log_path) outcomes = fopen(log_path, "a");
    atexit(teardown);
}

/* The task's end: its results (or error) are only recorded, never judged. */
static void done(task *t, lua_State *co, int ok, int nres, void *ud)
{
    (void)t;
    (void)ud;
    if (!outcomes) return;
    const char *what = ok ? (nres > 0 ? lua_tostring(co, -nres) : "?") : "raised";
    const char *msg = ok ? (nres > 1 ? lua_tostring(co, -nres + 1) : "") : lua_tostring(co, -1);
    msg = msg ? msg : "";
    fprintf(outcomes, "%s\t%.*s\n", what ? what : "?", (int)strcspn(msg, "\n"), msg);
}

/* The collector's end: a finalizer stopped by the budget makes it fail; nothing to report. */
static void collected(task *t, lua_State *co, int ok, int nres, void *ud)
{
    (void)t, (void)co, (void)ok, (void)nres, (void)ud;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!runtime) setup();
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) abort();
    lua_State *L = rt_lua(runtime);
    lua_settop(L, 0);
    if (luaL_loadbufferx(L, driver, sizeof driver - 1, "=fuzz_config", "t") != LUA_OK) abort();
    lua_pushstring(L, path);
    rt_spawn(runtime, L, 1, done, NULL);
    lua_settop(L, 0);
    rt_run(runtime);
    if (luaL_loadbufferx(L, collector, sizeof collector - 1, "=fuzz_config collector", "t") != LUA_OK) abort();
    rt_spawn(runtime, L, 0, collected, NULL);
    lua_settop(L, 0);
    rt_run(runtime);
    log_clear_secrets(); /* what a config registered is forgotten with it */
    return 0;
}
