/* lincheck: the compiled core of edgeproof's linearizability checker (harness/checks/lin).
 *
 * Why: reading a history and checking it in CPython costs ~microseconds per operation and
 * ~200 bytes of objects per operation; this core reads a history file in one pass into
 * flat arrays (times stay int64 nanoseconds), pairs invokes with completions, groups the
 * operations per key and checks each key with the same two algorithms as the Python modules
 * (read-mapping, Gibbons & Korach, for unique writes; Wing & Gong / Lowe otherwise), step for
 * step, so the verdicts and step counts are those of the pure-Python path.
 *
 * The reader is strict and conservative: it accepts only lines it is sure Python's json
 * module reads the same way (ASCII; integers, plain strings and null as keys, values and
 * processes); anything else (floats, escapes, booleans, nested values, a bad line, a pairing
 * error) returns LC_FALLBACK and the caller reads the file with the pure-Python reader, which
 * gives the exact error message. Only a truncated last line (a torn tail) is dropped here.
 *
 * Built by scripts/setup.sh (gcc -O2 -shared -fPIC), loaded with ctypes by native.py.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LC_ABI 1

enum { LC_OK = 0, LC_FALLBACK = 1, LC_NOFILE = 2, LC_NOMEM = 3 };
enum { V_PASS = 0, V_FAIL = 1, V_UNKNOWN = 2 };
enum { F_READ = 0, F_WRITE = 1, F_CAS = 2, F_OTHER = 3 };
enum { T_INVOKE = 0, T_OK = 1, T_FAIL = 2, T_INFO = 3 };
enum { P_OK = 0, P_TRUNCATED = 1, P_UNSUPPORTED = 2, P_BLANK = 3 };
enum { J_NULL, J_INT, J_STR, J_ARR2, J_OTHER };

#define NULL_ID 1      /* the value id of JSON null */
#define T_NEG INT64_MIN /* -infinity (the initial value's virtual write) */
#define T_POS INT64_MAX /* +infinity (the end of an info op) */

int lc_abi(void) { return LC_ABI; }

/* ------------------------------------------------------------------ small tools */

static uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int grow(void **p, int64_t *cap, int64_t need, size_t size) {
    if (need <= *cap) return 0;
    int64_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(*p, (size_t)c * size);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* An open-addressing map from even int64 keys (see ukey) to int64 values; a slot holds
 * key | 1, so 0 marks an empty slot. */
typedef struct {
    uint64_t *k;
    int64_t *v;
    int64_t cap, n;
} imap;

static int imap_grow(imap *m) {
    int64_t oc = m->cap, nc = oc ? oc * 2 : 64;
    uint64_t *ok = m->k, *nk = calloc((size_t)nc, sizeof *nk);
    int64_t *ov = m->v, *nv = malloc((size_t)nc * sizeof *nv);
    if (!nk || !nv) { free(nk); free(nv); return -1; }
    for (int64_t i = 0; i < oc; i++) {
        if (!ok[i]) continue;
        uint64_t mask = (uint64_t)nc - 1, j = mix64(ok[i] & ~1ULL) & mask;
        while (nk[j]) j = (j + 1) & mask;
        nk[j] = ok[i];
        nv[j] = ov[i];
    }
    free(ok);
    free(ov);
    m->k = nk;
    m->v = nv;
    m->cap = nc;
    return 0;
}

/* The value slot of key (created with -1 if asked); NULL if absent or out of memory. */
static int64_t *imap_slot(imap *m, int64_t key, int create) {
    if (create && (m->n + 1) * 2 > m->cap && imap_grow(m)) return NULL;
    if (!m->cap) return NULL;
    uint64_t tag = (uint64_t)key | 1, mask = (uint64_t)m->cap - 1;
    uint64_t i = mix64((uint64_t)key) & mask;
    for (;;) {
        if (!m->k[i]) {
            if (!create) return NULL;
            m->k[i] = tag;
            m->v[i] = -1;
            m->n++;
            return &m->v[i];
        }
        if (m->k[i] == tag) return &m->v[i];
        i = (i + 1) & mask;
    }
}

static void imap_free(imap *m) { free(m->k); free(m->v); memset(m, 0, sizeof *m); }

/* An id as an imap key: shifted left, so even (ids and value ids are below 2^62). */
static int64_t ukey(int64_t id) { return (int64_t)((uint64_t)id << 1); }

/* ------------------------------------------------------------------ interned text */

typedef struct {
    char *text;            /* arena of interned texts */
    int64_t len, cap;
    int64_t *off;          /* id -> offset in text (id 0 unused); length at off[id+1] */
    int64_t n, offcap;
    uint32_t *slots;       /* hash -> id */
    int64_t nslots;
} interner;

static uint64_t hash_bytes(const char *s, int64_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int64_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return mix64(h);
}

static int in_rehash(interner *t) {
    int64_t ns = t->nslots ? t->nslots * 2 : 1024;
    uint32_t *sl = calloc((size_t)ns, sizeof *sl);
    if (!sl) return -1;
    for (int64_t id = 1; id <= t->n; id++) {
        const char *s = t->text + t->off[id];
        uint64_t j = hash_bytes(s, t->off[id + 1] - t->off[id]) & (uint64_t)(ns - 1);
        while (sl[j]) j = (j + 1) & (uint64_t)(ns - 1);
        sl[j] = (uint32_t)id;
    }
    free(t->slots);
    t->slots = sl;
    t->nslots = ns;
    return 0;
}

/* The id (>= 1) of a text, added if new; -1 when out of memory. */
static int64_t intern(interner *t, const char *s, int64_t n) {
    if ((t->n + 1) * 2 > t->nslots && in_rehash(t)) return -1;
    uint64_t mask = (uint64_t)t->nslots - 1, j = hash_bytes(s, n) & mask;
    for (;;) {
        uint32_t id = t->slots[j];
        if (!id) break;
        int64_t o = t->off[id], l = t->off[id + 1] - o;
        if (l == n && !memcmp(t->text + o, s, (size_t)n)) return id;
        j = (j + 1) & mask;
    }
    if (t->n + 1 >= UINT32_MAX) return -1;
    if (grow((void **)&t->text, &t->cap, t->len + n, 1)) return -1;
    if (grow((void **)&t->off, &t->offcap, t->n + 3, sizeof *t->off)) return -1;
    if (t->n == 0) t->off[1] = 0;
    memcpy(t->text + t->len, s, (size_t)n);
    t->len += n;
    t->n++;
    t->off[t->n + 1] = t->len;
    t->slots[j] = (uint32_t)t->n;
    return t->n;
}

static void in_free(interner *t) { free(t->text); free(t->off); free(t->slots); }

/* ------------------------------------------------------------------ the history */

typedef struct {
    int64_t start, end;   /* nanoseconds; end T_POS for an info op */
    int64_t v0, v1;       /* read/write: v0 the value; cas: v0 expected, v1 new */
    int64_t inv_off, comp_off; /* byte offsets of the invoke and completion lines (-1) */
    int32_t key, pair;    /* key index; pair index (the Python Op.id) */
    uint8_t f, type;      /* F_*, T_* (T_INVOKE while open) */
} op_t;

typedef struct lc_hist {
    op_t *ops;
    int64_t n, cap;
    interner text;        /* strings and big integers, keys and values alike */
    imap open;            /* process id -> index of its open op */
    imap keyidx;          /* key value id -> key index */
    int64_t *keyval;      /* key index -> key value id */
    int64_t nkeys, keycap;
    int64_t *kstart, *kops; /* per key: ops kstart[k]..kstart[k+1] in kops (op indices) */
    int64_t pairs, events, lines;
    int32_t dropped_tail;
    int64_t fallback_line;
} lc_hist;

typedef struct {
    const char *s, *e;
    int kind;
} span;

typedef struct {
    span process, type, f, key, value, time;
    int has_process, has_type, has_f, has_key, has_value, has_time;
} fields;

/* ------------------------------------------------------------------ the line parser */

typedef struct {
    const char *p, *e;
    int truncated;
} cur;

static void ws(cur *c) {
    while (c->p < c->e && (*c->p == ' ' || *c->p == '\t')) c->p++;
}

/* A JSON string; plain (no escapes) strings are J_STR, others J_OTHER. */
static int str(cur *c, int *plain) {
    if (c->p >= c->e) { c->truncated = 1; return -1; }
    if (*c->p != '"') return -1;
    c->p++;
    *plain = 1;
    while (c->p < c->e) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '"') { c->p++; return 0; }
        if (ch < 0x20) return -1;
        if (ch == '\\') {
            *plain = 0;
            if (++c->p >= c->e) break;
            ch = (unsigned char)*c->p;
            if (ch == 'u') {
                for (int i = 0; i < 4; i++) {
                    if (++c->p >= c->e) { c->truncated = 1; return -1; }
                    char h = *c->p;
                    if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F')))
                        return -1;
                }
            } else if (!strchr("\"\\/bfnrt", ch)) {
                return -1;
            }
        }
        c->p++;
    }
    c->truncated = 1;
    return -1;
}

