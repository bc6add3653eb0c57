/* sqlfile: a storage backend's SQL read from its files under the engine's home: named
 * operations (`-- name: op_name (one|all|exec|insert)` headers) and numbered migrations
 * (migrations/NNN_what.sql). Knows no database; store.c prepares what it reads. */
#ifndef CW_SQLFILE_H
#define CW_SQLFILE_H

#include <stddef.h>

enum sqlop_kind {
    SQLOP_ONE,  /* a row, or none */
    SQLOP_ALL,  /* every row */
    SQLOP_EXEC, /* no rows: the number of rows changed */
    SQLOP_INSERT, /* one new row: its id */
};

typedef struct {
    char *name;
    enum sqlop_kind kind;
    char *sql;   /* the statement, its comment lines left out */
    char *where; /* "sql/sqlite/orders.sql:12", the header's place, for messages */
} sqlop;

typedef struct {
    char *sql;  /* the whole file, comments and all */
    char *file; /* "sql/sqlite/migrations/001_initial.sql" */
} sqlmigration;

typedef struct {
    sqlop *ops;
    int nops;
    sqlmigration *migrations; /* [0] is version 1 */
    int nmigrations;
} sqlset;

/* Reads the ops of each file in op_files (NULL-terminated names, in dir) and every migration
 * of dir/migrations from home/dir. Returns 0, or -1 with err naming the file and line; set
 * then holds nothing. Paths in messages and in `where` are relative to home. */
int sqlset_load(sqlset *set, const char *home, const char *dir, const char *const *op_files, char *err, size_t errlen);
void sqlset_free(sqlset *set);

/* The line of text (1-based) where the statement that starts at `at` begins: blank lines and
 * `--` comment lines before it are skipped. */
int sqlfile_line(const char *text, const char *at);

#endif
