// Helpers shared by the libFuzzer targets: an invariant check that stops the run with a message,
// and the input conventions (views over the fuzz data, splitting into several messages).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

// A broken invariant is a finding like a crash: print it and abort so libFuzzer saves the input.
#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);  \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

namespace pgrelay::fuzz {

inline std::string_view as_view(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// True if `inner` lies entirely inside `outer` (an empty view anywhere counts as inside).
inline bool within(std::string_view inner, std::string_view outer) {
  if (inner.empty()) return true;
  const char* b = outer.data();
  const char* e = b + outer.size();
  return inner.data() >= b && inner.data() + inner.size() <= e;
}

// Splits the input at '\n' into at most `max_parts` parts (the last part keeps any further
// newlines). Seed files for multi-message targets are one message per line.
inline std::vector<std::string_view> split_lines(std::string_view in, std::size_t max_parts) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    auto nl = in.find('\n');
    if (nl == std::string_view::npos) break;
    parts.push_back(in.substr(0, nl));
    in.remove_prefix(nl + 1);
  }
  parts.push_back(in);
  return parts;
}

}  // namespace pgrelay::fuzz
