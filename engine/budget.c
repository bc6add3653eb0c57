/* budget: instruction budgets for Lua code. A budget is counted by an instruction-count hook,
 * but any count hook makes Lua 5.4 stop at every instruction (luaG_traceexec: about twice the
 * interpreter's own cost; 9 % of all the instructions of an import). So the hook is armed by a
 * watchdog: SIGPROF every WATCH_MS of CPU time, and when the same budgeted run (a task's slice
 * or a limited call) is going at two ticks in a row, its thread and the coroutine running then
 * get the hook; from then on their instructions are counted. Runs that end within a tick never
 * pay for the hook (an import starts one every ~20 us: a limited call per order); a runaway
 * loop is stopped WATCH_MS..2*WATCH_MS of CPU plus its budget after it started. lua_sethook is meant to be
 * called from a signal handler (lua.c stops a script on SIGINT the same way).
 * To arm the right coroutine the watchdog must know which one runs: tasks and limited calls say
 * so through budget_push/pop, and coroutine.resume/wrap are replaced by versions that do.
 * Uses lua. */
#include "budget.h"

#include <lauxlib.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define HOOK_STEP 1000 /* instructions between two budget checks once armed */
#define WATCH_MS 10
#define OUTER_TICKS 100 /* a run with shorter runs inside it (a task calling limited calls) */
/* CPU time a run may take besides its instructions: a loop around a C function that does a lot
 * per call (string.rep of megabytes, table.concat) spends seconds on few instructions. A run
 * gets its instruction limit at INSTRUCTIONS_PER_MS (far slower than the interpreter runs, so
 * honest code meets the instruction limit first), and at least MIN_RUN_MS. */
#define INSTRUCTIONS_PER_MS 10000LL
#define MIN_RUN_MS 2000LL

struct budget {
    budget_frame *volatile frame; /* innermost budgeted run */
    lua_State *volatile running; /* the thread running now, or NULL */
    volatile sig_atomic_t runs;  /* counts budget_push/pop: a new value is a new run */
    volatile sig_atomic_t seen;  /* `runs` at the last tick */
    long long outside_limit;
    struct sigaction old_action;
};

static budget *volatile watched; /* the process's budget, for the signal handler */
static volatile sig_atomic_t interrupted; /* budget_interrupt() was called: every run stops */

/* ---- the hook ---------------------------------------------------------------------------- */

/* What a spent run is told. */
static void push_spent(lua_State *L, const budget_frame *f)
{
    if (f->timed_out)
        lua_pushfstring(L, "time limit exceeded (%d s of CPU without yielding)", f->max_ticks * WATCH_MS / 1000);
    else
        lua_pushfstring(L, "instruction limit exceeded (%I instructions without yielding)", (lua_Integer)f->limit);
}

/* Once a budget is spent the hook fires on every instruction, so a pcall in the script cannot
 * swallow the kill: the next instruction after it raises again. */
static void instr_hook(lua_State *L, lua_Debug *ar)
{
    if (interrupted) {
        /* keeps firing on every instruction of every armed thread: nothing can catch it for good */
        lua_sethook(L, instr_hook, LUA_MASKCOUNT, 1);
        lua_pushliteral(L, BUDGET_INTERRUPTED_MSG);
        lua_error(L);
    }
    budget *b = watched;
    budget_frame *f = b ? b->frame : NULL;
    if (!f) return;
    if (!f->killing) {
        f->left -= HOOK_STEP;
        if (f->left >= 0) return;
        f->killing = 1;
        lua_sethook(f->L, instr_hook, LUA_MASKCOUNT, 1);
    }
    if (L != f->L) lua_sethook(L, instr_hook, LUA_MASKCOUNT, 1);
    /* luaL_where cannot see the line from inside a hook: ask the hook's own record */
    lua_getinfo(L, "Sl", ar);
    if (ar->currentline > 0) lua_pushfstring(L, "%s:%d: ", ar->short_src, ar->currentline);
    else lua_pushliteral(L, "");
    push_spent(L, f);
    lua_concat(L, 2);
    lua_error(L); /* not luaL_error: its position prefix would name the caller, not the loop */
}

