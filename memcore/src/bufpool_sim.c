/*
 * bufpool_sim.c — the replacement-policy trace simulator behind
 * rm_bufpool_simulate: the pool's Enhanced ARC (the exact code in
 * bufpool_arc.c, with the frame's reference and frequency bits kept in plain
 * arrays and its hits passed through one ring of the pool's lossy hit buffer,
 * drained at each miss, so the hit ratios it reports are the pool's), and classic ARC, LRU,
 * CLOCK and Belady's OPT as references. Not thread-safe; one call owns all
 * it allocates (from the page source) and frees it before returning.
 *
 * docs/adr/0004-buffer-pool-eviction.md has the measurements.
 */
#include "bufpool_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define FREQ_MAX 15         /* the frame state word's 4-bit FREQ saturates here */

/* ---- simulator ----------------------------------------------------------------------- */

const char *
rm_bufpool_policy_name(rm_bufpool_policy_t p)
{
    switch (p) {
    case RM_BUFPOOL_POLICY_RUSTYMEM: return "rustymem";
    case RM_BUFPOOL_POLICY_ARC: return "arc";
    case RM_BUFPOOL_POLICY_LRU: return "lru";
    case RM_BUFPOOL_POLICY_CLOCK: return "clock";
    case RM_BUFPOOL_POLICY_OPT: return "opt";
    case RM_BUFPOOL_POLICY_WTINYLFU: return "wtinylfu";
    case RM_BUFPOOL_POLICY_S3FIFO: return "s3fifo";
    case RM_BUFPOOL_POLICY_LIRS: return "lirs";
    default: return "?";
    }
}

static rm_status_t
sim_rustymem(const uint64_t *trace, size_t n, uint32_t c, const rm_pagesrc_t *src, uint64_t *hits)
{
    rm_status_t st = RM_ENOMEM;
    rm__bp_plain_t sc;
    size_t arr_bytes = (size_t)c * (3 + sizeof(uint64_t));
    uint8_t *arr = rm__bp_mem_alloc(src, arr_bytes);
    if (!arr)
        return RM_ENOMEM;
    uint64_t *slot_key = (uint64_t *)arr;   /* first: keeps it 8-byte aligned */
    sc.ref = arr + (size_t)c * sizeof(uint64_t);
    sc.freq = sc.ref + c;
    sc.t1 = sc.freq + c;
    sc.t1_refs = 0;
    rm__bp_map_t map;
    if (rm__bp_map_init(&map, c, src) != RM_OK)
        goto out_arr;
    rm__bp_earc_t *e;
    if ((st = rm__bp_earc_create(c, c, &rm__bp_plain_ops, &sc, src, &e)) != RM_OK)
        goto out_map;
    uint32_t used = 0;
    uint64_t h = 0, unreported = 0;
    /* exact recency, hits through a lossy ring drained at the next miss, as
     * the pool's hit buffer is for one thread */
    uint32_t rbuf[RM_BP_HITBUF_LEN], rn = 0;
    rm__bp_earc_set_exact(e, 1);
    for (size_t i = 0; i < n; i++) {
        uint64_t k = trace[i];
        uint32_t s = rm__bp_map_get(&map, k);
        if (s != RM_BP_NIL) {
            h++;
            unreported++;
            /* the pool's pin CAS sets REF on every hit and the drain clears it
             * when it applies the hit: so REF stays set only on the hits a
             * full ring dropped, and the hands give those their second chance */
            if (rn < RM_BP_HITBUF_LEN)
                rbuf[rn++] = s;
            else
                rm__bp_plain_ops.set_ref(&sc, s);
            if (sc.freq[s] < FREQ_MAX)
                sc.freq[s]++;
            continue;
        }
        for (uint32_t j = 0; j < rn; j++)
            rm__bp_earc_touch(e, rbuf[j]);
        rn = 0;
        rm__bp_earc_note_hits(e, unreported);
        unreported = 0;
        rm__bp_earc_note_miss(e, k);
        if (used < c) {
            s = used++;
        } else {
            s = rm__bp_earc_evict(e);
            assert(s != RM_BP_NIL);
            rm__bp_map_del(&map, slot_key[s]);
        }
        slot_key[s] = k;
        sc.ref[s] = 0;
        sc.freq[s] = 0;
        rm__bp_map_put(&map, k, s);
        rm__bp_earc_admit(e, s, k);
    }
    *hits = h;
    rm__bp_earc_destroy(e);
out_map:
    rm__bp_map_fini(&map);
out_arr:
    rm__bp_mem_free(src, arr, arr_bytes);
    return st;
}

