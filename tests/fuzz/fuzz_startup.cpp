// Fuzzes decode_startup: StartupMessage, SSLRequest, GSSENCRequest, CancelRequest and garbage.
// Invariants: a complete packet never claims more bytes than it was given or than
// max_startup_packet; its views point into the input; re-encoding a startup or cancel packet with
// the writer's builders reproduces its bytes; one byte less is need_more. The startup parameters
// (and `options`) then go through the SQL pgrelay builds to apply them on a pooled server, which
// must stay one statement whatever the client sent: no injection through parameter values. The
// values pgrelay logs (user, database, application_name) must come out of log_escape printable.
#include <string>
#include <utility>
#include <vector>

#include "fuzz_check.hpp"
#include "pgrelay/core/log_text.hpp"
#include "pgrelay/core/session_params.hpp"
#include "pgrelay/protocol/startup.hpp"
#include "pgrelay/protocol/writer.hpp"
#include "pgrelay/router/classify.hpp"

namespace pr = pgrelay::protocol;
namespace core = pgrelay::core;
using pgrelay::fuzz::within;

namespace {

// Mirrors client_login: every non-connection parameter, then `-c name=value` from options.
void check_param_sync(const pr::startup_packet& p) {
  core::param_map wanted;
  for (const auto& [name, value] : p.params) {
    if (core::is_connection_param(name) || name.starts_with("_pq_.")) continue;
    wanted[core::normalize_param_name(name)] = std::string(value);
  }
  if (auto options = p.param("options"); !options.empty()) {
    if (auto parsed = core::parse_options(options)) {
      for (auto& [name, value] : *parsed) wanted[core::normalize_param_name(name)] = value;
    }
  }
  core::param_map applied;
  auto sql = core::plan_param_sync(wanted, {}, applied);
  FUZZ_CHECK(sql.empty() == wanted.empty());
  if (sql.empty()) return;
  auto c = pgrelay::router::classify(sql);
  if (c.kind != pgrelay::router::statement_kind::parse_error) FUZZ_CHECK(c.statements == 1);
  FUZZ_CHECK(c.hint.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto in = pgrelay::fuzz::as_view(data, size);
  auto p = pr::decode_startup(in);
  FUZZ_CHECK(p.size <= in.size());
  FUZZ_CHECK(p.size <= pr::max_startup_packet);
  const auto packet = in.substr(0, p.size);
  std::string again;
  switch (p.kind) {
    case pr::startup_kind::need_more:
      FUZZ_CHECK(p.size == 0);
      return 0;
    case pr::startup_kind::bad_length:
      // Either the declared length itself is out of range (nothing consumed) or a fixed-size
      // request (SSL, GSSENC, cancel) declared the wrong size.
      FUZZ_CHECK(p.size == 0 || p.size >= 8);
      return 0;
    case pr::startup_kind::ssl_request:
    case pr::startup_kind::gssenc_request:
      FUZZ_CHECK(p.size == 8);
      break;
    case pr::startup_kind::cancel_request:
      FUZZ_CHECK(p.size >= 16);
      FUZZ_CHECK(within(p.cancel_key, packet));
      pr::build::cancel_request(again, p.cancel_pid, p.cancel_key);
      FUZZ_CHECK(again == packet);
      break;
    case pr::startup_kind::startup: {
      FUZZ_CHECK((p.version >> 16) == 3);
      for (const auto& [k, v] : p.params) {
        FUZZ_CHECK(!k.empty() && within(k, packet) && within(v, packet));
        FUZZ_CHECK(k.find('\0') == std::string_view::npos && v.find('\0') == std::string_view::npos);
        const auto logged = core::log_escape(v);
        for (std::size_t i = 0; i < logged.size(); ++i) {
          FUZZ_CHECK(logged[i] >= 0x20 && logged[i] < 0x7f);
          if (logged[i] == '"') FUZZ_CHECK(i > 0 && logged[i - 1] == '\\');
        }
      }
      pr::build::startup_message(again, p.params, p.version);
      FUZZ_CHECK(again == packet);
      check_param_sync(p);
      break;
    }
    case pr::startup_kind::bad_version:
      FUZZ_CHECK((p.version >> 16) != 3);
      break;
    case pr::startup_kind::malformed:
      break;
  }
  FUZZ_CHECK(p.size >= 8);
  // The declared length alone decides completeness.
  FUZZ_CHECK(pr::decode_startup(packet.substr(0, p.size - 1)).kind == pr::startup_kind::need_more);
  return 0;
}