/* A JSON number; *integer says it is a canonical integer (no fraction, exponent or -0). */
static int num(cur *c, int *integer) {
    const char *s = c->p;
    if (c->p < c->e && *c->p == '-') c->p++;
    if (c->p >= c->e) { c->truncated = 1; return -1; }
    if (*c->p == '0') {
        c->p++;
    } else if (*c->p >= '1' && *c->p <= '9') {
        while (c->p < c->e && *c->p >= '0' && *c->p <= '9') c->p++;
    } else {
        return -1;  /* includes -Infinity, which Python accepts: the caller falls back */
    }
    *integer = !(c->p - s == 2 && s[0] == '-' && s[1] == '0');
    if (c->p < c->e && *c->p == '.') {
        *integer = 0;
        c->p++;
        if (c->p >= c->e) { c->truncated = 1; return -1; }
        if (*c->p < '0' || *c->p > '9') return -1;
        while (c->p < c->e && *c->p >= '0' && *c->p <= '9') c->p++;
    }
    if (c->p < c->e && (*c->p == 'e' || *c->p == 'E')) {
        *integer = 0;
        c->p++;
        if (c->p < c->e && (*c->p == '+' || *c->p == '-')) c->p++;
        if (c->p >= c->e) { c->truncated = 1; return -1; }
        if (*c->p < '0' || *c->p > '9') return -1;
        while (c->p < c->e && *c->p >= '0' && *c->p <= '9') c->p++;
    }
    return 0;
}

static int lit(cur *c, const char *w) {
    size_t n = strlen(w);
    size_t have = (size_t)(c->e - c->p);
    if (have < n) {
        if (!memcmp(c->p, w, have)) c->truncated = 1;
        return -1;
    }
    if (memcmp(c->p, w, n)) return -1;
    c->p += n;
    return 0;
}

static int value(cur *c, span *out, int depth, span *two);

/* The members of an array or object (after its opening bracket). */
static int container(cur *c, int obj, int depth, int *count, span *two) {
    char close = obj ? '}' : ']';
    *count = 0;
    ws(c);
    if (c->p >= c->e) { c->truncated = 1; return -1; }
    if (*c->p == close) { c->p++; return 0; }
    for (;;) {
        span v;
        if (obj) {
            int plain;
            if (str(c, &plain)) return -1;
            ws(c);
            if (c->p >= c->e) { c->truncated = 1; return -1; }
            if (*c->p++ != ':') return -1;
            ws(c);
        }
        if (value(c, &v, depth + 1, NULL)) return -1;
        if (two && *count < 2) two[*count] = v;
        (*count)++;
        ws(c);
        if (c->p >= c->e) { c->truncated = 1; return -1; }
        if (*c->p == ',') { c->p++; ws(c); continue; }
        if (*c->p == close) { c->p++; return 0; }
        return -1;
    }
}

