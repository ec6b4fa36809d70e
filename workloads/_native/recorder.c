/* The recorder's hot path in C (workloads/native.py builds and loads it; optional).
 *
 * Why: issue 14 target 4 measures the recorder in CPU per operation against bare Locust.
 * In CPython the recorder's ``with record(...)`` (three Python frames and ~40 attribute
 * operations) and the batch encoding of its two history lines cost ~1.8 us per operation
 * hot and ~3x that inside a busy load process. This module holds the same steps, no
 * others:
 *
 * - ``RecordBase``: the fields of workloads.recorder.record as members, with ``__init__``,
 *   ``__enter__`` and ``__exit__``; every uncommon step (first use by a user, the run
 *   stopping, nesting, an outcome other than a plain ``ok``, a closed history) calls the
 *   Python method of the subclass that does it in pure Python (``_bind_ids``, ``_stop``,
 *   ``_nested``, ``_settle``, ``_closed``).
 * - ``Listener(active, fallback)``: Locust's request listener, counting a request (and
 *   keeping its failure) on the compiled record open in the greenlet; ``fallback(**kw)``
 *   (Python) for any other request.
 * - ``encode(events, types, one)``: the JSONL bytes of buffered events, the same text as
 *   workloads.history._encode (a line of its own for anything that is not a plain event:
 *   ``one(ev, types)`` returns it, in Python).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <time.h>

static PyObject *s_ids, *s_stopping, *s_active, *s_history, *s_pending, *s_buffer_lines,
    *s_flush, *s_append, *s_bind_ids, *s_stop, *s_nested, *s_settle, *s_closed, *s_invoke,
    *s_ok;
static PyObject *getcurrent; /* greenlet.getcurrent */
static PyObject *one; /* 1 */

typedef struct {
    PyObject_HEAD
    PyObject *user, *f, *key, *value, *node_arg;
    PyObject *ctx, *process, *node, *me, *start;
    PyObject *outcome, *failure, *result;
    Py_ssize_t requests;
} Record;

static int rec_traverse(Record *self, visitproc visit, void *arg) {
    Py_VISIT(self->user); Py_VISIT(self->f); Py_VISIT(self->key); Py_VISIT(self->value);
    Py_VISIT(self->node_arg); Py_VISIT(self->ctx); Py_VISIT(self->process);
    Py_VISIT(self->node); Py_VISIT(self->me); Py_VISIT(self->start);
    Py_VISIT(self->outcome); Py_VISIT(self->failure); Py_VISIT(self->result);
    return 0;
}

static int rec_clear(Record *self) {
    Py_CLEAR(self->user); Py_CLEAR(self->f); Py_CLEAR(self->key); Py_CLEAR(self->value);
    Py_CLEAR(self->node_arg); Py_CLEAR(self->ctx); Py_CLEAR(self->process);
    Py_CLEAR(self->node); Py_CLEAR(self->me); Py_CLEAR(self->start);
    Py_CLEAR(self->outcome); Py_CLEAR(self->failure); Py_CLEAR(self->result);
    return 0;
}

static void rec_dealloc(Record *self) {
    /* (a Python subclass's dealloc clears its __dict__ and drops the type, then calls this) */
    PyObject_GC_UnTrack(self);
    rec_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static inline void set_field(PyObject **slot, PyObject *v) { /* v: a new reference */
    PyObject *old = *slot;
    *slot = v;
    Py_XDECREF(old);
}

static int rec_init(Record *self, PyObject *args, PyObject *kwds) {
    static char *names[] = {"user", "f", "key", "value", "node", NULL};
    PyObject *user, *f, *key = Py_None, *value = Py_None, *node = Py_None;
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if ((!kwds || PyDict_GET_SIZE(kwds) == 0) && n >= 2 && n <= 5) { /* positional: fast */
        user = PyTuple_GET_ITEM(args, 0);
        f = PyTuple_GET_ITEM(args, 1);
        if (n > 2) key = PyTuple_GET_ITEM(args, 2);
        if (n > 3) value = PyTuple_GET_ITEM(args, 3);
        if (n > 4) node = PyTuple_GET_ITEM(args, 4);
    } else if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|OOO:record", names, &user, &f,
                                            &key, &value, &node)) {
        return -1;
    }
    Py_INCREF(user); set_field(&self->user, user);
    Py_INCREF(f); set_field(&self->f, f);
    Py_INCREF(key); set_field(&self->key, key);
    Py_INCREF(value); set_field(&self->value, value);
    Py_INCREF(node); set_field(&self->node_arg, node);
    Py_CLEAR(self->ctx);
    return 0;
}

