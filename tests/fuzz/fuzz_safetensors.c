/* fuzz_safetensors.c -- libFuzzer target for the safetensors reader: the full
 * parse (as pw_ckpt_open runs it) and the header-only check (as
 * pw_ckpt_is_complete runs it), then every row of every layer. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"
#include "pw_safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pw_err e;
    pw_st st;
    if (pw_st_parse(&st, data, size, size & 1, &e) == 0) {
        for (size_t i = 0; i < st.ntensors; i++)
            fuzz_read_all(&st.tensors[i]);
        pw_st_meta(&st, "layers");
        pw_st_free(&st);
    }
    uint64_t n;
    if (size >= 8 && pw_st_header_len(data, size, &n, &e) == 0)
        pw_st_check_header((const char *)data + 8, (size_t)n, size - 8 - n, &e);
    return 0;
}
