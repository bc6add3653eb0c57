/* main: the command line. Parses options with getopt_long, sets up the loop and the Lua
 * runtime, runs the command's main task and turns its outcome into an exit code
 * (0 ok, 1 failed, 2 bad usage or config). Commands other than run/version/help are written
 * in Lua (lua/cartwright/cli.lua); this file only hands them their parsed options.
 * Stopping: SIGINT/SIGTERM stop whatever runs (budget_interrupt makes running Lua raise, the
 * loop is told through a pipe) and a deadline ends the process STOP_GRACE_MS later if it is
 * still going (SQLite's journal keeps the database consistent at any point); a second signal
 * ends it at once.
 * Uses rt, budget, log, libevent, and the library version calls. */
#include <curl/curl.h>
#include <event2/event.h>
#include <getopt.h>
#include <lauxlib.h>
#include <lua.h>
#include <fcntl.h>
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

static const char usage_text[] =
    "usage: cartwright [options] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  run FILE.lua [ARGS...]        run a Lua file in the engine's runtime\n"
    "  carts [--json]                list configured carts\n"
    "  test CART                     test the connection to a cart\n"
    "  import CART|--all [--since DATE] [--dry-run]\n"
    "                                download new and changed orders\n"
    "  orders [--cart C] [--status S] [--held] [--json]\n"
    "                                list stored orders\n"
    "  ship-map CODE METHOD [--cart C] | ship-map --list\n"
    "                                map a cart shipping code to a ship method\n"
    "  rules check [FILE...]         load rules and run them on sample orders\n"
    "  rules replay [--cart C] [--since DATE]\n"
    "                                show what the current rules would change\n"
    "  sim shopify|bigcommerce|woocommerce [--port N] [--orders N] [--seed S]\n"
    "                                serve a local cart simulator\n"
    "  version                       versions of cartwright and its libraries\n"
    "\n"
    "options:\n"
    "  -c, --config FILE     config file (default $CARTWRIGHT_CONFIG, then ./cartwright.lua)\n"
    "      --json            one JSON object per line\n"
    "      --log-level L     debug, info, warn, error (default info)\n"
    "      --max-memory MB   memory cap of the Lua state (default 1024)\n"
    "      --max-instructions N  instructions a task may run without yielding\n"
    "  -h, --help            this text\n";