static PyObject *now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* time.monotonic_ns's clock */
    return PyLong_FromLongLong((long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
}

/* Append (process, type, f, key, value, node, now) to ctx.history.pending and flush when
 * buffer_lines are pending. Returns 0, or -1 with an exception set; a closed history
 * (ValueError from append) calls self._closed(type) instead. *stamp gets the time. */
static int put_event(Record *self, PyObject *ctx, PyObject *type, PyObject *value,
                     PyObject **stamp) {
    PyObject *history = PyObject_GetAttr(ctx, s_history);
    if (!history) return -1;
    PyObject *pending = PyObject_GetAttr(history, s_pending);
    if (!pending) { Py_DECREF(history); return -1; }
    PyObject *now = now_ns();
    PyObject *ev = now ? PyTuple_Pack(7, self->process, type, self->f, self->key, value,
                                      self->node, now) : NULL;
    int rc = -1;
    if (!ev) goto done;
    PyObject_GC_UnTrack(ev); /* lives until the next flush: no collection need scan it */
    int appended;
    if (PyList_CheckExact(pending)) {
        appended = PyList_Append(pending, ev);
    } else {
        PyObject *r = PyObject_CallMethodOneArg(pending, s_append, ev);
        appended = r ? 0 : -1;
        Py_XDECREF(r);
    }
    if (appended < 0) {
        if (!PyErr_ExceptionMatches(PyExc_ValueError)) goto done;
        PyErr_Clear(); /* the writer is closed: say so, lose the event */
        PyObject *r = PyObject_CallMethodOneArg((PyObject *)self, s_closed, type);
        if (!r) goto done;
        Py_DECREF(r);
        Py_CLEAR(now);
    } else {
        Py_ssize_t n = PyObject_Length(pending);
        if (n < 0) goto done;
        PyObject *limit = PyObject_GetAttr(history, s_buffer_lines);
        if (!limit) goto done;
        Py_ssize_t lim = PyLong_AsSsize_t(limit);
        Py_DECREF(limit);
        if (lim == -1 && PyErr_Occurred()) goto done;
        if (n >= lim) {
            PyObject *r = PyObject_CallMethodNoArgs(history, s_flush);
            if (!r) goto done;
            Py_DECREF(r);
        }
    }
    rc = 0;
    if (stamp) { *stamp = now ? now : Py_NewRef(Py_None); now = NULL; }
done:
    Py_XDECREF(now);
    Py_XDECREF(ev);
    Py_DECREF(pending);
    Py_DECREF(history);
    return rc;
}

static PyObject *rec_enter(Record *self, PyObject *unused) {
    PyObject *ids = PyObject_GetAttr(self->user, s_ids);
    if (!ids) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) return NULL;
        PyErr_Clear();
        ids = PyObject_CallMethodNoArgs((PyObject *)self, s_bind_ids);
        if (!ids) return NULL;
        if (!PyTuple_Check(ids)) return ids; /* outside edgeproof: the no-op Op */
    }
    if (!PyTuple_Check(ids) || PyTuple_GET_SIZE(ids) != 3) {
        Py_DECREF(ids);
        PyErr_SetString(PyExc_TypeError, "user._edgeproof_ids: not (ctx, process, node)");
        return NULL;
    }
    PyObject *ctx = Py_NewRef(PyTuple_GET_ITEM(ids, 0));
    PyObject *process = Py_NewRef(PyTuple_GET_ITEM(ids, 1));
    PyObject *node = Py_NewRef(PyTuple_GET_ITEM(ids, 2));
    Py_DECREF(ids);
    PyObject *result = NULL, *me = NULL, *active = NULL;
    PyObject *stopping = PyObject_GetAttr(ctx, s_stopping);
    if (!stopping) goto done;
    int stop = PyObject_IsTrue(stopping);
    Py_DECREF(stopping);
    if (stop < 0) goto done;
    if (stop) { /* the run is ending: raises StopUser */
        result = PyObject_CallMethodNoArgs((PyObject *)self, s_stop);
        goto done;
    }
    me = PyObject_CallNoArgs(getcurrent);
    if (!me) goto done;
    active = PyObject_GetAttr(ctx, s_active);
    if (!active) goto done;
    int nested = PySequence_Contains(active, me);
    if (nested < 0) goto done;
    if (nested) { /* raises RuntimeError */
        result = PyObject_CallMethodObjArgs((PyObject *)self, s_nested, process, active, me,
                                            NULL);
        goto done;
    }
    if (self->node_arg && self->node_arg != Py_None) set_field(&node, Py_NewRef(self->node_arg));
    set_field(&self->ctx, Py_NewRef(ctx));
    set_field(&self->process, Py_NewRef(process));
    set_field(&self->node, Py_NewRef(node));
    set_field(&self->me, Py_NewRef(me));
    self->requests = 0;
    PyObject *stamp = NULL;
    if (put_event(self, ctx, s_invoke, self->value, &stamp) < 0) goto done;
    set_field(&self->start, stamp);
    if (PyObject_SetItem(active, me, (PyObject *)self) < 0) goto done;
    result = Py_NewRef((PyObject *)self);
