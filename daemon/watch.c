/* watch.c -- finding runs and checkpoints, and deciding when a checkpoint is complete.
 *
 * inotify (uv_fs_event) on every root and run directory triggers a scan of
 * that directory soon after; a periodic rescan (rescan_interval) catches
 * what inotify misses (network filesystems, queue overflow).  libuv reports
 * no close-after-write, so a directory entry is accepted only when
 *   - its name is a checkpoint name and not a temporary (pw_ckname),
 *   - its size and mtime stayed unchanged for settle_time, and
 *   - the reader's header-only completeness check passes.
 * That works for writers that rename into place (the name appears complete)
 * and for writers that write in place slowly (size or mtime keep moving, or
 * the header says more bytes are due).  An entry that stays incomplete and
 * unchanged for incomplete_timeout is accepted anyway, so the reader records
 * why it is broken.  The probe (completeness check plus header parse for a
 * safetensors "step") runs on libuv's pool: it reads headers only.
 *
 * A replaced checkpoint (same step, new inode, size or mtime) is recomputed
 * along with the pairs that use it; a deleted one is marked and keeps its
 * history.  A FINAL file, a final.* checkpoint or the socket make a run final.
 *
 * Other people write the watch roots, so nothing here may cost more than the
 * number of files or block the loop for long: checkpoints and settling files
 * are indexed by path (pw_strmap), a scan reads PW_SCAN_SLICE entries per loop
 * turn and the settle tick re-examines PW_SETTLE_SLICE files, so the socket
 * is served between slices however many files a run holds.  Below a root
 * nothing is opened through a symlink unless follow_symlinks = yes
 * (pw_beneath), and when two files claim one step the first name in byte
 * order is used, the other ignored until one of them changes or goes.  See
 * docs/DAEMON.md, "Security model". */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "pw_array.h"
#include "pw_beneath.h"
#include "pw_checkpoint.h"
#include "pw_limits.h"

#define KICK_DELAY_MS 50 /* fs events within this window share one scan */

/* Identity ------------------------------------------------------------------------ */

typedef struct ident {
    int64_t size, mtime_ns, inode; /* what makes a checkpoint "the same file" */
} ident;

