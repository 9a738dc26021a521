/*
 * loadgen: the load generator of Hefur's benchmark suite (bench/main.ts compiles and runs it).
 *
 * Why C: the tracker under test answers tens of thousands of requests per second from one core;
 * a generator written in TypeScript would need about as much CPU per request as the tracker and
 * would measure itself. This one is a single thread on epoll, sends and receives in batches, and
 * prints its own CPU use so the report can show that it was not the bottleneck.
 *
 * Traffic: `peers` distinct peers spread over `torrents` info hashes (peer i announces for torrent
 * i % torrents, on port 1024 + i / torrents), chosen at random, so swarms fill up as they would on
 * a real tracker and every reply carries up to `numwant` peers. Modes:
 *
 *   udp-announce   BEP 15 announces (one connect per socket first, then its connection id)
 *   udp-scrape     BEP 15 scrapes of `scrape` info hashes each
 *   http-close     HTTP announces, a new TCP connection per request (as BitTorrent clients do)
 *   http-keep      HTTP announces over keep-alive connections
 *
 * Load: `conc` requests in flight. With `rate` 0 each finished request starts the next one at
 * once (closed loop: the peak rate). With a rate, requests are due at even intervals (open loop)
 * and latency is counted from when a request was due, not from when it could be sent, so a
 * server that falls behind cannot hide its queue (no "coordinated omission").
 *
 * Output: one JSON line on stdout with the counts, the rate, latency percentiles (microseconds)
 * and the generator's CPU use (fraction of one core) over the measured window.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum mode { UDP_ANNOUNCE, UDP_SCRAPE, HTTP_CLOSE, HTTP_KEEP };

static struct {
  enum mode mode;
  struct sockaddr_in addr;
  double warmup, duration, rate;
  int conc, torrents, peers, numwant, scrape, sockets, fill;
} opt = {.warmup = 1, .duration = 5, .conc = 64, .torrents = 1000, .peers = 100000,
         .numwant = 50, .scrape = 5, .sockets = 4};

/* ---- time, randomness, statistics --------------------------------------------------------- */

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_random(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

/* Latency histogram with one-microsecond buckets up to 2 s; slower answers land in the last. */
#define HIST_US 2000000
static uint32_t *hist;
static int64_t t_measure, t_end; /* the measured window */
static struct {
  uint64_t done, errors, failures, lost, reconnects, peers;
} st;
static int64_t max_us;
static double cpu_start = -1; /* the generator's CPU seconds when the window opened */

/* Records a finished request that started (or was due) at `start`; only inside the window. */
static void record(int64_t start, int64_t end, int ok, int failure) {
  if (end < t_measure || end >= t_end) return;
  if (!ok) {
    st.errors++;
    return;
  }
  if (failure) st.failures++;
  st.done++;
  int64_t us = (end - start) / 1000;
  if (us < 0) us = 0;
  if (us > max_us) max_us = us;
  hist[us < HIST_US ? us : HIST_US - 1]++;
}

/* A keep-alive connection had to be opened again (counted inside the window only). */
static void count_reconnect(void) {
  int64_t t = now_ns();
  if (t >= t_measure && t < t_end) st.reconnects++;
}

static int64_t percentile(double p) {
  uint64_t want = (uint64_t)(p * (double)st.done), seen = 0;
  for (int64_t i = 0; i < HIST_US; i++) {
    seen += hist[i];
    if (seen > want) return i;
  }
  return max_us;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* ---- the simulated peers ------------------------------------------------------------------- */

static void info_hash(int torrent, uint8_t out[20]) {
  uint64_t x = (uint64_t)torrent * 0x9e3779b97f4a7c15ull + 12345;
  for (int i = 0; i < 20; i++) {
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    out[i] = (uint8_t)(x >> 56);
  }
}

static void peer_id(int peer, uint8_t out[20]) {
  snprintf((char *)out, 21, "-LG0001-%012d", peer);
}

/* With `fill`, every peer announces once, in order, and the run ends: swarms start full. */
static int fill_next;
static int pick_peer(void) {
  if (opt.fill) return fill_next++;
  return (int)(next_random() % (uint64_t)opt.peers);
}
static int peer_port(int peer) { return 1024 + (peer / opt.torrents) % 60000; }
static int peer_left(int peer) { return peer % 4 == 0 ? 0 : 1000000 + peer; }

/* ---- scheduling shared by both protocols ---------------------------------------------------- */

static int64_t interval_ns, next_due;

/* When the next request may start: now in a closed loop, its due time in an open loop. */
static int due(int64_t now, int64_t *start) {
  if (opt.fill && fill_next >= opt.peers) return 0;
  if (opt.rate <= 0) {
    *start = now;
    return 1;
  }
  if (next_due > now) return 0;
  *start = next_due;
  next_due += interval_ns;
  return 1;
}

static int wait_events(int ep, struct epoll_event *ev, int max, int64_t now) {
  int64_t until = now + 1000000; /* wake at least every millisecond for timeouts */
  if (opt.rate > 0 && next_due < until) until = next_due;
  if (until < now) until = now;
  struct timespec ts = {(until - now) / 1000000000, (until - now) % 1000000000};
  return epoll_pwait2(ep, ev, max, &ts, NULL);
}

/* ---- UDP (BEP 15) --------------------------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v) {
  p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
}
static void put64(uint8_t *p, uint64_t v) {
  put32(p, v >> 32), put32(p + 4, (uint32_t)v);
}
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Set when the server echoes requests back: replies then carry action and id at 8 and 12. */
static int echo;

/* BEP 15 connect, blocking with retries: the connection id used by every request of `fd`. */
static int udp_connect(int fd, uint8_t conn_id[8]) {
  uint8_t req[16], rep[64];
  put64(req, 0x41727101980ull);
  put32(req + 8, 0);
  for (int attempt = 0; attempt < 20; attempt++) {
    uint32_t tx = (uint32_t)next_random();
    put32(req + 12, tx);
    send(fd, req, 16, 0);
    int64_t until = now_ns() + 250000000;
    while (now_ns() < until) {
      ssize_t n = recv(fd, rep, sizeof rep, 0);
      if (n >= 16 && get32(rep) == 0 && get32(rep + 4) == tx) {
        memcpy(conn_id, rep + 8, 8);
        return 0;
      }
      if (n == 16 && memcmp(rep, req, 16) == 0) { /* an echo server (the Deno floor) */
        memset(conn_id, 0, 8);
        echo = 1;
        return 0;
      }
      if (n < 0 && errno != EAGAIN) break;
      if (n < 0) usleep(1000);
    }
  }
  return -1;
}

struct uslot {
  int64_t start; /* when the request was sent (or due); 0 when the slot is free */
  uint32_t seq;  /* low 12 bits go into the transaction id, so a late reply is recognised */
};

/* Free slots, as a stack of indices. */
static int *free_stack, free_top;

/* Gives up on requests unanswered for a second (UDP has no retransmission). */
static void expire_slots(struct uslot *slots, int total, int64_t now) {
  for (int i = 0; i < total; i++) {
    if (slots[i].start != 0 && now - slots[i].start > 1000000000) {
      if (now >= t_measure && now < t_end) st.lost++;
      slots[i].start = 0;
      free_stack[free_top++] = i;
    }
  }
}

static size_t write_udp_request(uint8_t *p, const uint8_t conn_id[8], uint32_t tx,
                                uint8_t (*hashes)[20], int nh) {
  memcpy(p, conn_id, 8);
  put32(p + 12, tx);
  if (opt.mode == UDP_ANNOUNCE) {
    int peer = pick_peer();
    put32(p + 8, 1);
    info_hash(peer % opt.torrents, p + 16);
    peer_id(peer, p + 36);
    put64(p + 56, 0);
    put64(p + 64, (uint64_t)peer_left(peer));
    put64(p + 72, 0);
    put32(p + 80, 0);
    put32(p + 84, 0);
    put32(p + 88, (uint32_t)peer);
    put32(p + 92, (uint32_t)opt.numwant);
    p[96] = (uint8_t)(peer_port(peer) >> 8), p[97] = (uint8_t)peer_port(peer);
    return 98;
  }
  put32(p + 8, 2);
  int first = (int)(next_random() % (uint64_t)nh);
  for (int h = 0; h < opt.scrape; h++) memcpy(p + 16 + 20 * h, hashes[(first + h) % nh], 20);
  return 16 + 20 * (size_t)opt.scrape;
}

static int run_udp(void) {
  int nsock = opt.sockets, total = opt.conc;
  int fds[64];
  uint8_t conn_ids[64][8];
  struct uslot *slots = calloc((size_t)total, sizeof *slots);
  free_stack = malloc((size_t)total * sizeof *free_stack);
  for (int i = total - 1; i >= 0; i--) free_stack[free_top++] = i;
  int ep = epoll_create1(0);
  for (int s = 0; s < nsock; s++) {
    fds[s] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    int buf = 4 << 20;
    setsockopt(fds[s], SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    setsockopt(fds[s], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    if (connect(fds[s], (struct sockaddr *)&opt.addr, sizeof opt.addr) < 0) {
      perror("loadgen: connect");
      return -1;
    }
    if (udp_connect(fds[s], conn_ids[s]) < 0) {
      fprintf(stderr, "loadgen: no answer to the BEP 15 connect\n");
      return -1;
    }
    struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)s};
    epoll_ctl(ep, EPOLL_CTL_ADD, fds[s], &e);
  }

  enum { BATCH = 64 };
  static uint8_t out[64][BATCH][1600], in[BATCH][2048];
  static struct mmsghdr msgs[64][BATCH];
  static struct iovec iovs[64][BATCH];
  int nout[64];
  uint8_t hashes[256][20];
  int nh = opt.torrents < 256 ? opt.torrents : 256; /* scrapes cycle over a sample of torrents */
  for (int i = 0; i < nh; i++) info_hash(i * (opt.torrents / nh), hashes[i]);

  int64_t t0 = now_ns(), stop = t0 + (int64_t)((opt.warmup + opt.duration) * 1e9);
  t_measure = t0 + (int64_t)(opt.warmup * 1e9), t_end = stop;
  next_due = t0;
  int64_t next_expiry = t0 + 10000000;
  struct epoll_event ev[64];

  while (1) {
    int64_t now = now_ns();
    if (cpu_start < 0 && now >= t_measure) cpu_start = cpu_seconds();
    if (now >= stop || (opt.fill && fill_next >= opt.peers && free_top == total)) break;
    if (now >= next_expiry) {
      expire_slots(slots, total, now);
      next_expiry = now + 10000000;
    }
    /* Start every request that is due on a free slot; slot i talks through socket i % nsock. */
    memset(nout, 0, sizeof nout);
    int64_t start;
    while (free_top > 0 && due(now, &start)) {
      int i = free_stack[--free_top], s = i % nsock;
      struct uslot *sl = &slots[i];
      sl->start = start;
      sl->seq++;
      int n = nout[s]++;
      size_t len = write_udp_request(out[s][n], conn_ids[s], (uint32_t)i | (sl->seq << 20),
                                     hashes, nh);
      iovs[s][n] = (struct iovec){out[s][n], len};
      msgs[s][n].msg_hdr = (struct msghdr){.msg_iov = &iovs[s][n], .msg_iovlen = 1};
      if (n + 1 == BATCH) break;
    }
    for (int s = 0; s < nsock; s++) {
      if (nout[s] > 0 && sendmmsg(fds[s], msgs[s], (unsigned)nout[s], 0) < 0) st.errors++;
    }

    int ne = wait_events(ep, ev, 64, now);
    for (int e = 0; e < ne; e++) {
      int s = (int)ev[e].data.u32;
      for (;;) {
        for (int k = 0; k < BATCH; k++) {
          iovs[0][k] = (struct iovec){in[k], sizeof in[k]};
          msgs[0][k].msg_hdr = (struct msghdr){.msg_iov = &iovs[0][k], .msg_iovlen = 1};
        }
        int n = recvmmsg(fds[s], msgs[0], BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) break;
        int64_t t = now_ns();
        for (int k = 0; k < n; k++) {
          uint8_t *p = in[k];
          if (msgs[0][k].msg_len < 8) continue;
          uint32_t action = get32(p + 8 * echo), tx = get32(p + 4 + 8 * echo);
          int i = (int)(tx & 0xfffff);
          if (i >= total || slots[i].start == 0 || (slots[i].seq & 0xfff) != (tx >> 20)) continue;
          int ok = action == (opt.mode == UDP_ANNOUNCE ? 1u : 2u);
          if (ok && opt.mode == UDP_ANNOUNCE && msgs[0][k].msg_len >= 20 && t >= t_measure &&
              t < t_end)
            st.peers += (msgs[0][k].msg_len - 20) / 6;
          record(slots[i].start, t, 1, !ok);
          slots[i].start = 0;
          free_stack[free_top++] = i;
        }
        if (n < BATCH) break;
      }
    }
  }
  return 0;
}

/* ---- HTTP ----------------------------------------------------------------------------------- */

enum hstate { H_IDLE, H_CONNECTING, H_READING };

struct hslot {
  int fd;          /* -1 when closed; an idle keep-alive slot keeps its connection */
  enum hstate state;
  int64_t start;   /* when the request was started (or due) */
  int got;
  int reused; /* the request went over a connection that had already served one */
  char buf[4096];
};

static int build_request(char *out, size_t cap) {
  int peer = pick_peer();
  uint8_t h[20], id[21];
  info_hash(peer % opt.torrents, h);
  peer_id(peer, id);
  char hash[61];
  int k = 0;
  for (int i = 0; i < 20; i++) k += sprintf(hash + k, "%%%02X", h[i]);
  return snprintf(out, cap,
                  "GET /announce?info_hash=%s&peer_id=%s&port=%d&uploaded=0&downloaded=0"
                  "&left=%d&numwant=%d&compact=1 HTTP/1.1\r\nHost: %s\r\nUser-Agent: loadgen\r\n%s"
                  "\r\n",
                  hash, id, peer_port(peer), peer_left(peer), opt.numwant,
                  inet_ntoa(opt.addr.sin_addr),
                  opt.mode == HTTP_CLOSE ? "Connection: close\r\n" : "");
}

static void drop_conn(struct hslot *sl) {
  if (sl->fd >= 0) close(sl->fd); /* closing also removes it from the epoll set */
  sl->fd = -1;
  sl->state = H_IDLE;
}

/* Connects (non-blocking); the request is written once the socket is writable. */
static int open_conn(int ep, struct hslot *sl, int index) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&opt.addr, sizeof opt.addr) < 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  sl->fd = fd;
  sl->state = H_CONNECTING;
  sl->reused = 0;
  struct epoll_event e = {.events = EPOLLOUT, .data.u32 = (uint32_t)index};
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
  return 0;
}

