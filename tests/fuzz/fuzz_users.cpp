// Fuzzes the users-file parser (conf::load_users_string) and the small value parsers the config
// loader is built from (durations, byte sizes, endpoints, "did you mean" hints). Byte 0 picks
// which; the rest is the text. Invariants: users or errors, never both; every accepted user has
// a verifier that passes the syntax check; an endpoint parse gives a value or a reason.
#include <algorithm>
#include <array>
#include <string>

#include "fuzz_check.hpp"
#include "pgrelay/conf/load.hpp"
#include "pgrelay/conf/users.hpp"

namespace conf = pgrelay::conf;
using namespace std::literals;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  auto text = pgrelay::fuzz::as_view(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto u = conf::load_users_string(text, "users.yaml");
      FUZZ_CHECK(u.ok() == u.errors.empty());
      if (u.ok()) {
        for (const auto& [name, entry] : *u.users) {
          FUZZ_CHECK(name == entry.name);
          FUZZ_CHECK(conf::check_scram_verifier(entry.scram_verifier).empty());
        }
      }
      for (const auto& d : u.errors) FUZZ_CHECK(d.file == "users.yaml" && !d.message.empty());
      break;
    }
    case 1:
      (void)conf::parse_duration(text);
      (void)conf::parse_bytes(text);
      break;
    case 2: {
      auto e = conf::parse_endpoint(text);
      FUZZ_CHECK(e.value.has_value() != !e.error.empty());
      break;
    }
    case 3: {
      static constexpr std::array candidates{"size"sv, "min_idle"sv, "mode"sv, "max_clients"sv,
                                             "wait_timeout"sv, "query_timeout"sv};
      auto m = conf::closest_match(text.substr(0, 64), candidates);
      FUZZ_CHECK(m.empty() || std::find(candidates.begin(), candidates.end(), m) != candidates.end());
      break;
    }
  }
  return 0;
}
