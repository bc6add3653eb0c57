/* urlcode: RFC 3986 percent-encoding (A-Za-z0-9-._~ kept) and decoding (%XX and '+').
 * Results are malloc'd and NUL-terminated; NULL on allocation failure. */
#ifndef CW_URLCODE_H
#define CW_URLCODE_H

#include <stddef.h>

char *url_encode(const char *s, size_t len, size_t *outlen);
char *url_decode(const char *s, size_t len, size_t *outlen);

#endif