/* ---- work done in C ------------------------------------------------------------------------ */

int budget_charge(lua_State *L, long long units)
{
    if (interrupted) return BUDGET_INTERRUPTED;
    budget *b = watched;
    budget_frame *f = b ? b->frame : NULL;
    if (!f) return BUDGET_OK;
    if (!f->killing) {
        f->left -= units;
        if (f->left >= 0) return BUDGET_OK;
        f->killing = 1;
    }
    /* as the hook does once a budget is spent: the next instruction raises again */
    lua_sethook(f->L, instr_hook, LUA_MASKCOUNT, 1);
    if (L != f->L) lua_sethook(L, instr_hook, LUA_MASKCOUNT, 1);
    return BUDGET_SPENT;
}

int budget_raise(lua_State *L, int status)
{
    budget *b = watched;
    budget_frame *f = b ? b->frame : NULL;
    luaL_where(L, 1);
    if (status == BUDGET_SPENT && f)
        push_spent(L, f);
    else if (status == BUDGET_SPENT)
        lua_pushliteral(L, "instruction limit exceeded");
    else
        lua_pushliteral(L, BUDGET_INTERRUPTED_MSG);
    lua_concat(L, 2);
    return lua_error(L);
}

long long budget_outside_limit(void)
{
    budget *b = watched;
    if (!b) return BUDGET_OUTSIDE_LIMIT;
    return b->frame ? LLONG_MAX : b->outside_limit;
}

void budget_interrupt_clear(void) { interrupted = 0; }

/* ---- the watchdog ------------------------------------------------------------------------- */

static void arm(lua_State *L)
{
    if (L && !(lua_gethookmask(L) & LUA_MASKCOUNT)) lua_sethook(L, instr_hook, LUA_MASKCOUNT, HOOK_STEP);
}

/* The same budgeted run at two ticks in a row: count its instructions from now on, on the
 * thread it started on (a loop resuming coroutines runs there between resumes) and on the
 * coroutine running at this moment (a loop inside it). */
static void on_tick(int sig)
{
    (void)sig;
    budget *b = watched;
    if (!b) return;
    budget_frame *f = b->frame;
    if (f && b->seen == b->runs) {
        arm(f->L);
        if (b->running != f->L) arm(b->running);
    }
    b->seen = b->runs;
    /* A run that keeps starting short ones (a loop around limited calls) is never the same
     * innermost run twice; it is armed once it has lasted OUTER_TICKS, so its own loop is
     * counted too. The import's task (a limited call per order, ~25 ms per page) never is. */
    for (budget_frame *g = f; g; g = g->up) {
        if (++g->ticks >= OUTER_TICKS) arm(g->L);
        if (g->ticks > g->max_ticks && !g->killing) {
            /* out of time: killed as a spent budget is, from its next instruction on */
            g->timed_out = 1;
            g->killing = 1;
            lua_sethook(g->L, instr_hook, LUA_MASKCOUNT, 1);
            if (g == f && b->running && b->running != g->L) lua_sethook(b->running, instr_hook, LUA_MASKCOUNT, 1);
        }
    }
}

budget *budget_new(long long outside_limit)
{
    budget *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->outside_limit = outside_limit;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_tick;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPROF, &sa, &b->old_action);
    watched = b;
    struct itimerval it = {{0, WATCH_MS * 1000}, {0, WATCH_MS * 1000}};
    setitimer(ITIMER_PROF, &it, NULL);
    return b;
}

void budget_free(budget *b)
{
    if (!b) return;
    struct itimerval off;
    memset(&off, 0, sizeof off);
    setitimer(ITIMER_PROF, &off, NULL);
    watched = NULL;
    sigaction(SIGPROF, &b->old_action, NULL);
    free(b);
}

