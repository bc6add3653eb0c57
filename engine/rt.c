/* rt: the Lua runtime. Owns the lua_State (capped allocator), the task scheduler (coroutines
 * resumed from one ready queue on the libevent loop), instruction budgets and error reports.
 * Uses lua, libevent, log. Lua modules register through package.preload (modules.c). */
#include "rt.h"

#include <event2/event.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "budget.h"
#include "log.h"
#include "modules.h"

#define SPARE_THREAD "cartwright.spare_thread"

struct task {
    rt *r;
    lua_State *L;          /* the task's own thread */
    int thread_ref;        /* registry ref keeping L alive until the task is freed */
    pending *op;           /* what the task waits for, or NULL */
    int refs;              /* 1 while running + 1 per live handle + 1 per waiter */
    int started, finished, ok, nres, queued, start_nargs;
    int error_unobserved;  /* finished with an error nobody has seen yet */
    task_done_fn done;
    void *done_ud;
    task *next_ready;
    task *prev, *next;     /* every task, for cleanup */
    task **waiters;        /* tasks parked in t:wait() on this one */
    int nwaiters, capwaiters;
};

struct rt {
    lua_State *L;
    struct event_base *base;
    struct event *ready_ev;
    task *ready_head, *ready_tail;
    task *all;
    int running_tasks, holds, stopping, unobserved, closing;
    size_t mem, mem_max;
    size_t mem_limit;      /* what allocations may reach now: mem_max, or a limited call's cap */
    size_t mem_call;       /* the limited call's own allowance when mem_limit is its cap, else 0 */
    int mem_exceeded;
    long long max_instructions;
    budget *budget;
    char *home;
};

/* ---- memory ---------------------------------------------------------------------------- */

static void *rt_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    rt *r = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        r->mem -= old;
        return NULL;
    }
    if (nsize > old && r->mem + (nsize - old) > r->mem_limit) {
        r->mem_exceeded = 1;
        return NULL;
    }
    void *np = realloc(ptr, nsize);
    if (!np) return NULL;
    r->mem = r->mem - old + nsize;
    return np;
}

rt *rt_from_lua(lua_State *L)
{
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}


/* ---- errors ------------------------------------------------------------------------------ */

/* "file:line: " of the innermost Lua function on co's stack (where an allocation failed), or
 * "" when there is none. */
static void lua_where(lua_State *co, char *buf, size_t len)
{
    lua_Debug ar;
    buf[0] = '\0';
    for (int level = 0; lua_getstack(co, level, &ar); level++) {
        if (lua_getinfo(co, "Sl", &ar) && ar.currentline > 0) {
            snprintf(buf, len, "%s:%d: ", ar.short_src, ar.currentline);
            return;
        }
    }
}

void rt_push_error(lua_State *L, lua_State *co, int status)
{
    rt *r = rt_from_lua(L);
    char buf[LUA_IDSIZE + 160];
    char where[LUA_IDSIZE + 32];
    const char *msg = lua_tostring(co, -1);
    if (status == LUA_ERRMEM && r->mem_exceeded) {
        lua_where(co, where, sizeof where);
        if (r->mem_call)
            snprintf(buf, sizeof buf, "%smemory limit exceeded (this call may use %zu MiB)", where, r->mem_call >> 20);
        else
            snprintf(buf, sizeof buf, "%smemory limit exceeded (the Lua state may hold %zu MiB)", where, r->mem_max >> 20);
        msg = buf;
        r->mem_exceeded = 0;
    } else if (!msg) {
        /* error(nil), error({}): no message, so say where it was raised */
        lua_where(co, where, sizeof where);
        snprintf(buf, sizeof buf, "%serror raised with a %s value instead of a message", where, luaL_typename(co, -1));
        msg = buf;
    }
    /* The message and traceback are a few KB: let them past the cap that may have just been
     * hit (an allocation failing here would raise outside any protected call: a panic). */
    size_t limit = r->mem_limit;
    r->mem_limit = (size_t)-1;
    luaL_traceback(L, co, msg, 0);
    r->mem_limit = limit;
}

