// Loading and validating pgrelay.yaml into an immutable conf::config, plus the small value
// parsers (durations, byte sizes, endpoints) it is built from. No YAML types leak out of here.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "pgrelay/conf/config.hpp"
#include "pgrelay/conf/diagnostic.hpp"

namespace pgrelay::conf {

// Either a config (and no errors) or every error found (and no config): never both, never a
// config that failed validation, so a reload that fails changes nothing.
struct load_result {
  std::optional<config> cfg;
  diagnostics errors;

  bool ok() const { return cfg.has_value(); }
};

// Reads and validates the file at `path`. Relative paths inside it (auth.users_file, unix
// sockets) resolve against the file's directory, made absolute. An unreadable file is one
// diagnostic. Never throws on bad input.
[[nodiscard]] load_result load_file(const std::string& path);

// Same as load_file on an in-memory document (tests, fuzzing). `display_name` is what
// diagnostics print as the file; `base_dir` anchors relative paths (empty: leave them relative).
[[nodiscard]] load_result load_string(std::string_view yaml, const std::string& display_name,
                                      const std::string& base_dir);

// "500ms", "5s", "2m", "1h", or a bare "0". nullopt on anything else, including overflow and
// a bare non-zero number (whose unit would be a guess).
[[nodiscard]] std::optional<duration> parse_duration(std::string_view text);

// "16MB", "512kB", "1GB", "1TB", "100B" (1024-based, as in postgresql.conf; "KB" is accepted
// for "kB") or a bare byte count. nullopt on anything else, including overflow.
[[nodiscard]] std::optional<std::uint64_t> parse_bytes(std::string_view text);

// "host:port", "[v6addr]:port" or "unix:/path". On failure `error` says why (e.g. the port is
// out of range) and `value` is empty.
struct endpoint_parse {
  std::optional<endpoint> value;
  std::string error;
};
[[nodiscard]] endpoint_parse parse_endpoint(std::string_view text);

// The candidate closest to `word` by edit distance (transpositions count as one edit), or ""
// when none is close enough to be a plausible typo. Used for "did you mean" hints.
[[nodiscard]] std::string closest_match(std::string_view word,
                                        std::span<const std::string_view> candidates);

// Every key the loader accepts, as dotted patterns ("pool.size", "databases.*.primary",
// "databases.*.replicas[].name"). Lets a test check that docs/configuration.md covers them all.
[[nodiscard]] std::span<const std::string_view> known_key_paths();

}  // namespace pgrelay::conf