static int send_request(int ep, struct hslot *sl, int index) {
  char req[512];
  int n = build_request(req, sizeof req);
  if (write(sl->fd, req, (size_t)n) != n) return -1;
  sl->got = 0;
  if (sl->state == H_CONNECTING) {
    struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)index};
    epoll_ctl(ep, EPOLL_CTL_MOD, sl->fd, &e);
  }
  sl->state = H_READING;
  return 0;
}

/* 1 when `buf` holds a whole response (the head, then Content-Length bytes of body). */
static int response_complete(struct hslot *sl, int eof, int *keep) {
  sl->buf[sl->got] = 0;
  char *end = strstr(sl->buf, "\r\n\r\n");
  if (end == NULL) return 0;
  int head = (int)(end - sl->buf) + 4;
  char *cl = strcasestr(sl->buf, "\ncontent-length:");
  *keep = opt.mode == HTTP_KEEP && !eof && strncmp(sl->buf, "HTTP/1.0", 8) != 0;
  char *conn = strcasestr(sl->buf, "\nconnection: close");
  if (conn != NULL && conn < end) *keep = 0;
  if (cl == NULL || cl > end) return eof;
  return sl->got >= head + atoi(cl + 16);
}

static void fail(struct hslot *sl, int64_t t) {
  record(sl->start, t, 0, 0);
  drop_conn(sl);
  sl->start = 0;
}