int rt_load_file(lua_State *L, const char *path, const char *display)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        lua_pushfstring(L, "cannot open %s", display);
        return LUA_ERRFILE;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) luaL_addlstring(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    luaL_pushresult(&b);
    if (bad) {
        lua_pop(L, 1);
        lua_pushfstring(L, "cannot read %s", display);
        return LUA_ERRFILE;
    }
    size_t len;
    const char *src = lua_tolstring(L, -1, &len);
    lua_pushfstring(L, "@%s", display);
    /* stack: src, chunkname */
    int st = luaL_loadbufferx(L, src, len, lua_tostring(L, -1), "t");
    lua_remove(L, -2);
    lua_remove(L, -2);
    return st;
}

/* ---- tasks ------------------------------------------------------------------------------- */

task *rt_task_of(lua_State *L)
{
    task *t = *(task **)lua_getextraspace(L);
    return (t && t->L == L && !t->finished) ? t : NULL;
}

task *rt_check_task(lua_State *L, const char *api)
{
    task *t = rt_task_of(L);
    if (!t) luaL_error(L, "%s: must be called from a task (not the main chunk of a rule or a coroutine of your own)", api);
    return t;
}

static void task_unref(task *t)
{
    if (--t->refs > 0) return;
    rt *r = t->r;
    if (t->error_unobserved && !r->closing && !budget_interrupted()) { /* a stop signal killed it */
        log_write(LOG_ERROR, "task failed", (const char *[]){"error", lua_tostring(t->L, -1), NULL});
        r->unobserved++;
    }
    if (t->prev) t->prev->next = t->next; else r->all = t->next;
    if (t->next) t->next->prev = t->prev;
    if (r->L && !r->closing) {
        *(task **)lua_getextraspace(t->L) = NULL;
        luaL_unref(r->L, LUA_REGISTRYINDEX, t->thread_ref);
    }
    free(t->waiters);
    free(t);
}

static void ready_push(task *t)
{
    rt *r = t->r;
    if (t->queued) return;
    t->queued = 1;
    t->next_ready = NULL;
    if (r->ready_tail) r->ready_tail->next_ready = t; else r->ready_head = t;
    r->ready_tail = t;
    event_active(r->ready_ev, EV_READ, 0);
}

void rt_wake(task *t) { ready_push(t); }

int rt_yield(lua_State *L, pending *op)
{
    task *t = rt_task_of(L);
    t->op = op;
    return lua_yield(L, 0);
}

static void task_finish(task *t, int ok, int nres)
{
    rt *r = t->r;
    t->finished = 1;
    t->ok = ok;
    t->nres = nres;
    r->running_tasks--;
    if (!ok) t->error_unobserved = 1;
    if (t->done) {
        t->error_unobserved = 0; /* the owner's callback reports it */
        t->done(t, t->L, ok, nres, t->done_ud);
    }
    for (int i = 0; i < t->nwaiters; i++) rt_wake(t->waiters[i]);
    if (t->nwaiters) t->error_unobserved = 0;
    t->nwaiters = 0;
    task_unref(t);
    if (r->running_tasks == 0 && r->holds == 0) event_base_loopbreak(r->base);
}

/* Resumes t with nargs values already pushed on its thread.
 * Returns 0 when the task parked or finished, whatever the outcome (reported via finish). */
static void task_resume(task *t, int nargs)
{
    rt *r = t->r;
    budget_frame f;
    int nres = 0;
    budget_push(r->budget, &f, t->L, r->max_instructions);
    int st = lua_resume(t->L, NULL, nargs, &nres);
    budget_pop(r->budget, &f);
    if (st == LUA_YIELD) {
        lua_pop(t->L, nres);
        if (!t->op) ready_push(t); /* a bare coroutine.yield(): let the others run */
        return;
    }
    if (st == LUA_OK) {
        task_finish(t, 1, nres);
        return;
    }
    rt_push_error(t->L, t->L, st);
    lua_replace(t->L, 1);
    lua_settop(t->L, 1);
    task_finish(t, 0, 1);
}