/* One JSON value; at depth 0 a two-element array is J_ARR2 with its elements in two[]. */
static int value(cur *c, span *out, int depth, span *two) {
    if (depth > 64) return -1;
    if (c->p >= c->e) { c->truncated = 1; return -1; }
    out->s = c->p;
    out->kind = J_OTHER;
    char ch = *c->p;
    int plain, integer, count, r;
    if (ch == '"') {
        r = str(c, &plain);
        if (!r && plain) out->kind = J_STR;
    } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
        r = num(c, &integer);
        if (!r && integer) out->kind = J_INT;
    } else if (ch == 'n') {
        r = lit(c, "null");
        out->kind = J_NULL;
    } else if (ch == 't') {
        r = lit(c, "true");
    } else if (ch == 'f') {
        r = lit(c, "false");
    } else if (ch == '[' || ch == '{') {
        c->p++;
        span elems[2];
        r = container(c, ch == '{', depth, &count, ch == '[' ? elems : NULL);
        if (!r && ch == '[' && count == 2 && two) {
            out->kind = J_ARR2;
            two[0] = elems[0];
            two[1] = elems[1];
        }
    } else {
        return -1;
    }
    out->e = c->p;
    return r;
}

/* Which of the fields edgeproof reads a member name is (-1: another). */
static int field_of(const char *s, int64_t n) {
    static const char *names[] = {"process", "type", "f", "key", "value", "time_ns"};
    for (int i = 0; i < 6; i++)
        if ((int64_t)strlen(names[i]) == n && !memcmp(names[i], s, (size_t)n)) return i;
    return -1;
}

typedef struct {
    fields f;
    span cas[2];
} line_t;

/* Parse one line (without its newline) into the fields; P_OK, P_BLANK, P_TRUNCATED or
 * P_UNSUPPORTED (anything else, including a bad line: the Python reader decides). */
static int parse_line(const char *s, const char *e, line_t *L) {
    memset(L, 0, sizeof *L);
    for (const char *q = s; q < e; q++) {
        unsigned char ch = (unsigned char)*q;
        if (ch >= 0x80 || (ch < 0x20 && ch != '\t')) return P_UNSUPPORTED;
    }
    cur c = {s, e, 0};
    ws(&c);
    if (c.p == c.e) return P_BLANK;
    if (*c.p != '{') return P_UNSUPPORTED;
    c.p++;
    ws(&c);
    if (c.p >= c.e) return P_TRUNCATED;
    if (*c.p == '}') return P_UNSUPPORTED;  /* {} has no process */
    span *slot[6] = {&L->f.process, &L->f.type, &L->f.f, &L->f.key, &L->f.value, &L->f.time};
    int *has[6] = {&L->f.has_process, &L->f.has_type, &L->f.has_f, &L->f.has_key,
                   &L->f.has_value, &L->f.has_time};
    for (;;) {
        const char *ks = c.p;
        int plain;
        if (str(&c, &plain)) return c.truncated ? P_TRUNCATED : P_UNSUPPORTED;
        int which = plain ? field_of(ks + 1, c.p - ks - 2) : -2;
        if (which == -2) return P_UNSUPPORTED;  /* an escaped member name */
        ws(&c);
        if (c.p >= c.e) return P_TRUNCATED;
        if (*c.p++ != ':') return P_UNSUPPORTED;
        ws(&c);
        span v, two[2];
        if (value(&c, &v, 0, two)) return c.truncated ? P_TRUNCATED : P_UNSUPPORTED;
        if (which >= 0) {
            *slot[which] = v;
            *has[which] = 1;
            if (which == 4 && v.kind == J_ARR2) { L->cas[0] = two[0]; L->cas[1] = two[1]; }
        }
        ws(&c);
        if (c.p >= c.e) return P_TRUNCATED;
        if (*c.p == ',') { c.p++; ws(&c); continue; }
        if (*c.p == '}') { c.p++; break; }
        return P_UNSUPPORTED;
    }
    ws(&c);
    return c.p == c.e ? P_OK : P_UNSUPPORTED;
}

/* ------------------------------------------------------------------ values and events */

/* The value id of a scalar into *id: null 1, a canonical integer of up to 18 digits 2*v
 * (even), any other plain string or integer 2*k+1 (odd, k >= 1 interned). Returns LC_OK,
 * LC_FALLBACK (a value the core does not model) or LC_NOMEM. */
static int scalar(lc_hist *h, span v, int64_t *id) {
    if (v.kind == J_NULL) { *id = NULL_ID; return LC_OK; }
    if (v.kind == J_INT) {
        const char *p = v.s;
        int neg = *p == '-';
        p += neg;
        if (v.e - p <= 18) {
            int64_t x = 0;
            for (; p < v.e; p++) x = x * 10 + (*p - '0');
            *id = (neg ? -x : x) * 2;
            return LC_OK;
        }
    } else if (v.kind != J_STR) {
        return LC_FALLBACK;
    }
    int64_t k = intern(&h->text, v.s, v.e - v.s);
    if (k < 0) return LC_NOMEM;
    *id = k * 2 + 1;
    return LC_OK;
}

static int kind_of(span v, const char *const *names, int n) {
    if (v.kind != J_STR) return -1;
    for (int i = 0; i < n; i++)
        if ((int64_t)strlen(names[i]) == v.e - v.s - 2 && !memcmp(names[i], v.s + 1, (size_t)(v.e - v.s - 2)))
            return i;
    return -2;
}

