/* whoami: a tiny HTTP server for shoal's examples and tests. Answers every
 * request on port 8000 (or $PORT) with "I'm <hostname>" and the request line,
 * so clients can see which replica served them. Exits on SIGTERM. */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop = 0;
static void on_term(int sig) { (void)sig; stop = 1; }

int main(void) {
  const char *port_env = getenv("PORT");
  int port = port_env ? atoi(port_env) : 8000;
  char host[256] = "unknown";
  gethostname(host, sizeof host - 1);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGCHLD, SIG_IGN);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 128) != 0) {
    perror("whoami: listen");
    return 1;
  }
  printf("whoami: %s listening on :%d\n", host, port);
  fflush(stdout);
  while (!stop) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    if (fork() == 0) {
      char req[4096];
      ssize_t n = read(c, req, sizeof req - 1);
      req[n > 0 ? n : 0] = 0;
      char *eol = strpbrk(req, "\r\n");
      if (eol) *eol = 0;
      char body[4608];
      int len = snprintf(body, sizeof body, "I'm %s\n%s\n", host, req);
      char head[256];
      int hl = snprintf(head, sizeof head,
                        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", len);
      if (write(c, head, (size_t)hl) < 0 || write(c, body, (size_t)len) < 0) _exit(1);
      close(c);
      _exit(0);
    }
    close(c);
  }
  return 0;
}
