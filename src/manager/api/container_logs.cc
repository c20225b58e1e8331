// GET /containers/{id}/logs on this node: the container's json-file log in
// Docker's multiplexed stream format (tasks have no TTY), with stdout,
// stderr, timestamps, tail, since, until and follow as Docker takes them.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <cstdint>
#include <deque>
#include <thread>

#include "common/json_limits.h"
#include "common/time.h"
#include "manager/api/api.h"
#include "manager/api/filters.h"
#include "manager/api/router.h"

namespace shoal::api {

namespace {

// One answer holds at most the log's last 16 MiB (the file is not rotated
// yet); a tail is read from the end, so its cost follows what it returns.
constexpr size_t kMaxAnswer = 16 << 20;
// Reads hold a handler thread each (followers for long): the rest get a 503.
constexpr int kMaxFollowers = 4;
constexpr int kMaxReaders = 4;
std::atomic<int> g_followers{0};
std::atomic<int> g_readers{0};
// A follower waits while this much is queued for a slow client.
constexpr size_t kMaxQueued = 4 << 20;

// Holds one of `limit` slots of `count` while it lives (ok() false: none free).
class Slot {
 public:
  Slot(std::atomic<int>& count, int limit) : count_(count), ok_(count.fetch_add(1) < limit) {
    if (!ok_) count_.fetch_sub(1);
  }
  ~Slot() {
    if (ok_) count_.fetch_sub(1);
  }
  bool ok() const { return ok_; }

 private:
  std::atomic<int>& count_;
  bool ok_;
};

struct LogQuery {
  bool out = false, err = false, timestamps = false, follow = false;
  int64_t tail = -1;  // -1: all
  std::optional<double> since, until;
};

// "1700000000", "1700000000.5" (Docker's form) -> seconds; nullopt when
// absent; an error when malformed.
Result<std::optional<double>> unix_time(const http::Request& req, const char* key) {
  std::string v = req.query_param(key).value_or("");
  if (v.empty() || v == "0") return std::optional<double>();
  if (v.size() > 32 || v.find_first_not_of("0123456789.") != std::string::npos || v.find('.') != v.rfind('.') ||
      v[0] == '.') {
    return invalid_argument(std::string(key) + "=" + shown_input(v) + " is not a unix timestamp");
  }
  return std::optional<double>(std::stod(v));
}

Result<LogQuery> parse_log_query(const http::Request& req) {
  LogQuery q;
  q.out = truthy(req.query_param("stdout").value_or(""));
  q.err = truthy(req.query_param("stderr").value_or(""));
  if (!q.out && !q.err) return invalid_argument("Bad parameters: you must choose at least one stream");
  if (truthy(req.query_param("details").value_or(""))) {
    return unimplemented("docker logs --details is not supported by shoal yet: run without it");
  }
  q.follow = truthy(req.query_param("follow").value_or(""));
  q.timestamps = truthy(req.query_param("timestamps").value_or(""));
  std::string t = req.query_param("tail").value_or("all");
  if (t != "all" && !t.empty()) {
    if (t.size() > 9 || t.find_first_not_of("0123456789") != std::string::npos) {
      return invalid_argument("tail=" + shown_input(t) + " must be \"all\" or a whole number");
    }
    q.tail = std::stoll(t);
  }
  SHOAL_ASSIGN_OR_RETURN(q.since, unix_time(req, "since"));
  SHOAL_ASSIGN_OR_RETURN(q.until, unix_time(req, "until"));
  return q;
}

void frame(std::string& out, int stream, const std::string& payload) {
  size_t n = payload.size();
  out += static_cast<char>(stream);
  out.append(3, '\0');
  out += static_cast<char>((n >> 24) & 0xff);
  out += static_cast<char>((n >> 16) & 0xff);
  out += static_cast<char>((n >> 8) & 0xff);
  out += static_cast<char>(n & 0xff);
  out += payload;
}

// The frame of one json-file record, "" if the query leaves it out (or it
// is cut short, as a crash may leave the last one).
std::string record_frame(const std::string& line, const LogQuery& q) {
  json j;
  try {
    j = json::parse(line);
  } catch (const std::exception&) {
    return "";
  }
  if (!j.is_object() || !j["log"].is_string()) return "";
  std::string stream = j.value("stream", "stdout"), when = j.value("time", "");
  if ((stream == "stdout" && !q.out) || (stream == "stderr" && !q.err)) return "";
  if (q.since || q.until) {
    auto tp = parse_rfc3339(when);
    if (!tp.ok()) return "";
    double secs = std::chrono::duration<double>(tp->time_since_epoch()).count();
    if ((q.since && secs < *q.since) || (q.until && secs > *q.until)) return "";
  }
  std::string f;
  frame(f, stream == "stderr" ? 2 : 1, (q.timestamps ? when + " " : "") + j["log"].get<std::string>());
  return f;
}

// Reads the complete lines of `fd` from `*offset` on (at most `max` bytes),
// advancing it past them; a last line without its newline yet waits for
// the next read.
template <typename Fn>
void read_lines(int fd, off_t* offset, Fn&& each, size_t max = SIZE_MAX) {
  std::string pending;
  char buf[65536];
  for (off_t start_at = *offset; static_cast<size_t>(*offset - start_at) < max;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, *offset + static_cast<off_t>(pending.size()));
    if (n <= 0) break;
    pending.append(buf, static_cast<size_t>(n));
    size_t start = 0, nl;
    while ((nl = pending.find('\n', start)) != std::string::npos) {
      each(pending.substr(start, nl - start));
      start = nl + 1;
    }
    *offset += static_cast<off_t>(start);
    pending.erase(0, start);
    if (pending.size() > kMaxAnswer) break;  // no newline in 64 MiB: not a json-file log
  }
}

// Where to start reading for the last `tail` records of the query: found
// backwards from the end, 64 KiB at a time (at most kMaxAnswer back).
off_t tail_start(int fd, off_t end, const LogQuery& q) {
  int64_t found = 0;
  off_t pos = end;
  std::string carry;  // the start of a line whose beginning lies further back
  char buf[65536];
  while (pos > 0 && end - pos < static_cast<off_t>(kMaxAnswer)) {
    off_t from = std::max<off_t>(0, pos - static_cast<off_t>(sizeof buf));
    ssize_t n = ::pread(fd, buf, static_cast<size_t>(pos - from), from);
    if (n <= 0) break;
    std::string block(buf, static_cast<size_t>(n));
    block += carry;
    size_t line_end = block.size();
    for (size_t i = block.size(); i-- > 0;) {
      if (block[i] != '\n') continue;
      if (i + 1 < line_end && !record_frame(block.substr(i + 1, line_end - i - 1), q).empty() && ++found >= q.tail) {
        return from + static_cast<off_t>(i + 1);
      }
      line_end = i;
    }
    carry = block.substr(0, line_end);
    pos = from;
  }
  return pos;
}

// What the log holds now, per the query (tail, since, until), as frames.
std::string backlog(int fd, off_t* offset, const LogQuery& q) {
  std::deque<std::string> frames;
  size_t bytes = 0;
  if (q.tail >= 0) {
    struct stat st {};
    if (::fstat(fd, &st) == 0) *offset = q.tail == 0 ? st.st_size : tail_start(fd, st.st_size, q);
  }
  read_lines(fd, offset, [&](const std::string& line) {
    std::string f = record_frame(line, q);
    if (f.empty()) return;
    bytes += f.size();
    frames.push_back(std::move(f));
    while ((q.tail >= 0 && static_cast<int64_t>(frames.size()) > q.tail) || bytes > kMaxAnswer) {
      bytes -= frames.front().size();
      frames.pop_front();
    }
  });
  std::string out;
  for (auto& f : frames) out += f;
  return out;
}

http::Headers stream_headers() { return {{"Content-Type", "application/vnd.docker.raw-stream"}}; }

}  // namespace