static int64_t mtime_of(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

const char *pwd_run_beneath(const pwd_daemon *d, const pwd_run *r)
{
    return d->cfg.follow_symlinks ? NULL : r->base;
}

/* The identity of what fd (any open mode, O_PATH too) refers to, whose
 * fstat is st.  A directory is summed over its first PW_MAX_LAYERS + 1
 * entries: the reader refuses more layer files anyway, and a directory of a
 * million entries must not stall the loop.  0, or -1 when it is neither a
 * regular file nor a listable directory. */
static int ident_of(int fd, const struct stat *st, int nofollow, ident *id, int *is_dir)
{
    *is_dir = S_ISDIR(st->st_mode);
    id->inode = (int64_t)st->st_ino;
    id->size = (int64_t)st->st_size;
    id->mtime_ns = mtime_of(st);
    if (!*is_dir) {
        errno = EINVAL;
        return S_ISREG(st->st_mode) ? 0 : -1;
    }
    id->size = 0;
    int lfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = lfd >= 0 ? fdopendir(lfd) : NULL;
    if (!dir) {
        if (lfd >= 0)
            close(lfd);
        return -1;
    }
    struct dirent *de;
    size_t counted = 0;
    while (counted <= PW_MAX_LAYERS && (de = readdir(dir))) {
        if (de->d_name[0] == '.')
            continue;
        struct stat fs;
        if (fstatat(dirfd(dir), de->d_name, &fs, nofollow ? AT_SYMLINK_NOFOLLOW : 0) != 0)
            continue;
        counted++;
        id->size += (int64_t)fs.st_size;
        if (mtime_of(&fs) > id->mtime_ns)
            id->mtime_ns = mtime_of(&fs);
    }
    closedir(dir);
    return 0;
}

/* Entry name of the directory dirfd (opened as the run's files are): -1 with
 * errno ELOOP for a symlink not followed.  A regular file costs one fstatat. */
static int stat_ident_at(int dirfd, const char *name, int nofollow, ident *id, int *is_dir)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return -1;
    if (S_ISLNK(st.st_mode)) {
        if (nofollow) {
            errno = ELOOP;
            return -1;
        }
        if (fstatat(dirfd, name, &st, 0) != 0)
            return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return ident_of(-1, &st, nofollow, id, is_dir);
    int fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
    if (fd < 0)
        return -1;
    int rc = fstat(fd, &st) == 0 ? ident_of(fd, &st, nofollow, id, is_dir) : -1;
    close(fd);
    return rc;
}

/* The same for a path, opened as the run's files are (pwd_run_beneath). */
static int stat_ident(const pwd_daemon *d, const pwd_run *r, const char *path, ident *id,
                      int *is_dir)
{
    const char *beneath = pwd_run_beneath(d, r);
    int fd = pw_open_beneath(beneath, path, O_PATH);
    if (fd < 0)
        return -1;
    struct stat st;
    int rc = fstat(fd, &st) == 0 ? ident_of(fd, &st, beneath != NULL, id, is_dir) : -1;
    close(fd);
    return rc;
}

static void start_scan(pwd_daemon *d, pwd_run *r);

static void on_run_event(uv_fs_event_t *h, const char *name, int events, int status)
{
    pwd_run *r = h->data;
    pwd_daemon *d = h->loop->data;
    (void)name, (void)events, (void)status;
    r->scan_wanted = 1;
    pwd_watch_kick(d, KICK_DELAY_MS);
}

/* Something changed under a root: a new run, perhaps. on_kick looks at every root. */
static void on_root_event(uv_fs_event_t *h, const char *name, int events, int status)
{
    pwd_daemon *d = h->loop->data;
    (void)name, (void)events, (void)status;
    pwd_watch_kick(d, KICK_DELAY_MS);
}

static void start_run_watch(pwd_daemon *d, pwd_run *r)
{
    if (r->watching)
        return;
    int rc = uv_fs_event_start(&r->ev, on_run_event, r->path, 0);
    if (rc == 0)
        r->watching = 1;
    else
        pwd_log_once(r->path, PWD_WARNING, "%s: cannot watch (%s); relying on rescans", r->path,
                     uv_strerror(rc));
    (void)d;
}

/* The run at dir, added and watched when new; base: the root it was found in,
 * NULL for a configured run (its own base); root: that root's name and entry
 * its directory entry there (NULL for a configured run), the run's identity in
 * a shared store, which the resolved path is not: another node may mount the
 * root elsewhere, and a symlinked run resolves outside it. */
static pwd_run *watch_run(pwd_daemon *d, const char *dir, const char *base_dir, const char *root,
                          const char *entry)
{
    char abs[PATH_MAX];
    if (!realpath(dir, abs)) {
        pwd_log_once(dir, PWD_WARNING, "%s: run directory not found (%s); will look again", dir,
                     strerror(errno));
        return NULL;
    }
    pwd_run *r = pwd_run_by_path(d, abs);
    if (r)
        return r;
    r = pwd_run_add(d, abs, base_dir, root ? root : "", root ? entry : abs);
    if (!r)
        return NULL;
    start_run_watch(d, r);
    pwd_log(PWD_INFO, "watching run %s (%zu checkpoint%s stored%s)", abs, r->nck,
            r->nck == 1 ? "" : "s", r->final_step >= 0 ? ", final" : "");
    return r;
}

/* The FINAL file: empty means the highest step present, else it holds the step.
 * It is opened like a checkpoint (no symlink unless follow_symlinks), and its
 * contents are never quoted: it may be anything its writer pointed it at. */
static void final_file(pwd_daemon *d, pwd_run *r)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/FINAL", r->path) >= (int)sizeof path)
        return;
    int fd = pw_open_beneath(pwd_run_beneath(d, r), path, O_RDONLY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ELOOP)
            pwd_log_once(path, PWD_WARNING, "%s: %s", path, pw_beneath_strerror(errno));
        return;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (mtime_of(&st) == r->final_file_mtime && (int64_t)st.st_size == r->final_file_size)) {
        close(fd);
        return;
    }
    char buf[64] = "";
    ssize_t got = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[got > 0 ? got : 0] = '\0';
    char *s = buf + strspn(buf, " \t\r\n");
    s[strcspn(s, " \t\r\n")] = '\0';
    int64_t step;
    if (*s) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || *end || v < 0) {
            pwd_log_once(path, PWD_WARNING,
                         "%s: FINAL must be empty or hold a step (a decimal integer); it holds "
                         "something else (%lld bytes), ignored",
                         path, (long long)st.st_size);
            return;
        }
        step = v;
    } else if (r->final_step >= 0 && r->final_file_mtime < 0 &&
               strcmp(r->final_source, "FINAL file") == 0) {
        /* Restarted: the empty FINAL already named a step, which later arrivals do not move. */
        step = r->final_step;
    } else {
        /* "The highest step present" must include a last checkpoint written just
         * before FINAL and still settling: decide once nothing is pending. */
        if (r->npend > r->nignored)
            return;
        step = pwd_run_last_step(r);
        if (step < 0)
            return; /* nothing to be final yet; look again next scan */
    }
    r->final_file_mtime = mtime_of(&st);
    r->final_file_size = (int64_t)st.st_size;
    pwd_run_set_final(d, r, step, "FINAL file");
}