/* Classic ARC (Megiddo & Modha, FAST'03, Fig. 4), exact, with LRU lists. */
static rm_status_t
sim_arc(const uint64_t *trace, size_t n, uint32_t c, const rm_pagesrc_t *src, uint64_t *hits)
{
    uint32_t nn = 2 * c + 2;
    size_t bytes = (size_t)nn * (2 * sizeof(uint32_t) + sizeof(uint64_t) + 1);
    uint32_t *prev = rm__bp_mem_alloc(src, bytes);
    if (!prev)
        return RM_ENOMEM;
    uint32_t *next = prev + nn;
    uint64_t *key = (uint64_t *)(next + nn);
    uint8_t *lst = (uint8_t *)(key + nn);
    rm__bp_map_t map;
    if (rm__bp_map_init(&map, nn, src) != RM_OK) {
        rm__bp_mem_free(src, prev, bytes);
        return RM_ENOMEM;
    }
    rm__bp_dlist_t L[4] = {{RM_BP_NIL, 0}, {RM_BP_NIL, 0}, {RM_BP_NIL, 0}, {RM_BP_NIL, 0}}; /* T1 T2 B1 B2 */
    enum { T1 = 0, T2 = 1, B1 = 2, B2 = 3 };
    uint32_t freelist = RM_BP_NIL;
    for (uint32_t i = nn; i-- > 0;) {
        next[i] = freelist;
        freelist = i;
    }
    double p = 0;
    uint64_t h = 0;
#define ARC_MOVE(node, to) do { rm__bp_dl_unlink(&L[lst[node]], prev, next, node); lst[node] = (to); rm__bp_dl_push_tail(&L[to], prev, next, node); } while (0)
    for (size_t i = 0; i < n; i++) {
        uint64_t k = trace[i];
        uint32_t x = rm__bp_map_get(&map, k);
        int replace = 0, in_b2 = 0;
        if (x != RM_BP_NIL && (lst[x] == T1 || lst[x] == T2)) {
            h++;
            ARC_MOVE(x, T2);
            continue;
        }
        if (x != RM_BP_NIL && lst[x] == B1) {
            double d = L[B1].size >= L[B2].size ? 1.0 : (double)L[B2].size / L[B1].size;
            p = p + d > c ? c : p + d;
            replace = 1;
        } else if (x != RM_BP_NIL && lst[x] == B2) {
            double d = L[B2].size >= L[B1].size ? 1.0 : (double)L[B1].size / L[B2].size;
            p = p - d < 0 ? 0 : p - d;
            replace = 1;
            in_b2 = 1;
        }
        if (replace) {
            /* REPLACE(x, p) then move x to T2 */
            int from = (L[T1].size && ((in_b2 && L[T1].size == (uint32_t)p) || L[T1].size > p)) ? T1 : T2;
            if (!L[from].size)
                from = from == T1 ? T2 : T1;
            uint32_t v = L[from].head;
            ARC_MOVE(v, from == T1 ? B1 : B2);
            ARC_MOVE(x, T2);
            continue;
        }
        /* case IV: not in the directory */
        if (L[T1].size + L[B1].size == c) {
            if (L[T1].size < c) {
                uint32_t g = L[B1].head;
                rm__bp_dl_unlink(&L[B1], prev, next, g);
                rm__bp_map_del(&map, key[g]);
                next[g] = freelist;
                freelist = g;
                int from = (L[T1].size && L[T1].size > p) ? T1 : T2;
                if (!L[from].size)
                    from = from == T1 ? T2 : T1;
                uint32_t v = L[from].head;
                ARC_MOVE(v, from == T1 ? B1 : B2);
            } else {
                uint32_t v = L[T1].head;
                rm__bp_dl_unlink(&L[T1], prev, next, v);
                rm__bp_map_del(&map, key[v]);
                next[v] = freelist;
                freelist = v;
            }
        } else {
            uint32_t tot = L[T1].size + L[T2].size + L[B1].size + L[B2].size;
            if (tot >= c) {
                if (tot == 2 * c) {
                    uint32_t g = L[B2].head;
                    rm__bp_dl_unlink(&L[B2], prev, next, g);
                    rm__bp_map_del(&map, key[g]);
                    next[g] = freelist;
                    freelist = g;
                }
                if (L[T1].size + L[T2].size >= c) {
                    int from = (L[T1].size && L[T1].size > p) ? T1 : T2;
                    if (!L[from].size)
                        from = from == T1 ? T2 : T1;
                    uint32_t v = L[from].head;
                    ARC_MOVE(v, from == T1 ? B1 : B2);
                }
            }
        }
        uint32_t y = freelist;
        freelist = next[y];
        key[y] = k;
        lst[y] = T1;
        rm__bp_dl_push_tail(&L[T1], prev, next, y);
        rm__bp_map_put(&map, k, y);
    }
#undef ARC_MOVE
    *hits = h;
    rm__bp_map_fini(&map);
    rm__bp_mem_free(src, prev, bytes);
    return RM_OK;
}

