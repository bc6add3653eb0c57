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
    volatile int killing;   /* spent: the hook now raises on every instruction */
    volatile int timed_out; /* spent by CPU time (max_ticks), not by instructions */
    volatile int ticks;     /* watchdog ticks while runs inside this one went on */
    int max_ticks;          /* CPU time the run may take, in watchdog ticks */
    struct budget_frame *up;
} budget_frame;

typedef struct budget budget;

/* Starts the watchdog; one budget per process (the signal handler and the hook use it).
 * outside_limit: what one call of C work may charge when no budgeted run is going (see
 * budget_outside_limit). Returns NULL when out of memory. */
budget *budget_new(long long outside_limit);
void budget_free(budget *b);

void budget_push(budget *b, budget_frame *f, lua_State *L, long long limit);
void budget_pop(budget *b, budget_frame *f);

/* Work done in C on behalf of the running Lua code (a pattern matcher's steps) is charged to
 * the innermost budgeted run, in the same units as its instructions. */
enum budget_status {
    BUDGET_OK = 0,
    BUDGET_SPENT,       /* the run's budget is spent: it is being killed */
    BUDGET_INTERRUPTED  /* budget_interrupt() was called: long C work should stop */
};

/* Subtracts units from the innermost run's budget (none outside a run). When it is spent, the
 * run is killed as the instruction hook kills it: the hook fires on every instruction of its
 * thread and of L from now on, so a pcall cannot swallow the stop. Returns a budget_status;
 * the caller stops its work and calls budget_raise. Cheap: a few loads. */
int budget_charge(lua_State *L, long long units);

/* Raises the error for a nonzero budget_charge status, with the position of the Lua code that
 * called the C function running on L: "FILE:LINE: instruction limit exceeded (N instructions
 * without yielding)" or "FILE:LINE: interrupted". Does not return. */
int budget_raise(lua_State *L, int status);

/* What one call of C work (one pattern match) may charge when no budgeted run is going (code
 * run while a module loads, a finalizer at exit): budget_new's outside_limit, or
 * BUDGET_OUTSIDE_LIMIT in a process without a budget. LLONG_MAX while a run is going: its
 * budget applies instead. */
#define BUDGET_OUTSIDE_LIMIT 1000000000LL
long long budget_outside_limit(void);

/* Asks long C work to stop: every budget_charge returns BUDGET_INTERRUPTED from now on (so
 * every pattern call fails with "interrupted", short ones too) until budget_interrupt_clear.
 * Async-signal-safe (sets a flag). */
#define BUDGET_INTERRUPTED_MSG "interrupted: the process is stopping (signal)"
void budget_interrupt(void);
void budget_interrupt_clear(void);
int budget_interrupted(void);

/* Replaces coroutine.resume and coroutine.wrap in L's coroutine table with versions that tell
 * the watchdog (the process's one budget) which thread runs. */
void budget_open_coroutines(lua_State *L);

#endif