/* Pending files ------------------------------------------------------------------------ */

static pwd_pending *find_pending(pwd_run *r, const char *path)
{
    int64_t i;
    if (!pw_strmap_get(&r->pend_index, path, &i))
        return NULL;
    assert(i >= 0 && (size_t)i < r->npend && strcmp(r->pend[i].path, path) == 0);
    return &r->pend[i];
}

static void remove_pending(pwd_run *r, size_t i)
{
    pwd_pending *p = &r->pend[i];
    assert(!p->probing);
    pw_strmap_del(&r->pend_index, p->path);
    if (p->ignored)
        r->nignored--;
    free(p->path);
    if (i != --r->npend) {
        r->pend[i] = r->pend[r->npend];
        pw_strmap_put(&r->pend_index, r->pend[i].path, (int64_t)i); /* a replace: cannot fail */
    }
}

/* The holder of step is gone or changed: files ignored for claiming it compete again. */
static void release_claims(pwd_run *r, int64_t step)
{
    for (size_t i = 0; i < r->npend && r->nignored > 0; i++) {
        pwd_pending *p = &r->pend[i];
        if (!p->ignored || p->claim != step)
            continue;
        p->ignored = 0;
        r->nignored--;
        p->size = -1; /* settle it afresh */
        pwd_log_forget(p->path);
    }
}

/* p claims step, which c holds under another name: the first name in byte
 * order keeps it.  1 when p is ignored, 0 when p takes over (c's file is then
 * entered as ignored).  Either way the loser is logged once and shown as the
 * daemon's last error. */
static int step_conflict(pwd_daemon *d, pwd_run *r, pwd_pending *p, pwd_ckpt *c, int64_t step)
{
    int p_wins = strcmp(p->path, c->path) < 0;
    const char *keep = p_wins ? p->path : c->path, *drop = p_wins ? c->path : p->path;
    pwd_log_once(drop, PWD_WARNING,
                 "%s: %s and %s both claim step %" PRId64 "; using %s (first name in byte "
                 "order), ignoring %s",
                 r->name, keep, drop, step, keep, drop);
    pwd_set_error(d, "%s: %s and %s both claim step %" PRId64 "; ignoring %s", r->name, keep, drop,
                  step, drop);
    if (!p_wins) {
        p->ignored = 1;
        p->claim = step;
        r->nignored++;
        return 1;
    }
    /* c's file stays on disk: remember it as ignored, so scans leave it alone. */
    pwd_pending *g = pw_grow(r->pend, &r->cappend, r->npend + 1, sizeof *g, 8);
    if (!g)
        return 0;
    r->pend = g;
    pwd_pending *q = &r->pend[r->npend];
    memset(q, 0, sizeof *q);
    if (!(q->path = strdup(c->path)) || pw_strmap_put(&r->pend_index, q->path, (int64_t)r->npend)) {
        free(q->path);
        return 0; /* out of memory: the next scan finds it again */
    }
    q->nm.step = step;
    q->size = c->size;
    q->mtime_ns = c->mtime_ns;
    q->inode = c->inode;
    q->since = pwd_now();
    q->seen_gen = r->scan_gen;
    q->ignored = 1;
    q->claim = step;
    r->npend++;
    r->nignored++;
    return 0;
}

/* Accepting ------------------------------------------------------------------------------ */

static void accept_ckpt(pwd_daemon *d, pwd_run *r, const pwd_pending *p, int64_t step, int is_final)
{
    pwd_ckpt *old = pwd_run_find_path(r, p->path);
    if (old && old->step != step) {
        /* The same file now claims another step (its metadata changed). */
        old->present = 0;
        pw_err err;
        pw_db_checkpoint_set_present(d->db, r->id, old->step, 0, &err);
        release_claims(r, old->step);
    }
    pwd_ckpt *c = pwd_run_find_step(r, step);
    if (c) {
        if (strcmp(c->path, p->path) != 0) {
            char *np = strdup(p->path);
            if (!np || pw_strmap_put(&r->ck_index, np, step) != 0) {
                free(np);
                return;
            }
            int64_t s;
            if (pw_strmap_get(&r->ck_index, c->path, &s) && s == step)
                pw_strmap_del(&r->ck_index, c->path);
            free(c->path);
            c->path = np;
        } else {
            pwd_log(PWD_INFO, "%s: step %" PRId64 " was replaced; recomputing", r->name, step);
        }
        c->gen++;
        c->processed = c->bad = 0;
        c->present = 1;
        c->retry_at = 0;
        c->seen_gen = r->scan_gen;
        /* Pairs that used it as a reference are stale too. */
        size_t next = pwd_run_step_index(r, step + 1);
        if (next < r->nck)
            r->ck[next].dirty_prev = 1;
        if (step == r->final_step)
            for (size_t i = 0; i < r->nck; i++)
                r->ck[i].dirty_final = 1;
    } else {
        c = pwd_run_insert_ckpt(r, step, p->path);
        if (!c)
            return;
    }
    c->size = p->size;
    c->mtime_ns = p->mtime_ns;
    c->inode = p->inode;
    pwd_log(PWD_DEBUG, "%s: accepted %s as step %" PRId64, r->name, p->path, step);
    if (is_final)
        pwd_run_set_final(d, r, step, "final checkpoint");
}

