/*
 * faultsim_assert.h — cmocka assertions that disarm the malloc fault shim
 * before reporting. Include after <cmocka.h> in a test that includes
 * faultsim_malloc.c.
 *
 * cmocka records failure messages in malloc'ed memory: under a persistent
 * fault the message would be swallowed and the test would fail silently.
 */
#ifndef RUSTYMEM_FAULTSIM_ASSERT_H
#define RUSTYMEM_FAULTSIM_ASSERT_H

#include "faultsim_malloc.h"

#undef assert_true
#define assert_true(c)                                                                        \
    do {                                                                                       \
        if (!(c)) {                                                                            \
            rm_faultsim_malloc_disarm();                                                       \
            _assert_true(0, #c, __FILE__, __LINE__);                                           \
        }                                                                                      \
    } while (0)
#undef assert_false
#define assert_false(c) assert_true(!(c))
#undef assert_non_null
#define assert_non_null(p) assert_true((p) != NULL)
#undef assert_int_equal
#define assert_int_equal(a, b)                                                                 \
    do {                                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                                    \
        if (a_ != b_) {                                                                        \
            rm_faultsim_malloc_disarm();                                                       \
            _assert_int_equal(a_, b_, __FILE__, __LINE__);                                     \
        }                                                                                      \
    } while (0)
#undef fail_msg
#define fail_msg(...)                                                                          \
    do {                                                                                       \
        rm_faultsim_malloc_disarm();                                                           \
        print_error("ERROR: " __VA_ARGS__);                                                    \
        _fail(__FILE__, __LINE__);                                                             \
    } while (0)

#undef assert_null
#define assert_null(p) assert_true((p) == NULL)
#undef assert_ptr_equal
#define assert_ptr_equal(a, b) assert_true((const void *)(a) == (const void *)(b))

#endif /* RUSTYMEM_FAULTSIM_ASSERT_H */