done:
    Py_XDECREF(active);
    Py_XDECREF(me);
    Py_DECREF(node);
    Py_DECREF(process);
    Py_DECREF(ctx);
    return result;
}

static PyObject *rec_exit(Record *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "__exit__ takes 3 arguments");
        return NULL;
    }
    PyObject *exc = args[1];
    PyObject *ctx = self->ctx;
    if (!ctx) Py_RETURN_NONE;
    self->ctx = NULL; /* the reference is ours now */
    PyObject *type = NULL, *value = NULL, *settled = NULL, *result = NULL;
    PyObject *active = PyObject_GetAttr(ctx, s_active);
    if (!active) goto done;
    PyObject *me = self->me ? self->me : Py_None;
    if (PyDict_CheckExact(active)) {
        if (PyDict_DelItem(active, me) < 0) {
            if (!PyErr_ExceptionMatches(PyExc_KeyError)) goto done;
            PyErr_Clear();
        }
    } else {
        PyObject *r = PyObject_CallMethod(active, "pop", "OO", me, Py_None);
        if (!r) goto done;
        Py_DECREF(r);
    }
    if (exc == Py_None && (!self->outcome || self->outcome == Py_None)
            && (!self->failure || self->failure == Py_None)) { /* the common case */
        type = Py_NewRef(s_ok);
        if (self->result && self->result != Py_None) {
            value = self->result; /* the object may be entered again */
            self->result = NULL;
        } else {
            value = Py_NewRef(self->value ? self->value : Py_None);
        }
    } else {
        settled = PyObject_CallMethodOneArg((PyObject *)self, s_settle, exc);
        if (!settled) goto done;
        if (!PyTuple_Check(settled) || PyTuple_GET_SIZE(settled) != 2) {
            PyErr_SetString(PyExc_TypeError, "record._settle: not (type, value)");
            goto done;
        }
        type = Py_NewRef(PyTuple_GET_ITEM(settled, 0));
        value = Py_NewRef(PyTuple_GET_ITEM(settled, 1));
    }
    if (put_event(self, ctx, type, value, NULL) < 0) goto done;
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(settled);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(active);
    Py_DECREF(ctx);
    return result;
}

static PyMethodDef rec_methods[] = {
    {"__enter__", (PyCFunction)rec_enter, METH_NOARGS, "Open the operation: its invoke."},
    {"__exit__", (PyCFunction)(void (*)(void))rec_exit, METH_FASTCALL,
     "Close the operation: its completion."},
    {NULL},
};