static void ready_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rt *r = arg;
    task *t;
    /* Only run what was queued before this turn, so a yield loop cannot starve the loop. */
    task *tail = r->ready_tail;
    while ((t = r->ready_head) && !r->stopping && !budget_interrupted()) {
        r->ready_head = t->next_ready;
        if (!r->ready_head) r->ready_tail = NULL;
        t->queued = 0;
        int nargs;
        if (!t->started) {
            t->started = 1;
            nargs = t->start_nargs;
        } else if (t->op) {
            pending *op = t->op;
            t->op = NULL;
            nargs = op->resume(t->L, op);
        } else {
            nargs = 0;
        }
        task_resume(t, nargs);
        if (t == tail) break;
    }
    if (r->ready_head) event_active(r->ready_ev, EV_READ, 0);
}

task *rt_spawn(rt *r, lua_State *L, int nargs, task_done_fn done, void *ud)
{
    task *t = calloc(1, sizeof *t);
    if (!t) luaL_error(L, "out of memory");
    lua_State *co = lua_newthread(L);
    t->thread_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_xmove(L, co, nargs + 1);
    *(task **)lua_getextraspace(co) = t;
    t->r = r;
    t->L = co;
    t->refs = 1;
    t->start_nargs = nargs;
    t->done = done;
    t->done_ud = ud;
    t->next = r->all;
    if (r->all) r->all->prev = t;
    r->all = t;
    r->running_tasks++;
    ready_push(t);
    return t;
}

/* ---- task module: spawn, wait, sleep ------------------------------------------------------ */

#define TASK_MT "cartwright.task"

typedef struct { task *t; } task_handle;

int rt_push_task_handle(lua_State *L, task *t)
{
    task_handle *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->t = t;
    t->refs++;
    luaL_setmetatable(L, TASK_MT);
    return 1;
}

/* task.spawn(fn, ...) -> handle */
static int l_spawn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    int nargs = lua_gettop(L) - 1;
    task *t = rt_spawn(rt_from_lua(L), L, nargs, NULL, NULL);
    return rt_push_task_handle(L, t);
}

/* Pushes true + results or false + message of a finished task onto L. */
static int push_outcome(lua_State *L, task *t)
{
    t->error_unobserved = 0;
    luaL_checkstack(L, t->nres + 1, "task results");
    lua_pushboolean(L, t->ok);
    int base = lua_gettop(t->L) - t->nres;
    for (int i = 1; i <= t->nres; i++) {
        lua_pushvalue(t->L, base + i);
        lua_xmove(t->L, L, 1);
    }
    return t->nres + 1;
}

typedef struct { pending base; task *target; } wait_op;

static int wait_resume(lua_State *L, pending *p)
{
    wait_op *op = (wait_op *)p;
    int n = push_outcome(L, op->target);
    task_unref(op->target);
    free(op);
    return n;
}

static void wait_cancel(pending *p)
{
    free(p); /* the target's refs are dropped with it at shutdown */
}

/* t:wait() -> true, results... | false, errmsg */
static int l_wait(lua_State *L)
{
    task_handle *h = luaL_checkudata(L, 1, TASK_MT);
    task *t = h->t;
    if (t->finished) return push_outcome(L, t);
    task *self = rt_check_task(L, "task:wait");
    if (self == t) return luaL_error(L, "task:wait: a task cannot wait for itself");
    if (t->nwaiters == t->capwaiters) {
        int cap = t->capwaiters ? t->capwaiters * 2 : 4;
        task **w = realloc(t->waiters, (size_t)cap * sizeof *w);
        if (!w) return luaL_error(L, "out of memory");
        t->waiters = w;
        t->capwaiters = cap;
    }
    wait_op *op = calloc(1, sizeof *op);
    if (!op) return luaL_error(L, "out of memory");
    op->base.resume = wait_resume;
    op->base.cancel = wait_cancel;
    op->target = t;
    t->refs++;
    t->waiters[t->nwaiters++] = self;
    return rt_yield(L, &op->base);
}

/* t:done() -> boolean */
static int l_done(lua_State *L)
{
    task_handle *h = luaL_checkudata(L, 1, TASK_MT);
    lua_pushboolean(L, h->t->finished);
    return 1;
}

