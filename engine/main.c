/* main: the command line. Parses options with getopt_long, sets up the loop and the Lua
 * runtime, runs the command's main task and turns its outcome into an exit code
 * (0 ok, 1 failed, 2 bad usage or config). It reads only the runtime's own options and
 * runs `run FILE` and `version`; every other command, its options and the help are declared
 * once in Lua (lua/cartwright/cli), which gets the remaining words.
 * Stopping: SIGINT/SIGTERM stop whatever runs (budget_interrupt makes running Lua raise, the
 * loop is told through a pipe) and a deadline ends the process STOP_GRACE_MS later if it is
 * still going (SQLite's journal keeps the database consistent at any point); a second signal
 * ends it at once. A command that registered task.on_stop (serve) is not interrupted: its
 * function runs in a task, the loop stops when it returns, and the deadline is its grace later.
 * Uses rt, budget, log, libevent, and the library version calls. */
#include <curl/curl.h>
#include <event2/event.h>
#include <lauxlib.h>
#include <lua.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "budget.h"
#include "log.h"
#include "rt.h"

#define STOP_GRACE_MS 1500 /* after SIGTERM, the process is gone within this (and 2 s) */

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

/* The runtime's own options: read here (the Lua state is made with them), anywhere before
 * the command's "--" (for `run`, before the file). Every other option, and every command but
 * run and version, is the Lua CLI's (lua/cartwright/cli), which declares them once. */
static const char runtime_help[] =
    "      --log-level L         debug, info, warn, error (default info)\n"
    "      --max-memory MB       memory cap of the Lua state (default 1024)\n"
    "      --max-instructions N  instructions a task may run without yielding (default 2e9)\n";

static const char run_usage[] =
    "usage: cartwright [runtime options] run FILE.lua [ARGS...]\n"
    "       cartwright version\n"
    "       cartwright help            (every command)\n";

typedef struct {
    int exit_code;
    int done;
    rt *r;
} main_result;

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "cartwright: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%sruntime options:\n%s", run_usage, runtime_help);
    return EXIT_USAGE;
}

/* If argv[*i] is a runtime option, reads it (and its value) and advances *i past it: returns
 * 1; 0 when it is not one; -1 after reporting a bad value. Forms: --opt VALUE, --opt=VALUE. */
static int runtime_option(int argc, char **argv, int *i, rt_options *ropt, enum log_level *level)
{
    static const char *const names[] = {"--log-level", "--max-memory", "--max-instructions", NULL};
    const char *a = argv[*i];
    for (int k = 0; names[k]; k++) {
        size_t n = strlen(names[k]);
        if (strncmp(a, names[k], n) != 0 || (a[n] != '\0' && a[n] != '=')) continue;
        const char *v = a[n] == '=' ? a + n + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
        if (!v) return usage_error("%s needs a value", names[k]), -1;
        (*i)++;
        char *end = NULL;
        if (k == 0 && log_parse_level(v, level)) return usage_error("bad --log-level %s", v), -1;
        if (k == 1) {
            long mb = strtol(v, &end, 10);
            if (mb <= 0 || *end) return usage_error("bad --max-memory %s", v), -1;
            ropt->max_memory = (size_t)mb << 20;
        }
        if (k == 2) {
            long long cnt = strtoll(v, &end, 10);
            if (cnt <= 0 || *end) return usage_error("bad --max-instructions %s", v), -1;
            ropt->max_instructions = cnt;
        }
        return 1;
    }
    return 0;
}

/* The directory holding lua/, connectors/, rules/ and sql/: $CARTWRIGHT_HOME, else the share
 * directory next to an installed binary (<prefix>/bin/cartwright ->
 * <prefix>/share/cartwright, found from /proc/self/exe so an installed tree can move), else the
 * source tree the binary was built from (CW_HOME). */
static const char *find_home(void)
{
    static char buf[PATH_MAX];
    const char *env = getenv("CARTWRIGHT_HOME");
    if (env && *env) return env;
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return CW_HOME;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash) return CW_HOME;
    *slash = '\0'; /* <prefix>/bin */
    const char *rel = "/../" CW_SHARE_REL;
    const char *probe = "/lua/cartwright/cli/init.lua";
    if (strlen(buf) + strlen(rel) + strlen(probe) + 1 > sizeof buf) return CW_HOME;
    strcat(buf, rel);
    size_t home_len = strlen(buf);
    strcat(buf, probe);
    int installed = access(buf, R_OK) == 0;
    buf[home_len] = '\0';
    return installed ? buf : CW_HOME;
}