static rm_status_t
sim_lru(const uint64_t *trace, size_t n, uint32_t c, const rm_pagesrc_t *src, uint64_t *hits)
{
    size_t bytes = (size_t)c * (2 * sizeof(uint32_t) + sizeof(uint64_t));
    uint32_t *prev = rm__bp_mem_alloc(src, bytes);
    if (!prev)
        return RM_ENOMEM;
    uint32_t *next = prev + c;
    uint64_t *key = (uint64_t *)(next + c);
    rm__bp_map_t map;
    if (rm__bp_map_init(&map, c, src) != RM_OK) {
        rm__bp_mem_free(src, prev, bytes);
        return RM_ENOMEM;
    }
    rm__bp_dlist_t l = {RM_BP_NIL, 0};
    uint32_t used = 0;
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t s = rm__bp_map_get(&map, trace[i]);
        if (s != RM_BP_NIL) {
            h++;
            rm__bp_dl_unlink(&l, prev, next, s);
            rm__bp_dl_push_tail(&l, prev, next, s);
            continue;
        }
        if (used < c) {
            s = used++;
        } else {
            s = l.head;
            rm__bp_dl_unlink(&l, prev, next, s);
            rm__bp_map_del(&map, key[s]);
        }
        key[s] = trace[i];
        rm__bp_map_put(&map, trace[i], s);
        rm__bp_dl_push_tail(&l, prev, next, s);
    }
    *hits = h;
    rm__bp_map_fini(&map);
    rm__bp_mem_free(src, prev, bytes);
    return RM_OK;
}

/* PostgreSQL's clock sweep: usage_count++ (max 5) on hit, the hand decrements. */
static rm_status_t
sim_clock(const uint64_t *trace, size_t n, uint32_t c, const rm_pagesrc_t *src, uint64_t *hits)
{
    size_t bytes = (size_t)c * (sizeof(uint64_t) + 1);
    uint64_t *key = rm__bp_mem_alloc(src, bytes);
    if (!key)
        return RM_ENOMEM;
    uint8_t *usage = (uint8_t *)(key + c);
    rm__bp_map_t map;
    if (rm__bp_map_init(&map, c, src) != RM_OK) {
        rm__bp_mem_free(src, key, bytes);
        return RM_ENOMEM;
    }
    uint32_t used = 0, hand = 0;
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t s = rm__bp_map_get(&map, trace[i]);
        if (s != RM_BP_NIL) {
            h++;
            if (usage[s] < 5)
                usage[s]++;
            continue;
        }
        if (used < c) {
            s = used++;
        } else {
            for (;;) {
                if (usage[hand] == 0)
                    break;
                usage[hand]--;
                hand = hand + 1 == c ? 0 : hand + 1;
            }
            s = hand;
            hand = hand + 1 == c ? 0 : hand + 1;
            rm__bp_map_del(&map, key[s]);
        }
        key[s] = trace[i];
        usage[s] = 1;
        rm__bp_map_put(&map, trace[i], s);
    }
    *hits = h;
    rm__bp_map_fini(&map);
    rm__bp_mem_free(src, key, bytes);
    return RM_OK;
}

/* Belady's MIN: evict the page whose next use is farthest (max-heap, lazy). */
typedef struct heapent {
    uint64_t next;   /* position of next use; UINT64_MAX = never */
    uint64_t key;
} heapent_t;

static void
heap_push(heapent_t *hp, size_t *n, heapent_t v)
{
    size_t i = (*n)++;
    while (i) {
        size_t par = (i - 1) / 2;
        if (hp[par].next >= v.next)
            break;
        hp[i] = hp[par];
        i = par;
    }
    hp[i] = v;
}

static heapent_t
heap_pop(heapent_t *hp, size_t *n)
{
    heapent_t top = hp[0], last = hp[--*n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        heapent_t mv = last;
        if (l < *n && hp[l].next > mv.next) {
            m = l;
            mv = hp[l];
        }
        if (r < *n && hp[r].next > mv.next)
            m = r;
        if (m == i)
            break;
        hp[i] = hp[m];
        i = m;
    }
    if (*n)
        hp[i] = last;
    return top;
}

