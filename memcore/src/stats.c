/*
 * stats.c — the component accounting registry.
 *
 * A fixed array of registrations guarded by one mutex. Registration is rare
 * (module start-up) and snapshots are management-plane reads, so a mutex is
 * the simple and sufficient choice; hot paths never come here.
 */
#include "rustymem/stats.h"
#include "rm_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct rm_stats_handle {
    char name[RM_COMPONENT_NAME_MAX];
    rm_stats_report_fn fn;
    void *ctx;
};

static struct {
    pthread_mutex_t mu;
    rm_stats_handle_t *slots[RM_COMPONENTS_MAX];   /* guarded by mu */
} registry = {.mu = PTHREAD_MUTEX_INITIALIZER};

rm_status_t
rm_stats_register(const char *name, rm_stats_report_fn fn, void *ctx, rm_stats_handle_t **out)
{
    if (!name || !*name || !fn || !out)
        return RM_EINVAL;
    rm_stats_handle_t *h = calloc(1, sizeof *h);
    if (!h)
        return RM_ENOMEM;
    strncpy(h->name, name, sizeof h->name - 1);
    h->fn = fn;
    h->ctx = ctx;

    pthread_mutex_lock(&registry.mu);
    for (size_t i = 0; i < RM_COMPONENTS_MAX; i++) {
        if (!registry.slots[i]) {
            registry.slots[i] = h;
            pthread_mutex_unlock(&registry.mu);
            *out = h;
            return RM_OK;
        }
    }
    pthread_mutex_unlock(&registry.mu);
    free(h);
    return RM_ELIMIT;
}

void
rm_stats_unregister(rm_stats_handle_t *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&registry.mu);
    for (size_t i = 0; i < RM_COMPONENTS_MAX; i++)
        if (registry.slots[i] == h)
            registry.slots[i] = NULL;
    pthread_mutex_unlock(&registry.mu);
    free(h);
}

void
rm_stats_components(rm_component_usage_t *out, size_t cap, size_t *n)
{
    rm_component_usage_t merged[RM_COMPONENTS_MAX];
    size_t count = 0;

    pthread_mutex_lock(&registry.mu);
    for (size_t i = 0; i < RM_COMPONENTS_MAX; i++) {
        rm_stats_handle_t *h = registry.slots[i];
        if (!h)
            continue;
        rm_component_usage_t u;
        memset(&u, 0, sizeof u);
        h->fn(h->ctx, &u);
        size_t j;
        for (j = 0; j < count; j++)
            if (strcmp(merged[j].name, h->name) == 0)
                break;
        if (j == count) {
            memset(&merged[count], 0, sizeof merged[count]);
            memcpy(merged[count].name, h->name, sizeof h->name);
            count++;
        }
        merged[j].used_bytes += u.used_bytes;
        merged[j].held_bytes += u.held_bytes;
        merged[j].reserved_bytes += u.reserved_bytes;
        merged[j].nested |= u.nested != 0;
    }
    pthread_mutex_unlock(&registry.mu);

    for (size_t i = 0; i < count && i < cap; i++)
        out[i] = merged[i];
    if (n)
        *n = count;
}

void
rm_stats_totals(const rm_component_usage_t *comps, size_t n, uint64_t *used_bytes, uint64_t *held_bytes)
{
    uint64_t u = 0, h = 0;
    for (size_t i = 0; i < n; i++)
        if (!comps[i].nested) {
            u += comps[i].used_bytes;
            h += comps[i].held_bytes;
        }
    if (used_bytes)
        *used_bytes = u;
    if (held_bytes)
        *held_bytes = h;
}

double
rm_stats_fragmentation(uint64_t used_bytes, uint64_t held_bytes)
{
    if (held_bytes == 0 || used_bytes >= held_bytes)
        return 0.0;
    return 1.0 - (double)used_bytes / (double)held_bytes;
}

double
rm_stats_component_fragmentation(const rm_component_usage_t *c)
{
    uint64_t unreserved = c->held_bytes > c->reserved_bytes ? c->held_bytes - c->reserved_bytes : 0;
    return rm_stats_fragmentation(c->used_bytes, unreserved);
}

const char *
rm_stats_fragmentation_status(double ratio)
{
    if (ratio < 0.20)
        return "Good";
    if (ratio < 0.35)
        return "Fair";
    return "Poor";
}
