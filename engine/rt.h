/* rt: the Lua runtime. One lua_State with a memory cap, tasks as coroutines scheduled on the
 * libevent loop, one pending operation per suspended task, instruction budgets.
 * Uses lua, libevent (event.h only), log. */
#ifndef CW_RT_H
#define CW_RT_H

#include <lua.h>
#include <stddef.h>

struct event_base;
typedef struct rt rt;
typedef struct task task;
typedef struct pending pending;

/* The one thing a suspended task waits for. I/O callbacks only store their result in the
 * op and call rt_wake(); the scheduler then calls resume() on the task's own thread. */
struct pending {
    /* Pushes the results for the yielded call onto L; returns their count; frees the op. */
    int (*resume)(lua_State *L, pending *op);
    /* The task is being destroyed: stop the I/O and free the op. Never touches Lua. */
    void (*cancel)(pending *op);
};

typedef struct rt_options {
    size_t max_memory;            /* bytes the Lua state may hold; 0 = 1 GiB */
    long long max_instructions;   /* per task slice between two yields; 0 = 2e9 */
    const char *home;             /* where lua/, connectors/, rules/, tests/ live */
} rt_options;

rt *rt_new(struct event_base *base, const rt_options *opt);
/* Cancels every pending op, closes Lua. Returns how many task errors nobody observed. */
int rt_free(rt *r);

lua_State *rt_lua(rt *r);
struct event_base *rt_base(rt *r);
const char *rt_home(rt *r);
rt *rt_from_lua(lua_State *L);

/* The task running on thread L, or NULL when L is not a task's own thread. */
task *rt_task_of(lua_State *L);
/* For Lua-callable functions that suspend: raises a Lua error naming `api` when L is not a
 * task's thread. Returns the task. */
task *rt_check_task(lua_State *L, const char *api);
/* Parks the current task on op and yields. Use as `return rt_yield(L, op);` */
int rt_yield(lua_State *L, pending *op);
/* Schedules a parked task to resume on the next loop turn. Safe from any C callback. */
void rt_wake(task *t);

/* Starts a task running the function at stack index -(nargs+1) of L with nargs arguments,
 * popping them. Returns the task (owned by the runtime; see rt_task_hold). Never NULL. */
typedef void (*task_done_fn)(task *t, lua_State *L, int ok, int nres, void *ud);
task *rt_spawn(rt *r, lua_State *L, int nargs, task_done_fn done, void *ud);

/* Keeps the loop running while something not a task is alive (a listening server). */
void rt_hold(rt *r);
void rt_release(rt *r);

/* Runs the loop until every task has ended and nothing is held, or rt_stop(). */
int rt_run(rt *r);
void rt_stop(rt *r);
int rt_stopping(rt *r);
/* The stop grace task.on_stop registered, in ms (0: none); async-signal-safe. */
int rt_stop_grace_ms(void);

/* Lua module openers (registered into package.preload by rt_new). */
int task_open(lua_State *L);
int rt_push_task_handle(lua_State *L, task *t);

/* Loads a Lua file with chunk name "@<display>" so errors carry file:line. */
int rt_load_file(lua_State *L, const char *path, const char *display);
/* Formats the error at the top of co (message + traceback) onto L's stack. */
void rt_push_error(lua_State *L, lua_State *co, int status);

#endif