static rm_status_t
sim_opt(const uint64_t *trace, size_t n, uint32_t c, const rm_pagesrc_t *src, uint64_t *hits)
{
    rm_status_t st = RM_ENOMEM;
    size_t nb = n * sizeof(uint64_t) + 1;
    uint64_t *nextuse = rm__bp_mem_alloc(src, nb);
    if (!nextuse)
        return RM_ENOMEM;
    /* heap holds one live entry per resident page plus stale ones; bound it */
    size_t hcap = n + (size_t)c + 1;
    size_t hb = hcap * sizeof(heapent_t);
    heapent_t *hp = rm__bp_mem_alloc(src, hb);
    if (!hp)
        goto out_next;
    rm__bp_map_t last, res;
    size_t distinct_bound = n < (size_t)UINT32_MAX / 2 ? n : (size_t)UINT32_MAX / 2;
    if (rm__bp_map_init(&last, distinct_bound, src) != RM_OK)
        goto out_heap;
    if (rm__bp_map_init(&res, c, src) != RM_OK)
        goto out_last;
    /* backward pass: next use of each position; values are positions (< 2^32 in practice) */
    for (size_t i = n; i-- > 0;) {
        uint32_t pos = rm__bp_map_get(&last, trace[i]);
        nextuse[i] = pos == RM_BP_NIL ? UINT64_MAX : pos;
        rm__bp_map_put(&last, trace[i], (uint32_t)i);
    }
    size_t hn = 0;
    uint32_t used = 0;
    uint64_t h = 0;
    /* res maps key → index of its current access (to validate heap entries) */
    for (size_t i = 0; i < n; i++) {
        uint64_t k = trace[i];
        uint32_t cur = rm__bp_map_get(&res, k);
        if (cur != RM_BP_NIL) {
            h++;
        } else {
            if (used < c) {
                used++;
            } else {
                for (;;) {
                    heapent_t v = heap_pop(hp, &hn);
                    uint32_t at = rm__bp_map_get(&res, v.key);
                    if (at != RM_BP_NIL && nextuse[at] == v.next) {
                        rm__bp_map_del(&res, v.key);
                        break;
                    }
                }
            }
        }
        rm__bp_map_put(&res, k, (uint32_t)i);
        if (hn == hcap) {
            /* compact: rebuild from live entries (cannot happen with hcap ≥ n + c) */
            st = RM_ENOMEM;
            goto out_res;
        }
        heap_push(hp, &hn, (heapent_t){nextuse[i], k});
    }
    *hits = h;
    st = RM_OK;
out_res:
    rm__bp_map_fini(&res);
out_last:
    rm__bp_map_fini(&last);
out_heap:
    rm__bp_mem_free(src, hp, hb);
out_next:
    rm__bp_mem_free(src, nextuse, nb);
    return st;
}

/* ---- W-TinyLFU (Einziger, Friedman & Manes, 2017; Caffeine) -------------------------
 * A window LRU (1 % of c to start) in front of a segmented LRU main cache
 * (probation + protected, protected ≤ 80 % of main). A page leaving the window
 * is a candidate; when the cache is over capacity it meets main's victim
 * (probation's LRU end, else protected's) and is admitted only if its
 * estimated frequency is higher. Frequency: a count-min sketch of every
 * access (4 rows × a power of two ≥ c 4-bit counters) behind a doorkeeper
 * bit set (a key's first access in a sample period only sets its doorkeeper
 * bits); every 10·c accesses the counters halve and the doorkeeper clears.
 * The window adapts by Caffeine's hill climber: every 10·c accesses with a
 * full cache, step the window in the direction that last raised the hit
 * ratio (reversing when it fell); the step starts at 6.25 % of c, decays by
 * 0.98 per sample and restarts when the hit ratio moves by ≥ 5 points.
 * Caffeine's random admission of warm candidates (a hash-flooding defence)
 * is left out: the traces here are not adversarial. */

typedef struct tlfu_sketch {
    uint8_t *cnt;       /* 4 rows × (mask + 1) counters, each ≤ 15 */
    uint64_t *door;     /* doorkeeper bit set, (mask + 1) · 8 bits */
    size_t mask, dmask;
    uint64_t adds, period;
} tlfu_sketch_t;

static uint64_t
sim_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static unsigned
tlfu_estimate(const tlfu_sketch_t *k, uint64_t key)
{
    uint64_t h = sim_mix(key);
    unsigned m = 15;
    for (int r = 0; r < 4; r++) {
        unsigned v = k->cnt[(size_t)r * (k->mask + 1) + ((h >> (16 * r)) & k->mask)];
        if (v < m)
            m = v;
    }
    uint64_t g = sim_mix(key ^ 0x5bd1e995ull);
    size_t b0 = g & k->dmask, b1 = (g >> 32) & k->dmask;
    int door = (k->door[b0 >> 6] >> (b0 & 63) & 1) && (k->door[b1 >> 6] >> (b1 & 63) & 1);
    return m + (unsigned)door;
}