#define M(name, field, doc) {name, T_OBJECT, offsetof(Record, field), 0, doc}
static PyMemberDef rec_members[] = {
    M("user", user, "the Locust user"), M("f", f, "the operation's function"),
    M("key", key, NULL), M("value", value, NULL), M("node_arg", node_arg, NULL),
    M("ctx", ctx, "the load context while the block runs"), M("process", process, NULL),
    M("node", node, NULL), M("me", me, "the greenlet running the block"),
    M("start", start, "the invoke's time_ns"), M("outcome", outcome, NULL),
    M("failure", failure, NULL), M("result", result, NULL),
    {"requests", T_PYSSIZET, offsetof(Record, requests), 0, "Locust requests in the block"},
    {NULL},
};

static PyTypeObject RecordType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_edgeproof_recorder.RecordBase",
    .tp_basicsize = sizeof(Record),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The fields and hot path of workloads.recorder.record.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)rec_init,
    .tp_dealloc = (destructor)rec_dealloc,
    .tp_traverse = (traverseproc)rec_traverse,
    .tp_clear = (inquiry)rec_clear,
    .tp_methods = rec_methods,
    .tp_members = rec_members,
};

/* ------------------------------------------------------------------ listener */

/* Listener(active, fallback): Locust's request listener. A request inside an open compiled
 * record (``active[getcurrent()]``) counts on it and keeps its failure; any other request
 * goes to ``fallback(**kwargs)`` (workloads.loadproc.LoadContext.on_request, in Python). */
typedef struct {
    PyObject_HEAD
    PyObject *active, *fallback;
} Listener;

static PyObject *s_exception, *s_response;

static int lis_traverse(Listener *self, visitproc visit, void *arg) {
    Py_VISIT(self->active); Py_VISIT(self->fallback);
    return 0;
}

static int lis_clear(Listener *self) {
    Py_CLEAR(self->active); Py_CLEAR(self->fallback);
    return 0;
}

static void lis_dealloc(Listener *self) {
    PyObject_GC_UnTrack(self);
    lis_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int lis_init(Listener *self, PyObject *args, PyObject *kwds) {
    PyObject *active, *fallback;
    if (!PyArg_ParseTuple(args, "O!O:Listener", &PyDict_Type, &active, &fallback)) return -1;
    Py_INCREF(active); set_field(&self->active, active);
    Py_INCREF(fallback); set_field(&self->fallback, fallback);
    return 0;
}

static PyObject *lis_call(Listener *self, PyObject *args, PyObject *kwds) {
    PyObject *me = PyObject_CallNoArgs(getcurrent);
    if (!me) return NULL;
    PyObject *op = PyDict_GetItemWithError(self->active, me); /* borrowed */
    Py_DECREF(me);
    if (!op) {
        if (PyErr_Occurred()) return NULL;
        return PyObject_Call(self->fallback, args, kwds);
    }
    if (!PyObject_TypeCheck(op, &RecordType)) return PyObject_Call(self->fallback, args, kwds);
    Record *rec = (Record *)op;
    rec->requests += 1;
    PyObject *exc = kwds ? PyDict_GetItemWithError(kwds, s_exception) : NULL;
    if (!exc && PyErr_Occurred()) return NULL;
    if (exc && exc != Py_None) {
        PyObject *response = PyDict_GetItemWithError(kwds, s_response);
        if (!response && PyErr_Occurred()) return NULL;
        PyObject *failure = PyTuple_Pack(2, exc, response ? response : Py_None);
        if (!failure) return NULL;
        set_field(&rec->failure, failure);
    }
    Py_RETURN_NONE;
}

static PyTypeObject ListenerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_edgeproof_recorder.Listener",
    .tp_basicsize = sizeof(Listener),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Locust's request listener for compiled records (see recorder.c).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)lis_init,
    .tp_dealloc = (destructor)lis_dealloc,
    .tp_traverse = (traverseproc)lis_traverse,
    .tp_clear = (inquiry)lis_clear,
    .tp_call = (ternaryfunc)lis_call,
};

/* ------------------------------------------------------------------ encode */

typedef struct { char *p; Py_ssize_t n, cap; } Buf;

static int grow(Buf *b, Py_ssize_t more) {
    if (b->n + more <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + more) cap *= 2;
    char *p = PyMem_Realloc(b->p, cap);
    if (!p) { PyErr_NoMemory(); return -1; }
    b->p = p; b->cap = cap;
    return 0;
}

