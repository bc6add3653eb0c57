/* sqlfile: reads a storage backend's SQL from its files under the engine's home: the named
 * operations of a few op files and the numbered migrations. Every fault in them is an error
 * that names the file and line. Knows no database; uses libc only. */
#include "sqlfile.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQLFILE_MAX_BYTES (1 << 20) /* ours are a few KB: a bigger file is a mistake */
#define OP_NAME_MAX 63

/* A growing text buffer. */
typedef struct {
    char *p;
    size_t len, cap;
} buf;

static int buf_add(buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int line_of(const char *text, const char *at)
{
    int line = 1;
    for (const char *p = text; p < at; p++)
        line += *p == '\n';
    return line;
}

/* The first byte at or after s that is neither blank nor in a "--" comment ('\0' at the end). */
static const char *skip_comments(const char *s)
{
    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
            s++;
        if (s[0] != '-' || s[1] != '-') return s;
        const char *nl = strchr(s, '\n');
        if (!nl) return s + strlen(s);
        s = nl + 1;
    }
}

int sqlfile_line(const char *text, const char *at)
{
    return line_of(text, skip_comments(at));
}

/* "a/b", malloc'd, or NULL when out of memory. */
static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);
    if (!p) return NULL;
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

/* Reads path (shown as `shown` in messages) into *out, NUL-terminated, owned by the caller.
 * Returns 0, or -1 with err. */
static int read_all(const char *path, const char *shown, char **out, char *err, size_t errlen)
{
    FILE *f = NULL;
    buf b = {0};
    int rc = -1;
    char chunk[8192];
    *out = NULL;
    if (!(f = fopen(path, "rb"))) {
        snprintf(err, errlen, "cannot read %s: %s", shown, strerror(errno));
        goto done;
    }
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n > SQLFILE_MAX_BYTES) {
            snprintf(err, errlen, "%s: larger than %d bytes", shown, SQLFILE_MAX_BYTES);
            goto done;
        }
        if (buf_add(&b, chunk, n)) {
            snprintf(err, errlen, "%s: out of memory", shown);
            goto done;
        }
    }
    if (ferror(f)) {
        snprintf(err, errlen, "cannot read %s: %s", shown, strerror(errno));
        goto done;
    }
    if (b.len == 0 && buf_add(&b, "", 0)) {
        snprintf(err, errlen, "%s: out of memory", shown);
        goto done;
    }
    const char *nul = memchr(b.p, '\0', b.len);
    if (nul) {
        snprintf(err, errlen, "%s:%d: a NUL byte (not a text file)", shown, line_of(b.p, nul));
        goto done;
    }
    *out = b.p;
    b.p = NULL;
    rc = 0;
done:
    if (f) fclose(f);
    free(b.p);
    return rc;
}

/* ---- op files ---------------------------------------------------------------------------- */

static int is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}
static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}
static const char *skip_blank(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* Parses what follows "-- name:" up to end: " op_name (one|all|exec|insert)". Returns 0 with name
 * and kind set, or -1. */
static int parse_header(const char *p, const char *end, char name[OP_NAME_MAX + 1], enum sqlop_kind *kind)
{
    static const struct {
        const char *word;
        enum sqlop_kind kind;
    } kinds[] = {{"(one)", SQLOP_ONE}, {"(all)", SQLOP_ALL}, {"(exec)", SQLOP_EXEC}, {"(insert)", SQLOP_INSERT}};
    size_t n = 0;
    p = skip_blank(p, end);
    if (p == end || !is_lower(*p)) return -1;
    while (p < end && (is_lower(*p) || is_digit(*p) || *p == '_')) {
        if (n == OP_NAME_MAX) return -1;
        name[n++] = *p++;
    }
    name[n] = '\0';
    p = skip_blank(p, end);
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t len = strlen(kinds[i].word);
        if ((size_t)(end - p) >= len && memcmp(p, kinds[i].word, len) == 0 && skip_blank(p + len, end) == end) {
            *kind = kinds[i].kind;
            return 0;
        }
    }
    return -1;
}

static const sqlop *find_op(const sqlset *set, const char *name)
{
    for (int i = 0; i < set->nops; i++)
        if (strcmp(set->ops[i].name, name) == 0) return &set->ops[i];
    return NULL;
}

