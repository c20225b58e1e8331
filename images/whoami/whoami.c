/* whoami: a tiny HTTP server for shoal's examples and tests.
 *
 * Listens on port 8000 (or -p PORT / --port PORT / $PORT, the flag wins) and
 * answers every HTTP/1.0 or 1.1 request with
 *     I'm <hostname>\n<request line>\n
 * so clients can see which replica served them, then closes the connection.
 * Each client is served by a forked child, so a slow client never blocks the
 * others. SIGTERM or SIGINT make it stop accepting and exit 0.
 * Built static (gcc -static -O2) so it runs in an otherwise empty rootfs. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop = 0;
static void on_term(int sig) { (void)sig; stop = 1; }

static int parse_port(const char *s) {
  char *end = NULL;
  long p = strtol(s, &end, 10);
  if (!s[0] || *end || p < 1 || p > 65535) {
    fprintf(stderr, "whoami: invalid port \"%s\": give a number from 1 to 65535\n", s);
    exit(2);
  }
  return (int)p;
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

/* Reads the request head (up to the blank line, 5 s at most), answers it. */
static void serve(int c, const char *host) {
  char req[8192] = "";
  size_t len = 0;
  while (len < sizeof req - 1 && !strstr(req, "\r\n\r\n") && !strstr(req, "\n\n")) {
    struct pollfd pfd = {c, POLLIN, 0};
    if (poll(&pfd, 1, 5000) <= 0) break;
    ssize_t n = read(c, req + len, sizeof req - 1 - len);
    if (n <= 0) break;
    len += (size_t)n;
    req[len] = 0;
  }
  req[len] = 0;
  char *eol = strpbrk(req, "\r\n");
  if (eol) *eol = 0;
  char body[8400];
  int blen = snprintf(body, sizeof body, "I'm %s\n%s\n", host, req);
  char head[256];
  int hlen = snprintf(head, sizeof head,
                      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                      "Connection: close\r\n\r\n", blen);
  write_all(c, head, (size_t)hlen);
  write_all(c, body, (size_t)blen);
  printf("whoami: %s\n", req);
  fflush(stdout);
}

int main(int argc, char **argv) {
  int port = getenv("PORT") ? parse_port(getenv("PORT")) : 8000;
  for (int i = 1; i < argc; ++i) {
    if ((!strcmp(argv[i], "-p") || !strcmp(argv[i], "--port")) && i + 1 < argc) {
      port = parse_port(argv[++i]);
    } else {
      fprintf(stderr, "usage: whoami [-p|--port PORT]   (default $PORT, else 8000)\n");
      return 2;
    }
  }
  char host[256] = "unknown";
  gethostname(host, sizeof host - 1);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term; /* no SA_RESTART: accept() returns EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGCHLD, SIG_IGN); /* children are reaped automatically */
  signal(SIGPIPE, SIG_IGN);
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 128) != 0) {
    fprintf(stderr, "whoami: listening on :%d: %s\n", port, strerror(errno));
    return 1;
  }
  printf("whoami: %s listening on :%d\n", host, port);
  fflush(stdout);
  while (!stop) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue; /* EINTR on SIGTERM, or a transient error */
    pid_t pid = fork();
    if (pid == 0) {
      close(s);
      serve(c, host);
      close(c);
      _exit(0);
    }
    if (pid < 0) serve(c, host); /* out of processes: serve inline */
    close(c);
  }
  printf("whoami: stopping\n");
  fflush(stdout);
  return 0;
}
