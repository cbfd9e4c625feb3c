/*
 * file.h — read a whole small file (PEM certificates, keys, CA bundles) into
 * memory, with an error that names the file. Used by the server's TLS setup
 * and by the client library's.
 */
#ifndef RUSTYMEM_SERVICE_FILE_H
#define RUSTYMEM_SERVICE_FILE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The content of `path` as a malloc'ed, NUL-terminated buffer the caller
 * frees. NULL when it cannot be opened or read (or on OOM), with a one-line
 * reason naming the path in err (errcap bytes). Meant for regular files: the
 * size is taken with fseek/ftell. Thread-safe.
 */
char *rm_file_read_all(const char *path, char *err, size_t errcap);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_SERVICE_FILE_H */
