/* budget: instruction budgets for Lua code (a task's slice between two yields, a limited
 * call), counted by an instruction-count hook that a CPU-time watchdog arms only on code that
 * runs long. Uses lua. */
#ifndef CW_BUDGET_H
#define CW_BUDGET_H

#include <lua.h>

/* One budgeted run of Lua code, pushed while it runs (frames nest: a limited call in a task). */
typedef struct budget_frame {
    lua_State *L;           /* the thread the run started on */
    lua_State *outer;       /* the running thread before this run (restored on pop) */
    long long left, limit;
    int killing;            /* spent: the hook now raises on every instruction */
    volatile int ticks;     /* watchdog ticks while runs inside this one went on */
    struct budget_frame *up;
} budget_frame;

typedef struct budget budget;

/* Starts the watchdog; one budget per process (the signal handler and the hook use it).
 * Returns NULL when out of memory. */
budget *budget_new(void);
void budget_free(budget *b);

void budget_push(budget *b, budget_frame *f, lua_State *L, long long limit);
void budget_pop(budget *b, budget_frame *f);

/* Stops every Lua run of the process: from now on the hook raises BUDGET_INTERRUPTED on every
 * instruction of every thread that runs (a pcall cannot catch it for good). Async-signal-safe:
 * for SIGINT/SIGTERM handlers. */
#define BUDGET_INTERRUPTED "interrupted: the process is stopping (signal)"
void budget_interrupt(void);
int budget_interrupted(void);

/* Replaces coroutine.resume and coroutine.wrap in L's coroutine table with versions that tell
 * the watchdog (the process's one budget) which thread runs. */
void budget_open_coroutines(lua_State *L);

#endif