/* A time: a JSON integer in int64 (the infinities excluded); -1 otherwise. */
static int time_of(span v, int64_t *t) {
    if (v.kind != J_INT) return -1;
    const char *p = v.s;
    int neg = *p == '-';
    p += neg;
    if (v.e - p > 19) return -1;  /* beyond int64: the Python reader keeps it exact */
    int64_t x = 0;
    for (; p < v.e; p++)
        if (__builtin_mul_overflow(x, 10, &x) || __builtin_add_overflow(x, *p - '0', &x))
            return -1;
    if (x == T_POS) return -1;
    *t = neg ? -x : x;
    return 0;
}

static int key_index(lc_hist *h, int64_t keyval) {
    int64_t *slot = imap_slot(&h->keyidx, ukey(keyval), 1);
    if (!slot) return -2;
    if (*slot < 0) {
        if (grow((void **)&h->keyval, &h->keycap, h->nkeys + 1, sizeof *h->keyval)) return -2;
        h->keyval[h->nkeys] = keyval;
        *slot = h->nkeys++;
    }
    return (int)*slot;
}

/* An invoke: a new op, open for its process. */
static int on_invoke(lc_hist *h, line_t *L, int fn, int64_t proc, int64_t t, int64_t off) {
    int64_t *slot = imap_slot(&h->open, ukey(proc), 1);
    if (!slot) return LC_NOMEM;
    if (*slot >= 0) return LC_FALLBACK;  /* invokes again while open: the reader says where */
    if (grow((void **)&h->ops, &h->cap, h->n + 1, sizeof *h->ops)) return LC_NOMEM;
    op_t *o = &h->ops[h->n];
    memset(o, 0, sizeof *o);
    o->start = t;
    o->end = T_POS;
    o->f = (uint8_t)fn;
    o->type = T_INVOKE;
    o->pair = (int32_t)h->pairs++;
    o->inv_off = off;
    o->comp_off = -1;
    o->key = -1;
    o->v0 = o->v1 = NULL_ID;
    if (fn != F_OTHER) {
        int64_t kv;
        int st = scalar(h, L->f.key, &kv);
        if (st) return st;
        int k = key_index(h, kv);
        if (k < 0) return LC_NOMEM;
        o->key = k;
        if (fn == F_WRITE && L->f.has_value) {
            st = scalar(h, L->f.value, &o->v0);
        } else if (fn == F_CAS) {
            if (L->f.value.kind != J_ARR2) return LC_FALLBACK;
            st = scalar(h, L->cas[0], &o->v0);
            if (!st) st = scalar(h, L->cas[1], &o->v1);
        }
        if (st) return st;
    }
    *slot = h->n++;
    return LC_OK;
}

/* A completion: closes its process's open op. */
static int on_complete(lc_hist *h, line_t *L, int type, int64_t proc, int64_t t, int64_t off) {
    int64_t *slot = imap_slot(&h->open, ukey(proc), 0);
    if (!slot || *slot < 0) return LC_FALLBACK;  /* completes without an invoke */
    op_t *o = &h->ops[*slot];
    *slot = -1;
    o->type = (uint8_t)type;
    o->comp_off = off;
    if (type == T_OK) o->end = t;
    if (o->f == F_READ && type == T_OK && L->f.has_value) return scalar(h, L->f.value, &o->v0);
    return LC_OK;
}

static const char *const TYPE_NAMES[] = {"invoke", "ok", "fail", "info"};
static const char *const F_NAMES[] = {"read", "write", "cas"};

static int on_line(lc_hist *h, line_t *L, int64_t off) {
    if (!L->f.has_process || !L->f.has_type || !L->f.has_f || !L->f.has_time) return LC_FALLBACK;
    int type = kind_of(L->f.type, TYPE_NAMES, 4);
    int fn = kind_of(L->f.f, F_NAMES, 3);
    int64_t t, proc;
    if (type < 0 || fn == -1 || time_of(L->f.time, &t)) return LC_FALLBACK;
    int st = scalar(h, L->f.process, &proc);
    if (st) return st;
    if (fn == -2) fn = F_OTHER;
    if (fn != F_OTHER && !L->f.has_key) return LC_FALLBACK;  /* a register op needs a key */
    if (fn == F_CAS && type == T_INVOKE && L->f.value.kind != J_ARR2) return LC_FALLBACK;
    h->events++;
    if (type == T_INVOKE) return on_invoke(h, L, fn, proc, t, off);
    return on_complete(h, L, type, proc, t, off);
}

/* ------------------------------------------------------------------ reading a file */

/* Keep the ops the checker uses, as make_op does: register ops, no fails, no info reads;
 * an op without an ok completion is info (end +inf). Keys renumbered by first use. */
static int finish(lc_hist *h) {
    int64_t m = 0;
    imap_free(&h->keyidx);
    int64_t *oldval = h->keyval;
    h->keyval = NULL;
    h->nkeys = h->keycap = 0;
    for (int64_t i = 0; i < h->n; i++) {
        op_t o = h->ops[i];
        if (o.f == F_OTHER || o.type == T_FAIL) continue;
        if (o.type != T_OK) {
            if (o.f == F_READ) continue;
            o.type = T_INFO;
            o.end = T_POS;
        }
        int k = key_index(h, oldval[o.key]);
        if (k < 0) { free(oldval); return LC_NOMEM; }
        o.key = k;
        h->ops[m++] = o;
    }
    free(oldval);
    h->n = m;
    h->kstart = calloc((size_t)h->nkeys + 1, sizeof *h->kstart);
    h->kops = malloc(sizeof *h->kops * (size_t)(m ? m : 1));
    if (!h->kstart || !h->kops) return LC_NOMEM;
    for (int64_t i = 0; i < m; i++) h->kstart[h->ops[i].key + 1]++;
    for (int64_t k = 0; k < h->nkeys; k++) h->kstart[k + 1] += h->kstart[k];
    int64_t *fill = malloc(sizeof *fill * (size_t)(h->nkeys ? h->nkeys : 1));
    if (!fill) return LC_NOMEM;
    memcpy(fill, h->kstart, sizeof *fill * (size_t)h->nkeys);
    for (int64_t i = 0; i < m; i++) h->kops[fill[h->ops[i].key]++] = i;
    free(fill);
    return LC_OK;
}

