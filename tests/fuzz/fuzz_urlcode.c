/* fuzz_urlcode: percent-encoding of any bytes. url_decode(url_encode(s)) is s; the encoding holds
 * only unreserved characters and %XX (upper-case hex); url_decode of any bytes (from a buffer of
 * exactly their size) stays inside them. Violations abort(). Uses urlcode. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "urlcode.h"

static int unreserved(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
           ch == '.' || ch == '_' || ch == '~';
}

static int upper_hex(unsigned char ch) { return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'F'); }

static void violation(const char *what)
{
    fprintf(stderr, "fuzz_urlcode: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t elen = 0, dlen = 0, rlen = 0;
    char *enc = NULL, *dec = NULL, *raw = NULL, *rdec = NULL;
    enc = url_encode((const char *)data, size, &elen);
    if (!enc) goto out;
    if (enc[elen] != '\0') violation("encoding not NUL-terminated");
    for (size_t i = 0; i < elen; i++) {
        unsigned char ch = (unsigned char)enc[i];
        if (unreserved(ch)) continue;
        if (ch != '%' || i + 2 >= elen || !upper_hex((unsigned char)enc[i + 1]) || !upper_hex((unsigned char)enc[i + 2]))
            violation("encoding holds a byte that is neither unreserved nor %XX");
        i += 2;
    }
    dec = url_decode(enc, elen, &dlen);
    if (!dec) goto out;
    if (dlen != size || (size && memcmp(dec, data, size) != 0)) violation("decode(encode(s)) is not s");
    /* decoding untrusted bytes: never longer than them, NUL-terminated */
    raw = malloc(size ? size : 1);
    if (!raw) goto out;
    if (size) memcpy(raw, data, size);
    rdec = url_decode(raw, size, &rlen);
    if (rdec && (rlen > size || rdec[rlen] != '\0')) violation("decode of raw bytes is longer than them");
out:
    free(enc);
    free(dec);
    free(raw);
    free(rdec);
    return 0;
}
