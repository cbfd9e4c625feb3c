/*
 * fleet_discovery.c — where the agents are: a static list, an agents file,
 * or DNS.
 *
 * Design note: every source produces the same thing — an array of
 * rm_fleet_target_t — and the controller reconciles its node set with it
 * (rm_fleet_set_targets), so adding a source never touches the pollers. DNS
 * follows the Kubernetes headless-Service pattern: the name resolves to one
 * A/AAAA record per ready pod, so resolving it on every round is the
 * discovery (no API server access needed). A name that resolves to nothing
 * is an empty fleet, not an error, once the controller runs.
 */
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include "address.h"
#include "fleet.h"
#include "fleet_internal.h"

void
rm__fleet_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int
rm__fleet_split_address(const char *addr, char *hostport, size_t hpcap, char *authority, size_t acap)
{
    const char *slash = strncmp(addr, "unix:", 5) == 0 ? NULL : strchr(addr, '/');
    size_t hl = slash ? (size_t)(slash - addr) : strlen(addr);
    if (hl >= hpcap)
        return 0;
    memcpy(hostport, addr, hl);
    hostport[hl] = '\0';
    authority[0] = '\0';
    if (!rm_address_check(hostport, 0, NULL, 0))
        return 0;
    if (!slash)
        return 1;
    const char *a = slash + 1;
    size_t al = strlen(a);
    if (al == 0 || al >= acap)
        return 0;
    for (size_t i = 0; i < al; i++)
        if (!isalnum((unsigned char)a[i]) && !strchr(".-_:", a[i]))
            return 0;
    memcpy(authority, a, al + 1);
    return 1;
}

static int
addr_ok(const char *addr)
{
    char hp[RM_FLEET_ADDR_MAX], au[RM_FLEET_NAME_MAX];
    return rm__fleet_split_address(addr, hp, sizeof hp, au, sizeof au);
}

static int
find_name(const rm_fleet_target_t *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return 1;
    return 0;
}

/*
 * Append target `name` at `addr` to a growing array (*t, when t is not
 * NULL: its slot). Past
 * RM_FLEET_MAX_TARGETS: RM_EINVAL, "ORIGIN[:LINE]: more than N agents" in err
 * (no line when lineno is 0); out of memory: RM_ENOMEM.
 */
static rm_status_t
add_target(rm_fleet_target_t **arr, size_t *n, size_t *cap, const char *name, const char *addr, const char *origin,
           unsigned lineno, rm_fleet_target_t **t, char *err, size_t errcap)
{
    if (*n == RM_FLEET_MAX_TARGETS) {
        if (lineno)
            snprintf(err, errcap, "%s:%u: more than %d agents", origin, lineno, RM_FLEET_MAX_TARGETS);
        else
            snprintf(err, errcap, "%s: more than %d agents", origin, RM_FLEET_MAX_TARGETS);
        return RM_EINVAL;
    }
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        rm_fleet_target_t *p = realloc(*arr, nc * sizeof *p);
        if (!p) {
            snprintf(err, errcap, "out of memory");
            return RM_ENOMEM;
        }
        *arr = p;
        *cap = nc;
    }
    rm_fleet_target_t *slot = &(*arr)[(*n)++];
    memset(slot, 0, sizeof *slot);
    rm__fleet_copy(slot->name, sizeof slot->name, name);
    rm__fleet_copy(slot->address, sizeof slot->address, addr);
    if (t)
        *t = slot;
    return RM_OK;
}