/* Appends op `name` with the SQL gathered in body. Returns 0, or -1 with err. */
static int add_op(sqlset *set, const char *name, enum sqlop_kind kind, buf *body, const char *shown, int line,
                  char *err, size_t errlen)
{
    while (body->len && body->p[body->len - 1] == '\n')
        body->p[--body->len] = '\0';
    if (body->len == 0) {
        snprintf(err, errlen, "%s:%d: op %s has no SQL", shown, line, name);
        return -1;
    }
    sqlop *ops = realloc(set->ops, (size_t)(set->nops + 1) * sizeof *ops);
    if (!ops) goto oom;
    set->ops = ops;
    sqlop *op = &ops[set->nops];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->name = strdup(name);
    op->sql = body->p;
    body->p = NULL, body->len = body->cap = 0;
    char where[512];
    snprintf(where, sizeof where, "%s:%d", shown, line);
    op->where = strdup(where);
    set->nops++; /* counted now: sqlset_free frees what is set */
    if (!op->name || !op->where) goto oom;
    return 0;
oom:
    snprintf(err, errlen, "%s: out of memory", shown);
    return -1;
}

/* Reads the ops of one file's text into set. Each op runs from its header to the next header;
 * other lines starting with "--" are comments, left out. Returns 0, or -1 with err. */
static int parse_ops(sqlset *set, const char *shown, const char *text, char *err, size_t errlen)
{
    char name[OP_NAME_MAX + 1] = "";
    enum sqlop_kind kind = SQLOP_EXEC;
    buf body = {0};
    int lineno = 0, header_line = 0, rc = -1;
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        const char *next = nl ? nl + 1 : line + strlen(line);
        const char *end = nl ? nl : next;
        while (end > line && end[-1] == '\r')
            end--;
        const char *p = skip_blank(line, end);
        lineno++;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
            const char *q = skip_blank(p + 2, end);
            if (end - q >= 5 && memcmp(q, "name:", 5) == 0) {
                if (name[0] && add_op(set, name, kind, &body, shown, header_line, err, errlen)) goto done;
                if (parse_header(q + 5, end, name, &kind)) {
                    snprintf(err, errlen, "%s:%d: bad op header '%.*s' (want '-- name: op_name (one|all|exec|insert)')", shown,
                             lineno, (int)(end - p > 80 ? 80 : end - p), p);
                    goto done;
                }
                const sqlop *dup = find_op(set, name);
                if (dup) {
                    snprintf(err, errlen, "%s:%d: op %s is already defined at %s", shown, lineno, name, dup->where);
                    goto done;
                }
                header_line = lineno;
            }
        } else if (p < end) {
            if (!name[0]) {
                snprintf(err, errlen, "%s:%d: SQL before the first '-- name: op_name (one|all|exec|insert)' header", shown,
                         lineno);
                goto done;
            }
            if (buf_add(&body, line, (size_t)(end - line)) || buf_add(&body, "\n", 1)) {
                snprintf(err, errlen, "%s: out of memory", shown);
                goto done;
            }
        }
        line = next;
    }
    if (!name[0]) {
        snprintf(err, errlen, "%s: no ops (each starts at a '-- name: op_name (one|all|exec|insert)' line)", shown);
        goto done;
    }
    if (add_op(set, name, kind, &body, shown, header_line, err, errlen)) goto done;
    rc = 0;
done:
    free(body.p);
    return rc;
}

/* ---- migrations -------------------------------------------------------------------------- */

typedef struct {
    int version;
    char *name;
} migration_file;

static int by_version(const void *a, const void *b)
{
    const migration_file *x = a, *y = b;
    return x->version != y->version ? (x->version > y->version) - (x->version < y->version) : strcmp(x->name, y->name);
}

/* The file names of dir (NNN_what.sql), sorted by version; checks they run 1, 2, … with no
 * gap and no two of one version. Returns 0 with *files and *n set (owned by the caller), or -1
 * with err. */