static void
tlfu_increment(tlfu_sketch_t *k, uint64_t key)
{
    uint64_t g = sim_mix(key ^ 0x5bd1e995ull);
    size_t b0 = g & k->dmask, b1 = (g >> 32) & k->dmask;
    if (!((k->door[b0 >> 6] >> (b0 & 63) & 1) && (k->door[b1 >> 6] >> (b1 & 63) & 1))) {
        k->door[b0 >> 6] |= 1ull << (b0 & 63);
        k->door[b1 >> 6] |= 1ull << (b1 & 63);
    } else {
        uint64_t h = sim_mix(key);
        for (int r = 0; r < 4; r++) {
            uint8_t *v = &k->cnt[(size_t)r * (k->mask + 1) + ((h >> (16 * r)) & k->mask)];
            if (*v < 15)
                (*v)++;
        }
    }
    if (++k->adds >= k->period) {
        for (size_t i = 0; i < 4 * (k->mask + 1); i++)
            k->cnt[i] >>= 1;
        memset(k->door, 0, ((k->dmask + 1) >> 6) * sizeof(uint64_t));
        k->adds /= 2;
    }
}

enum { TL_WIN = 0, TL_PROB = 1, TL_PROT = 2, TL_CAND = 3 };

static rm_status_t
sim_wtinylfu(const uint64_t *trace, size_t n, uint32_t c, const rm_pagesrc_t *src, uint64_t *hits)
{
    size_t width = 16;
    while (width < c)
        width <<= 1;
    size_t dbits = width * 8;
    uint32_t nn = c + 1;
    size_t bytes = (size_t)nn * (2 * sizeof(uint32_t) + sizeof(uint64_t) + 1) + 4 * width + dbits / 8 + 16;
    uint8_t *mem = rm__bp_mem_alloc(src, bytes);
    if (!mem)
        return RM_ENOMEM;
    uint64_t *key = (uint64_t *)mem;
    uint64_t *door = key + nn;
    uint32_t *prev = (uint32_t *)(door + dbits / 64);
    uint32_t *next = prev + nn;
    uint8_t *lst = (uint8_t *)(next + nn);
    tlfu_sketch_t sk = {lst + nn, door, width - 1, dbits - 1, 0, (uint64_t)c * 10};
    rm__bp_map_t map;
    if (rm__bp_map_init(&map, nn, src) != RM_OK) {
        rm__bp_mem_free(src, mem, bytes);
        return RM_ENOMEM;
    }
    rm__bp_dlist_t L[4] = {{RM_BP_NIL, 0}, {RM_BP_NIL, 0}, {RM_BP_NIL, 0}, {RM_BP_NIL, 0}};
    uint32_t freelist = RM_BP_NIL;
    for (uint32_t i = nn; i-- > 0;) {
        next[i] = freelist;
        freelist = i;
    }
    double wmax = c / 100 ? (double)(c / 100) : 1.0;      /* window target, pages */
    double rmax = (double)((c - (uint32_t)wmax) * 8 / 10); /* protected target, pages */
    double step = -0.0625 * c, prev_hr = 0.0;
    uint64_t s_hits = 0, s_miss = 0, h = 0;
    uint32_t used = 0;
#define TL_MOVE(x, to) do { uint32_t m_ = (x); rm__bp_dl_unlink(&L[lst[m_]], prev, next, m_); lst[m_] = (to); rm__bp_dl_push_tail(&L[to], prev, next, m_); } while (0)
#define TL_FREE(x) do { uint32_t f_ = (x); rm__bp_dl_unlink(&L[lst[f_]], prev, next, f_); rm__bp_map_del(&map, key[f_]); next[f_] = freelist; freelist = f_; used--; } while (0)
    for (size_t i = 0; i < n; i++) {
        uint64_t k = trace[i];
        tlfu_increment(&sk, k);
        uint32_t x = rm__bp_map_get(&map, k);
        int full = used == c;
        if (x != RM_BP_NIL) {
            h++;
            s_hits += full;
            if (lst[x] == TL_WIN || lst[x] == TL_PROT) {
                TL_MOVE(x, lst[x]);
            } else {
                TL_MOVE(x, TL_PROT);
                while (L[TL_PROT].size > (uint32_t)rmax && L[TL_PROT].size > 0)
                    TL_MOVE(L[TL_PROT].head, TL_PROB);
            }
        } else {
            s_miss += full;
            uint32_t y = freelist;
            freelist = next[y];
            key[y] = k;
            lst[y] = TL_WIN;
            rm__bp_dl_push_tail(&L[TL_WIN], prev, next, y);
            rm__bp_map_put(&map, k, y);
            used++;
            /* the window's overflow become candidates for main */
            while (L[TL_WIN].size > (uint32_t)wmax)
                TL_MOVE(L[TL_WIN].head, TL_CAND);
            while (used > c) {
                uint32_t v = L[TL_PROB].size ? L[TL_PROB].head
                             : L[TL_PROT].size ? L[TL_PROT].head : RM_BP_NIL;
                if (L[TL_CAND].size) {
                    uint32_t cand = L[TL_CAND].head;
                    if (v != RM_BP_NIL && tlfu_estimate(&sk, key[cand]) > tlfu_estimate(&sk, key[v])) {
                        TL_FREE(v);
                        TL_MOVE(cand, TL_PROB);
                    } else {
                        TL_FREE(cand);
                    }
                } else {
                    TL_FREE(v != RM_BP_NIL ? v : L[TL_WIN].head);
                }
            }
            while (L[TL_CAND].size)
                TL_MOVE(L[TL_CAND].head, TL_PROB);
        }
        /* Caffeine's hill climber */
        if (s_hits + s_miss >= (uint64_t)c * 10) {
            double hr = (double)s_hits / (double)(s_hits + s_miss);
            double change = hr - prev_hr;
            double amount = change >= 0 ? step : -step;
            step = (change >= 0.05 || change <= -0.05) ? 0.0625 * c * (amount >= 0 ? 1 : -1) : 0.98 * amount;
            prev_hr = hr;
            s_hits = s_miss = 0;
            double mmax = (double)c - wmax;
            if (amount > 0) {
                double q = amount < rmax ? amount : rmax;
                wmax += q;
                rmax -= q;
            } else if (amount < 0) {
                double q = -amount < wmax - 1 ? -amount : wmax - 1;
                wmax -= q;
                rmax += q;
            }
            (void)mmax;
            while (L[TL_PROT].size > (uint32_t)rmax && L[TL_PROT].size > 0)
                TL_MOVE(L[TL_PROT].head, TL_PROB);
            while (L[TL_WIN].size > (uint32_t)wmax)
                TL_MOVE(L[TL_WIN].head, TL_PROB);
        }
    }
#undef TL_MOVE
#undef TL_FREE
    *hits = h;
    rm__bp_map_fini(&map);
    rm__bp_mem_free(src, mem, bytes);
    return RM_OK;
}