/* A probe on libuv's pool: completeness and the safetensors "step". */
typedef struct probe {
    uv_work_t req;       /* the pool request */
    pwd_daemon *d;       /* owner */
    pwd_run *r;          /* run */
    char *path;          /* heap */
    const char *beneath; /* pwd_run_beneath when it started (r->base, or NULL) */
    ident id;            /* identity when the probe started */
    int complete;        /* pw_ckpt_is_complete */
    int opened;          /* pw_ckpt_open succeeded */
    int has_step;        /* metadata "step" present and an integer */
    int64_t meta_step;   /* its value */
    pw_err err;          /* why not complete / not opened */
} probe;

static void probe_work(uv_work_t *req)
{
    probe *pr = req->data;
    pw_err_clear(&pr->err);
    pr->complete = pw_ckpt_is_complete_beneath(pr->path, pr->beneath, &pr->err);
    if (pr->complete != 1)
        return;
    pw_ckpt *c = NULL;
    if (pw_ckpt_open_beneath(&c, pr->path, pr->beneath, NULL, &pr->err) == 0) {
        pr->opened = 1;
        const char *s = pw_ckpt_meta(c, "step");
        if (s) {
            char *end;
            errno = 0;
            long long v = strtoll(s, &end, 10);
            if (!errno && end != s && *end == '\0' && v >= 0) {
                pr->has_step = 1;
                pr->meta_step = v;
            }
        }
        pw_ckpt_close(c);
    }
}

static void probe_done(uv_work_t *req, int status)
{
    probe *pr = req->data;
    pwd_daemon *d = pr->d;
    pwd_run *r = pr->r;
    pwd_pending *p = find_pending(r, pr->path);
    if (p && p->probing) {
        p->probing = 0;
        assert(r->nprobing > 0);
        r->nprobing--;
    }
    if (!p || status != 0 || d->stopping)
        goto out;
    if (p->size != pr->id.size || p->mtime_ns != pr->id.mtime_ns || p->inode != pr->id.inode)
        goto out; /* it changed while we looked: settle again */
    double now = pwd_now();
    const pw_run_config *rc = pw_config_for_run(&d->cfg, r->name, r->path);
    if (pr->complete != 1 && now - p->since < rc->incomplete_s) {
        pwd_log(PWD_DEBUG, "%s: not complete yet: %s", pr->path, pr->err.msg);
        p->next_probe = now + (rc->settle_s > 0.2 ? rc->settle_s : 0.2);
        goto out;
    }
    int64_t step = p->nm.step;
    if (pr->has_step) {
        if (!p->nm.is_final && pr->meta_step != step)
            pwd_log_once(pr->path, PWD_WARNING,
                         "%s: metadata says step %" PRId64 " but the name says %" PRId64
                         "; using the metadata",
                         pr->path, pr->meta_step, step);
        step = pr->meta_step;
    } else if (p->nm.is_final) {
        pwd_ckpt *same = pwd_run_find_path(r, p->path);
        int64_t last = -1;
        for (size_t i = r->nck; i-- > 0 && last < 0;)
            if (!same || r->ck[i].step != same->step)
                last = r->ck[i].step; /* the highest step that is not its own */
        step = same ? same->step : last + 1;
    }
    pwd_ckpt *holder = pwd_run_find_step(r, step);
    int is_final = p->nm.is_final;
    if (holder && holder->present && strcmp(holder->path, p->path) != 0 &&
        step_conflict(d, r, p, holder, step)) {
        if (is_final)
            pwd_run_set_final(d, r, step, "final checkpoint"); /* it still says where */
        goto out;
    }
    p = find_pending(r, pr->path); /* step_conflict may have grown pend */
    size_t pi = (size_t)(p - r->pend);
    pwd_pending copy = *p;
    accept_ckpt(d, r, &copy, step, is_final);
    remove_pending(r, pi);
    if (r->npend == r->nignored) {
        /* A FINAL file waiting for the run to settle can be decided now. */
        r->scan_wanted = 1;
        pwd_watch_kick(d, KICK_DELAY_MS);
    }
out:
    if (!d->stopping)
        pwd_sched_plan(d, r); /* no-op while other probes of the run are out */
    free(pr->path);
    free(pr);
}