rm_status_t
rm_fleet_parse_list(const char *csv, rm_fleet_target_t **out, size_t *n_out, char *err, size_t errcap)
{
    rm_fleet_target_t *arr = NULL;
    size_t n = 0, cap = 0;
    rm_status_t st = RM_EINVAL;
    *out = NULL;
    *n_out = 0;
    const char *p = csv ? csv : "";
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && isspace((unsigned char)*p)) {
            p++;
            len--;
        }
        while (len && isspace((unsigned char)p[len - 1]))
            len--;
        char item[RM_FLEET_ADDR_MAX];
        if (len == 0 || len >= sizeof item) {
            snprintf(err, errcap, "--agents item %zu: %s", n + 1,
                     len ? "address too long" : "empty (expected HOST:PORT,HOST:PORT)");
            goto fail;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (!addr_ok(item)) {
            snprintf(err, errcap, "--agents item '%s': expected HOST:PORT[/AUTHORITY] with a port in 1..65535", item);
            goto fail;
        }
        if (find_name(arr, n, item)) {
            snprintf(err, errcap, "--agents item '%s' listed twice", item);
            goto fail;
        }
        rm_status_t ast = add_target(&arr, &n, &cap, item, item, "--agents", 0, NULL, err, errcap);
        if (ast != RM_OK) {
            st = ast;
            goto fail;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    *out = arr;
    *n_out = n;
    return RM_OK;
fail:
    free(arr);
    return st;
}

rm_status_t
rm_fleet_parse_text(const char *text, const char *origin, rm_fleet_target_t **out, size_t *n_out, char *err,
                    size_t errcap)
{
    rm_fleet_target_t *arr = NULL;
    size_t n = 0, cap = 0;
    rm_status_t st = RM_EINVAL;
    unsigned lineno = 0;
    *out = NULL;
    *n_out = 0;
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[2048];
        lineno++;
        if (len >= sizeof line) {
            snprintf(err, errcap, "%s:%u: line too long", origin, lineno);
            goto fail;
        }
        memcpy(line, p, len);
        line[len] = '\0';
        p = eol ? eol + 1 : p + len;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *save = NULL;
        char *name = strtok_r(line, " \t\r", &save);
        if (!name)
            continue;
        char *addr = strtok_r(NULL, " \t\r", &save);
        if (!addr && addr_ok(name)) {
            addr = name; /* a bare "HOST:PORT" line: the address is the node's name, as with --agents */
        } else if (!addr) {
            snprintf(err, errcap,
                     "%s:%u: '%s' is neither HOST:PORT nor NAME HOST:PORT [key=value ...] (a port in 1..65535)",
                     origin, lineno, name);
            goto fail;
        }
        if (strlen(name) >= RM_FLEET_NAME_MAX || strlen(addr) >= RM_FLEET_ADDR_MAX) {
            snprintf(err, errcap, "%s:%u: name or address too long", origin, lineno);
            goto fail;
        }
        if (!addr_ok(addr)) {
            snprintf(err, errcap, "%s:%u: address '%s': expected HOST:PORT[/AUTHORITY] with a port in 1..65535", origin,
                     lineno, addr);
            goto fail;
        }
        if (find_name(arr, n, name)) {
            snprintf(err, errcap, "%s:%u: node name '%s' used twice", origin, lineno, name);
            goto fail;
        }
        rm_fleet_target_t *t;
        rm_status_t ast = add_target(&arr, &n, &cap, name, addr, origin, lineno, &t, err, errcap);
        if (ast != RM_OK) {
            st = ast;
            goto fail;
        }
        for (char *kv; (kv = strtok_r(NULL, " \t\r", &save));) {
            char *eq = strchr(kv, '=');
            if (!eq || eq == kv || (size_t)(eq - kv) >= RM_FLEET_LABEL_KEY_MAX ||
                strlen(eq + 1) >= RM_FLEET_LABEL_VALUE_MAX) {
                snprintf(err, errcap, "%s:%u: label '%s': expected key=value (key < %d, value < %d bytes)",
                         origin, lineno, kv, RM_FLEET_LABEL_KEY_MAX, RM_FLEET_LABEL_VALUE_MAX);
                goto fail;
            }
            if (t->n_labels == RM_FLEET_MAX_LABELS) {
                snprintf(err, errcap, "%s:%u: more than %d labels", origin, lineno, RM_FLEET_MAX_LABELS);
                goto fail;
            }
            *eq = '\0';
            rm_fleet_label_t *l = &t->labels[t->n_labels++];
            rm__fleet_copy(l->key, sizeof l->key, kv);
            rm__fleet_copy(l->value, sizeof l->value, eq + 1);
        }
    }
    *out = arr;
    *n_out = n;
    return RM_OK;
fail:
    free(arr);
    return st;
}

rm_status_t
rm_fleet_read_file(const char *path, rm_fleet_target_t **out, size_t *n, char *err, size_t errcap)
{
    *out = NULL;
    *n = 0;
    FILE *fp = fopen(path, "re");
    if (!fp) {
        snprintf(err, errcap, "cannot read agents file %s: %s", path, strerror(errno));
        return RM_EIO;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    rm_status_t st = RM_OK;
    for (;;) {
        if (cap - len < 4096) {
            if (cap >= (64u << 20)) {
                snprintf(err, errcap, "agents file %s is larger than 64 MiB", path);
                st = RM_EINVAL;
                goto done;
            }
            char *p = realloc(text, cap ? cap * 2 : 8192);
            if (!p) {
                snprintf(err, errcap, "out of memory");
                st = RM_ENOMEM;
                goto done;
            }
            text = p;
            cap = cap ? cap * 2 : 8192;
        }
        size_t got = fread(text + len, 1, cap - len - 1, fp);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(fp)) {
        snprintf(err, errcap, "cannot read agents file %s: %s", path, strerror(errno));
        st = RM_EIO;
        goto done;
    }
    text[len] = '\0';
    st = rm_fleet_parse_text(text, path, out, n, err, errcap);
done:
    free(text);
    fclose(fp);
    return st;
}

static int
cmp_target(const void *a, const void *b)
{
    return strcmp(((const rm_fleet_target_t *)a)->name, ((const rm_fleet_target_t *)b)->name);
}

rm_status_t
rm_fleet_resolve_dns(const char *spec, rm_fleet_target_t **out, size_t *n_out, char *err, size_t errcap)
{
    *out = NULL;
    *n_out = 0;
    char host[RM_FLEET_ADDR_MAX];
    const char *colon = spec ? strrchr(spec, ':') : NULL;
    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof host || !rm_address_check(spec, 0, NULL, 0)) {
        snprintf(err, errcap, "--agents-dns '%s': expected NAME:PORT with a port in 1..65535", spec ? spec : "");
        return RM_EINVAL;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    if (host[0] == '[') { /* [v6]:port */
        size_t hl = strlen(host);
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0) {
        snprintf(err, errcap, "--agents-dns %s: %s", spec, gai_strerror(rc));
        return RM_ENOENT;
    }
    rm_fleet_target_t *arr = NULL;
    size_t n = 0, cap = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        char ip[INET6_ADDRSTRLEN], name[RM_FLEET_ADDR_MAX];
        if (ai->ai_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, ip, sizeof ip);
            snprintf(name, sizeof name, "%s:%s", ip, colon + 1);
        } else if (ai->ai_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, ip, sizeof ip);
            snprintf(name, sizeof name, "[%s]:%s", ip, colon + 1);
        } else {
            continue;
        }
        if (find_name(arr, n, name) || n == RM_FLEET_MAX_TARGETS)
            continue;
        rm_status_t st = add_target(&arr, &n, &cap, name, name, "--agents-dns", 0, NULL, err, errcap);
        if (st != RM_OK) {
            freeaddrinfo(res);
            free(arr);
            return st;
        }
    }
    freeaddrinfo(res);
    if (n > 1)
        qsort(arr, n, sizeof *arr, cmp_target);
    *out = arr;
    *n_out = n;
    return RM_OK;
}