static int run_http(void) {
  int n = opt.conc;
  struct hslot *slots = calloc((size_t)n, sizeof *slots);
  free_stack = malloc((size_t)n * sizeof *free_stack);
  for (int i = n - 1; i >= 0; i--) free_stack[free_top++] = i;
  int ep = epoll_create1(0);
  for (int i = 0; i < n; i++) slots[i].fd = -1;
  int64_t t0 = now_ns(), stop = t0 + (int64_t)((opt.warmup + opt.duration) * 1e9);
  t_measure = t0 + (int64_t)(opt.warmup * 1e9), t_end = stop;
  next_due = t0;
  int64_t next_expiry = t0 + 10000000;
  struct epoll_event ev[256];

  while (1) {
    int64_t now = now_ns();
    if (cpu_start < 0 && now >= t_measure) cpu_start = cpu_seconds();
    if (now >= stop || (opt.fill && fill_next >= opt.peers && free_top == n)) break;
    if (now >= next_expiry) { /* give up on requests stuck for 2 s */
      for (int i = 0; i < n; i++) {
        if (slots[i].state != H_IDLE && now - slots[i].start > 2000000000) {
          if (now >= t_measure && now < t_end) st.lost++;
          drop_conn(&slots[i]);
          slots[i].start = 0;
          free_stack[free_top++] = i;
        }
      }
      next_expiry = now + 10000000;
    }
    int64_t start;
    while (free_top > 0 && due(now, &start)) {
      int i = free_stack[--free_top];
      struct hslot *sl = &slots[i];
      sl->start = start;
      if (sl->fd >= 0 && send_request(ep, sl, i) == 0) { /* an open keep-alive connection */
        sl->reused = 1;
        continue;
      }
      if (sl->fd >= 0) {
        drop_conn(sl);
        count_reconnect();
      }
      if (open_conn(ep, sl, i) < 0) {
        fail(sl, now);
        free_stack[free_top++] = i;
        break; /* out of sockets or ports: let the loop breathe */
      }
    }

    int ne = wait_events(ep, ev, 256, now);
    int64_t t = now_ns();
    for (int e = 0; e < ne; e++) {
      int i = (int)ev[e].data.u32;
      struct hslot *sl = &slots[i];
      if (sl->fd < 0 || sl->state == H_IDLE) continue;
      if (sl->state == H_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(sl->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || send_request(ep, sl, i) < 0) {
          fail(sl, t);
          free_stack[free_top++] = i;
        }
        continue;
      }
      ssize_t r = read(sl->fd, sl->buf + sl->got, sizeof sl->buf - 1 - (size_t)sl->got);
      if (r < 0 && errno == EAGAIN) continue;
      int eof = r <= 0;
      if (r > 0) sl->got += (int)r;
      if (eof && sl->got == 0 && sl->reused) {
        /* The server closed the idle connection (it does not keep alive): connect again and
           resend, as HTTP clients do; the time already spent counts. */
        drop_conn(sl);
        count_reconnect();
        if (open_conn(ep, sl, i) < 0) {
          fail(sl, t);
          free_stack[free_top++] = i;
        }
        continue;
      }
      int keep = 0;
      if (response_complete(sl, eof, &keep)) {
        int ok = strncmp(sl->buf + 9, "200", 3) == 0;
        int failure = strstr(sl->buf, "failure reason") != NULL;
        char *peers = strstr(sl->buf, "5:peers");
        if (peers != NULL && peers[7] >= '0' && peers[7] <= '9' && t >= t_measure && t < t_end)
          st.peers += (uint64_t)atoi(peers + 7) / 6;
        record(sl->start, t, ok, failure);
        sl->start = 0;
        if (keep) {
          sl->state = H_IDLE; /* the connection stays open for the slot's next request */
        } else {
          if (opt.mode == HTTP_KEEP) count_reconnect();
          drop_conn(sl);
        }
        free_stack[free_top++] = i;
      } else if (eof || sl->got >= (int)sizeof sl->buf - 1) {
        fail(sl, t);
        free_stack[free_top++] = i;
      }
    }
  }
  return 0;
}