static int cmd_version(void)
{
    printf("cartwright %s\n", CW_VERSION);
    printf("libevent %s\n", event_get_version());
    printf("libcurl %s\n", curl_version_info(CURLVERSION_NOW)->version);
    printf("sqlite %s\n", sqlite3_libversion());
    printf("lua %s.%s.%s\n", LUA_VERSION_MAJOR, LUA_VERSION_MINOR, LUA_VERSION_RELEASE);
    return EXIT_OK;
}

/* ---- stopping ------------------------------------------------------------------------------ */

static volatile sig_atomic_t stop_signal; /* the first SIGINT/SIGTERM, or 0 */
static int stop_pipe[2] = {-1, -1};

static void say(const char *msg) /* async-signal-safe */
{
    ssize_t w = write(STDERR_FILENO, msg, strlen(msg));
    (void)w;
}

static void on_deadline(int sig)
{
    (void)sig;
    if (rt_stop_grace_ms())
        say("cartwright: runs still in flight after the stop signal's grace: exiting now (the database stays consistent)\n");
    else
        say("cartwright: still running 1.5 s after the stop signal: exiting now (the database stays consistent)\n");
    _exit(EXIT_FAILED);
}

/* SIGINT/SIGTERM, in the handler itself: running Lua raises from its next instruction on, the
 * loop hears of it through the pipe, and the deadline is set. */