static void start_probe(pwd_daemon *d, pwd_run *r, pwd_pending *p)
{
    probe *pr = calloc(1, sizeof *pr);
    if (!pr || !(pr->path = strdup(p->path))) {
        free(pr);
        return;
    }
    pr->d = d;
    pr->r = r;
    pr->beneath = pwd_run_beneath(d, r); /* r->base lives as long as the run */
    pr->id = (ident){p->size, p->mtime_ns, p->inode};
    pr->req.data = pr;
    if (uv_queue_work(d->loop, &pr->req, probe_work, probe_done) != 0) {
        free(pr->path);
        free(pr);
        return;
    }
    p->probing = 1;
    r->nprobing++;
}

/* Settle one candidate: identity unchanged for settle_time, then probe. */
static void settle(pwd_daemon *d, pwd_run *r, const char *path, const pw_ckname *nm,
                   const ident *id)
{
    double now = pwd_now();
    pwd_pending *p = find_pending(r, path);
    if (!p) {
        pwd_pending *g = pw_grow(r->pend, &r->cappend, r->npend + 1, sizeof *g, 8);
        if (!g)
            return;
        r->pend = g;
        p = &r->pend[r->npend];
        memset(p, 0, sizeof *p);
        if (!(p->path = strdup(path)) ||
            pw_strmap_put(&r->pend_index, path, (int64_t)r->npend) != 0) {
            free(p->path);
            return;
        }
        r->npend++;
        p->nm = *nm;
        p->size = -1;
    }
    p->seen_gen = r->scan_gen;
    if (p->size != id->size || p->mtime_ns != id->mtime_ns || p->inode != id->inode) {
        if (p->ignored) {
            p->ignored = 0; /* a new file under the name: it competes again */
            r->nignored--;
            pwd_log_forget(p->path);
        }
        p->nm = *nm;
        p->size = id->size;
        p->mtime_ns = id->mtime_ns;
        p->inode = id->inode;
        p->since = now;
        p->next_probe = 0;
        return;
    }
    if (p->ignored)
        return;
    const pw_run_config *rc = pw_config_for_run(&d->cfg, r->name, r->path);
    if (!p->probing && now - p->since >= rc->settle_s && now >= p->next_probe)
        start_probe(d, r, p);
}

/* Scanning -------------------------------------------------------------------------------
 *
 * A scan lists the run directory a slice at a time (on_scan_slice), marking
 * what it sees with the run's scan_gen; when the listing ends, checkpoints
 * not seen were deleted and pending files not seen are dropped. */

static void on_scan_slice(uv_idle_t *t);

static void start_scan(pwd_daemon *d, pwd_run *r)
{
    r->scan_wanted = 0;
    if (r->scan_dir) {
        r->scan_again = 1; /* what changed may be behind the listing already */
        return;
    }
    int fd = pw_open_beneath(pwd_run_beneath(d, r), r->path, O_RDONLY | O_DIRECTORY);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        int gone = e == ENOENT || e == ENOTDIR;
        pwd_log_once(r->path, PWD_WARNING, "%s: cannot list (%s)%s", r->path,
                     pw_beneath_strerror(e),
                     gone ? "; its history stays ('pwcca forget' removes it)" : "");
        /* The whole run was deleted: every file of it is gone, as a scan would say
         * of each one (checkpoints.present = 0); the stored scores stay. */
        for (size_t i = 0; gone && i < r->nck; i++) {
            pwd_ckpt *c = &r->ck[i];
            if (!c->present)
                continue;
            c->present = 0;
            pw_err err;
            if (c->processed && pw_db_checkpoint_set_present(d->db, r->id, c->step, 0, &err))
                pwd_log(PWD_ERROR, "%s: %s", r->name, err.msg);
        }
        return;
    }
    start_run_watch(d, r);
    r->scan_dir = dir;
    r->scan_gen++;
    r->scan_final = 0;
    if (!uv_is_active((uv_handle_t *)&d->scan_idle))
        uv_idle_start(&d->scan_idle, on_scan_slice);
}

