/*
 * cli.h — what rustymemctl's parts share: the command table, its argument
 * specs, the global options and the small value parsers (durations).
 *
 * Design (docs/adr/0024-cli-command-table.md): every command is one row of
 * one table. A row names the RPC, its request and response descriptors and
 * its arguments; an argument names the request field it fills ("interval_ms",
 * "selector.labels"), so one parser fills every request through the protobuf
 * descriptor, and --help, docs/cli.md and the shell completions are printed
 * from the same rows.
 */
#ifndef RUSTYMEM_CLI_CLI_H
#define RUSTYMEM_CLI_CLI_H

#include <getopt.h>
#include <protobuf-c/protobuf-c.h>
#include <stdio.h>

#include "client.h"
#include "render.h"

#define EXIT_RPC 1
#define EXIT_USAGE 2
/* a knob change is committed but not on disk (writing it failed or had not
 * finished by the deadline): it is live now, and a restart or crash loses it */
#define EXIT_NOT_PERSISTED 3

typedef enum arg_kind {
    A_BOOL,     /* --flag: sets a bool field (or *local) */
    A_UINT,     /* whole number: uint32/uint64 field or *local */
    A_DOUBLE,   /* number: double field */
    A_DURATION, /* duration grammar (rm_parse_duration); the field's unit is its name's suffix: _ms or _seconds */
    A_STRING,   /* string field */
    A_STRINGS,  /* repeated string field: a flag value is split at commas, a positional is one element */
    A_KEYVAL,   /* KEY=VALUE: an entry of a map<string,string> or of a repeated {name, value} message */
    A_ENUM,     /* enum field; the accepted words come from the enum descriptor (gentle, oom_prevention …) */
    A_ONOFF,    /* on|off into a bool field */
    A_CHOICE,   /* one of `choices` into *local_str (client-side) */
} arg_kind_t;

#define ARG_REQUIRED 0x1u /* a flag that must be given, or a positional that must be there */
#define ARG_KNOB 0x2u     /* values are knob names: completion asks the agent */

typedef struct arg_spec {
    const char *name;    /* "--interval" (a flag) or "LEVEL" (a positional, in order) */
    arg_kind_t kind;
    const char *field;   /* request field, dotted for nested messages; NULL: client-side */
    const char *help;
    unsigned flags;      /* ARG_* */
    const char *bare_unit; /* A_DURATION: the unit of a bare number ("ms", "s"); NULL: a unit is required */
    int enum_min;        /* A_ENUM: lowest accepted value (0: every value but 0) */
    int *local;          /* client-side target of A_BOOL / A_UINT */
    const char **local_str; /* client-side target of A_CHOICE */
    const char *const *choices; /* A_CHOICE values, NULL-terminated */
    double *local_sec;   /* client-side target of A_DURATION (seconds) */
} arg_spec_t;

#define MAX_ARGS 10

typedef struct global {
    rm_client_opts_t client;
    rm_client_creds_t creds; /* --token, --token-file, --tls-* (client.h) */
    int fleet;               /* --fleet given: the target is a rustymem-fleet controller */
    rm_render_opts_t render; /* -o, --no-headers */
} global_t;

typedef struct command command_t;
/* A command that runs in the client (help, completion, top …); returns the exit code. */
typedef int (*local_fn)(const command_t *cmd, global_t *g, int npos, char **pos);

struct command {
    const char *words;   /* "stats memory" */
    const char *path;    /* RPC, or NULL for a local command */
    const ProtobufCMessageDescriptor *request;
    const ProtobufCMessageDescriptor *response;
    const char *seed;    /* seed function or REST path it replaces, or "" */
    const char *summary;
    arg_spec_t args[MAX_ARGS];
    int stream;          /* server-streaming RPC: print every message */
    local_fn local;      /* non-NULL: runs in the client */
    int hidden;          /* not listed by --help and docs (__complete) */
};

extern const command_t rm_commands[];
extern const size_t rm_n_commands;

/* One readable line on stderr, "rustymemctl: …"; returns EXIT_USAGE. */
int rm_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Duration grammar, one for every duration flag: a sequence of NUMBER UNIT
 * with UNIT one of ms, s, m, h ("500ms", "30s", "5m", "1m30s", "1.5s"), or a
 * bare NUMBER read in `bare_unit` (the flag's historical unit; NULL refuses a
 * bare number). Returns 0 with *seconds, or -1 (negative, empty, unknown
 * unit, trailing garbage).
 */
int rm_parse_duration(const char *s, const char *bare_unit, double *seconds);
/* The grammar in one phrase for messages and help, naming the bare unit. */
const char *rm_duration_expect(const char *bare_unit);

/* Whole number (no sign), 0 or -1. */
int rm_parse_uint(const char *s, unsigned long long *out);

/* The word users type for an enum value: "PRESSURE_LEVEL_GENTLE" → "gentle". */
void rm_enum_word(const ProtobufCEnumDescriptor *e, const ProtobufCEnumValue *v, char *buf, size_t cap);

/* Open a client on g (credentials applied); 0, or an exit code after printing the error. */
int rm_open_client(global_t *g, rm_client_t **out);
const char *rm_hint_for(grpc_status_code code, const global_t *g);

/* Commands that run in the client. */
int rm_cmd_completion(const command_t *cmd, global_t *g, int npos, char **pos);
int rm_cmd_top(const command_t *cmd, global_t *g, int npos, char **pos);
/* `rustymemctl __complete SHELL WORD… CURRENT`: candidates, one a line (called before option parsing). */
int rm_complete_main(int argc, char **argv);

/* top's client-side options (set by the parser from its arg specs). */
extern int rm_top_count;
extern const char *rm_top_sort;
extern double rm_top_interval_s;
extern const char *const rm_top_sort_keys[];

/* Parser pieces shared with completion. */
extern const struct option global_opts[];
extern const size_t rm_n_global_opts;
void rm_collect_cmd_flags(void);
/* 1 when the option `name` (len bytes, no dashes) takes a value; *known says whether it exists. */
int rm_option_takes_value(const char *name, size_t len, int *known);
/* The command argv starts with (longest match); *consumed = its number of words. NULL: none. */
const command_t *rm_find_command(int argc, char **argv, int *consumed);

/* The accepted words of an A_ENUM argument (descriptor of the request field), or NULL. */
const ProtobufCEnumDescriptor *rm_arg_enum(const command_t *cmd, const arg_spec_t *a);

#endif /* RUSTYMEM_CLI_CLI_H */