/* ---- main ----------------------------------------------------------------------------------- */

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen hashes TORRENTS\n"
          "       loadgen MODE HOST PORT [warmup=S] [duration=S] [conc=N] [rate=R] [torrents=N]\n"
          "               [peers=N] [numwant=N] [scrape=N] [sockets=N] [fill=1]\n"
          "MODE: udp-announce | udp-scrape | http-close | http-keep\n");
  exit(2);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "hashes") == 0) {
    /* The info hashes of the simulated torrents, in hex, one a line (for a tracker whitelist). */
    int n = atoi(argv[2]);
    for (int t = 0; t < n; t++) {
      uint8_t h[20];
      info_hash(t, h);
      for (int i = 0; i < 20; i++) printf("%02x", h[i]);
      putchar('\n');
    }
    return 0;
  }
  if (argc < 4) usage();
  const char *modes[] = {"udp-announce", "udp-scrape", "http-close", "http-keep"};
  int m = -1;
  for (int i = 0; i < 4; i++)
    if (strcmp(argv[1], modes[i]) == 0) m = i;
  if (m < 0) usage();
  opt.mode = (enum mode)m;
  opt.addr.sin_family = AF_INET;
  if (inet_pton(AF_INET, argv[2], &opt.addr.sin_addr) != 1) usage();
  opt.addr.sin_port = htons((uint16_t)atoi(argv[3]));
  for (int i = 4; i < argc; i++) {
    char *eq = strchr(argv[i], '=');
    if (eq == NULL) usage();
    *eq = 0;
    double v = atof(eq + 1);
    if (!strcmp(argv[i], "warmup")) opt.warmup = v;
    else if (!strcmp(argv[i], "duration")) opt.duration = v;
    else if (!strcmp(argv[i], "conc")) opt.conc = (int)v;
    else if (!strcmp(argv[i], "rate")) opt.rate = v;
    else if (!strcmp(argv[i], "torrents")) opt.torrents = (int)v;
    else if (!strcmp(argv[i], "peers")) opt.peers = (int)v;
    else if (!strcmp(argv[i], "numwant")) opt.numwant = (int)v;
    else if (!strcmp(argv[i], "scrape")) opt.scrape = (int)v;
    else if (!strcmp(argv[i], "sockets")) opt.sockets = (int)v;
    else if (!strcmp(argv[i], "fill")) opt.fill = v != 0;
    else usage();
  }
  if (opt.conc < 1 || opt.conc > 1000000 || opt.torrents < 1 || opt.peers < 1 ||
      opt.scrape < 1 || opt.scrape > 74 || opt.sockets < 1 || opt.sockets > 64)
    usage();
  if (opt.rate > 0) interval_ns = (int64_t)(1e9 / opt.rate);
  prctl(PR_SET_TIMERSLACK, 1000UL); /* wake within a microsecond of a due request */
  hist = calloc(HIST_US, sizeof *hist);
  rng ^= (uint64_t)now_ns();

  if (opt.fill) opt.warmup = 0;
  int64_t began = now_ns();
  if ((opt.mode <= UDP_SCRAPE ? run_udp() : run_http()) < 0) return 1;
  double secs = opt.fill ? (now_ns() - began) / 1e9 : opt.duration;
  double cpu = cpu_seconds() - (cpu_start < 0 ? 0 : cpu_start);
  printf("{\"mode\":\"%s\",\"requests\":%llu,\"rate\":%.0f,\"errors\":%llu,\"failures\":%llu,"
         "\"lost\":%llu,\"reconnects\":%llu,\"p50_us\":%lld,\"p90_us\":%lld,\"p99_us\":%lld,"
         "\"p999_us\":%lld,\"max_us\":%lld,\"cpu\":%.3f,\"peers_per_reply\":%.1f}\n",
         modes[m], (unsigned long long)st.done, (double)st.done / secs,
         (unsigned long long)st.errors, (unsigned long long)st.failures,
         (unsigned long long)st.lost, (unsigned long long)st.reconnects,
         (long long)percentile(0.5), (long long)percentile(0.9), (long long)percentile(0.99),
         (long long)percentile(0.999), (long long)max_us, cpu / secs,
         st.done > 0 ? (double)st.peers / (double)st.done : 0.0);
  return 0;
}
