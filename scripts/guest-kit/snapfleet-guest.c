/*
 * snapfleet-guest — the workload and the checkers that run inside the Snapfleet guest kit (PID 1 after
 * scripts/guest-kit/init). One single-threaded loop, so every invariant below is exact: nothing else
 * in the guest touches the buffer or the disk record. The full protocol (kernel command line, serial
 * line formats, how to read the verdict after a restore) is documented in scripts/guest-kit/build.sh.
 *
 * RAM (snapfleet.dirty_mib=N): N MiB of 4 KiB pages. Sweep g writes every page, in index order, as
 *   w[0]=RAM_MAGIC  w[1]=g  w[2]=index  w[3]=header checksum  w[4..511]=base(g,index) ^ (i * K)
 *   Before overwriting a page in sweep g the loop verifies that it holds exactly generation g-1 for its
 *   own index. A point-in-time RAM image restores "cursor at page c of sweep g" together with pages
 *   [0,c) at g and [c,end) at g-1, which passes. A page saved earlier or later than the vCPU state
 *   (a broken snapshot), a torn page, or a page moved elsewhere fails and is counted as corrupt.
 *   The count is cumulative since boot: once corrupt, every later RAM line says so.
 *
 * Resident RAM (snapfleet.fill_mib=N): N MiB written once at boot (one distinct word per 4 KiB page, the
 *   rest zeroed by the guest kernel) and never touched again, so it stays resident in QEMU — what a
 *   long-running production guest's page cache and heaps look like to a snapshot. No checks.
 *
 * Disk (snapfleet.disk=1): a record {DISK_MAGIC, n, checksum} in the first 4 KiB of the disk, written
 *   with O_DIRECT (no guest page cache, so a read sees the device). Each step reads the record, checks
 *   that it equals the last n this program wrote (held in RAM), then writes n+1. The pwrite is
 *   synchronous: a write that was in flight when a snapshot was taken has been completed (QEMU drains
 *   I/O on stop) or is re-issued by virtio-blk on the destination before pwrite returns, so at check
 *   time a consistent restore shows exactly the in-RAM n. Disk from another instant than RAM → mismatch.
 *
 * Output goes to stdout (= /dev/console = ttyS0), one write(2) per line so lines never interleave.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE_SIZE 4096u
#define PAGE_WORDS (PAGE_SIZE / 8u)
#define RAM_MAGIC 0x31544c4650414e53ULL  /* "SNAPFLT1" in memory (little endian) */
#define DISK_MAGIC 0x314b534450414e53ULL /* "SNAPDSK1" */
#define FILL_K 0x9e3779b97f4a7c15ULL
#define CHUNK_PAGES 256u /* 1 MiB between looks at the clock: keeps ticks and disk steps on time */

struct config {
  unsigned dirty_mib;
  unsigned fill_mib;
  int disk;
  char disk_dev[64];
  unsigned disk_ms;
  unsigned tick_ms;
};

static struct config cfg = {.dirty_mib = 16, .disk = 0, .disk_dev = "/dev/vda", .disk_ms = 50, .tick_ms = 1000};