static int put(Buf *b, const char *s, Py_ssize_t n) {
    if (grow(b, n) < 0) return -1;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    return 0;
}

#define PUTS(b, lit) put(b, lit, (Py_ssize_t)sizeof(lit) - 1)

static int put_int(Buf *b, long long v) { /* decimal, as str(int) */
    char tmp[24];
    char *end = tmp + sizeof tmp, *p = end;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do { *--p = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) *--p = '-';
    return put(b, p, end - p);
}

/* Events counted by type object during one encode, added to the dict once at the end. */
typedef struct { PyObject *type; Py_ssize_t n; } Tally;
#define TALLIES 8

static int tally(Tally *t, int *used, PyObject *types, PyObject *type) {
    for (int i = 0; i < *used; i++)
        if (t[i].type == type) { t[i].n++; return 0; }
    if (*used < TALLIES) { t[*used].type = type; t[*used].n = 1; (*used)++; return 0; }
    PyObject *c = PyDict_GetItemWithError(types, type); /* more distinct types: at once */
    if (!c) return PyErr_Occurred() ? -1 : 0;
    PyObject *c1 = PyNumber_Add(c, one);
    int rc = c1 ? PyDict_SetItem(types, type, c1) : -1;
    Py_XDECREF(c1);
    return rc;
}

static int add_tallies(Tally *t, int used, PyObject *types) {
    for (int i = 0; i < used; i++) {
        PyObject *c = PyDict_GetItemWithError(types, t[i].type);
        if (!c) {
            if (PyErr_Occurred()) return -1;
            continue; /* not a type the writer counts */
        }
        PyObject *n = PyLong_FromSsize_t(t[i].n);
        PyObject *c1 = n ? PyNumber_Add(c, n) : NULL;
        Py_XDECREF(n);
        int rc = c1 ? PyDict_SetItem(types, t[i].type, c1) : -1;
        Py_XDECREF(c1);
        if (rc < 0) return -1;
    }
    return 0;
}

/* The JSON of a plain field (exact int, ASCII str needing no escape, None, True, False)
 * into b: 1; 0 if it is none of those (nothing written); -1 on error. */
static int put_plain(Buf *b, PyObject *v) {
    if (v == Py_None) return PUTS(b, "null") < 0 ? -1 : 1;
    if (v == Py_True) return PUTS(b, "true") < 0 ? -1 : 1;
    if (v == Py_False) return PUTS(b, "false") < 0 ? -1 : 1;
    if (PyLong_CheckExact(v)) {
        int overflow;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow) return 0;
        if (x == -1 && PyErr_Occurred()) return -1;
        return put_int(b, x) < 0 ? -1 : 1;
    }
    if (PyUnicode_CheckExact(v) && PyUnicode_IS_ASCII(v)) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(v);
        const unsigned char *s = PyUnicode_1BYTE_DATA(v);
        for (Py_ssize_t i = 0; i < n; i++)
            if (s[i] < 0x20 || s[i] == '"' || s[i] == '\\' || s[i] == 0x7f) return 0;
        if (grow(b, n + 2) < 0) return -1;
        b->p[b->n++] = '"';
        memcpy(b->p + b->n, s, n);
        b->n += n;
        b->p[b->n++] = '"';
        return 1;
    }
    return 0;
}

static int put_str(Buf *b, PyObject *s) { /* a str returned by Python, as UTF-8 */
    if (!PyUnicode_Check(s)) {
        PyErr_SetString(PyExc_TypeError, "encode: a line must be str");
        return -1;
    }
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(s, &n);
    return p ? put(b, p, n) : -1;
}

