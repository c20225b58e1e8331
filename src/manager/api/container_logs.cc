// GET /containers/{id}/logs on this node: the container's json-file log in
// Docker's multiplexed stream format (tasks have no TTY), with stdout,
// stderr, timestamps, tail, since, until and follow as Docker takes them.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <thread>

#include "common/json_limits.h"
#include "common/time.h"
#include "manager/api/api.h"
#include "manager/api/filters.h"
#include "manager/api/router.h"

namespace shoal::api {

namespace {

// One answer holds at most the log's last 64 MiB (the file is not rotated yet).
constexpr size_t kMaxAnswer = 64 << 20;
// Followers hold a handler thread each; the rest get a 503.
constexpr int kMaxFollowers = 4;
std::atomic<int> g_followers{0};

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

// Reads the complete lines of `fd` from `*offset` on, advancing it past
// them; a last line without its newline yet waits for the next read.
template <typename Fn>
void read_lines(int fd, off_t* offset, Fn&& each) {
  std::string pending;
  char buf[65536];
  for (;;) {
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

// What the log holds now, per the query (tail, since, until), as frames.
std::string backlog(int fd, off_t* offset, const LogQuery& q) {
  std::deque<std::string> frames;
  size_t bytes = 0;
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
  int fd = ::open(d->log_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  http::Response r;
  r.headers = stream_headers();
  if (fd < 0) return r;  // nothing written yet
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
  if (g_followers.fetch_add(1) >= kMaxFollowers) {
    g_followers.fetch_sub(1);
    ex.respond(error_response(unavailable("this node already serves " + std::to_string(kMaxFollowers) +
                                          " followed logs; stop one, or read without --follow")));
    return true;
  }
  struct Release {
    ~Release() { g_followers.fetch_sub(1); }
  } release;
  std::shared_ptr<http::Stream> out = ex.start_stream(200, stream_headers());
  int fd = -1;
  off_t offset = 0;
  bool first = true;
  for (;;) {
    if (fd < 0) fd = ::open(d->log_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    std::string chunk;
    if (fd >= 0) {
      if (first) {
        chunk = backlog(fd, &offset, *q);
      } else {
        read_lines(fd, &offset, [&](const std::string& line) { chunk += record_frame(line, *q); });
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
      // Follow ends with the container (once what it wrote last was sent).
      auto now = containers_->inspect(ref);
      if (!now.ok() || now->summary.state != "running") {
        if (fd >= 0) read_lines(fd, &offset, [&](const std::string& line) { chunk += record_frame(line, *q); });
        if (!chunk.empty()) out->write(chunk);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  if (fd >= 0) ::close(fd);
  out->close();
  return true;
}

}  // namespace shoal::api
