// Session-parameter tracking. set_config() is used rather than SET so list-valued settings
// (search_path = 'a, b') are parsed by Postgres exactly as in a startup packet.
#include "pgrelay/core/session_params.hpp"

#include <cctype>

namespace pgrelay::core {

std::string normalize_param_name(std::string_view name) {
  std::string out(name);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_connection_param(std::string_view name) {
  return name == "user" || name == "database" || name == "replication" || name == "options" ||
         name == "_pq_.protocol_version";
}

bool is_server_fact(std::string_view name) {
  return name == "server_version" || name == "server_encoding" || name == "integer_datetimes" ||
         name == "is_superuser" || name == "session_authorization" || name == "in_hot_standby";
}

bool is_plain_param_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.')) return false;
  }
  return true;
}

namespace {

// Splits on unescaped whitespace; "\ " is a literal space, "\\" a backslash.
std::vector<std::string> split_options(std::string_view s) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size()) {
      cur.push_back(s[++i]);
      in_word = true;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      if (in_word) words.push_back(std::move(cur));
      cur.clear();
      in_word = false;
    } else {
      cur.push_back(c);
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(cur));
  return words;
}

std::optional<std::pair<std::string, std::string>> split_assignment(std::string_view kv) {
  auto eq = kv.find('=');
  if (eq == std::string_view::npos || eq == 0) return std::nullopt;
  std::string name(kv.substr(0, eq));
  for (auto& c : name) {
    if (c == '-') c = '_';  // postgres accepts --work-mem=... as work_mem
  }
  if (!is_plain_param_name(name)) return std::nullopt;
  return std::make_pair(std::move(name), std::string(kv.substr(eq + 1)));
}

}  // namespace

std::optional<std::vector<std::pair<std::string, std::string>>> parse_options(std::string_view options) {
  std::vector<std::pair<std::string, std::string>> out;
  auto words = split_options(options);
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::string_view w = words[i];
    std::optional<std::pair<std::string, std::string>> kv;
    if (w == "-c") {
      if (++i >= words.size()) return std::nullopt;
      kv = split_assignment(words[i]);
    } else if (w.starts_with("-c")) {
      kv = split_assignment(w.substr(2));
    } else if (w.starts_with("--")) {
      kv = split_assignment(w.substr(2));
    }
    if (!kv) return std::nullopt;
    out.push_back(std::move(*kv));
  }
  return out;
}

std::string quote_literal(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 2);
  out.push_back('\'');
  for (char c : value) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

std::string quote_ident(std::string_view ident) {
  std::string out;
  out.reserve(ident.size() + 2);
  out.push_back('"');
  for (char c : ident) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string quote_param_name(std::string_view name) {
  std::string out;
  for (;;) {
    auto dot = name.find('.');
    out += quote_ident(name.substr(0, dot));
    if (dot == std::string_view::npos) return out;
    out.push_back('.');
    name.remove_prefix(dot + 1);
  }
}

std::string reset_sql(std::string_view name) { return "RESET " + quote_param_name(name) + ";"; }

std::string set_config_sql(std::string_view name, std::string_view value) {
  return "SELECT pg_catalog.set_config(" + quote_literal(name) + ", " + quote_literal(value) + ", false)";
}

std::string plan_param_sync(const param_map& wanted, const param_map& baseline, param_map& applied) {
  std::string sets;
  std::string resets;
  for (const auto& [name, value] : wanted) {
    auto a = applied.find(name);
    auto b = baseline.find(name);
    const std::string* current = a != applied.end() ? &a->second : b != baseline.end() ? &b->second : nullptr;
    if (current && *current == value) continue;
    sets += sets.empty() ? "SELECT " : ", ";
    sets += "pg_catalog.set_config(" + quote_literal(name) + ", " + quote_literal(value) + ", false)";
    applied[name] = value;
  }
  for (auto it = applied.begin(); it != applied.end();) {
    if (wanted.contains(it->first)) {
      ++it;
      continue;
    }
    resets += reset_sql(it->first);
    it = applied.erase(it);
  }
  if (sets.empty()) return resets;
  return resets + sets + ";";
}

}  // namespace pgrelay::core