static PyObject *encode(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyList_Check(args[0]) || !PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "encode(events: list, types: dict, one)");
        return NULL;
    }
    PyObject *events = args[0], *types = args[1], *line_of = args[2];
    Buf b = {NULL, 0, 0};
    Tally tallies[TALLIES];
    int used = 0;
    Py_ssize_t n = PyList_GET_SIZE(events);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *ev = PyList_GET_ITEM(events, i);
        Py_ssize_t mark = b.n;
        if (PyTuple_CheckExact(ev) && PyTuple_GET_SIZE(ev) == 7) {
            PyObject **it = &PyTuple_GET_ITEM(ev, 0);
            PyObject *t = it[1];
            /* the text the Python encoder writes: process as int, "type" unescaped */
            if (PyLong_CheckExact(it[0]) && PyUnicode_CheckExact(t) && PyUnicode_IS_ASCII(t)
                    && PyLong_CheckExact(it[6])) {
                int ok = PUTS(&b, "{\"process\":") < 0 ? -1 : put_plain(&b, it[0]);
                if (ok == 1) ok = PUTS(&b, ",\"type\":\"") < 0 ? -1 : 1;
                if (ok == 1) ok = put(&b, (const char *)PyUnicode_1BYTE_DATA(t),
                                      PyUnicode_GET_LENGTH(t)) < 0 ? -1 : 1;
                if (ok == 1) ok = PUTS(&b, "\",\"f\":") < 0 ? -1 : put_plain(&b, it[2]);
                if (ok == 1) ok = PUTS(&b, ",\"key\":") < 0 ? -1 : put_plain(&b, it[3]);
                if (ok == 1) ok = PUTS(&b, ",\"value\":") < 0 ? -1 : put_plain(&b, it[4]);
                if (ok == 1) ok = PUTS(&b, ",\"node\":") < 0 ? -1 : put_plain(&b, it[5]);
                if (ok == 1) ok = PUTS(&b, ",\"time_ns\":") < 0 ? -1 : put_plain(&b, it[6]);
                if (ok == 1) ok = PUTS(&b, "}\n") < 0 ? -1 : 1;
                if (ok < 0) goto fail;
                if (ok == 1) {
                    if (tally(tallies, &used, types, t) < 0) goto fail;
                    continue;
                }
                b.n = mark; /* a field that is not plain: the whole line from Python */
            }
        }
        PyObject *line = PyObject_CallFunctionObjArgs(line_of, ev, types, NULL);
        if (!line) goto fail;
        int r = put_str(&b, line);
        Py_DECREF(line);
        if (r < 0) goto fail;
    }
    if (add_tallies(tallies, used, types) < 0) goto fail;
    PyObject *out = PyBytes_FromStringAndSize(b.p ? b.p : "", b.n);
    PyMem_Free(b.p);
    return out;
fail:
    PyMem_Free(b.p);
    return NULL;
}

static PyMethodDef mod_methods[] = {
    {"encode", (PyCFunction)(void (*)(void))encode, METH_FASTCALL,
     "encode(events, types, one) -> bytes: the JSONL of buffered history events."},
    {NULL},
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "_edgeproof_recorder", "The recorder's hot path (see recorder.c).",
    -1, mod_methods,
};

#define INTERN(var, text) if (!(var = PyUnicode_InternFromString(text))) return NULL

PyMODINIT_FUNC PyInit__edgeproof_recorder(void) {
    INTERN(s_ids, "_edgeproof_ids"); INTERN(s_stopping, "stopping");
    INTERN(s_active, "active"); INTERN(s_history, "history"); INTERN(s_pending, "pending");
    INTERN(s_buffer_lines, "buffer_lines"); INTERN(s_flush, "flush");
    INTERN(s_append, "append"); INTERN(s_bind_ids, "_bind_ids"); INTERN(s_stop, "_stop");
    INTERN(s_nested, "_nested"); INTERN(s_settle, "_settle"); INTERN(s_closed, "_closed");
    INTERN(s_invoke, "invoke"); INTERN(s_ok, "ok");
    INTERN(s_exception, "exception"); INTERN(s_response, "response");
    if (!(one = PyLong_FromLong(1))) return NULL;
    PyObject *greenlet = PyImport_ImportModule("greenlet");
    if (!greenlet) return NULL;
    getcurrent = PyObject_GetAttrString(greenlet, "getcurrent");
    Py_DECREF(greenlet);
    if (!getcurrent) return NULL;
    if (PyType_Ready(&RecordType) < 0 || PyType_Ready(&ListenerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (!m) return NULL;
    if (PyModule_AddObjectRef(m, "RecordBase", (PyObject *)&RecordType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddObjectRef(m, "Listener", (PyObject *)&ListenerType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "ABI", 1) < 0) { Py_DECREF(m); return NULL; }
    return m;
}
