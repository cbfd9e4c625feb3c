/*
 * fleet_policy.c — the controller's pure decisions: level from a usage ratio,
 * selector matching, and when to trigger a node's response early.
 *
 * Design note: these functions take plain values and touch no state, so the
 * unit tests cover every branch without agents. The early-response rule
 * follows the agent's own forecaster: a forecast only counts once its
 * confidence reaches pressure.min_confidence (0.7 by default), and the
 * current level always counts (confidence 1).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fleet.h"

rm_fleet_thresholds_t
rm_fleet_default_thresholds(void)
{
    return (rm_fleet_thresholds_t){.warning = 0.70, .high = 0.80, .critical = 0.90, .emergency = 0.95};
}

int
rm_fleet_level_from_ratio(double r, const rm_fleet_thresholds_t *t)
{
    if (r >= t->emergency)
        return 5;
    if (r >= t->critical)
        return 4;
    if (r >= t->high)
        return 3;
    if (r >= t->warning)
        return 2;
    return 1;
}

static const char *const level_names[] = {"UNKNOWN", "MONITOR", "GENTLE", "AGGRESSIVE", "EMERGENCY",
                                          "OOM_PREVENTION"};

const char *
rm_fleet_level_name(int level)
{
    return level >= 0 && level <= 5 ? level_names[level] : "UNKNOWN";
}

int
rm_fleet_level_parse(const char *s)
{
    if (!s || !*s)
        return -1;
    if (strncasecmp(s, "PRESSURE_LEVEL_", 15) == 0)
        s += 15;
    if (isdigit((unsigned char)s[0]) && s[1] == '\0')
        return s[0] - '0' <= 5 ? s[0] - '0' : -1;
    for (int i = 1; i <= 5; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    if (strcasecmp(s, "oom-prevention") == 0 || strcasecmp(s, "oom") == 0)
        return 5;
    return -1;
}

int
rm_fleet_selector_match(const char *const *names, size_t n_names, const rm_fleet_label_t *want, size_t n_want,
                        const char *name, const char *agent_name, const rm_fleet_label_t *labels,
                        size_t n_labels)
{
    if (n_names) {
        size_t i;
        for (i = 0; i < n_names; i++)
            if (strcmp(names[i], name) == 0 || (agent_name && *agent_name && strcmp(names[i], agent_name) == 0))
                break;
        if (i == n_names)
            return 0;
    }
    for (size_t i = 0; i < n_want; i++) {
        size_t j;
        for (j = 0; j < n_labels; j++)
            if (strcmp(want[i].key, labels[j].key) == 0 && strcmp(want[i].value, labels[j].value) == 0)
                break;
        if (j == n_labels)
            return 0;
    }
    return 1;
}

int
rm_fleet_policy_decide(const rm_fleet_pressure_t *p, int trigger_level, double min_confidence,
                       double ttc_seconds, char *why, size_t whycap)
{
    int act = 0;
    char reason[256] = "";
    if (p->level >= trigger_level) {
        act = p->level;
        snprintf(reason, sizeof reason, "current level %s >= %s", rm_fleet_level_name(p->level),
                 rm_fleet_level_name(trigger_level));
    }
    int n = p->n_horizons < 8 ? p->n_horizons : 8;
    for (int i = 0; i < n; i++) {
        if (p->horizons[i].confidence < min_confidence || p->horizons[i].predicted_level < trigger_level)
            continue;
        if (p->horizons[i].predicted_level > act) {
            act = p->horizons[i].predicted_level;
            snprintf(reason, sizeof reason, "forecast %s in %.0f s (confidence %.2f >= %.2f)",
                     rm_fleet_level_name(act), p->horizons[i].horizon_seconds, p->horizons[i].confidence,
                     min_confidence);
        }
    }
    if (p->has_ttc && p->ttc_seconds <= ttc_seconds && p->ttc_confidence >= min_confidence) {
        int lvl = trigger_level > 4 ? trigger_level : 4;
        if (lvl > act) {
            act = lvl;
            snprintf(reason, sizeof reason, "critical in %.1f s <= %.1f s (confidence %.2f)", p->ttc_seconds,
                     ttc_seconds, p->ttc_confidence);
        }
    }
    if (act < 2)
        act = act ? 2 : 0;
    if (act > 5)
        act = 5;
    if (why && whycap)
        snprintf(why, whycap, "%s", act ? reason : "below the trigger");
    return act;
}
