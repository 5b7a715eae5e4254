/* retain_accuracy.c -- what a rounded retained copy costs in accuracy, measured.
 *
 * Usage: retain_accuracy REFERENCE_DIR [CHECKPOINT...]
 *
 * For each retention mode (exact, f32, bf16) every checkpoint is written as
 * pwccad's retained copy (lib/pw_retain.c) and the pairs pwccad scores are
 * computed twice: from the original files and with both sides read from
 * their copies (the worst case: the checkpoint and its reference both
 * deleted).  Pairs: each shared/reference case (X.npy against Y.npy), and,
 * for the CHECKPOINTs given in step order (e.g. the demo trainer's), every
 * layer of each checkpoint against its predecessor and against the last one
 * (the final).  Prints, per mode and set, the largest and the mean |delta|
 * of pwcca (= of the distance), of mean_cca and of cka, and the copies' size
 * relative to the originals.  Pairs whose status is not ok on the originals
 * are skipped. */
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pw_checkpoint.h"
#include "pw_engine.h"
#include "pw_retain.h"

/* Largest and summed |delta| of the three metrics over the pairs seen. */
typedef struct tally {
    double max[3], sum[3]; /* pwcca, mean_cca, cka */
    size_t pairs;          /* pairs compared */
    double orig_bytes;     /* bytes of the originals copied */
    double copy_bytes;     /* bytes of their copies */
} tally;

static int compare(const pw_tensor *x, const pw_tensor *y, pw_result *r)
{
    pw_rows rx = pw_rows_from_tensor(x), ry = pw_rows_from_tensor(y);
    pw_err e;
    pw_result_init(r);
    if (pw_engine_compare(&rx, &ry, PW_M_ALL, NULL, NULL, r, &e)) {
        fprintf(stderr, "retain_accuracy: %s\n", e.msg);
        return -1;
    }
    return 0;
}

/* One pair: originals (x, y) against copies (cx, cy). */
static void pair(tally *t, const pw_tensor *x, const pw_tensor *y, const pw_tensor *cx,
                 const pw_tensor *cy)
{
    pw_result a, b;
    if (compare(x, y, &a) == 0 && a.status == PW_OK && compare(cx, cy, &b) == 0) {
        double d[3] = {fabs(a.pwcca - b.pwcca), fabs(a.mean_cca - b.mean_cca), fabs(a.cka - b.cka)};
        for (int k = 0; k < 3; k++) {
            if (!(d[k] <= t->max[k])) /* NaN shows as the maximum */
                t->max[k] = d[k];
            t->sum[k] += d[k];
        }
        t->pairs++;
        pw_result_free(&b);
    }
    pw_result_free(&a);
}

static double file_bytes(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (double)st.st_size : 0;
}

/* Open path and its copy under mode m (written into dir); 0 on success. */
static int open_pair(const char *path, pw_retain_mode m, const char *dir, int i, pw_ckpt **c,
                     pw_ckpt **copy, tally *t)
{
    char dst[4096];
    pw_err e;
    snprintf(dst, sizeof dst, "%s/%d.safetensors", dir, i);
    if (pw_ckpt_open(c, path, NULL, &e) || pw_retain_write(dst, *c, m, NULL, 0, NULL, NULL, &e) ||
        pw_ckpt_open(copy, dst, NULL, &e)) {
        fprintf(stderr, "retain_accuracy: %s\n", e.msg);
        return -1;
    }
    t->orig_bytes += file_bytes(path);
    t->copy_bytes += file_bytes(dst);
    return 0;
}

static void report(const char *set, pw_retain_mode m, const tally *t)
{
    if (!t->pairs)
        return;
    printf("%-10s %-6s %6zu pairs  max|d pwcca| %.2e (mean %.2e)  max|d mean_cca| %.2e  "
           "max|d cka| %.2e  size %.2f\n",
           set, pw_retain_mode_name(m), t->pairs, t->max[0], t->sum[0] / (double)t->pairs,
           t->max[1], t->max[2], t->copy_bytes / t->orig_bytes);
}

static const char *const cases[] = {"a_rotation", "b_independent", "c_mixed_subset", "e_small_n",
                                    "f_small_n_degenerate"};

static void reference_set(const char *ref, pw_retain_mode m, const char *dir)
{
    tally t = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char px[4096], py[4096];
        snprintf(px, sizeof px, "%s/%s.X.npy", ref, cases[i]);
        snprintf(py, sizeof py, "%s/%s.Y.npy", ref, cases[i]);
        pw_ckpt *x = NULL, *y = NULL, *cx = NULL, *cy = NULL;
        if (open_pair(px, m, dir, 0, &x, &cx, &t) == 0 &&
            open_pair(py, m, dir, 1, &y, &cy, &t) == 0)
            pair(&t, pw_ckpt_layer(x, 0), pw_ckpt_layer(y, 0), pw_ckpt_layer(cx, 0),
                 pw_ckpt_layer(cy, 0));
        pw_ckpt_close(x);
        pw_ckpt_close(y);
        pw_ckpt_close(cx);
        pw_ckpt_close(cy);
    }
    report("reference", m, &t);
}

/* Every layer of checkpoint i against i-1 and against the last one. */
static void checkpoint_set(char **paths, int n, pw_retain_mode m, const char *dir)
{
    tally t = {0};
    /* Arrays of pointers, so the element size is a pointer's. */
    pw_ckpt **c = calloc((size_t)n, sizeof(pw_ckpt *));  // NOLINT(bugprone-sizeof-expression)
    pw_ckpt **cc = calloc((size_t)n, sizeof(pw_ckpt *)); // NOLINT(bugprone-sizeof-expression)
    int ok = c && cc;
    for (int i = 0; i < n && ok; i++)
        ok = open_pair(paths[i], m, dir, i, &c[i], &cc[i], &t) == 0;
    for (int i = 0; i + 1 < n && ok; i++) {
        int refs[2] = {i > 0 ? i - 1 : -1, n - 1};
        for (int r = 0; r < 2; r++) {
            if (refs[r] < 0)
                continue;
            for (size_t l = 0; l < pw_ckpt_nlayers(c[i]); l++) {
                const pw_tensor *x = pw_ckpt_layer(c[i], l);
                const pw_tensor *y = pw_ckpt_find(c[refs[r]], x->name);
                if (y)
                    pair(&t, x, y, pw_ckpt_find(cc[i], x->name),
                         pw_ckpt_find(cc[refs[r]], x->name));
            }
        }
    }
    for (int i = 0; i < n && c && cc; i++) {
        pw_ckpt_close(c[i]);
        pw_ckpt_close(cc[i]);
    }
    free(c);
    free(cc);
    report("checkpoint", m, &t);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: retain_accuracy REFERENCE_DIR [CHECKPOINT...]\n");
        return 2;
    }
    char dir[] = "/tmp/pwcca-retain.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("retain_accuracy: mkdtemp");
        return 1;
    }
    pw_engine_set_blas_threads(1);
    for (int m = PW_RETAIN_EXACT; m <= PW_RETAIN_BF16; m++) {
        reference_set(argv[1], (pw_retain_mode)m, dir);
        if (argc > 2)
            checkpoint_set(argv + 2, argc - 2, (pw_retain_mode)m, dir);
    }
    return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : 1;
}