/* ---- S3-FIFO (Yang, Zhang, Qiu, Yue & Vinayak, SOSP'23) ---------------------------
 * Small FIFO S (10 % of c), main FIFO M (the rest), ghost FIFO G of keys
 * evicted from S (as many as M holds). A hit only bumps a 2-bit frequency
 * (≤ 3). A miss whose key is in G goes to M, any other to S. Evicting from S
 * (when |S| ≥ 10 % of c): its oldest page moves to M with its frequency
 * cleared if it was hit while in S, else leaves for G; from M: a page with
 * frequency > 0 is reinserted with frequency − 1, the first with 0 leaves. */

enum { S3_S = 0, S3_M = 1, S3_G = 2 };

static rm_status_t
sim_s3fifo(const uint64_t *trace, size_t n, uint32_t c, const rm_pagesrc_t *src, uint64_t *hits)
{
    uint32_t sc = c / 10 ? c / 10 : 1, gcap = c - sc;
    uint32_t nn = c + gcap + 1;
    size_t bytes = (size_t)nn * (2 * sizeof(uint32_t) + sizeof(uint64_t) + 2);
    uint64_t *key = rm__bp_mem_alloc(src, bytes);
    if (!key)
        return RM_ENOMEM;
    uint32_t *prev = (uint32_t *)(key + nn);
    uint32_t *next = prev + nn;
    uint8_t *lst = (uint8_t *)(next + nn);
    uint8_t *freq = lst + nn;
    rm__bp_map_t map;
    if (rm__bp_map_init(&map, nn, src) != RM_OK) {
        rm__bp_mem_free(src, key, bytes);
        return RM_ENOMEM;
    }
    rm__bp_dlist_t L[3] = {{RM_BP_NIL, 0}, {RM_BP_NIL, 0}, {RM_BP_NIL, 0}};
    uint32_t freelist = RM_BP_NIL;
    for (uint32_t i = nn; i-- > 0;) {
        next[i] = freelist;
        freelist = i;
    }
    uint64_t h = 0;
#define S3_MOVE(x, to) do { uint32_t m_ = (x); rm__bp_dl_unlink(&L[lst[m_]], prev, next, m_); lst[m_] = (to); rm__bp_dl_push_tail(&L[to], prev, next, m_); } while (0)
#define S3_FREE(x) do { uint32_t f_ = (x); rm__bp_dl_unlink(&L[lst[f_]], prev, next, f_); rm__bp_map_del(&map, key[f_]); next[f_] = freelist; freelist = f_; } while (0)
    for (size_t i = 0; i < n; i++) {
        uint64_t k = trace[i];
        uint32_t x = rm__bp_map_get(&map, k);
        if (x != RM_BP_NIL && lst[x] != S3_G) {
            h++;
            if (freq[x] < 3)
                freq[x]++;
            continue;
        }
        int ghost = x != RM_BP_NIL;
        if (ghost)
            S3_FREE(x);
        while (L[S3_S].size + L[S3_M].size >= c) {
            int freed = 0;
            if (L[S3_S].size >= sc) {
                while (!freed && L[S3_S].size) {
                    uint32_t t = L[S3_S].head;
                    if (freq[t] >= 1) {
                        freq[t] = 0;
                        S3_MOVE(t, S3_M);
                    } else {
                        if (L[S3_G].size >= gcap)
                            S3_FREE(L[S3_G].head);
                        S3_MOVE(t, S3_G);
                        freed = 1;
                    }
                }
            }
            while (!freed && L[S3_M].size) {
                uint32_t t = L[S3_M].head;
                if (freq[t]) {
                    freq[t]--;
                    S3_MOVE(t, S3_M);
                } else {
                    S3_FREE(t);
                    freed = 1;
                }
            }
        }
        uint32_t y = freelist;
        freelist = next[y];
        key[y] = k;
        freq[y] = 0;
        lst[y] = ghost ? S3_M : S3_S;
        rm__bp_dl_push_tail(&L[lst[y]], prev, next, y);
        rm__bp_map_put(&map, k, y);
    }
#undef S3_MOVE
#undef S3_FREE
    *hits = h;
    rm__bp_map_fini(&map);
    rm__bp_mem_free(src, key, bytes);
    return RM_OK;
}

