/* The compiled engine's node allocator: every Var lives in a cell of a slab.
 *
 * A slab is 64 KiB, aligned to its size, so that a cell finds its slab by
 * masking its address. Cells are handed out from the current slab: freed
 * cells first (last freed, first reused), then never-used ones in address
 * order. A graph is made node after node and freed newest first (backward,
 * or dropping the root), so the next graph gets its cells back oldest first:
 * nodes made one after another sit one after another, and backward walks
 * them with the prefetcher's help. A slab whose last cell is freed starts
 * over in address order and waits, emptied, for reuse: memory is not handed
 * back to the system after each graph and faulted in again for the next.
 *
 * What is kept has a bound: at most rg_keep_limit bytes of empty slabs, and
 * an empty slab left unused for RG_IDLE_SECONDS is given back when another
 * slab empties; rg_release() gives back every empty slab at once.
 *
 * Cells are traced by tracemalloc one by one, as pymalloc's blocks are. With
 * PYTHONMALLOC=malloc (or malloc_debug), as under AddressSanitizer, every
 * node comes from PyObject_Malloc instead, where the sanitizer watches it.
 * All of this runs with the GIL held (tp_alloc, tp_dealloc). */
#ifndef REGRAD_POOL_H
#define REGRAD_POOL_H

#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _WIN32
#include <malloc.h>
#else
#include <sys/mman.h>
#endif

/* Under AddressSanitizer a free cell is poisoned, so that a node used after
 * it was freed is reported even when nodes come from slabs */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RG_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(RG_ASAN)
#include <sanitizer/asan_interface.h>
#define RG_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define RG_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define RG_POISON(p, n) ((void)0)
#define RG_UNPOISON(p, n) ((void)0)
#endif

#define RG_SLAB_BYTES ((size_t)1 << 16)
#define RG_HEADER 64               /* the slab header, a cache line */
#define RG_IDLE_SECONDS 10
#define RG_NONE 0
#define RG_PARTIAL 1
#define RG_EMPTY 2

typedef struct rg_slab {
    struct rg_slab *prev, *next;   /* in the partial or the empty list */
    char *free;                    /* freed cells, each holding the next */
    uint32_t live;                 /* cells in use */
    uint32_t fresh;                /* cells handed out since the slab was empty */
    int list;                      /* RG_NONE (current or full), RG_PARTIAL, RG_EMPTY */
    time_t emptied;                /* when it joined the empty list */
} rg_slab;

typedef struct { rg_slab *head, *tail; size_t count; } rg_list;

static size_t rg_cell;             /* bytes per cell: the type's size, 16-aligned */
static uint32_t rg_cap;            /* cells per slab */
static rg_slab rg_start = {NULL, NULL, NULL, 0, UINT32_MAX, RG_NONE, 0};  /* "full" */
static rg_slab *rg_current = &rg_start;
static rg_list rg_partial, rg_empty;
static size_t rg_slabs;            /* slabs held, in use or empty */
static size_t rg_keep_limit = (size_t)64 << 20;
static int rg_passthrough;

static void rg_init(size_t basicsize) {
    const char *env = getenv("PYTHONMALLOC");
    rg_cell = (basicsize + 15) & ~(size_t)15;
    rg_cap = (uint32_t)((RG_SLAB_BYTES - RG_HEADER) / rg_cell);
    rg_passthrough = env != NULL && strncmp(env, "malloc", 6) == 0;
}

static void rg_push(rg_list *l, rg_slab *s, int which) {
    s->prev = NULL;
    s->next = l->head;
    if (l->head) l->head->prev = s; else l->tail = s;
    l->head = s;
    l->count++;
    s->list = which;
}

static void rg_unlink(rg_list *l, rg_slab *s) {
    if (s->prev) s->prev->next = s->next; else l->head = s->next;
    if (s->next) s->next->prev = s->prev; else l->tail = s->prev;
    s->prev = s->next = NULL;
    l->count--;
    s->list = RG_NONE;
}

