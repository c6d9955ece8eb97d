// Process start: read the configuration, set up logging, then hand over to proxy_runtime (workers,
// signals, reload, graceful shutdown, the HTTP endpoint and systemd notifications).
#include "app.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>

#include "loaded_config.hpp"
#include "proxy_runtime.hpp"

namespace pgrelay::proxy {

namespace {

// `%j`: the message as the inside of a JSON string, so every line of log.format json parses.
class json_message_flag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    static constexpr char hex[] = "0123456789abcdef";
    auto put = [&dest](std::string_view s) { dest.append(s.data(), s.data() + s.size()); };
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      switch (c) {
        case '"': put("\\\""); break;
        case '\\': put("\\\\"); break;
        case '\n': put("\\n"); break;
        case '\r': put("\\r"); break;
        case '\t': put("\\t"); break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            const char esc[] = {'\\', 'u', '0', '0', hex[(c >> 4) & 0xf], hex[c & 0xf]};
            dest.append(esc, esc + sizeof esc);
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<json_message_flag>(); }
};

void setup_logging(const conf::log_config& log) {
  auto logger = spdlog::stderr_color_mt("pgrelay");
  spdlog::set_default_logger(logger);
  if (log.format == conf::log_format::json) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<json_message_flag>('j').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","thread":%t,"msg":"%j"})");
    spdlog::set_formatter(std::move(formatter));
  } else {
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%t] %v");
  }
  spdlog::set_level(spdlog::level::from_str(log.level));
  spdlog::flush_on(spdlog::level::info);
}

}  // namespace

int run_proxy(const std::string& config_path) {
  // Until the runtime's signal_set takes SIGHUP over, a reload (systemd, a test) must not end the
  // process: the configuration about to be read is the one it asks for.
  std::signal(SIGHUP, SIG_IGN);
  auto initial = load_everything(config_path);
  if (!initial.problems.empty()) {
    std::cerr << initial.problems;
    return 2;
  }
  setup_logging(initial.config->log);
  proxy_runtime runtime(config_path, std::move(initial));
  if (!runtime.start()) return 1;
  return runtime.run();
}

}  // namespace pgrelay::proxy
