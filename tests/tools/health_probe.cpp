// health_probe --config FILE [--seconds N]: runs the health checker for N seconds (default 10;
// SIGINT/SIGTERM end it early) and prints every published topology as one JSON line on
// stdout. Logs go to stderr. Exit 2 on a bad command line or config.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>

#include "health_checker.hpp"
#include "pgrelay/conf/load.hpp"

namespace {

using namespace pgrelay;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string sample_fields(const router::server_sample& s, router::clock::time_point now) {
  return "\"reachable\":" + std::string{s.reachable ? "true" : "false"} +
         ",\"in_recovery\":" + (s.in_recovery ? "true" : "false") +
         ",\"receive_lsn\":" + std::to_string(s.receive_lsn) +
         ",\"replay_lsn\":" + std::to_string(s.replay_lsn) +
         ",\"replay_delay_ms\":" + std::to_string(s.replay_delay.count()) +
         ",\"sample_age_ms\":" +
         std::to_string(duration_cast<milliseconds>(now - s.sampled_at).count());
}

std::string to_json(const router::topology& t, router::clock::time_point now, long long t_ms) {
  std::string out = "{\"t_ms\":" + std::to_string(t_ms) + ",\"database\":" + quote(t.database) +
                    ",\"primary_name\":" + quote(t.primary_name) +
                    ",\"check_interval_ms\":" + std::to_string(t.check_interval.count()) +
                    ",\"primary\":{\"name\":" + quote(t.primary.name) + "," +
                    sample_fields(t.primary, now) + "},\"replicas\":[";
  bool first = true;
  for (const auto& r : t.replicas) {
    if (!first) out += ",";
    first = false;
    out += "{\"name\":" + quote(r.name) + ",\"roles\":[";
    for (std::size_t i = 0; i < r.roles.size(); ++i) out += (i ? "," : "") + quote(r.roles[i]);
    out += "],\"max_bytes\":" + std::to_string(r.limits.max_bytes) +
           ",\"max_time_ms\":" + std::to_string(r.limits.max_time.count()) +
           ",\"lag_bytes\":" + std::to_string(router::lag_bytes(t, r)) +
           ",\"eligible\":" + (router::eligible(t, r, now) ? "true" : "false") + "," +
           sample_fields(r.sample, now) + "}";
  }
  out += "],\"volatile_functions\":[";
  for (std::size_t i = 0; i < t.volatile_functions.size(); ++i) {
    out += (i ? "," : "") + quote(t.volatile_functions[i]);
  }
  return out + "]}";
}

int usage() {
  std::cerr << "usage: health_probe --config FILE [--seconds N] [--log-level LEVEL]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  long seconds = 10;
  std::string level = "info";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return usage();
    if (arg == "--config") {
      config_path = argv[++i];
    } else if (arg == "--seconds") {
      seconds = std::strtol(argv[++i], nullptr, 10);
    } else if (arg == "--log-level") {
      level = argv[++i];
    } else {
      return usage();
    }
  }
  if (config_path.empty() || seconds < 0) return usage();

  spdlog::set_default_logger(spdlog::stderr_color_mt("health_probe"));
  spdlog::set_level(spdlog::level::from_str(level));

  auto loaded = conf::load_file(config_path);
  if (!loaded.ok()) {
    for (const auto& d : loaded.errors) std::cerr << d.to_string() << "\n";
    return 2;
  }
  auto cfg = std::make_shared<const conf::config>(std::move(*loaded.cfg));

  // Block the stop signals before any thread starts, then wait for them (or the time limit).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const auto start = router::clock::now();
  std::mutex out_mutex;
  proxy::health_checker checker{cfg, [&](router::topology_ptr t) {
                                  const auto now = router::clock::now();
                                  const auto line = to_json(
                                      *t, now, duration_cast<milliseconds>(now - start).count());
                                  std::lock_guard lock{out_mutex};
                                  std::fwrite(line.data(), 1, line.size(), stdout);
                                  std::fputc('\n', stdout);
                                  std::fflush(stdout);
                                }};
  checker.start();
  const timespec limit{static_cast<time_t>(seconds), 0};
  sigtimedwait(&stop_signals, nullptr, &limit);
  checker.stop();
  return 0;
}