static rg_slab *rg_map(void) {
#ifdef _WIN32
    return (rg_slab *)_aligned_malloc(RG_SLAB_BYTES, RG_SLAB_BYTES);
#else
    /* twice the size, then the unaligned ends are given back */
    char *p = (char *)mmap(NULL, 2 * RG_SLAB_BYTES, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *aligned;
    size_t head;
    if (p == MAP_FAILED) return NULL;
    aligned = (char *)(((uintptr_t)p + RG_SLAB_BYTES - 1) & ~(uintptr_t)(RG_SLAB_BYTES - 1));
    head = (size_t)(aligned - p);
    if (head) munmap(p, head);
    munmap(aligned + RG_SLAB_BYTES, RG_SLAB_BYTES - head);
    return (rg_slab *)aligned;
#endif
}

static void rg_unmap(rg_slab *s) {
    rg_slabs--;
    RG_UNPOISON(s, RG_SLAB_BYTES);
#ifdef _WIN32
    _aligned_free(s);
#else
    munmap(s, RG_SLAB_BYTES);
#endif
}

/* the current slab is used up: take one with room, or a new one */
static PyObject *rg_alloc_slow(void) {
    rg_slab *s;
    char *p;
    if (rg_passthrough) return (PyObject *)PyObject_Malloc(rg_cell);
    if (rg_partial.head) {
        s = rg_partial.head;
        rg_unlink(&rg_partial, s);
    } else if (rg_empty.head) {
        s = rg_empty.head;          /* the one emptied last: warmest in the caches */
        rg_unlink(&rg_empty, s);
    } else {
        s = rg_map();
        if (s == NULL) return NULL;
        memset(s, 0, sizeof(rg_slab));
        rg_slabs++;
    }
    rg_current = s;
    if (s->free) {
        p = s->free;
        RG_UNPOISON(p, rg_cell);
        s->free = *(char **)p;
    } else {
        p = (char *)s + RG_HEADER + (size_t)s->fresh * rg_cell;
        RG_UNPOISON(p, rg_cell);
        s->fresh++;
    }
    s->live++;
    return (PyObject *)p;
}

static inline PyObject *rg_alloc(void) {
    rg_slab *s = rg_current;
    char *p;
    if (s->free) {
        p = s->free;
        RG_UNPOISON(p, rg_cell);
        s->free = *(char **)p;
    } else if (s->fresh < rg_cap) {
        p = (char *)s + RG_HEADER + (size_t)s->fresh * rg_cell;
        RG_UNPOISON(p, rg_cell);
        s->fresh++;
    } else {
        p = (char *)rg_alloc_slow();
        if (p == NULL) return NULL;
        PyTraceMalloc_Track(0, (uintptr_t)p, rg_cell);
        return (PyObject *)p;
    }
    s->live++;
    PyTraceMalloc_Track(0, (uintptr_t)p, rg_cell);
    return (PyObject *)p;
}

/* a new object of type t with no call through tp_new, and none to
 * PyObject_Init in a release build; the caller sets every field */
static inline PyObject *rg_new(PyTypeObject *t) {
    PyObject *o = rg_alloc();
    if (o == NULL) return PyErr_NoMemory();
#if defined(Py_TRACE_REFS) || defined(Py_REF_DEBUG) || PY_VERSION_HEX >= 0x030C0000
    return PyObject_Init(o, t);     /* interpreters that track their objects */
#else
    Py_SET_TYPE(o, t);              /* a static type: no reference to it */
    Py_SET_REFCNT(o, 1);
    return o;
#endif
}

/* give back empty slabs beyond the bound, or idle too long; 0 keeps none */
static size_t rg_trim(size_t keep_bytes) {
    size_t given = 0;
    time_t now = time(NULL);
    rg_slab *s;
    while ((s = rg_empty.tail) != NULL
           && (rg_empty.count * RG_SLAB_BYTES > keep_bytes
               || now - s->emptied >= RG_IDLE_SECONDS)) {
        rg_unlink(&rg_empty, s);
        rg_unmap(s);
        given += RG_SLAB_BYTES;
    }
    return given;
}

static void rg_emptied(rg_slab *s) {
    s->free = NULL;                 /* start over in address order */
    s->fresh = 0;
    if (s == rg_current) return;
    if (s->list == RG_PARTIAL) rg_unlink(&rg_partial, s);
    s->emptied = time(NULL);
    rg_push(&rg_empty, s, RG_EMPTY);
    rg_trim(rg_keep_limit);
}

static inline void rg_free(PyObject *o) {
    char *p = (char *)o;
    rg_slab *s;
    if (rg_passthrough) {
        PyObject_Free(p);
        return;
    }
    PyTraceMalloc_Untrack(0, (uintptr_t)p);
    s = (rg_slab *)((uintptr_t)p & ~(uintptr_t)(RG_SLAB_BYTES - 1));
    *(char **)p = s->free;
    s->free = p;
    RG_POISON(p, rg_cell);
    if (--s->live == 0)
        rg_emptied(s);
    else if (s->list == RG_NONE && s != rg_current)
        rg_push(&rg_partial, s, RG_PARTIAL);   /* was full: has room again */
}

/* every empty slab back to the system, the current one too if empty */
static size_t rg_release(void) {
    size_t given = rg_trim(0);
    if (rg_current != &rg_start && rg_current->live == 0) {
        rg_unmap(rg_current);
        rg_current = &rg_start;
        given += RG_SLAB_BYTES;
    }
    return given;
}

#endif