/* ---- LIRS (Jiang & Zhang, SIGMETRICS'02) ---------------------------------------------
 * Pages with a low inter-reference recency (LIR, 99 % of c) stay; the rest of
 * the cache (HIR, 1 % of c, at least one page) is a FIFO queue Q. The stack S
 * orders pages by recency and holds LIR pages, resident HIR pages and
 * non-resident HIR pages (ghosts); its bottom is always an LIR page (stack
 * pruning). A HIR page hit while in S becomes LIR and the bottom LIR page
 * becomes HIR. Ghosts in S are bounded to c (the oldest leave S), so the
 * history costs what ARC's does. */

enum { LR_LIR = 0, LR_HIR = 1, LR_NR = 2 };
enum { LQ_S = 0, LQ_Q = 1, LQ_NR = 2 };  /* lists: stack, resident-HIR queue, ghosts by age */

static rm_status_t
sim_lirs(const uint64_t *trace, size_t n, uint32_t c, const rm_pagesrc_t *src, uint64_t *hits)
{
    uint32_t hcap = c / 100 ? c / 100 : 1, lcap = c - hcap;
    uint32_t nn = 2 * c + 2;
    size_t bytes = (size_t)nn * (4 * sizeof(uint32_t) + sizeof(uint64_t) + 3);
    uint64_t *key = rm__bp_mem_alloc(src, bytes);
    if (!key)
        return RM_ENOMEM;
    uint32_t *sprev = (uint32_t *)(key + nn);   /* links in S */
    uint32_t *snext = sprev + nn;
    uint32_t *qprev = snext + nn;               /* links in Q or in the ghost list */
    uint32_t *qnext = qprev + nn;
    uint8_t *state = (uint8_t *)(qnext + nn);
    uint8_t *in_s = state + nn;
    uint8_t *in_q = in_s + nn;   /* LQ_Q, LQ_NR or 0xff */
    rm__bp_map_t map;
    if (rm__bp_map_init(&map, nn, src) != RM_OK) {
        rm__bp_mem_free(src, key, bytes);
        return RM_ENOMEM;
    }
    rm__bp_dlist_t S = {RM_BP_NIL, 0}, Q[3] = {{RM_BP_NIL, 0}, {RM_BP_NIL, 0}, {RM_BP_NIL, 0}};
    uint32_t freelist = RM_BP_NIL;
    for (uint32_t i = nn; i-- > 0;) {
        snext[i] = freelist;
        freelist = i;
    }
    uint32_t nlir = 0, nres = 0;
    uint64_t h = 0;
#define S_TOP(x) do { if (in_s[x]) rm__bp_dl_unlink(&S, sprev, snext, x); rm__bp_dl_push_tail(&S, sprev, snext, x); in_s[x] = 1; } while (0)
#define S_OUT(x) do { rm__bp_dl_unlink(&S, sprev, snext, x); in_s[x] = 0; } while (0)
#define Q_OUT(x) do { rm__bp_dl_unlink(&Q[in_q[x]], qprev, qnext, x); in_q[x] = 0xff; } while (0)
#define Q_IN(x, l) do { if (in_q[x] != 0xff) Q_OUT(x); rm__bp_dl_push_tail(&Q[l], qprev, qnext, x); in_q[x] = (l); } while (0)
#define NODE_FREE(x) do { rm__bp_map_del(&map, key[x]); snext[x] = freelist; freelist = (x); } while (0)
    /* stack pruning: the bottom of S must be LIR */
#define PRUNE() do { \
        while (S.size && state[S.head] != LR_LIR) { \
            uint32_t b = S.head; \
            S_OUT(b); \
            if (state[b] == LR_NR) { Q_OUT(b); NODE_FREE(b); } \
        } } while (0)
    /* the bottom LIR page becomes a resident HIR page at Q's end */
