/*
 * rm_base.h — rustymem's status codes for the parts above memcore that do not
 * link it: the client library and every client (rustymemctl, the exporter,
 * rustymem-load, the fleet's client side), and the gRPC runtime.
 *
 * The codes are memcore's (memcore/include/rustymem/status.h), the one error
 * convention of the project (STYLE.md): RM_OK = 0, negative codes. That file is
 * their only source: the build copies it, unchanged, to
 * <build>/service/common/rm_status_codes.h (service/CMakeLists.txt,
 * configure_file), which rm_common puts on its include path. A client thus
 * compiles against service/common alone, without memcore's include directory
 * and without linking librustymem, and a code added in memcore reaches the
 * clients at the next build.
 *
 * How the two coexist: the copy keeps memcore's include guard,
 * RUSTYMEM_STATUS_H, so a file that includes both memcore's status.h and this
 * header sees the codes once, in either order.
 *
 * rm_strerror() and rm_err_name() are declared for files that include both
 * headers (a server's handlers, the fleet); they are defined in memcore, so a
 * program that calls them links librustymem. Clients use only the codes.
 */
#ifndef RUSTYMEM_SERVICE_RM_BASE_H
#define RUSTYMEM_SERVICE_RM_BASE_H

#include "rm_status_codes.h"   /* build-time copy of memcore/include/rustymem/status.h */

#endif /* RUSTYMEM_SERVICE_RM_BASE_H */