static int list_migrations(const char *path, const char *shown, migration_file **files, int *n, char *err,
                           size_t errlen)
{
    DIR *d = NULL;
    migration_file *list = NULL;
    int count = 0, rc = -1;
    struct dirent *de;
    if (!(d = opendir(path))) {
        snprintf(err, errlen, "cannot read %s: %s", shown, strerror(errno));
        goto done;
    }
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        size_t len = strlen(name);
        if (name[0] == '.' || len < 4 || strcmp(name + len - 4, ".sql") != 0) continue;
        if (len < 8 || !is_digit(name[0]) || !is_digit(name[1]) || !is_digit(name[2]) || name[3] != '_') {
            snprintf(err, errlen, "%s/%s: a migration is named NNN_what.sql (NNN: its version, three digits)", shown,
                     name);
            goto done;
        }
        migration_file *grown = realloc(list, (size_t)(count + 1) * sizeof *list);
        if (!grown) goto oom;
        list = grown;
        list[count].version = (name[0] - '0') * 100 + (name[1] - '0') * 10 + (name[2] - '0');
        if (!(list[count].name = strdup(name))) goto oom;
        count++;
    }
    if (count == 0) {
        snprintf(err, errlen, "%s: no migrations (NNN_what.sql)", shown);
        goto done;
    }
    qsort(list, (size_t)count, sizeof *list, by_version);
    for (int i = 0; i < count; i++) {
        if (list[i].version == i + 1) continue;
        if (i > 0 && list[i].version == list[i - 1].version)
            snprintf(err, errlen, "%s: two migrations of version %d: %s and %s", shown, list[i].version,
                     list[i - 1].name, list[i].name);
        else
            snprintf(err, errlen, "%s: no migration %03d (versions run 1, 2, 3, … with no gap; found %s)", shown, i + 1,
                     list[i].name);
        goto done;
    }
    *files = list, *n = count;
    list = NULL, count = 0;
    rc = 0;
    goto done;
oom:
    snprintf(err, errlen, "%s: out of memory", shown);
done:
    for (int i = 0; i < count; i++)
        free(list[i].name);
    free(list);
    if (d) closedir(d);
    return rc;
}

static int load_migrations(sqlset *set, const char *home, const char *dir, char *err, size_t errlen)
{
    char *path = NULL, *shown = NULL, *file = NULL;
    migration_file *list = NULL;
    int n = 0, rc = -1;
    if (!(shown = join(dir, "migrations")) || !(path = join(home, shown))) {
        snprintf(err, errlen, "%s: out of memory", dir);
        goto done;
    }
    if (list_migrations(path, shown, &list, &n, err, errlen)) goto done;
    if (!(set->migrations = calloc((size_t)n, sizeof *set->migrations))) {
        snprintf(err, errlen, "%s: out of memory", shown);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        sqlmigration *m = &set->migrations[i];
        set->nmigrations = i + 1; /* sqlset_free frees what is set */
        free(file);
        if (!(file = join(path, list[i].name)) || !(m->file = join(shown, list[i].name))) {
            snprintf(err, errlen, "%s: out of memory", shown);
            goto done;
        }
        if (read_all(file, m->file, &m->sql, err, errlen)) goto done;
        if (!*skip_comments(m->sql)) {
            snprintf(err, errlen, "%s: no SQL", m->file);
            goto done;
        }
    }
    rc = 0;
done:
    for (int i = 0; i < n; i++)
        free(list[i].name);
    free(list);
    free(file);
    free(path);
    free(shown);
    return rc;
}

/* ---- the set ----------------------------------------------------------------------------- */

int sqlset_load(sqlset *set, const char *home, const char *dir, const char *const *op_files, char *err, size_t errlen)
{
    char *path = NULL, *shown = NULL, *text = NULL;
    int rc = -1;
    memset(set, 0, sizeof *set);
    for (int i = 0; op_files[i]; i++) {
        free(path), free(shown), free(text);
        path = shown = text = NULL;
        if (!(shown = join(dir, op_files[i])) || !(path = join(home, shown))) {
            snprintf(err, errlen, "%s: out of memory", dir);
            goto done;
        }
        if (read_all(path, shown, &text, err, errlen) || parse_ops(set, shown, text, err, errlen)) goto done;
    }
    if (load_migrations(set, home, dir, err, errlen)) goto done;
    rc = 0;
done:
    free(path);
    free(shown);
    free(text);
    if (rc) sqlset_free(set);
    return rc;
}

void sqlset_free(sqlset *set)
{
    for (int i = 0; i < set->nops; i++) {
        free(set->ops[i].name);
        free(set->ops[i].sql);
        free(set->ops[i].where);
    }
    for (int i = 0; i < set->nmigrations; i++) {
        free(set->migrations[i].sql);
        free(set->migrations[i].file);
    }
    free(set->ops);
    free(set->migrations);
    memset(set, 0, sizeof *set);
}
