/*
 * render.h — print protobuf responses for people (tables) or programs (JSON, YAML).
 */
#ifndef RUSTYMEM_CLI_RENDER_H
#define RUSTYMEM_CLI_RENDER_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdio.h>

typedef enum rm_out { RM_OUT_TABLE, RM_OUT_WIDE, RM_OUT_JSON, RM_OUT_YAML } rm_out_t;

typedef struct rm_render_opts {
    rm_out_t mode;
    int no_headers; /* tables without their header row and title */
    int width;      /* RM_OUT_TABLE: columns to fit (0 = 100); RM_OUT_WIDE ignores it */
} rm_render_opts_t;

/*
 * Print msg in the form o->mode says.
 *  table: scalar fields as aligned "name  value" lines (nested messages
 *         flattened as parent.field; *_bytes as "N (1.2 MiB)", *_ratio as
 *         "0.25 (25.0%)", *_unix_ms as a date and an age, *_seconds as a
 *         duration, enum values as words: "gentle"), then every repeated
 *         message field as a table with human units that fits o->width
 *         columns (the columns that do not fit are named at the end);
 *  wide:  the same with every column and exact figures;
 *  json:  one pretty-printed object (jq reads it; the proto3 JSON mapping,
 *         docs/api.md);
 *  yaml:  the same document as YAML.
 * Returns 0, or -1 when memory ran out.
 */
int rm_render(FILE *f, const ProtobufCMessage *msg, const rm_render_opts_t *o);

/* One document of a stream: JSON as one compact line, YAML as a "---" document, tables as rm_render. */
int rm_render_stream_item(FILE *f, const ProtobufCMessage *msg, const rm_render_opts_t *o);

/*
 * Draw text on a terminal in place: from the home position, every line cut to
 * the width, at most the height (the last row then says how many lines are
 * left out), no newline after the last row — nothing scrolls.
 */
void rm_draw_in_place(FILE *f, const char *text);

/* YAML form of a JSON value (block style; strings quoted when YAML would read them otherwise). */
void rm_yaml_dump(FILE *f, json_t *j);

/* Human forms shared with `top`: "1.5 MiB", "90ms"/"1m30s"/"2h5m", "3m ago". */
void rm_fmt_bytes(char *buf, size_t cap, double v);
void rm_fmt_signed_bytes(char *buf, size_t cap, double v); /* "+1.5 MiB", "-12 KiB", "0" */
void rm_fmt_duration(char *buf, size_t cap, double seconds);
void rm_fmt_age(char *buf, size_t cap, long long unix_ms, long long now_ms);
/* A number without exponent notation: 0.000024, 12.5, 1234567. */
void rm_fmt_number(char *buf, size_t cap, double v);
/* "PRESSURE_LEVEL_GENTLE" → "gentle" (any enum value name of a descriptor-known enum). */
void rm_fmt_enum(char *buf, size_t cap, const ProtobufCEnumDescriptor *e, int value);

#endif /* RUSTYMEM_CLI_RENDER_H */