/* Lines of the buffer [s, e) that end in '\n'; the rest is left for the next chunk. */
static int lines(lc_hist *h, const char *s, const char *e, int64_t base, int last,
                 int64_t *used, int64_t *torn) {
    const char *p = s;
    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        if (!nl && !last) break;
        const char *end = nl ? nl : e;
        if (*torn) return LC_FALLBACK;  /* a bad line that was not the last one */
        h->lines++;
        const char *le = end;
        if (le > p && le[-1] == '\r') le--;
        line_t L;
        int r = parse_line(p, le, &L);
        if (r == P_TRUNCATED) {
            *torn = h->lines;
        } else if (r == P_UNSUPPORTED) {
            h->fallback_line = h->lines;
            return LC_FALLBACK;
        } else if (r == P_OK) {
            int st = on_line(h, &L, base + (p - s));
            if (st) { h->fallback_line = h->lines; return st; }
        }
        p = nl ? nl + 1 : e;
    }
    *used = p - s;
    return LC_OK;
}

static int read_file(lc_hist *h, FILE *fp) {
    int64_t cap = 1 << 22, len = 0, base = 0, torn = 0;
    char *buf = malloc((size_t)cap);
    if (!buf) return LC_NOMEM;
    int st = LC_OK;
    for (;;) {
        if (len == cap) {
            char *nb = realloc(buf, (size_t)cap * 2);
            if (!nb) { st = LC_NOMEM; break; }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, (size_t)(cap - len), fp);
        len += (int64_t)got;
        int last = got == 0;
        if (last && ferror(fp)) { st = LC_FALLBACK; break; }
        int64_t used = 0;
        st = lines(h, buf, buf + len, base, last, &used, &torn);
        if (st || last) break;
        memmove(buf, buf + used, (size_t)(len - used));
        len -= used;
        base += used;
    }
    free(buf);
    if (!st && torn) h->dropped_tail = 1;
    return st;
}

void lc_free(lc_hist *h) {
    if (!h) return;
    free(h->ops);
    in_free(&h->text);
    imap_free(&h->open);
    imap_free(&h->keyidx);
    free(h->keyval);
    free(h->kstart);
    free(h->kops);
    free(h);
}

/* Read, pair and group a history file. *status: LC_OK (a history is returned), LC_FALLBACK
 * (use the Python reader; *line is the line it stopped at, 0 if none), LC_NOFILE, LC_NOMEM. */
lc_hist *lc_load(const char *path, int *status, int64_t *line) {
    *line = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) { *status = LC_NOFILE; return NULL; }
    lc_hist *h = calloc(1, sizeof *h);
    int st = h ? read_file(h, fp) : LC_NOMEM;
    fclose(fp);
    if (!st) st = finish(h);
    if (st) {
        if (h) *line = h->fallback_line;
        lc_free(h);
        *status = st;
        return NULL;
    }
    imap_free(&h->open);
    *status = LC_OK;
    return h;
}

int64_t lc_n_ops(lc_hist *h) { return h->n; }
int64_t lc_n_keys(lc_hist *h) { return h->nkeys; }
int64_t lc_n_events(lc_hist *h) { return h->events; }
int32_t lc_dropped_tail(lc_hist *h) { return h->dropped_tail; }

/* As check.values_recorded: no writes, or a write with a value, or a cas. */
int32_t lc_values_recorded(lc_hist *h) {
    int writes = 0;
    for (int64_t i = 0; i < h->n; i++) {
        op_t *o = &h->ops[i];
        if (o->f == F_CAS || (o->f == F_WRITE && o->v0 != NULL_ID)) return 1;
        writes |= o->f == F_WRITE;
    }
    return !writes;
}

/* The JSON text of key k into buf (cap bytes); its length (more than cap: call again). */
int64_t lc_key_text(lc_hist *h, int64_t k, char *buf, int64_t cap) {
    int64_t v = h->keyval[k];
    char tmp[32];
    const char *s = tmp;
    int64_t n;
    if (v == NULL_ID) {
        s = "null";
        n = 4;
    } else if (!(v & 1)) {
        n = snprintf(tmp, sizeof tmp, "%lld", (long long)(v / 2));
    } else {
        int64_t id = v >> 1;
        s = h->text.text + h->text.off[id];
        n = h->text.off[id + 1] - h->text.off[id];
    }
    if (n <= cap) memcpy(buf, s, (size_t)n);
    return n;
}

/* The ops of key k in op order: the byte offsets of their lines and their pair indices. */
int64_t lc_key_ops(lc_hist *h, int64_t k, int64_t *inv_off, int64_t *comp_off, int64_t *pair) {
    int64_t n = 0;
    for (int64_t j = h->kstart[k]; j < h->kstart[k + 1]; j++, n++) {
        op_t *o = &h->ops[h->kops[j]];
        inv_off[n] = o->inv_off;
        comp_off[n] = o->comp_off;
        pair[n] = o->pair;
    }
    return n;
}

int64_t lc_key_size(lc_hist *h, int64_t k) { return h->kstart[k + 1] - h->kstart[k]; }

/* ------------------------------------------------------------------ one key's ops */

typedef struct {
    int64_t n;
    const uint8_t *f, *ok;
    const int64_t *start, *end, *v0, *v1;
} keyops;

/* eligible(): no cas, every written value unique and not null. */
static int eligible(const keyops *K) {
    imap seen = {0};
    int res = 1;
    for (int64_t i = 0; i < K->n && res; i++) {
        if (K->f[i] == F_CAS) { res = 0; break; }
        if (K->f[i] != F_WRITE) continue;
        if (K->v0[i] == NULL_ID) { res = 0; break; }
        int64_t *slot = imap_slot(&seen, ukey(K->v0[i]), 1);
        if (!slot) { res = -1; break; }
        if (*slot >= 0) res = 0;
        *slot = 1;
    }
    imap_free(&seen);
    return res;
}

