// One configuration error, located in its file like a compiler message.
#pragma once

#include <string>
#include <vector>

namespace pgrelay::conf {

struct diagnostic {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based; 0 when unknown
  std::string key; // dotted path, e.g. databases.app.pool.size
  std::string message;
  std::string hint; // e.g. "did you mean 'size'?"; may be empty

  // file:line:col: key: message (hint: ...)
  std::string to_string() const;
};

using diagnostics = std::vector<diagnostic>;

}  // namespace pgrelay::conf