static int l_handle_gc(lua_State *L)
{
    task_handle *h = luaL_checkudata(L, 1, TASK_MT);
    if (h->t) task_unref(h->t);
    h->t = NULL;
    return 0;
}

typedef struct { pending base; struct event *ev; task *t; } sleep_op;

static void sleep_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sleep_op *op = arg;
    rt_wake(op->t);
}

static int sleep_resume(lua_State *L, pending *p)
{
    (void)L;
    sleep_op *op = (sleep_op *)p;
    event_free(op->ev);
    free(op);
    return 0;
}

static void sleep_cancel(pending *p) { sleep_resume(NULL, p); }

/* The longest sleep: 1e8 s (about 3.2 years). Converting a double beyond time_t's range is
 * undefined behaviour, and a sleep's length may come from a cart (Retry-After). */
#define SLEEP_MAX_S 1e8

/* task.sleep(seconds): NaN and negatives sleep 0, anything above SLEEP_MAX_S sleeps that. */
static int l_sleep(lua_State *L)
{
    double s = luaL_checknumber(L, 1);
    task *t = rt_check_task(L, "task.sleep");
    if (!(s >= 0)) s = 0; /* NaN fails every comparison */
    if (s > SLEEP_MAX_S) s = SLEEP_MAX_S;
    sleep_op *op = calloc(1, sizeof *op);
    if (!op) return luaL_error(L, "out of memory");
    op->base.resume = sleep_resume;
    op->base.cancel = sleep_cancel;
    op->t = t;
    op->ev = evtimer_new(rt_from_lua(L)->base, sleep_cb, op);
    time_t whole = (time_t)s;
    long usec = (long)((s - (double)whole) * 1e6);
    if (usec > 999999) usec = 999999; /* rounding of the fraction */
    struct timeval tv = {whole, (suseconds_t)usec};
    evtimer_add(op->ev, &tv);
    return rt_yield(L, &op->base);
}

/* task.wake(handle) -> true | false: ends that task's task.sleep now (false: it is not
 * sleeping). For a loop that sleeps until its next due time but must act at once on news. */
static int l_wake(lua_State *L)
{
    task_handle *h = luaL_checkudata(L, 1, TASK_MT);
    task *t = h->t;
    int sleeping = t && !t->finished && !t->queued && t->op && t->op->resume == sleep_resume;
    if (sleeping) {
        evtimer_del(((sleep_op *)t->op)->ev);
        rt_wake(t);
    }
    lua_pushboolean(L, sleeping);
    return 1;
}

/* task.yield(): lets every task that is ready run once, then goes on (a task that has just
 * spawned another lets it start its I/O before a long stretch of work). */
static int l_yield(lua_State *L)
{
    rt_check_task(L, "task.yield");
    return lua_yield(L, 0);
}

/* task.now() -> seconds since the epoch (float) */
static int l_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
    return 1;
}

/* task.monotonic() -> seconds (float), for measuring durations */
static int l_monotonic(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
    return 1;
}

/* task.cpu() -> CPU seconds used by this process (user + system) */
static int l_cpu(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    lua_pushnumber(L, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
    return 1;
}

/* task.process() -> pid, host: this process's id and the host's name (a lease's holder names
 * them, so a lease whose process died on this host is taken over at once) */
static int l_process(lua_State *L)
{
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    lua_pushinteger(L, (lua_Integer)getpid());
    lua_pushstring(L, host);
    return 2;
}

/* task.alive(pid) -> boolean: whether a process with that id runs on this host */
static int l_alive(lua_State *L)
{
    lua_Integer pid = luaL_checkinteger(L, 1);
    if (pid <= 0 || pid > 0x7fffffff) return lua_pushboolean(L, 0), 1;
    lua_pushboolean(L, kill((pid_t)pid, 0) == 0 || errno == EPERM);
    return 1;
}

/* task.memory() -> bytes held by the Lua state */
static int l_memory(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)rt_from_lua(L)->mem);
    return 1;
}

/* task.current() -> true when called from a task */
static int l_current(lua_State *L)
{
    lua_pushboolean(L, rt_task_of(L) != NULL);
    return 1;
}