/* ------------------------------------------------------------------ read-mapping */

typedef struct {
    int64_t lo, hi;
    int64_t reads;
    int64_t write;  /* op index or -1 */
} cluster;

static int by_lo(const void *a, const void *b) {
    const cluster *x = a, *y = b;
    return (x->lo > y->lo) - (x->lo < y->lo);
}

static int by_hi(const void *a, const void *b) {
    const cluster *x = a, *y = b;
    return (x->hi > y->hi) - (x->hi < y->hi);
}

/* The zone test of mapping.read_mapping_check: V_PASS or V_FAIL (-1 out of memory). */
static int read_mapping(const keyops *K) {
    int64_t n = K->n, nc = 1;
    cluster *cl = malloc(sizeof *cl * (size_t)(n + 1));
    imap idx = {0};
    int res = V_PASS;
    if (!cl) return -1;
    cl[0] = (cluster){T_NEG, T_NEG, 0, -1};
    for (int64_t i = 0; i < n; i++) {
        if (K->f[i] != F_WRITE) continue;
        int64_t *slot = imap_slot(&idx, ukey(K->v0[i]), 1);
        if (!slot) { res = -1; goto out; }
        *slot = nc;
        cl[nc++] = (cluster){T_POS, T_NEG, 0, i};
    }
    for (int64_t i = 0; i < n; i++) {
        if (K->f[i] != F_READ) continue;
        int64_t c = 0;
        if (K->v0[i] != NULL_ID) {
            int64_t *slot = imap_slot(&idx, ukey(K->v0[i]), 0);
            if (!slot) { res = V_FAIL; goto out; }  /* no write of this value */
            c = *slot;
        }
        if (cl[c].write >= 0 && K->end[i] < K->start[cl[c].write]) { res = V_FAIL; goto out; }
        cl[c].reads++;
        if (K->end[i] < cl[c].lo) cl[c].lo = K->end[i];
        if (K->start[i] > cl[c].hi) cl[c].hi = K->start[i];
    }
    int64_t nf = 0, nb = 0;
    cluster *fwd = malloc(sizeof *fwd * (size_t)nc), *back = malloc(sizeof *back * (size_t)nc);
    if (!fwd || !back) { free(fwd); free(back); res = -1; goto out; }
    for (int64_t c = 0; c < nc; c++) {
        cluster z = cl[c];
        if (!z.reads && (z.write < 0 || !K->ok[z.write])) continue;
        if (z.write >= 0) {
            if (K->end[z.write] < z.lo) z.lo = K->end[z.write];
            if (K->start[z.write] > z.hi) z.hi = K->start[z.write];
        }
        if (z.lo < z.hi) fwd[nf++] = z; else back[nb++] = z;
    }
    qsort(fwd, (size_t)nf, sizeof *fwd, by_lo);
    qsort(back, (size_t)nb, sizeof *back, by_hi);
    int64_t best = -1;
    for (int64_t i = 0; i < nf && res == V_PASS; i++) {  /* two forward zones overlap */
        if (best >= 0 && fwd[i].lo < fwd[best].hi) res = V_FAIL;
        else if (best < 0 || fwd[i].hi > fwd[best].hi) best = i;
    }
    best = -1;
    for (int64_t b = 0, j = 0; b < nb && res == V_PASS; b++) {  /* backward inside forward */
        while (j < nf && fwd[j].lo < back[b].hi) {
            if (best < 0 || fwd[j].hi > fwd[best].hi) best = j;
            j++;
        }
        if (best >= 0 && back[b].lo < fwd[best].hi) res = V_FAIL;
    }
    free(fwd);
    free(back);
out:
    free(cl);
    imap_free(&idx);
    return res;
}

/* ------------------------------------------------------------------ Wing & Gong / Lowe */

typedef struct {
    int64_t time;
    int64_t tag;  /* kind << 62 | op index: calls (0) before returns (1) at equal times */
} entry;

static int by_entry(const void *a, const void *b) {
    const entry *x = a, *y = b;
    if (x->time != y->time) return (x->time > y->time) - (x->time < y->time);
    return (x->tag > y->tag) - (x->tag < y->tag);
}

/* A memoised configuration: the linearized set (ones below p, zeros from q, the words
 * between stored at off) and the register's state. */
typedef struct {
    uint64_t hash;
    int64_t state;
    int32_t p, q;
    int64_t off;
} config;

typedef struct {
    config *c;
    int64_t n, cap;
    uint32_t *slots;
    int64_t nslots;
    uint64_t *words;
    int64_t nwords, wcap;
} cache;

static int cache_rehash(cache *C) {
    int64_t ns = C->nslots ? C->nslots * 2 : 1 << 12;
    uint32_t *sl = calloc((size_t)ns, sizeof *sl);
    if (!sl) return -1;
    for (int64_t i = 0; i < C->n; i++) {
        uint64_t j = C->c[i].hash & (uint64_t)(ns - 1);
        while (sl[j]) j = (j + 1) & (uint64_t)(ns - 1);
        sl[j] = (uint32_t)(i + 1);
    }
    free(C->slots);
    C->slots = sl;
    C->nslots = ns;
    return 0;
}

