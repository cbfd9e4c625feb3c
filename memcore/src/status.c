/*
 * status.c — text for rm_status_t codes.
 *
 * One table keeps the name and the message of each code together so the two
 * cannot drift apart.
 */
#include "rustymem/status.h"

#include <stddef.h>

static const struct {
    int code;
    const char *name;
    const char *text;
} status_table[] = {
    {RM_OK, "RM_OK", "success"},
    {RM_ENOMEM, "RM_ENOMEM", "out of memory"},
    {RM_EINVAL, "RM_EINVAL", "invalid argument"},
    {RM_ENOENT, "RM_ENOENT", "no such object"},
    {RM_EBUSY, "RM_EBUSY", "object is busy"},
    {RM_ELIMIT, "RM_ELIMIT", "configured limit reached"},
    {RM_EIO, "RM_EIO", "I/O error"},
    {RM_EEXIST, "RM_EEXIST", "object already exists"},
    {RM_ECORRUPT, "RM_ECORRUPT", "data failed an integrity check"},
    {RM_ENOTSUP, "RM_ENOTSUP", "not supported"},
    {RM_ECANCELED, "RM_ECANCELED", "operation cancelled"},
    {RM_ECONFLICT, "RM_ECONFLICT", "write-write conflict"},
    {RM_EREJECTED, "RM_EREJECTED", "rejected by admission control"},
    {RM_ESTATE, "RM_ESTATE", "operation not allowed in the current state"},
    {RM_ETIMEDOUT, "RM_ETIMEDOUT", "deadline exceeded"},
    {RM_ENOSPC, "RM_ENOSPC", "no space left to write dirty pages"},
};

static int
find(int status)
{
    for (size_t i = 0; i < sizeof status_table / sizeof status_table[0]; i++)
        if (status_table[i].code == status)
            return (int)i;
    return -1;
}

const char *
rm_strerror(int status)
{
    int i = find(status);
    return i < 0 ? "unknown error" : status_table[i].text;
}

const char *
rm_err_name(int status)
{
    int i = find(status);
    return i < 0 ? "RM_EUNKNOWN" : status_table[i].name;
}
