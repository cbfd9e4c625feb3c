/*
 * config.h — rustymemd's configuration: INI file, persisted runtime changes,
 * environment and flags, loaded into a knobs instance; and the atomic file
 * writer that persists runtime knob changes.
 *
 * Design note. All layers are read first, each value checked where it was
 * read (so an error names the file and line, the environment variable or the
 * flag), then merged per knob by precedence
 *
 *     flags > environment > persisted runtime changes > config file > defaults
 *
 * and handed to the registry as ONE set (rm_knobs_set_ex with
 * RM_KNOBS_NO_PERSIST): the cross-knob constraints judge the final state, not
 * each layer, and a failed load changes nothing. A persisted value that no
 * longer fits the file (the operator edited the file after a runtime change)
 * is dropped and reported rather than refusing to start: the agent always
 * starts with a consistent set unless the file, environment or flags conflict
 * among themselves. The persisted file plays the
 * part of PostgreSQL's postgresql.auto.conf: rustymemd writes it (SetKnobs,
 * ApplyProfile) and reads it at start after the operator's config file.
 *
 * After a successful load (start or reload) the registry also knows where
 * each value came from (rm_knobs_set_base, pg_settings' source/reset_val):
 * the reset value of a knob is its highest file / environment / flag value
 * (default when none names it) — never the persisted runtime value, which is
 * what `knobs reset` forgets. Sources read "path:line", "env RUSTYMEM_X",
 * "flag", "runtime (persisted)" or "default" (docs/adr/0030).
 */
#ifndef RUSTYMEM_CONFIG_H
#define RUSTYMEM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "rustymem/knobs.h"
#include "rustymem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Environment variables: RUSTYMEM_<SECTION>_<KEY>, e.g.
 * RUSTYMEM_PRESSURE_WARNING_THRESHOLD for pressure.warning_threshold. */
#define RM_CONFIG_ENV_PREFIX "RUSTYMEM_"

typedef struct rm_config_sources {
    const char *config_path;        /* operator's INI file; NULL = none; must exist if given */
    const char *persisted_path;     /* runtime changes (data dir); NULL = none; may be missing */
    char *const *envp;              /* NULL-terminated "NAME=value" list; NULL = no environment
                                       (pass `environ` for the process environment) */
    const rm_knob_assign_t *flags;  /* --set name=value, highest precedence; may be NULL */
    size_t n_flags;
    int reload;                     /* 1: a running agent re-reads its layers (SIGHUP): a knob in no
                                       layer goes back to its default (a line deleted from the file
                                       reverts, as in PostgreSQL), restart-only changes become
                                       pending, and the persisted record is left as it is
                                       (except for dropped values, below) */
    /*
     * Called (may be NULL) once for each persisted runtime value that was
     * dropped because, with the other layers as they are now, it violates a
     * cross-knob constraint: `knob` and its persisted `value`, `now_from` the
     * origin of the value used instead ("path:line" or "default"), `reason`
     * the registry's message for the conflict. At start the persisted file is
     * rewritten without it; on reload it is forgotten from the persisted
     * record (written out by the next persisting set). Called only when the
     * load succeeds. A failure to rewrite the file is reported once with knob,
     * value and now_from NULL and the reason.
     */
    void (*dropped)(void *ctx, const char *knob, const char *value, const char *now_from,
                    const char *reason);
    void *dropped_ctx;
} rm_config_sources_t;

/*
 * Load every layer of src into k (which should be freshly created, still
 * booting). Unknown keys, keys outside a [section], a key given twice in one
 * file, unparsable or out-of-range values, syntax errors and violated
 * cross-knob constraints are errors; env variables that start with
 * RUSTYMEM_<SECTION>_ of a knob section but name no knob are errors too, other
 * RUSTYMEM_* variables (RUSTYMEM_ADDR, …) are ignored.
 * On failure err (err_len bytes, may be NULL) receives one line naming the
 * origin and the knob, e.g.
 *   "rustymem.ini:12: pressure.warning_threshold = 1.7: out of range [0.05, 0.99]"
 * and no knob value has changed. Returns RM_OK, RM_EINVAL, RM_ENOENT (unknown
 * knob), RM_EIO (a file cannot be read) or RM_ENOMEM.
 * Not thread-safe with respect to other writers of k during the call, except
 * with src->reload, which only makes one rm_knobs_set_ex (thread-safe).
 */
rm_status_t rm_config_load(rm_knobs_t *k, const rm_config_sources_t *src, char *err,
                           size_t err_len);

/*
 * Write text (len bytes) to path atomically: a temporary file in the same
 * directory, write, fsync, rename over path, fsync the directory. On failure
 * (ENOSPC, EFBIG, EACCES, …) returns RM_EIO (RM_ENOMEM for memory) with the
 * reason in why (may be NULL), the temporary file is removed and path keeps
 * its old content. A failure to fsync the directory after the rename is not
 * reported (the new file is complete and visible; only its survival across a
 * power loss is uncertain). Thread-safe for distinct paths.
 */
rm_status_t rm_config_write_atomic(const char *path, const char *text, size_t len, char *why,
                                   size_t why_len);

/*
 * A persister for rm_knobs_set_persister: ctx is the path (const char *,
 * which must outlive the registration). Writes with rm_config_write_atomic.
 *   rm_knobs_set_persister(k, rm_config_persist_fn, (void *)path);
 */
rm_status_t rm_config_persist_fn(void *ctx, const char *text, size_t len, char *why,
                                 size_t why_len);

/*
 * The knob writer (docs/adr/0031): one thread that persists the knobs so that
 * SetKnobs never waits on a disk. rm_config_writer_start installs it as k's
 * asynchronous persister: under the registry lock it only copies the newest
 * whole persisted text (replacing a copy not yet written: group commit); the
 * thread writes the newest text with rm_config_write_atomic and reports the
 * generation with rm_knobs_persist_done. Only one writer, always the newest
 * whole state, so two commits are never reordered on disk; a crash loses at
 * most the generations not yet written (rm_knobs_persist_state says which).
 *
 * After a failed write the writer is "failed": the next persisting set writes
 * its text itself, synchronously (as rm_config_persist_fn does), so that a set
 * the disk still refuses fails and changes nothing; a success returns it to
 * the thread. path must outlive the writer. Returns RM_OK, RM_ENOMEM or
 * RM_EIO (no thread); *out is NULL on failure.
 */
typedef struct rm_config_writer rm_config_writer_t;
rm_status_t rm_config_writer_start(rm_knobs_t *k, const char *path, rm_config_writer_t **out);

/* Remove the persister from k, write the newest text not yet written (the
 * "hold" test hook no longer applies), join the thread, free w. NULL is a
 * no-op. Not concurrently with a set on k that would persist (removing the
 * persister first makes later sets not persisted). */
void rm_config_writer_stop(rm_config_writer_t *w);

/* Test hook: while held, the thread takes no text (a stalled disk); sets still
 * return at once, their generation not durable. Thread-safe. */
void rm_config_writer_hold(rm_config_writer_t *w, bool hold);

/* Writes completed by the thread (successes and failures), for tests. */
uint64_t rm_config_writer_writes(rm_config_writer_t *w);

/*
 * Split "name=value" in place (the '=' becomes NUL; spaces around both parts
 * are trimmed) into *out, whose pointers point into s. Returns RM_OK or
 * RM_EINVAL (no '=' or empty name; *out untouched).
 */
rm_status_t rm_config_split_assignment(char *s, rm_knob_assign_t *out);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_CONFIG_H */