/* Add (bits, p, q, state) unless present: 1 added, 0 present, -1 out of memory. */
static int cache_add(cache *C, const uint64_t *bits, int32_t p, int32_t q, int64_t state,
                     uint64_t hash) {
    if ((C->n + 1) * 2 > C->nslots && cache_rehash(C)) return -1;
    int64_t w0 = p >> 6, w1 = q > p ? ((q - 1) >> 6) + 1 : w0, nw = w1 - w0;
    uint64_t mask = (uint64_t)C->nslots - 1, j = hash & mask;
    for (;;) {
        uint32_t s = C->slots[j];
        if (!s) break;
        config *x = &C->c[s - 1];
        if (x->hash == hash && x->state == state && x->p == p && x->q == q &&
            !memcmp(C->words + x->off, bits + w0, (size_t)nw * 8))
            return 0;
        j = (j + 1) & mask;
    }
    if (C->n + 1 >= UINT32_MAX) return -1;
    if (grow((void **)&C->c, &C->cap, C->n + 1, sizeof *C->c)) return -1;
    if (grow((void **)&C->words, &C->wcap, C->nwords + nw, sizeof *C->words)) return -1;
    memcpy(C->words + C->nwords, bits + w0, (size_t)nw * 8);
    C->c[C->n] = (config){hash, state, p, q, C->nwords};
    C->nwords += nw;
    C->slots[j] = (uint32_t)++C->n;
    return 1;
}

static void cache_free(cache *C) { free(C->c); free(C->slots); free(C->words); }

typedef struct {
    int32_t e, p, q;
    int64_t state;
    uint64_t h;
} frame;

typedef struct {
    int32_t *nxt, *prv, *order, *ret, *rank;
    uint8_t *is_call;
    uint64_t *bits, *z;
    frame *stack;
} wgl_mem;

static void wgl_free(wgl_mem *M) {
    free(M->nxt); free(M->prv); free(M->order); free(M->ret); free(M->rank);
    free(M->is_call); free(M->bits); free(M->z); free(M->stack);
}

/* The entry list of wgl._entries with its dancing links; 0 or -1 out of memory. */
static int wgl_setup(const keyops *K, wgl_mem *M, int64_t *m_out) {
    int64_t n = K->n, m = 0;
    entry *ev = malloc(sizeof *ev * (size_t)(2 * n + 1));
    M->nxt = malloc(sizeof(int32_t) * (size_t)(2 * n + 2));
    M->prv = malloc(sizeof(int32_t) * (size_t)(2 * n + 2));
    M->order = malloc(sizeof(int32_t) * (size_t)(2 * n + 1));
    M->ret = malloc(sizeof(int32_t) * (size_t)(n + 1));
    M->rank = malloc(sizeof(int32_t) * (size_t)(n + 1));
    M->is_call = malloc((size_t)(2 * n + 1));
    M->bits = calloc((size_t)(n / 64 + 2), 8);
    M->z = malloc(8 * (size_t)(n + 1));
    M->stack = malloc(sizeof(frame) * (size_t)(n + 1));
    if (!ev || !M->nxt || !M->prv || !M->order || !M->ret || !M->rank || !M->is_call ||
        !M->bits || !M->z || !M->stack) {
        free(ev);
        return -1;
    }
    for (int64_t i = 0; i < n; i++) {
        ev[m++] = (entry){K->start[i], i};
        if (K->ok[i]) ev[m++] = (entry){K->end[i], (1LL << 62) | i};
        M->ret[i] = -1;
    }
    qsort(ev, (size_t)m, sizeof *ev, by_entry);
    int32_t calls = 0;
    for (int64_t e = 0; e < m; e++) {
        int32_t i = (int32_t)(ev[e].tag & ((1LL << 62) - 1));
        M->order[e] = i;
        M->is_call[e] = !(ev[e].tag >> 62);
        if (M->is_call[e]) M->rank[i] = calls++;
        else M->ret[i] = (int32_t)e;
        M->nxt[e] = (int32_t)e + 1;
        M->prv[e] = (int32_t)e - 1;
    }
    free(ev);
    int32_t head = (int32_t)m, tail = (int32_t)m + 1;
    M->nxt[head] = m ? 0 : tail;
    M->prv[tail] = m ? (int32_t)m - 1 : head;
    if (m) { M->prv[0] = head; M->nxt[m - 1] = tail; }
    for (int64_t r = 0; r < n; r++) M->z[r] = mix64((uint64_t)r * 0x2545f4914f6cdd1dULL + 7);
    *m_out = m;
    return 0;
}

static int step_ok(const keyops *K, int32_t i, int64_t state, int64_t *next) {
    if (K->f[i] == F_READ) { *next = state; return state == K->v0[i]; }
    if (K->f[i] == F_WRITE) { *next = K->v0[i]; return 1; }
    *next = K->v1[i];
    return state == K->v0[i];
}

static int32_t next_zero(const uint64_t *bits, int32_t p) {
    int64_t w = p >> 6;
    uint64_t x = ~bits[w] & (~0ULL << (p & 63));
    while (!x) x = ~bits[++w];
    return (int32_t)(w * 64 + __builtin_ctzll(x));
}

#define RM(e) (M.nxt[M.prv[e]] = M.nxt[e], M.prv[M.nxt[e]] = M.prv[e])
#define RS(e) (M.nxt[M.prv[e]] = (e), M.prv[M.nxt[e]] = (e))

