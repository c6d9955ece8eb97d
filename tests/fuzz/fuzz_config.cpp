// Fuzzes the YAML config loader on an in-memory document (conf::load_string, no filesystem).
// Invariants: never throws; either a config or errors, never both or neither; every diagnostic
// names the document and has a message and a non-negative location.
#include <string>

#include "fuzz_check.hpp"
#include "pgrelay/conf/load.hpp"

namespace conf = pgrelay::conf;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto yaml = pgrelay::fuzz::as_view(data, size);
  const std::string name = "fuzz.yaml";
  auto r = conf::load_string(yaml, name, "/nonexistent/fuzz");
  FUZZ_CHECK(r.ok() == r.errors.empty());
  for (const auto& d : r.errors) {
    FUZZ_CHECK(d.file == name);
    FUZZ_CHECK(!d.message.empty());
    FUZZ_CHECK(d.line >= 0 && d.column >= 0);
    FUZZ_CHECK(!d.to_string().empty());
  }
  return 0;
}