/* The limits of a limited call: an instruction count, or { instructions = N, memory = BYTES }. */
static void call_limits(lua_State *L, int idx, lua_Integer *instructions, lua_Integer *memory)
{
    *memory = 0;
    if (!lua_istable(L, idx)) {
        *instructions = luaL_checkinteger(L, idx);
        return;
    }
    lua_getfield(L, idx, "instructions");
    *instructions = luaL_checkinteger(L, -1);
    lua_getfield(L, idx, "memory");
    *memory = luaL_optinteger(L, -1, 0);
    lua_pop(L, 2);
}

/* task.limited_call(limits, fn, ...) -> true, results... | false, errmsg
 * Runs fn on a fresh thread with its own instruction budget (limits: a count, or
 * { instructions = N, memory = BYTES }: the Lua state may grow by at most BYTES during the
 * call). The function may not yield. */
static int l_limited_call(lua_State *L)
{
    rt *r = rt_from_lua(L);
    lua_Integer limit, memory;
    call_limits(L, 1, &limit, &memory);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    int nargs = lua_gettop(L) - 2;
    /* A thread that finished cleanly can run the next call: reuse it (rules run per order). */
    lua_State *co = NULL;
    if (lua_getfield(L, LUA_REGISTRYINDEX, SPARE_THREAD) == LUA_TTHREAD) {
        co = lua_tothread(L, -1);
        lua_pushnil(L);
        lua_setfield(L, LUA_REGISTRYINDEX, SPARE_THREAD); /* taken: a nested call makes its own */
    } else {
        lua_pop(L, 1);
        co = lua_newthread(L);
    }
    lua_insert(L, 1); /* stack: co, limit, fn, args... */
    lua_xmove(L, co, nargs + 1);
    size_t outer_limit = r->mem_limit, outer_call = r->mem_call;
    if (memory > 0 && r->mem + (size_t)memory < r->mem_limit) {
        r->mem_limit = r->mem + (size_t)memory;
        r->mem_call = (size_t)memory;
    }
    budget_frame f;
    int nres = 0;
    budget_push(r->budget, &f, co, limit > 0 ? limit : 1);
    int st = lua_resume(co, L, nargs, &nres);
    budget_pop(r->budget, &f);
    lua_settop(L, 1); /* stack: co */
    r->mem_limit = outer_limit; /* the message is built with the outer limit, naming the call's */
    if (st != LUA_OK && st != LUA_YIELD) rt_push_error(L, co, st);
    r->mem_call = outer_call;
    if (st == LUA_OK) {
        luaL_checkstack(L, nres + 1, "results");
        lua_pushboolean(L, 1);
        lua_xmove(co, L, nres);
        lua_settop(co, 0);
        lua_pushvalue(L, 1);
        lua_setfield(L, LUA_REGISTRYINDEX, SPARE_THREAD);
        return nres + 1;
    }
    lua_pushboolean(L, 0);
    if (st == LUA_YIELD)
        lua_pushstring(L, "the function yielded; code run with a limit cannot do I/O or yield");
    else
        lua_insert(L, -2); /* stack: co, false, err */
    return 2;
}

/* task.on_reload(fn): fn runs in a new task on every SIGHUP */
static int l_on_reload(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "cartwright.on_reload");
    return 0;
}

/* The grace a registered on_stop asked for, in ms (0: none). Read by the stop signal's
 * handler, hence a sig_atomic_t. */
static volatile sig_atomic_t stop_grace_ms;

int rt_stop_grace_ms(void) { return stop_grace_ms; }

/* task.on_stop(fn, grace_seconds): on SIGTERM/SIGINT, fn runs in a new task instead of running
 * Lua being interrupted; the loop stops when fn returns, or the process ends grace_seconds
 * (plus the usual 1.5 s) after the signal. For a service that lets its jobs finish. */
static int l_on_stop(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_Number grace = luaL_checknumber(L, 2);
    luaL_argcheck(L, grace > 0 && grace <= 3600, 2, "grace seconds above 0, at most 3600");
    lua_settop(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "cartwright.on_stop");
    stop_grace_ms = (sig_atomic_t)(grace * 1000);
    return 0;
}

