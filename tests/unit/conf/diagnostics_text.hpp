// The conf tests' view of a load's diagnostics: one line each, for INFO() and CHECK messages.
#pragma once

#include <string>

#include "pgrelay/conf/load.hpp"

namespace pgrelay::conf::testing {

inline std::string all(const diagnostics& errors) {
  std::string out;
  for (const auto& d : errors) out += d.to_string() + "\n";
  return out;
}

}  // namespace pgrelay::conf::testing