#define DEMOTE_BOTTOM() do { \
        uint32_t b = S.head; \
        S_OUT(b); state[b] = LR_HIR; nlir--; Q_IN(b, LQ_Q); PRUNE(); } while (0)
    for (size_t i = 0; i < n; i++) {
        uint64_t k = trace[i];
        uint32_t x = rm__bp_map_get(&map, k);
        if (x != RM_BP_NIL && state[x] == LR_LIR) {
            h++;
            int bottom = S.head == x;
            S_TOP(x);
            if (bottom)
                PRUNE();
            continue;
        }
        if (x != RM_BP_NIL && state[x] == LR_HIR) {
            h++;
            if (in_s[x]) {
                Q_OUT(x);
                state[x] = LR_LIR;
                nlir++;
                S_TOP(x);
                DEMOTE_BOTTOM();
            } else {
                S_TOP(x);
                Q_IN(x, LQ_Q);
            }
            continue;
        }
        /* miss: x is a ghost in S, or unknown */
        if (x != RM_BP_NIL)
            Q_OUT(x);   /* off the ghost list so that it cannot be dropped below */
        if (nlir < lcap && x == RM_BP_NIL) {
            uint32_t y = freelist;
            freelist = snext[y];
            key[y] = k;
            state[y] = LR_LIR;
            in_s[y] = 0;
            in_q[y] = 0xff;
            nlir++;
            nres++;
            S_TOP(y);
            rm__bp_map_put(&map, k, y);
            continue;
        }
        if (nres >= c) {
            uint32_t v = Q[LQ_Q].head;
            Q_OUT(v);
            nres--;
            if (in_s[v]) {
                state[v] = LR_NR;
                Q_IN(v, LQ_NR);
                if (Q[LQ_NR].size > c) {
                    uint32_t g = Q[LQ_NR].head;
                    Q_OUT(g);
                    S_OUT(g);
                    NODE_FREE(g);
                }
            } else {
                NODE_FREE(v);
            }
        }
        nres++;
        if (x != RM_BP_NIL) {
            state[x] = LR_LIR;
            nlir++;
            S_TOP(x);
            if (nlir > lcap)
                DEMOTE_BOTTOM();
        } else {
            uint32_t y = freelist;
            freelist = snext[y];
            key[y] = k;
            state[y] = LR_HIR;
            in_s[y] = 0;
            in_q[y] = 0xff;
            S_TOP(y);
            Q_IN(y, LQ_Q);
            rm__bp_map_put(&map, k, y);
        }
    }
#undef S_TOP
#undef S_OUT
#undef Q_OUT
#undef Q_IN
#undef NODE_FREE
#undef PRUNE
#undef DEMOTE_BOTTOM
    *hits = h;
    rm__bp_map_fini(&map);
    rm__bp_mem_free(src, key, bytes);
    return RM_OK;
}

rm_status_t
rm_bufpool_simulate(rm_bufpool_policy_t policy, const uint64_t *trace, size_t n, size_t frames,
                    const rm_pagesrc_t *src, uint64_t *hits)
{
    if (!hits || frames < 2 || frames > UINT32_MAX / 4 || (n && !trace) || n > UINT32_MAX - 1)
        return RM_EINVAL;
    uint32_t c = (uint32_t)frames;
    switch (policy) {
    case RM_BUFPOOL_POLICY_RUSTYMEM: return sim_rustymem(trace, n, c, src, hits);
    case RM_BUFPOOL_POLICY_ARC: return sim_arc(trace, n, c, src, hits);
    case RM_BUFPOOL_POLICY_LRU: return sim_lru(trace, n, c, src, hits);
    case RM_BUFPOOL_POLICY_CLOCK: return sim_clock(trace, n, c, src, hits);
    case RM_BUFPOOL_POLICY_OPT: return sim_opt(trace, n, c, src, hits);
    case RM_BUFPOOL_POLICY_WTINYLFU: return sim_wtinylfu(trace, n, c, src, hits);
    case RM_BUFPOOL_POLICY_S3FIFO: return sim_s3fifo(trace, n, c, src, hits);
    case RM_BUFPOOL_POLICY_LIRS: return sim_lirs(trace, n, c, src, hits);
    default: return RM_EINVAL;
    }
}
