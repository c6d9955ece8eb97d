// pgrelay.yaml -> conf::config: the shape pass, then, when it found a mapping, the semantic
// pass; every error is gathered with its position. Nothing here logs, reads the environment or
// the clock, and no YAML type escapes conf/src.
#include "pgrelay/conf/load.hpp"

#include <filesystem>
#include <system_error>

#include "passes.hpp"
#include "yaml_reader.hpp"

namespace pgrelay::conf {

load_result load_string(std::string_view yaml, const std::string& display_name,
                        const std::string& base_dir) {
  detail::reader r{display_name, base_dir};
  config cfg;
  cfg.source_path = display_name;
  r.read_document(yaml, [&](const YAML::Node& root) {
    pool_overrides global_pool;
    if (detail::read_root(r, root, cfg, global_pool)) {
      detail::check_semantics(r, r.error_count(), cfg, global_pool);
    }
  });
  load_result out;
  out.errors = r.take_sorted();
  if (out.errors.empty()) out.cfg = std::move(cfg);
  return out;
}

load_result load_file(const std::string& path) {
  load_result out;
  const auto text = detail::read_text_file(path, out.errors);
  if (!text) return out;
  std::error_code ec;
  auto dir = std::filesystem::absolute(path, ec).parent_path();
  if (ec) dir = std::filesystem::path{path}.parent_path();
  return load_string(*text, path, dir.lexically_normal().string());
}

}  // namespace pgrelay::conf