/* One directory entry of a scan. */
static void scan_entry(pwd_daemon *d, pwd_run *r, const struct dirent *de, const char *pattern)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", r->path, de->d_name) >= (int)sizeof path)
        return;
    if (strcmp(de->d_name, "FINAL") == 0) {
        r->scan_final = 1;
        return;
    }
    if (pw_ckname_is_temporary(de->d_name))
        return;
    ident id;
    int is_dir;
    pw_ckname nm;
    if (!pw_ckname_parse(de->d_name, de->d_type == DT_DIR, pattern, &nm) &&
        de->d_type != DT_UNKNOWN && de->d_type != DT_LNK)
        return;
    if (stat_ident_at(dirfd(r->scan_dir), de->d_name, pwd_run_beneath(d, r) != NULL, &id,
                      &is_dir) != 0) {
        if (errno == ELOOP && (pw_ckname_parse(de->d_name, 0, pattern, &nm) ||
                               pw_ckname_parse(de->d_name, 1, pattern, &nm)))
            pwd_log_once(path, PWD_WARNING, "%s: %s", path, pw_beneath_strerror(ELOOP));
        return;
    }
    if (!pw_ckname_parse(de->d_name, is_dir, pattern, &nm))
        return;
    pwd_ckpt *c = pwd_run_find_path(r, path);
    if (c) {
        c->seen_gen = r->scan_gen;
        if (c->size == id.size && c->mtime_ns == id.mtime_ns && c->inode == id.inode) {
            if (!c->present) {
                c->present = 1; /* it came back unchanged */
                pw_err err;
                pw_db_checkpoint_set_present(d->db, r->id, c->step, 1, &err);
            }
            return;
        }
    }
    settle(d, r, path, &nm, &id);
}

/* The listing ended: deletions, dropped candidates, FINAL, planning. */
static void finish_scan(pwd_daemon *d, pwd_run *r)
{
    closedir(r->scan_dir);
    r->scan_dir = NULL;
    for (size_t i = 0; i < r->nck; i++) {
        pwd_ckpt *c = &r->ck[i];
        if (c->seen_gen == r->scan_gen || !c->present)
            continue;
        c->present = 0;
        pwd_log(PWD_INFO, "%s: step %" PRId64 " was deleted; its history stays", r->name, c->step);
        pw_err err;
        if (c->processed && pw_db_checkpoint_set_present(d->db, r->id, c->step, 0, &err))
            pwd_log(PWD_ERROR, "%s: %s", r->name, err.msg);
        if (r->nignored)
            release_claims(r, c->step);
    }
    for (size_t i = r->npend; i-- > 0;)
        if (r->pend[i].seen_gen != r->scan_gen && !r->pend[i].probing)
            remove_pending(r, i);
    r->scanned = 1;
    if (r->scan_final)
        final_file(d, r);
    pwd_sched_plan(d, r);
    if (r->scan_again) {
        r->scan_again = 0;
        start_scan(d, r);
    }
}

/* Continue the scans in progress: PW_SCAN_SLICE entries in all, then let the
 * loop serve the socket and come back on its next turn.  An idle handle, not a
 * zero timer: libuv runs a timer re-armed for "now" again in the same turn,
 * without polling in between. */
static void on_scan_slice(uv_idle_t *t)
{
    pwd_daemon *d = t->data;
    size_t budget = PW_SCAN_SLICE;
    size_t n = d->nruns;
    for (size_t k = 0; k < n && budget > 0; k++) {
        size_t i = (d->scan_cursor + k) % n;
        pwd_run *r = d->runs[i];
        if (!r->scan_dir)
            continue;
        const pw_run_config *rc = pw_config_for_run(&d->cfg, r->name, r->path);
        char pattern[sizeof rc->pattern];
        memcpy(pattern, rc->pattern, sizeof pattern);
        struct dirent *de = NULL;
        while (budget > 0 && (de = readdir(r->scan_dir))) {
            budget--;
            scan_entry(d, r, de, pattern);
        }
        if (!de)
            finish_scan(d, r);
        d->scan_cursor = (i + 1) % n; /* the next slice starts with the next run */
    }
    for (size_t i = 0; i < d->nruns; i++)
        if (d->runs[i]->scan_dir)
            return; /* the idle handle stays active: the next turn goes on */
    uv_idle_stop(&d->scan_idle);
}

/* Roots ---------------------------------------------------------------------------------- */

