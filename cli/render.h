/*
 * render.h — print protobuf responses for people (tables) or programs (JSON).
 */
#ifndef RUSTYMEM_CLI_RENDER_H
#define RUSTYMEM_CLI_RENDER_H

#include <protobuf-c/protobuf-c.h>
#include <stdio.h>

/*
 * Table form, driven by the descriptor: scalar fields as aligned "name  value"
 * lines (nested messages flattened as parent.field), *_bytes values also in
 * KiB/MiB/GiB, *_ratio values also as percentages, and every repeated message
 * field as a table with one column per scalar field.
 */
void rm_render_table(FILE *f, const ProtobufCMessage *msg);

/* JSON form: one object, pretty-printed, that jq reads. Returns 0 or -1 (OOM). */
int rm_render_json(FILE *f, const ProtobufCMessage *msg);

#endif /* RUSTYMEM_CLI_RENDER_H */