static void on_stop_signal(int sig)
{
    if (stop_signal) {
        say("cartwright: second signal: exiting now\n");
        _exit(EXIT_FAILED);
    }
    stop_signal = sig;
    int grace_ms = rt_stop_grace_ms();
    if (!grace_ms) budget_interrupt();
    char c = (char)sig;
    ssize_t w = write(stop_pipe[1], &c, 1);
    (void)w;
    long ms = (long)grace_ms + STOP_GRACE_MS;
    struct itimerval it = {{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

/* The on_stop function's end (its jobs finished or were left resumable): the loop stops. */
static void on_stop_done(task *t, lua_State *co, int ok, int nres, void *ud)
{
    (void)t, (void)nres;
    if (!ok) log_write(LOG_ERROR, "stopping failed", (const char *[]){"error", lua_tostring(co, -1), NULL});
    rt_stop(ud);
}

/* On the loop: the stop signal's pipe, or SIGHUP (through libevent). */
static void on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    rt *r = arg;
    if (fd != SIGHUP) {
        char c = 0;
        ssize_t n = read(fd, &c, 1);
        (void)n;
        log_write(LOG_INFO, "stopping", (const char *[]){"signal", c == SIGINT ? "INT" : "TERM", NULL});
        lua_State *L = rt_lua(r);
        if (lua_getfield(L, LUA_REGISTRYINDEX, "cartwright.on_stop") == LUA_TFUNCTION)
            rt_spawn(r, L, 0, on_stop_done, r);
        else {
            lua_pop(L, 1);
            rt_stop(r);
        }
        return;
    }
    log_write(LOG_INFO, "reload requested", NULL);
    lua_State *L = rt_lua(r);
    if (lua_getfield(L, LUA_REGISTRYINDEX, "cartwright.on_reload") == LUA_TFUNCTION)
        rt_spawn(r, L, 0, NULL, NULL);
    else
        lua_pop(L, 1);
}

/* Installs the stop handlers and the loop's events (SIGHUP, the pipe). Returns 0 or -1. */
static int signals_start(struct event_base *base, rt *r, struct event **evs)
{
    if (pipe(stop_pipe)) return -1;
    for (int i = 0; i < 2; i++) fcntl(stop_pipe[i], F_SETFD, FD_CLOEXEC);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_deadline;
    sigaction(SIGALRM, &sa, NULL);
    evs[0] = event_new(base, stop_pipe[0], EV_READ | EV_PERSIST, on_signal, r);
    evs[1] = evsignal_new(base, SIGHUP, on_signal, r);
    if (!evs[0] || !evs[1]) return -1;
    event_add(evs[0], NULL);
    event_add(evs[1], NULL);
    return 0;
}

/* The main task's end: an integer result is the exit code; an error prints file:line. */
static void main_done(task *t, lua_State *co, int ok, int nres, void *ud)
{
    (void)t;
    main_result *res = ud;
    res->done = 1;
    if (!ok) {
        /* A failed main chunk is a broken script: stop its servers and tasks too. Cut short by
         * a stop signal, it is reported as interrupted by main(). */
        if (!stop_signal) fprintf(stderr, "cartwright: error: %s\n", lua_tostring(co, -1));
        res->exit_code = EXIT_FAILED;
        rt_stop(res->r);
        return;
    }
    res->exit_code = EXIT_OK;
    if (nres > 0 && lua_isinteger(co, -nres)) res->exit_code = (int)lua_tointeger(co, -nres);
}

/* Pushes the main function and its arguments; returns nargs, or -1 (usage) / -2 (failed).
 * `run FILE ARGS...` runs the file; anything else is require("cartwright.cli").main(args),
 * args being every word but the runtime options. */
static int push_main(lua_State *L, int run, int argc, char **argv)
{
    if (run) {
        if (argc < 1) return usage_error("%s needs a FILE.lua", "run"), -1;
        lua_createtable(L, argc, 1);
        for (int i = 0; i < argc; i++) {
            lua_pushstring(L, argv[i]);
            lua_rawseti(L, -2, i);
        }
        lua_setglobal(L, "arg");
        if (rt_load_file(L, argv[0], argv[0]) != LUA_OK) {
            fprintf(stderr, "cartwright: %s\n", lua_tostring(L, -1));
            return -2;
        }
        for (int i = 1; i < argc; i++) lua_pushstring(L, argv[i]);
        return argc - 1;
    }
    lua_getglobal(L, "require");
    lua_pushliteral(L, "cartwright.cli");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        fprintf(stderr, "cartwright: %s\n", lua_tostring(L, -1));
        return -2;
    }
    lua_getfield(L, -1, "main");
    lua_remove(L, -2);
    lua_createtable(L, argc, 0);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* Whether the Lua command that ran serves until stopped (`sim`, later `serve`): a stop signal
 * is then its normal way out. The CLI says so in the registry. */
static int command_serves(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "cartwright.serving");
    int serving = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return serving;
}

int main(int argc, char **argv)
{
    rt_options ropt = {0};
    ropt.home = find_home();
    enum log_level level = LOG_INFO;

    /* The words for the Lua CLI: argv without the runtime options (for `run`, only those
     * before the file count; everything after the file is the script's). */
    char **words = calloc((size_t)argc + 1, sizeof *words);
    if (!words) return EXIT_FAILED;
    int nwords = 0, run = 0, dashdash = 0;
    for (int i = 1; i < argc;) {
        if (!dashdash && !run) {
            int r = runtime_option(argc, argv, &i, &ropt, &level);
            if (r < 0) return free(words), EXIT_USAGE;
            if (r > 0) continue;
        }
        if (strcmp(argv[i], "--") == 0) dashdash = 1;
        if (!run && nwords == 0 && argv[i][0] != '-') {
            if (strcmp(argv[i], "version") == 0) return free(words), cmd_version();
            if (strcmp(argv[i], "run") == 0) {
                run = 1;
                i++;
                continue;
            }
        }
        words[nwords++] = argv[i++];
    }
    log_set_level(level);

    struct event_base *base = event_base_new();
    rt *r = base ? rt_new(base, &ropt) : NULL;
    if (!r) {
        fprintf(stderr, "cartwright: cannot start the runtime\n");
        return free(words), EXIT_FAILED;
    }
    struct event *sigs[2] = {NULL, NULL};
    if (signals_start(base, r, sigs)) {
        fprintf(stderr, "cartwright: cannot set up signal handling\n");
        return free(words), EXIT_FAILED;
    }
    signal(SIGPIPE, SIG_IGN);

    lua_State *L = rt_lua(r);
    main_result res = {EXIT_FAILED, 0, r};
    int nargs = push_main(L, run, nwords, words);
    if (nargs >= 0) {
        rt_spawn(r, L, nargs, main_done, &res);
        lua_settop(L, 0);
        rt_run(r);
        /* A signal ends `run` and a serving command as their normal way out; any other
         * command it cut short did not finish its work. */
        if (stop_signal || (!res.done && rt_stopping(r))) {
            if (run || command_serves(L)) {
                res.exit_code = EXIT_OK;
            } else if (!res.done || res.exit_code == EXIT_FAILED) {
                res.exit_code = EXIT_FAILED;
                lua_getfield(L, LUA_REGISTRYINDEX, "cartwright.command");
                const char *name = lua_tostring(L, -1);
                fprintf(stderr, "cartwright: %s interrupted; what was stored so far is kept\n", name ? name : "command");
                lua_pop(L, 1);
            }
        }
    } else {
        res.exit_code = nargs == -1 ? EXIT_USAGE : EXIT_FAILED;
        lua_settop(L, 0);
    }
    int unobserved = rt_free(r);
    for (int i = 0; i < 2; i++) event_free(sigs[i]);
    event_base_free(base);
    log_clear_secrets();
    free(words);
    if (res.exit_code == EXIT_OK && unobserved) res.exit_code = EXIT_FAILED;
    return res.exit_code;
}
