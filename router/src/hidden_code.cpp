#include "pgrelay/router/hidden_code.hpp"

#include <algorithm>

namespace pgrelay::router {

bool risky_relations::contains(const relation_ref& r) const {
  if (!bare.contains(r.name)) return false;  // also rules out every qualified name not in the set
  if (r.schema.empty()) return true;
  std::string key;
  key.reserve(r.schema.size() + 1 + r.name.size());
  key.append(r.schema).append(".").append(r.name);
  return qualified.contains(key);
}

risky_relations make_risky_relations(std::span<const std::pair<std::string, std::string>> rows,
                                     std::uint64_t version, std::vector<std::string> custom_settings) {
  risky_relations out;
  out.custom_settings = std::move(custom_settings);
  out.version = version == 0 ? 1 : version;
  for (const auto& [schema, name] : rows) {
    out.qualified.insert(schema + "." + name);
    out.bare.insert(name);
  }
  return out;
}

bool references_risky(std::span<const relation_ref> refs, const risky_relations& risky) {
  if (risky.empty()) return false;
  return std::any_of(refs.begin(), refs.end(), [&](const relation_ref& r) { return risky.contains(r); });
}

bool may_run_hidden_code(std::span<const relation_ref> refs, const risky_relations* risky) {
  return risky ? references_risky(refs, *risky) : !refs.empty();
}

}  // namespace pgrelay::router