http::Response Api::container_logs(const std::string& ref, const http::Request& req) {
  if (!containers_) return error_response(not_found("No such container: " + shown_input(ref)));
  auto q = parse_log_query(req);
  if (!q.ok()) return error_response(q.status());
  auto d = containers_->inspect(ref);
  if (!d.ok()) return error_response(d.status());
  Slot slot(g_readers, kMaxReaders);
  if (!slot.ok()) {
    return error_response(unavailable("this node is reading " + std::to_string(kMaxReaders) +
                                      " container logs already; try again in a moment"));
  }
  int fd = ::open(d->log_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  http::Response r;
  r.headers = stream_headers();
  if (fd < 0) {
    if (errno == ENOENT) return r;  // nothing written yet
    return error_response(internal_error("reading the container's log: " + std::string(std::strerror(errno))));
  }
  off_t offset = 0;
  r.body = backlog(fd, &offset, *q);
  ::close(fd);
  return r;
}

bool Api::serve_logs_follow(http::Exchange& ex) {
  const http::Request& req = ex.request;
  if (req.method != "GET" || !containers_ || !truthy(req.query_param("follow").value_or(""))) return false;
  auto path = parse_api_path(req.path);
  if (!path.ok() || path->parts.size() != 3 || path->parts[0] != "containers" || path->parts[2] != "logs") {
    return false;
  }
  const std::string ref = path->parts[1];
  auto q = parse_log_query(req);
  if (!q.ok()) return ex.respond(error_response(q.status())), true;
  auto d = containers_->inspect(ref);
  if (!d.ok()) return ex.respond(error_response(d.status())), true;
  Slot slot(g_followers, kMaxFollowers);
  if (!slot.ok()) {
    ex.respond(error_response(unavailable("this node already serves " + std::to_string(kMaxFollowers) +
                                          " followed logs; stop one, or read without --follow")));
    return true;
  }
  std::shared_ptr<http::Stream> out = ex.start_stream(200, stream_headers());
  int fd = -1;
  off_t offset = 0;
  bool first = true, ending = false;
  for (;;) {
    if (fd < 0) fd = ::open(d->log_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    std::string chunk;
    if (fd >= 0) {
      if (first) {
        chunk = backlog(fd, &offset, *q);
      } else if (out->queued() < kMaxQueued) {  // else wait for the client to take some
        read_lines(fd, &offset, [&](const std::string& line) { chunk += record_frame(line, *q); }, 1 << 20);
      }
      first = false;
    }
    if (!chunk.empty() && !out->write(chunk)) break;
    if (out->closed()) break;
    if (q->until && std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count() >
                        *q->until) {
      break;
    }
    if (chunk.empty()) {
      if (out->queued() >= kMaxQueued) {  // a slow client: wait for it
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      if (ending) break;  // the container had ended and its log is all sent
      // Follow ends with the container, once what it wrote last was sent.
      auto now = containers_->inspect(ref);
      if (!now.ok() || now->summary.state != "running") {
        ending = true;
        continue;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  if (fd >= 0) ::close(fd);
  out->close();
  return true;
}

}  // namespace shoal::api