/* wgl._search, step for step: V_PASS, V_FAIL or V_UNKNOWN (budget), -1 out of memory. */
static int wgl(const keyops *K, int64_t state, double timeout_s, int64_t max_steps,
               int64_t *steps_out) {
    wgl_mem M = {0};
    cache C = {0};
    int64_t m, need = 0, done = 0, steps = 0, depth = 0;
    int res = -1;
    if (wgl_setup(K, &M, &m)) goto out;
    for (int64_t i = 0; i < K->n; i++) need += K->ok[i];
    double deadline = timeout_s > 0 ? now_s() + timeout_s : 0;
    int32_t head = (int32_t)m, tail = (int32_t)m + 1, e = M.nxt[head], p = 0, q = 0;
    uint64_t h = 0;
    res = V_PASS;
    while (done < need) {
        steps++;
        if (steps == max_steps || (deadline > 0 && !(steps & 0xFFF) && now_s() > deadline)) {
            res = V_UNKNOWN;
            break;
        }
        if (e != tail && M.is_call[e]) {
            int32_t i = M.order[e], r = M.rank[i];
            int64_t nxt;
            if (step_ok(K, i, state, &nxt)) {
                uint64_t nh = h ^ M.z[r];
                M.bits[r >> 6] |= 1ULL << (r & 63);
                int32_t np = r == p ? next_zero(M.bits, p) : p, nq = r + 1 > q ? r + 1 : q;
                int added = cache_add(&C, M.bits, np, nq, nxt, nh ^ mix64((uint64_t)nxt));
                if (added < 0) { res = -1; break; }
                if (added) {
                    M.stack[depth++] = (frame){e, p, q, state, h};
                    state = nxt; h = nh; p = np; q = nq;
                    done += K->ok[i];
                    RM(e);
                    if (M.ret[i] >= 0) RM(M.ret[i]);
                    e = M.nxt[head];
                    continue;
                }
                M.bits[r >> 6] &= ~(1ULL << (r & 63));
            }
            e = M.nxt[e];
            continue;
        }
        if (!depth) { res = V_FAIL; break; }
        frame f = M.stack[--depth];
        int32_t i = M.order[f.e], r = M.rank[i];
        M.bits[r >> 6] &= ~(1ULL << (r & 63));
        state = f.state; h = f.h; p = f.p; q = f.q;
        done -= K->ok[i];
        if (M.ret[i] >= 0) RS(M.ret[i]);
        RS(f.e);
        e = M.nxt[f.e];
    }
out:
    *steps_out = steps;
    wgl_free(&M);
    cache_free(&C);
    return res;
}

/* ------------------------------------------------------------------ pruning */

/* Drop, in place and in order, the info writes and info cas whose new value no op observes
 * (no read returns it, no cas expects it), to a fixpoint: one may always be linearized as
 * never having happened (check.unobserved_dropped, the same filter). Returns the new count,
 * or -1 out of memory. */
static int64_t drop_unobserved(int64_t n, uint8_t *f, uint8_t *ok, int64_t *start,
                               int64_t *end, int64_t *v0, int64_t *v1) {
    for (;;) {
        imap seen = {0};
        for (int64_t i = 0; i < n; i++) {
            if (f[i] != F_READ && f[i] != F_CAS) continue;
            int64_t *slot = imap_slot(&seen, ukey(v0[i]), 1);
            if (!slot) { imap_free(&seen); return -1; }
            *slot = 1;
        }
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++) {
            int keep = ok[i] || f[i] == F_READ;
            if (!keep) {
                int64_t *slot = imap_slot(&seen, ukey(f[i] == F_WRITE ? v0[i] : v1[i]), 0);
                keep = slot && *slot >= 0;
            }
            if (!keep) continue;
            f[m] = f[i]; ok[m] = ok[i]; start[m] = start[i]; end[m] = end[i];
            v0[m] = v0[i]; v1[m] = v1[i]; m++;
        }
        imap_free(&seen);
        if (m == n) return n;
        n = m;
    }
}

/* ------------------------------------------------------------------ checking */

typedef struct {
    uint8_t *f, *ok;
    int64_t *start, *end, *v0, *v1;
} keybuf;

/* Check one key of a loaded history: out = [verdict, algorithm (0 read-mapping, 1 wgl),
 * ops, steps]; *elapsed in seconds. Returns 0, or -1 out of memory. */
int lc_check_key(lc_hist *h, int64_t k, double timeout_s, int64_t max_steps, int64_t *out,
                 double *elapsed) {
    double t0 = now_s();
    int64_t n = h->kstart[k + 1] - h->kstart[k];
    keybuf B = {malloc((size_t)n + 1), malloc((size_t)n + 1), malloc(8 * (size_t)(n + 1)),
                malloc(8 * (size_t)(n + 1)), malloc(8 * (size_t)(n + 1)),
                malloc(8 * (size_t)(n + 1))};
    int res = -1;
    if (B.f && B.ok && B.start && B.end && B.v0 && B.v1) {
        for (int64_t j = 0; j < n; j++) {
            op_t *o = &h->ops[h->kops[h->kstart[k] + j]];
            B.f[j] = o->f; B.ok[j] = o->type == T_OK; B.start[j] = o->start; B.end[j] = o->end;
            B.v0[j] = o->v0; B.v1[j] = o->v1;
        }
        keyops K = {n, B.f, B.ok, B.start, B.end, B.v0, B.v1};
        int el = eligible(&K);
        int64_t steps = n;
        if (el > 0) res = read_mapping(&K);
        else if (el == 0) {
            K.n = drop_unobserved(n, B.f, B.ok, B.start, B.end, B.v0, B.v1);
            res = K.n < 0 ? -1 : wgl(&K, NULL_ID, timeout_s, max_steps, &steps);
        }
        out[0] = res; out[1] = el > 0 ? 0 : 1; out[2] = n; out[3] = steps;
    }
    free(B.f); free(B.ok); free(B.start); free(B.end); free(B.v0); free(B.v1);
    *elapsed = now_s() - t0;
    return res < 0 ? -1 : 0;
}

/* The same two algorithms on arrays (ops of one key from Python; value ids as given, null
 * being null_id... the caller maps null to 1). */
int lc_wgl(int64_t n, const uint8_t *f, const uint8_t *ok, const int64_t *start,
           const int64_t *end, const int64_t *v0, const int64_t *v1, double timeout_s,
           int64_t max_steps, int64_t *steps) {
    keyops K = {n, f, ok, start, end, v0, v1};
    return wgl(&K, NULL_ID, timeout_s, max_steps, steps);
}

int lc_read_mapping(int64_t n, const uint8_t *f, const uint8_t *ok, const int64_t *start,
                    const int64_t *end, const int64_t *v0) {
    keyops K = {n, f, ok, start, end, v0, v0};
    return read_mapping(&K);
}
