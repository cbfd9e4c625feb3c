/*
 * address.c — see address.h.
 */
#include "address.h"

#include <stdio.h>
#include <string.h>

static int
reason(char *why, size_t why_len, const char *text)
{
    if (why && why_len)
        snprintf(why, why_len, "%s", text);
    return 0;
}

int
rm_address_check(const char *addr, int allow_port0, char *why, size_t why_len)
{
    static const char form[] = "expected HOST:PORT, [IPV6]:PORT or unix:PATH";
    if (!addr || !*addr)
        return reason(why, why_len, form);
    if (strncmp(addr, "unix:", 5) == 0 || strncmp(addr, "unix-abstract:", 14) == 0)
        return strchr(addr, ':')[1] ? 1 : reason(why, why_len, "unix: needs a path");
    const char *a = addr;
    if (strncmp(a, "dns:", 4) == 0) {
        a += 4;
        if (strncmp(a, "//", 2) == 0) {   /* dns://AUTHORITY/HOST:PORT */
            a = strchr(a + 2, '/');
            if (!a)
                return reason(why, why_len, form);
            a++;
        }
    } else if (strncmp(a, "ipv4:", 5) == 0 || strncmp(a, "ipv6:", 5) == 0) {
        a += 5;
    }
    const char *colon = strrchr(a, ':');
    if (!colon || colon == a || (a[0] == '[' && colon[-1] != ']') ||
        (a[0] != '[' && memchr(a, ':', (size_t)(colon - a))))   /* a bare IPv6 address is ambiguous */
        return reason(why, why_len, form);
    const char *p = colon + 1;
    unsigned long port = 0;
    if (!*p)
        return reason(why, why_len, "the port is missing");
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return reason(why, why_len, "the port must be a decimal number");
        port = port * 10 + (unsigned long)(*p - '0');
        if (port > 65535)
            break;
    }
    if (port > 65535 || (port == 0 && !allow_port0)) {
        if (why && why_len)
            snprintf(why, why_len, "port %s is out of range %d..65535", colon + 1, allow_port0 ? 0 : 1);
        return 0;
    }
    return 1;
}
