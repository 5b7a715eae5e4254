/* fuzz_npy.c -- libFuzzer target for the .npy reader: the full parse and the
 * header-only check of pw_ckpt_is_complete, then every row of the layer. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"
#include "pw_npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pw_err e;
    pw_tensor t;
    if (pw_npy_parse(data, size, "fuzz", size & 1, &t, &e) == 0)
        fuzz_read_all(&t);
    uint64_t pre;
    pw_npy_info info;
    if (pw_npy_preamble_len(data, size, &pre, &e) == 0 && pre <= size)
        pw_npy_parse_header(data, (size_t)pre, size, &info, &e);
    return 0;
}