void budget_push(budget *b, budget_frame *f, lua_State *L, long long limit)
{
    f->L = L;
    f->left = f->limit = limit;
    f->killing = 0;
    f->timed_out = 0;
    f->ticks = 0;
    long long ms = limit / INSTRUCTIONS_PER_MS;
    if (ms < MIN_RUN_MS) ms = MIN_RUN_MS;
    f->max_ticks = ms / WATCH_MS > INT_MAX ? INT_MAX : (int)(ms / WATCH_MS);
    f->up = b->frame;
    f->outer = b->running;
    /* a fresh budget: unarmed until the watchdog sees it run long (or at once after a stop signal) */
    if (interrupted) lua_sethook(L, instr_hook, LUA_MASKCOUNT, 1);
    else lua_sethook(L, NULL, 0, 0);
    b->frame = f;
    b->running = L;
    b->runs++;
}

void budget_pop(budget *b, budget_frame *f)
{
    b->frame = f->up;
    if (!interrupted) lua_sethook(f->L, NULL, 0, 0);
    b->running = f->outer;
    b->runs++;
}

/* Called from a signal handler: lua_sethook is safe there (lua.c stops a script on SIGINT the
 * same way), and the frames are on the stacks of the runs still going, linked while they run. */
void budget_interrupt(void)
{
    interrupted = 1;
    budget *b = watched;
    if (!b) return;
    if (b->running) lua_sethook(b->running, instr_hook, LUA_MASKCOUNT, 1);
    for (budget_frame *f = b->frame; f; f = f->up) lua_sethook(f->L, instr_hook, LUA_MASKCOUNT, 1);
}

int budget_interrupted(void) { return interrupted != 0; }

/* ---- coroutine.resume and coroutine.wrap -------------------------------------------------- */

/* Resumes co with narg values from L; returns the number of results moved to L, or -1 with the
 * error on L's top (as lcorolib's auxresume does). */
static int resume(lua_State *L, lua_State *co, int narg)
{
    if (!lua_checkstack(co, narg)) {
        lua_pushliteral(L, "too many arguments to resume");
        return -1;
    }
    budget *b = watched;
    lua_State *outer = b ? b->running : NULL;
    lua_xmove(L, co, narg);
    if (interrupted) lua_sethook(co, instr_hook, LUA_MASKCOUNT, 1);
    if (b) b->running = co;
    int nres, st = lua_resume(co, L, narg, &nres);
    if (b) b->running = outer;
    if (st == LUA_OK || st == LUA_YIELD) {
        if (!lua_checkstack(L, nres + 1)) {
            lua_pop(co, nres);
            lua_pushliteral(L, "too many results to resume");
            return -1;
        }
        lua_xmove(co, L, nres);
        return nres;
    }
    lua_xmove(co, L, 1);
    return -1;
}

/* coroutine.resume(co, ...) -> true, ... | false, err */
static int co_resume(lua_State *L)
{
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    int r = resume(L, co, lua_gettop(L) - 1);
    if (r < 0) {
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushboolean(L, 1);
    lua_insert(L, -(r + 1));
    return r + 1;
}

static int co_wrapped(lua_State *L)
{
    lua_State *co = lua_tothread(L, lua_upvalueindex(1));
    int r = resume(L, co, lua_gettop(L));
    if (r >= 0) return r;
    int st = lua_status(co);
    if (st != LUA_OK && st != LUA_YIELD) { /* an error in the coroutine: close its variables */
        st = lua_resetthread(co);
        lua_xmove(co, L, 1);
    }
    if (st != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

/* coroutine.wrap(fn) -> function resuming a new coroutine running fn */
static int co_wrap(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *co = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushcclosure(L, co_wrapped, 1);
    return 1;
}

void budget_open_coroutines(lua_State *L)
{
    if (lua_getglobal(L, "coroutine") == LUA_TTABLE) {
        lua_pushcfunction(L, co_resume);
        lua_setfield(L, -2, "resume");
        lua_pushcfunction(L, co_wrap);
        lua_setfield(L, -2, "wrap");
    }
    lua_pop(L, 1);
}
