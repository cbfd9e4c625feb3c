/*
 * test_client_alone_codes.c — memcore's status codes, in a translation unit
 * of their own: memcore's status.h and service/common/rm_base.h share an
 * include guard, so one file can see only one of them. Header only: nothing
 * of librustymem is linked.
 */
#include <stddef.h>

#include "rustymem/status.h"

#ifdef RUSTYMEM_SERVICE_RM_BASE_H
#error "this file must see memcore's own status.h, not rm_base.h"
#endif

/* In enum order: test_client_alone.c lists rm_base.h's codes in the same order. */
const int rm_test_memcore_codes[] = {RM_OK,        RM_ENOMEM,    RM_EINVAL,   RM_ENOENT,  RM_EBUSY,
                                     RM_ELIMIT,    RM_EIO,       RM_EEXIST,   RM_ECORRUPT, RM_ENOTSUP,
                                     RM_ECANCELED, RM_ECONFLICT, RM_EREJECTED, RM_ESTATE, RM_ETIMEDOUT,
                                     RM_ENOSPC};
const size_t rm_test_memcore_n_codes = sizeof rm_test_memcore_codes / sizeof rm_test_memcore_codes[0];
