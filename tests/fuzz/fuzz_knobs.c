/*
 * fuzz_knobs.c — libFuzzer target: knob value parsing and setting by name
 * (memcore knobs.h).
 *
 * Input: byte 0 = flags (bit 0: validate only, bit 1: registry started, so
 * restart-only knobs become pending), byte 1 = a knob index, then text lines
 * "name=value" (split at the first '='; at most FUZZ_MAX_ASSIGN lines).
 *
 * Checked for every line:
 *   - rm_knobs_parse of the value for the knob the index selects (so every
 *     type — int, bytes, double, bool, enum, list — gets every value without
 *     the fuzzer having to spell a name) and for the named knob; when a value
 *     parses, rm_knobs_format's text must parse back to an equal value (the
 *     round trip knobs.h promises), and fit RM_KNOB_TEXT_MAX;
 *   - rm_knobs_workload_from_name / rm_knobs_environment_from_name.
 * Then all lines are set together with rm_knobs_set on a fresh instance: on
 * failure no value may have changed (knobs.h: all or nothing) and the error
 * names an index within the set or SIZE_MAX; on success every running value
 * reads back through rm_knobs_get_text. A contract violation aborts, which
 * libFuzzer reports as a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rustymem/knobs.h"

#define FUZZ_MAX_ASSIGN 32
#define FUZZ_MAX_LINE 512

static void
violated(const char *what, const char *name, const char *value)
{
    fprintf(stderr, "fuzz_knobs: contract violated: %s (knob '%s', value '%s')\n", what, name, value);
    abort();
}

static void
check_parse(const rm_knob_def_t *def, const char *text)
{
    rm_knob_value_t v, back;
    char why[256];
    memset(&v, 0, sizeof v);
    if (rm_knobs_parse(def, text, &v, why, sizeof why) != RM_OK) {
        if (!why[0])
            violated("parse failed without a reason", def->name, text);
        return;
    }
    char buf[RM_KNOB_TEXT_MAX];
    size_t n = rm_knobs_format(def, &v, buf, sizeof buf);
    if (n >= sizeof buf || strlen(buf) != n)
        violated("formatted text does not fit RM_KNOB_TEXT_MAX", def->name, text);
    memset(&back, 0, sizeof back);
    if (rm_knobs_parse(def, buf, &back, why, sizeof why) != RM_OK)
        violated("formatted value does not parse back", def->name, buf);
    if (!rm_knobs_value_equal(def, &v, &back))
        violated("formatted value parses back to a different value", def->name, buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned flags = data[0];
    const rm_knob_def_t *sel = rm_knobs_def((rm_knob_id_t)(data[1] % rm_knobs_count()));
    char *text = malloc(size - 1);
    if (!text)
        return 0;
    memcpy(text, data + 2, size - 2);
    text[size - 2] = '\0';

    rm_knob_assign_t a[FUZZ_MAX_ASSIGN];
    size_t na = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && na < FUZZ_MAX_ASSIGN;
         line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        const char *value = eq ? eq + 1 : line;
        if (eq)
            *eq = '\0';
        check_parse(sel, value);
        rm_knob_id_t id;
        if (eq && rm_knobs_lookup(line, &id) == RM_OK) {
            if (strcmp(rm_knobs_def(id)->name, line) != 0)
                violated("lookup found a knob of another name", line, value);
            check_parse(rm_knobs_def(id), value);
        }
        rm_knobs_workload_t w;
        rm_knobs_environment_t e;
        if (rm_knobs_workload_from_name(value, &w) == RM_OK && !rm_knobs_workload_name(w))
            violated("workload parsed to an unnamed value", "", value);
        if (rm_knobs_environment_from_name(value, &e) == RM_OK && !rm_knobs_environment_name(e))
            violated("environment parsed to an unnamed value", "", value);
        if (eq)
            a[na++] = (rm_knob_assign_t){line, value};
    }

    rm_knobs_t *k;
    if (na == 0 || rm_knobs_create(&k) != RM_OK) {
        free(text);
        return 0;
    }
    if (flags & 2)
        rm_knobs_mark_started(k);
    char *before = NULL, *after = NULL;
    if (rm_knobs_format_ini(k, RM_KNOBS_INI_ALL, &before, NULL) != RM_OK)
        goto out;
    rm_knob_error_t err;
    rm_status_t st = rm_knobs_set(k, a, na, (int)(flags & 1), &err);
    if (rm_knobs_format_ini(k, RM_KNOBS_INI_ALL, &after, NULL) != RM_OK)
        goto out;
    if (st != RM_OK) {
        if (strcmp(before, after) != 0)
            violated("a failed set changed values", err.knob, err.message);
        if (err.status != st || !err.message[0] || (err.index >= na && err.index != SIZE_MAX))
            violated("a failed set's error is incomplete", err.knob, err.message);
    } else {
        if ((flags & 1) && strcmp(before, after) != 0)
            violated("validate_only changed values", "", "");
        for (size_t i = 0; i < na; i++) {
            char v[RM_KNOB_TEXT_MAX], c[RM_KNOB_TEXT_MAX];
            if (rm_knobs_get_text(k, a[i].name, v, sizeof v, c, sizeof c, NULL) != RM_OK)
                violated("a knob just set cannot be read", a[i].name, a[i].value);
        }
    }
out:
    free(before);
    free(after);
    rm_knobs_destroy(k);
    free(text);
    return 0;
}