static void discover_root(pwd_daemon *d, pwd_root *root)
{
    DIR *dir = opendir(root->path);
    if (!dir) {
        pwd_log_once(root->path, PWD_WARNING, "%s: cannot list watch root (%s)", root->path,
                     strerror(errno));
        return;
    }
    if (!root->watching) {
        int rc = uv_fs_event_start(&root->ev, on_root_event, root->path, 0);
        root->watching = rc == 0;
    }
    struct dirent *de;
    char path[PATH_MAX];
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.')
            continue;
        if (de->d_type != DT_DIR && de->d_type != DT_LNK && de->d_type != DT_UNKNOWN)
            continue;
        if (pw_ckname_has_control(de->d_name)) {
            /* Its name would forge lines in the log and on terminals: not shown either. */
            pwd_log_once(root->path, PWD_WARNING,
                         "%s: a directory whose name holds control characters is not a run",
                         root->path);
            continue;
        }
        if (snprintf(path, sizeof path, "%s/%s", root->path, de->d_name) >= (int)sizeof path)
            continue;
        struct stat st;
        if (de->d_type == DT_DIR)
            st.st_mode = S_IFDIR; /* all that is used below: spare a stat per run */
        else if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISLNK(st.st_mode)) {
            if (!d->cfg.follow_symlinks) {
                if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
                    pwd_log_once(path, PWD_WARNING, "%s: run directory is %s", path,
                                 pw_beneath_strerror(ELOOP));
                continue;
            }
            if (stat(path, &st) != 0)
                continue;
        }
        if (!S_ISDIR(st.st_mode))
            continue;
        /* The root is a resolved path, so a known run is found without realpath. */
        pwd_run *r = pwd_run_by_path(d, path);
        if (!r)
            r = watch_run(d, path, root->path, root->name, de->d_name);
        if (r && !r->scanned)
            r->scan_wanted = 1;
    }
    closedir(dir);
}

static void on_kick(uv_timer_t *t)
{
    pwd_daemon *d = t->data;
    for (size_t i = 0; i < d->nroots; i++)
        discover_root(d, d->roots[i]);
    for (size_t i = 0; i < d->nruns; i++)
        if (d->runs[i]->scan_wanted)
            start_scan(d, d->runs[i]);
}

/* A pending kick keeps its time, so a stream of fs events cannot postpone the
 * scan forever; only an immediate kick (0, a "rescan" request) moves it. */
void pwd_watch_kick(pwd_daemon *d, uint64_t ms)
{
    if (ms == 0 || !uv_is_active((uv_handle_t *)&d->kick_timer))
        uv_timer_start(&d->kick_timer, on_kick, ms, 0);
}

void pwd_watch_rescan(pwd_daemon *d)
{
    for (size_t i = 0; i < d->cfg.nruns; i++)
        watch_run(d, d->cfg.runs[i], NULL, NULL, NULL);
    for (size_t i = 0; i < d->nroots; i++)
        discover_root(d, d->roots[i]);
    for (size_t i = 0; i < d->nruns; i++)
        start_scan(d, d->runs[i]);
}

static void on_rescan(uv_timer_t *t)
{
    pwd_watch_rescan(t->data);
}

/* While candidates settle, look at them more often than the rescan does.
 * Each tick re-examines a share of PW_SETTLE_SLICE files of every run,
 * going round each run's candidates from where the last tick stopped, so a
 * run with 100,000 waiting files neither stalls the loop nor the others. */
static void on_settle(uv_timer_t *t)
{
    pwd_daemon *d = t->data;
    size_t share = d->nruns ? PW_SETTLE_SLICE / d->nruns : 0;
    if (share < 16)
        share = 16;
    for (size_t i = 0; i < d->nruns; i++) {
        pwd_run *r = d->runs[i];
        size_t budget = share < r->npend ? share : r->npend;
        for (size_t seen = 0; seen < r->npend && budget > 0; seen++) {
            if (r->settle_cursor >= r->npend)
                r->settle_cursor = 0;
            pwd_pending *p = &r->pend[r->settle_cursor++];
            if (p->probing || p->ignored)
                continue;
            budget--;
            ident id;
            int is_dir;
            if (stat_ident(d, r, p->path, &id, &is_dir) != 0) {
                r->scan_wanted = 1; /* gone: the scan drops it */
                continue;
            }
            char *path = strdup(p->path);
            pw_ckname nm = p->nm;
            if (path)
                settle(d, r, path, &nm, &id);
            free(path);
        }
        if (r->scan_wanted)
            start_scan(d, r);
    }
}

/* The root of the configuration's watch entry k. */
static pwd_root *root_new(pwd_daemon *d, size_t k)
{
    char abs[PATH_MAX];
    const char *path = d->cfg.watch[k];
    pwd_root *root = calloc(1, sizeof *root);
    if (!root || !(root->path = strdup(realpath(path, abs) ? abs : path))) {
        free(root);
        return NULL;
    }
    memcpy(root->name, d->cfg.watch_name[k], sizeof root->name);
    uv_fs_event_init(d->loop, &root->ev);
    root->ev.data = root;
    return root;
}

static void root_free(uv_handle_t *h)
{
    pwd_root *root = h->data;
    free(root->path);
    free(root);
}