static struct option long_options[] = {
    {"config", required_argument, 0, 'c'}, {"json", no_argument, 0, 'j'},
    {"all", no_argument, 0, 'a'},          {"since", required_argument, 0, 's'},
    {"dry-run", no_argument, 0, 'n'},      {"cart", required_argument, 0, 'C'},
    {"status", required_argument, 0, 'S'}, {"held", no_argument, 0, 'H'},
    {"list", no_argument, 0, 'l'},         {"port", required_argument, 0, 'p'},
    {"orders", required_argument, 0, 'o'}, {"seed", required_argument, 0, 'e'},
    {"host", required_argument, 0, 'B'},   {"log-level", required_argument, 0, 'L'},
    {"max-memory", required_argument, 0, 'M'}, {"max-instructions", required_argument, 0, 'I'},
    {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};

/* Options each Lua command accepts (by short code), beyond the global ones. */
static const struct {
    const char *name, *accepts;
} commands[] = {
    {"carts", "j"},   {"test", "j"},   {"import", "asnj"}, {"orders", "CSHj"},
    {"ship-map", "Clj"}, {"rules", "Csj"}, {"sim", "poeB"}, {NULL, NULL}};

typedef struct {
    int exit_code;
    int done;
    rt *r;
} main_result;

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "cartwright: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage_text);
    return EXIT_USAGE;
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
    budget_interrupt();
    char c = (char)sig;
    ssize_t w = write(stop_pipe[1], &c, 1);
    (void)w;
    struct itimerval it = {{0, 0}, {STOP_GRACE_MS / 1000, (STOP_GRACE_MS % 1000) * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
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
        rt_stop(r);
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

/* Pushes the main function and its arguments for the command; returns nargs or -1. */
static int push_main(lua_State *L, const char *cmd, int argc, char **argv, int first, int opts)
{
    if (strcmp(cmd, "run") == 0) {
        if (first >= argc) return usage_error("%s needs a FILE.lua", "run"), -1;
        lua_createtable(L, argc - first, 1);
        for (int i = first; i < argc; i++) {
            lua_pushstring(L, argv[i]);
            lua_rawseti(L, -2, i - first);
        }
        lua_setglobal(L, "arg");
        if (rt_load_file(L, argv[first], argv[first]) != LUA_OK) {
            fprintf(stderr, "cartwright: %s\n", lua_tostring(L, -1));
            return -2;
        }
        for (int i = first + 1; i < argc; i++) lua_pushstring(L, argv[i]);
        return argc - first - 1;
    }
    /* Lua commands: require("cartwright.cli").main(cmd, opts, args) */
    lua_getglobal(L, "require");
    lua_pushliteral(L, "cartwright.cli");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        fprintf(stderr, "cartwright: %s\n", lua_tostring(L, -1));
        return -2;
    }
    lua_getfield(L, -1, "main");
    lua_remove(L, -2);
    lua_pushstring(L, cmd);
    lua_pushvalue(L, opts);
    lua_createtable(L, argc - first, 0);
    for (int i = first; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - first + 1);
    }
    return 3;
}

int main(int argc, char **argv)
{
    rt_options ropt = {0};
    ropt.home = getenv("CARTWRIGHT_HOME") ? getenv("CARTWRIGHT_HOME") : CW_HOME;
    enum log_level level = LOG_INFO;
    const char *cmd = NULL;
    const char *accepts = "";
    struct { int c; const char *arg; } seen[64];
    int nseen = 0;

    /* Global options up to the command; "+" stops there, so `run FILE --flag` reaches the
     * script untouched. optind = 0 makes glibc start a fresh scan each time. */
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "+c:h", long_options, NULL)) != -1) {
        if (c == '?') return usage_error("%s", "bad option");
        if (c == 'h') return fputs(usage_text, stdout), EXIT_OK;
        if (nseen < 64) seen[nseen].c = c, seen[nseen++].arg = optarg;
    }
    int first = optind;
    char **args = argv;
    int nargs_total = argc;
    if (first < argc) {
        cmd = argv[first];
        if (strcmp(cmd, "run") == 0) {
            first++;
        } else {
            for (int i = 0; commands[i].name; i++)
                if (strcmp(cmd, commands[i].name) == 0) accepts = commands[i].accepts;
            /* The command's own options, anywhere after it; its name stands in as argv[0]. */
            args = argv + first;
            nargs_total = argc - first;
            optind = 0;
            while ((c = getopt_long(nargs_total, args, "c:h", long_options, NULL)) != -1) {
                if (c == '?') return usage_error("%s", "bad option");
                if (c == 'h') return fputs(usage_text, stdout), EXIT_OK;
                if (nseen < 64) seen[nseen].c = c, seen[nseen++].arg = optarg;
            }
            first = optind;
        }
    }
    if (!cmd) return usage_error("%s", "missing command");
    if (strcmp(cmd, "help") == 0) return fputs(usage_text, stdout), EXIT_OK;
    if (strcmp(cmd, "version") == 0) return cmd_version();
    int known = strcmp(cmd, "run") == 0;
    for (int i = 0; commands[i].name; i++) known |= strcmp(cmd, commands[i].name) == 0;
    if (!known) return usage_error("unknown command '%s'", cmd);

    for (int i = 0; i < nseen; i++) {
        int o = seen[i].c;
        if (o == 'L' && log_parse_level(seen[i].arg, &level)) return usage_error("bad --log-level %s", seen[i].arg);
        if (o == 'M') {
            long mb = strtol(seen[i].arg, NULL, 10);
            if (mb <= 0) return usage_error("bad --max-memory %s", seen[i].arg);
            ropt.max_memory = (size_t)mb << 20;
        }
        if (o == 'I') {
            long long n = strtoll(seen[i].arg, NULL, 10);
            if (n <= 0) return usage_error("bad --max-instructions %s", seen[i].arg);
            ropt.max_instructions = n;
        }
        if (!strchr("cLMI", o) && !strchr(accepts, o))
            return usage_error("option not valid for %s", cmd);
    }
    log_set_level(level);

    struct event_base *base = event_base_new();
    rt *r = base ? rt_new(base, &ropt) : NULL;
    if (!r) {
        fprintf(stderr, "cartwright: cannot start the runtime\n");
        return EXIT_FAILED;
    }
    struct event *sigs[2] = {NULL, NULL};
    if (signals_start(base, r, sigs)) {
        fprintf(stderr, "cartwright: cannot set up signal handling\n");
        return EXIT_FAILED;
    }
    signal(SIGPIPE, SIG_IGN);

    lua_State *L = rt_lua(r);
    lua_newtable(L); /* opts: long option names -> value (true for flags) */
    int opts = lua_gettop(L);
    for (int i = 0; i < nseen; i++) {
        for (struct option *lo = long_options; lo->name; lo++) {
            if (lo->val != seen[i].c) continue;
            if (seen[i].arg) lua_pushstring(L, seen[i].arg); else lua_pushboolean(L, 1);
            lua_setfield(L, opts, lo->name);
        }
    }
    main_result res = {EXIT_FAILED, 0, r};
    int nargs = push_main(L, cmd, nargs_total, args, first, opts);
    if (nargs >= 0) {
        rt_spawn(r, L, nargs, main_done, &res);
        lua_settop(L, 0);
        rt_run(r);
        /* A signal ends `run` and `sim` as their normal way out; any other command it cut
         * short did not finish its work. */
        if (stop_signal || (!res.done && rt_stopping(r))) {
            int serving = strcmp(cmd, "run") == 0 || strcmp(cmd, "sim") == 0;
            if (serving) {
                res.exit_code = EXIT_OK;
            } else if (!res.done || res.exit_code == EXIT_FAILED) {
                res.exit_code = EXIT_FAILED;
                fprintf(stderr, "cartwright: %s interrupted; what was stored so far is kept\n", cmd);
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
    if (res.exit_code == EXIT_OK && unobserved) res.exit_code = EXIT_FAILED;
    return res.exit_code;
}