int task_open(lua_State *L)
{
    static const luaL_Reg handle_methods[] = {{"wait", l_wait}, {"done", l_done}, {NULL, NULL}};
    static const luaL_Reg fns[] = {
        {"spawn", l_spawn},   {"sleep", l_sleep},     {"yield", l_yield},     {"now", l_now},
        {"monotonic", l_monotonic}, {"cpu", l_cpu}, {"process", l_process}, {"alive", l_alive},   {"memory", l_memory},
        {"current", l_current}, {"limited_call", l_limited_call}, {"on_reload", l_on_reload},
        {"on_stop", l_on_stop}, {"wake", l_wake},
        {NULL, NULL}};
    if (luaL_newmetatable(L, TASK_MT)) {
        luaL_newlib(L, handle_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_handle_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    luaL_newlib(L, fns);
    return 1;
}

/* ---- lifecycle ------------------------------------------------------------------------- */

rt *rt_new(struct event_base *base, const rt_options *opt)
{
    rt *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->base = base;
    r->mem_max = opt && opt->max_memory ? opt->max_memory : (size_t)1 << 30;
    r->mem_limit = r->mem_max;
    r->max_instructions = opt && opt->max_instructions ? opt->max_instructions : 2000000000LL;
    r->home = strdup(opt && opt->home ? opt->home : ".");
    r->ready_ev = event_new(base, -1, 0, ready_cb, r);
    r->L = lua_newstate(rt_alloc, r);
    r->budget = budget_new(r->max_instructions);
    if (!r->L || !r->ready_ev || !r->home || !r->budget) {
        rt_free(r);
        return NULL;
    }
    *(task **)lua_getextraspace(r->L) = NULL;
    luaL_openlibs(r->L);
    /* string.dump turns any function into bytecode, which nothing here loads, and a sandboxed
     * file could reach it through the string metatable ("").dump: it is gone for all. */
    lua_getglobal(r->L, "string");
    lua_pushnil(r->L);
    lua_setfield(r->L, -2, "dump");
    lua_pop(r->L, 1);
    string_api_install(r->L);
    budget_open_coroutines(r->L);
    modules_register(r->L);
    return r;
}

int rt_free(rt *r)
{
    if (!r) return 0;
    /* Cancel I/O first: ops must not fire into a closed state. */
    for (task *t = r->all; t; t = t->next) {
        if (t->op) {
            t->op->cancel(t->op);
            t->op = NULL;
        }
    }
    if (r->L) {
        /* Report failed tasks nobody waited for while their messages can still be read. */
        for (task *t = r->all; t; t = t->next) {
            if (t->finished && t->error_unobserved && !budget_interrupted()) {
                log_write(LOG_ERROR, "task failed", (const char *[]){"error", lua_tostring(t->L, -1), NULL});
                t->error_unobserved = 0;
                r->unobserved++;
            }
        }
        r->closing = 1; /* handles collected by lua_close only drop their counts */
        lua_close(r->L);
        r->L = NULL;
    }
    for (task *t = r->all, *n; t; t = n) {
        n = t->next;
        free(t->waiters);
        free(t);
    }
    int unobserved = r->unobserved;
    if (r->ready_ev) event_free(r->ready_ev);
    budget_free(r->budget);
    free(r->home);
    free(r);
    return unobserved;
}

lua_State *rt_lua(rt *r) { return r->L; }
struct event_base *rt_base(rt *r) { return r->base; }
const char *rt_home(rt *r) { return r->home; }

void rt_hold(rt *r) { r->holds++; }

void rt_release(rt *r)
{
    if (--r->holds == 0 && r->running_tasks == 0) event_base_loopbreak(r->base);
}

int rt_run(rt *r)
{
    if (r->running_tasks == 0 && r->holds == 0) return 0;
    return event_base_loop(r->base, 0);
}

void rt_stop(rt *r)
{
    r->stopping = 1;
    event_base_loopbreak(r->base);
}

int rt_stopping(rt *r) { return r->stopping; }