static void say(const char *fmt, ...) {
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (len < 0) return;
  if ((size_t)len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  /* The console is a slow UART under TCG: retry short writes rather than lose half a line. */
  for (int off = 0; off < len;) {
    ssize_t w = write(1, line + off, (size_t)(len - off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    off += (int)w;
  }
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* splitmix64 finaliser: cheap, and any single-bit change in the input changes the output. */
static uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

static void parse_cmdline(void) {
  char buf[4096];
  int fd = open("/proc/cmdline", O_RDONLY);
  if (fd < 0) return;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return;
  buf[n] = 0;
  for (char *save = NULL, *tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
    if (strncmp(tok, "snapfleet.", 10) != 0) continue;
    char *key = tok + 10, *val = strchr(key, '=');
    if (!val) continue;
    *val++ = 0;
    if (!strcmp(key, "dirty_mib")) cfg.dirty_mib = (unsigned)strtoul(val, NULL, 10);
    else if (!strcmp(key, "fill_mib")) cfg.fill_mib = (unsigned)strtoul(val, NULL, 10);
    else if (!strcmp(key, "disk")) cfg.disk = atoi(val) != 0;
    else if (!strcmp(key, "disk_dev")) snprintf(cfg.disk_dev, sizeof cfg.disk_dev, "%s", val);
    else if (!strcmp(key, "disk_ms")) cfg.disk_ms = (unsigned)strtoul(val, NULL, 10);
    else if (!strcmp(key, "tick_ms")) cfg.tick_ms = (unsigned)strtoul(val, NULL, 10);
  }
  if (cfg.tick_ms == 0) cfg.tick_ms = 1000;
}

/* ---------------------------------------------------------------- RAM */

struct ram {
  uint64_t *base;
  uint64_t pages;
  uint64_t gen;    /* generation being written by the current sweep */
  uint64_t cursor; /* next page of the current sweep */
  uint64_t corrupt;
  uint64_t first_bad, first_found_gen, first_expected_gen;
  uint64_t corrupt_at_last_report;
  uint64_t last_report_ms;
};

static uint64_t header_sum(uint64_t gen, uint64_t idx) { return mix(RAM_MAGIC ^ mix(gen) ^ (idx * FILL_K)); }

static void write_page(uint64_t *p, uint64_t idx, uint64_t gen) {
  uint64_t b = mix(gen ^ (idx << 24));
  p[0] = RAM_MAGIC;
  p[1] = gen;
  p[2] = idx;
  p[3] = header_sum(gen, idx);
  for (unsigned i = 4; i < PAGE_WORDS; i++) p[i] = b ^ (i * FILL_K);
}

static int page_ok(const uint64_t *p, uint64_t idx, uint64_t gen) {
  if (p[0] != RAM_MAGIC || p[1] != gen || p[2] != idx || p[3] != header_sum(gen, idx)) return 0;
  uint64_t b = mix(gen ^ (idx << 24));
  for (unsigned i = 4; i < PAGE_WORDS; i++)
    if (p[i] != (b ^ (i * FILL_K))) return 0;
  return 1;
}

static int ram_init(struct ram *r) {
  memset(r, 0, sizeof *r);
  r->pages = (uint64_t)cfg.dirty_mib * 256u;
  if (!r->pages) return 0;
  size_t len = (size_t)r->pages * PAGE_SIZE;
  void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (m == MAP_FAILED) {
    say("ERROR mmap %u MiB: %s", cfg.dirty_mib, strerror(errno));
    return -1;
  }
  r->base = m;
  /* Generation 1 is the initial fill; verification starts with sweep 2. */
  for (uint64_t i = 0; i < r->pages; i++) write_page(r->base + i * PAGE_WORDS, i, 1);
  r->gen = 2;
  r->cursor = 0;
  r->last_report_ms = now_ms();
  return 0;
}

/* Resident RAM: fill_mib MiB written once (see the header); returns -1 when it cannot be allocated. */
static int fill_once(void) {
  if (!cfg.fill_mib) return 0;
  size_t len = (size_t)cfg.fill_mib << 20;
  uint64_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (m == MAP_FAILED) {
    say("ERROR mmap fill %u MiB: %s", cfg.fill_mib, strerror(errno));
    return -1;
  }
  for (uint64_t i = 0; i < len / PAGE_SIZE; i++) m[i * PAGE_WORDS] = mix(i) | 1;
  say("FILLED mib=%u", cfg.fill_mib);
  return 0;
}

/* Verify-then-write up to `count` pages; returns 1 when a sweep has just completed. */
static int ram_step(struct ram *r, uint64_t count) {
  for (; count && r->cursor < r->pages; count--, r->cursor++) {
    uint64_t *p = r->base + r->cursor * PAGE_WORDS;
    if (!page_ok(p, r->cursor, r->gen - 1)) {
      if (!r->corrupt) {
        r->first_bad = r->cursor;
        r->first_found_gen = p[1];
        r->first_expected_gen = r->gen - 1;
      }
      r->corrupt++;
    }
    write_page(p, r->cursor, r->gen);
  }
  if (r->cursor < r->pages) return 0;
  r->cursor = 0;
  r->gen++;
  return 1;
}

static void ram_report(struct ram *r, int force) {
  uint64_t t = now_ms();
  int fresh_corruption = r->corrupt != r->corrupt_at_last_report;
  /* Sweeps of small buffers take milliseconds: at most one line a second, except news of corruption. */
  if (!force && !fresh_corruption && t - r->last_report_ms < 1000) return;
  uint64_t sweep = r->gen - 1; /* the sweep that just completed */
  if (r->corrupt)
    say("RAM CORRUPT pages=%llu sweep=%llu first=%llu found_gen=%llu expected_gen=%llu",
        (unsigned long long)r->corrupt, (unsigned long long)sweep, (unsigned long long)r->first_bad,
        (unsigned long long)r->first_found_gen, (unsigned long long)r->first_expected_gen);
  else
    say("RAM CONSISTENT sweep=%llu pages=%llu", (unsigned long long)sweep, (unsigned long long)r->pages);
  r->corrupt_at_last_report = r->corrupt;
  r->last_report_ms = t;
}

/* ---------------------------------------------------------------- disk */

struct disk {
  int fd;
  uint64_t *buf; /* PAGE_SIZE, page-aligned: O_DIRECT needs aligned buffers and lengths */
  uint64_t last; /* last n this program wrote (the in-RAM record) */
  uint64_t checks, mismatches;
  uint64_t first_ram, first_disk;
  int first_disk_valid;
};

static uint64_t disk_sum(uint64_t n) { return mix(DISK_MAGIC ^ mix(n)); }

/* Returns 1 and sets *n if the record is valid, 0 if not, -1 on I/O error. */
static int disk_read(struct disk *d, uint64_t *n) {
  if (pread(d->fd, d->buf, PAGE_SIZE, 0) != (ssize_t)PAGE_SIZE) return -1;
  if (d->buf[0] != DISK_MAGIC || d->buf[2] != disk_sum(d->buf[1])) return 0;
  *n = d->buf[1];
  return 1;
}

static int disk_write(struct disk *d, uint64_t n) {
  memset(d->buf, 0, PAGE_SIZE);
  d->buf[0] = DISK_MAGIC;
  d->buf[1] = n;
  d->buf[2] = disk_sum(n);
  return pwrite(d->fd, d->buf, PAGE_SIZE, 0) == (ssize_t)PAGE_SIZE ? 0 : -1;
}

static int disk_init(struct disk *d) {
  memset(d, 0, sizeof *d);
  d->fd = -1;
  if (!cfg.disk) return 0;
  /* virtio_blk was just loaded by init; devtmpfs creates the node when the probe finishes. */
  for (int i = 0; i < 200 && access(cfg.disk_dev, F_OK) != 0; i++) usleep(50000);
  d->fd = open(cfg.disk_dev, O_RDWR | O_DIRECT);
  if (d->fd < 0) {
    say("ERROR open %s: %s", cfg.disk_dev, strerror(errno));
    return -1;
  }
  if (posix_memalign((void **)&d->buf, PAGE_SIZE, PAGE_SIZE) != 0) return -1;
  uint64_t n = 0;
  int v = disk_read(d, &n);
  if (v < 0) {
    say("ERROR read %s: %s", cfg.disk_dev, strerror(errno));
    return -1;
  }
  /* A fresh disk has no record: start the counter at 0. A rebooted guest continues its disk's count. */
  d->last = v ? n : 0;
  if (disk_write(d, d->last) != 0) {
    say("ERROR write %s: %s", cfg.disk_dev, strerror(errno));
    return -1;
  }
  say("DISK START n=%llu dev=%s", (unsigned long long)d->last, cfg.disk_dev);
  return 0;
}

static void disk_step(struct disk *d) {
  uint64_t n = 0;
  int v = disk_read(d, &n);
  if (v < 0) {
    say("ERROR read %s: %s", cfg.disk_dev, strerror(errno));
    return;
  }
  d->checks++;
  if (!v || n != d->last) {
    if (!d->mismatches) {
      d->first_ram = d->last;
      d->first_disk = n;
      d->first_disk_valid = v;
    }
    d->mismatches++;
    if (v)
      say("DISK MISMATCH ram=%llu disk=%llu", (unsigned long long)d->last, (unsigned long long)n);
    else
      say("DISK MISMATCH ram=%llu disk=invalid", (unsigned long long)d->last);
    /* Carry on from whatever is on the disk so the counter keeps moving and the run stays observable. */
    if (v && n > d->last) d->last = n;
  }
  if (disk_write(d, d->last + 1) != 0) {
    say("ERROR write %s: %s", cfg.disk_dev, strerror(errno));
    return;
  }
  d->last++;
}

static void disk_report(const struct disk *d) {
  if (!d->mismatches)
    say("DISK CONSISTENT n=%llu checks=%llu", (unsigned long long)d->last, (unsigned long long)d->checks);
  else if (d->first_disk_valid)
    say("DISK MISMATCH ram=%llu disk=%llu mismatches=%llu", (unsigned long long)d->first_ram,
        (unsigned long long)d->first_disk, (unsigned long long)d->mismatches);
  else
    say("DISK MISMATCH ram=%llu disk=invalid mismatches=%llu", (unsigned long long)d->first_ram,
        (unsigned long long)d->mismatches);
}

/* ---------------------------------------------------------------- main loop */

static void sleep_ms(uint64_t ms) {
  struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

int main(void) {
  struct ram ram;
  struct disk disk;
  parse_cmdline();
  if (fill_once() != 0 || ram_init(&ram) != 0 || disk_init(&disk) != 0) {
    say("FAILED");
    for (;;) pause(); /* keep PID 1 alive: the test reads FAILED instead of a kernel panic */
  }
  say("READY dirty_mib=%u pages=%llu disk=%s", cfg.dirty_mib, (unsigned long long)ram.pages,
      cfg.disk ? cfg.disk_dev : "off");

  uint64_t tick = 0, t = now_ms();
  uint64_t next_tick = t + cfg.tick_ms, next_disk = t;
  for (;;) {
    t = now_ms();
    if (cfg.disk && t >= next_disk) {
      disk_step(&disk);
      /* Re-anchor instead of catching up: after a long pause (stop, restore) do not burst. */
      next_disk = (t - next_disk > cfg.disk_ms ? t : next_disk) + cfg.disk_ms;
    }
    if (t >= next_tick) {
      say("tick %llu sweep=%llu disk_n=%llu", (unsigned long long)++tick,
          (unsigned long long)(ram.pages ? ram.gen - 1 : 0), (unsigned long long)disk.last);
      if (cfg.disk) disk_report(&disk);
      next_tick = (t - next_tick > cfg.tick_ms ? t : next_tick) + cfg.tick_ms;
    }
    if (ram.pages) {
      if (ram_step(&ram, CHUNK_PAGES)) ram_report(&ram, 0);
    } else {
      uint64_t until = cfg.disk && next_disk < next_tick ? next_disk : next_tick;
      t = now_ms();
      if (until > t) sleep_ms(until - t);
    }
  }
}