/* Timers follow the configuration: the rescan interval, and the settle
 * poll at a quarter of the shortest settle time (20..250 ms). */
static void start_timers(pwd_daemon *d)
{
    uint64_t rescan_ms = (uint64_t)(d->cfg.rescan_s * 1000);
    uv_timer_start(&d->rescan_timer, on_rescan, rescan_ms, rescan_ms);
    double settle = d->cfg.defaults.settle_s;
    for (size_t i = 0; i < d->cfg.noverrides; i++)
        if (d->cfg.overrides[i].settle_s >= 0 && d->cfg.overrides[i].settle_s < settle)
            settle = d->cfg.overrides[i].settle_s;
    uint64_t settle_ms = (uint64_t)(settle * 250);
    if (settle_ms < 20)
        settle_ms = 20;
    if (settle_ms > 250)
        settle_ms = 250;
    uv_timer_start(&d->settle_timer, on_settle, settle_ms, settle_ms);
}

int pwd_watch_start(pwd_daemon *d)
{
    d->roots = calloc(PW_CFG_MAX_LIST, sizeof(pwd_root *)); // NOLINT(bugprone-sizeof-expression)
    if (!d->roots)
        return -1;
    for (size_t i = 0; i < d->cfg.nwatch; i++) {
        pwd_root *root = root_new(d, i);
        if (!root)
            return -1;
        d->roots[d->nroots++] = root;
    }
    uv_timer_init(d->loop, &d->kick_timer);
    d->kick_timer.data = d;
    uv_timer_init(d->loop, &d->rescan_timer);
    d->rescan_timer.data = d;
    uv_timer_init(d->loop, &d->settle_timer);
    d->settle_timer.data = d;
    pw_strmap_init(&d->run_index);
    uv_idle_init(d->loop, &d->scan_idle);
    d->scan_idle.data = d;
    pwd_watch_rescan(d);
    start_timers(d);
    return 0;
}

void pwd_watch_reload(pwd_daemon *d)
{
    char abs[PATH_MAX];
    /* Dropped roots: no more discovery there.  Their runs keep being watched
     * until the next start (a job in flight may point at them). */
    for (size_t i = 0; i < d->nroots;) {
        int kept = 0;
        for (size_t k = 0; k < d->cfg.nwatch && !kept; k++)
            if ((kept = strcmp(realpath(d->cfg.watch[k], abs) ? abs : d->cfg.watch[k],
                               d->roots[i]->path) == 0))
                /* A new name holds for runs found from now on; known ones keep theirs. */
                memcpy(d->roots[i]->name, d->cfg.watch_name[k], sizeof d->roots[i]->name);
        if (kept) {
            i++;
            continue;
        }
        pwd_log(PWD_INFO, "reload: no longer watching root %s", d->roots[i]->path);
        uv_close((uv_handle_t *)&d->roots[i]->ev, root_free);
        d->roots[i] = d->roots[--d->nroots];
    }
    for (size_t k = 0; k < d->cfg.nwatch; k++) {
        const char *want = realpath(d->cfg.watch[k], abs) ? abs : d->cfg.watch[k];
        int known = 0;
        for (size_t i = 0; i < d->nroots && !known; i++)
            known = strcmp(want, d->roots[i]->path) == 0;
        if (known)
            continue;
        assert(d->nroots < PW_CFG_MAX_LIST);
        pwd_root *root = root_new(d, k);
        if (!root) {
            pwd_log(PWD_ERROR, "reload: out of memory adding root %s", want);
            continue;
        }
        pwd_log(PWD_INFO, "reload: watching root %s", root->path);
        d->roots[d->nroots++] = root;
    }
    start_timers(d);
}

void pwd_watch_stop(pwd_daemon *d)
{
    uv_close((uv_handle_t *)&d->kick_timer, NULL);
    uv_close((uv_handle_t *)&d->rescan_timer, NULL);
    uv_close((uv_handle_t *)&d->settle_timer, NULL);
    uv_close((uv_handle_t *)&d->scan_idle, NULL);
    for (size_t i = 0; i < d->nruns; i++)
        uv_close((uv_handle_t *)&d->runs[i]->ev, NULL);
    for (size_t i = 0; i < d->nroots; i++)
        uv_close((uv_handle_t *)&d->roots[i]->ev, root_free);
    d->nroots = 0;
}

void pwd_watch_free(pwd_daemon *d)
{
    for (size_t i = 0; i < d->nruns; i++)
        pwd_run_free(d->runs[i]);
    free(d->runs);
    free(d->roots);
    pw_strmap_free(&d->run_index);
    d->runs = NULL;
    d->roots = NULL;
    d->nruns = d->nroots = 0;
}
