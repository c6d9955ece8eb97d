// Session parameters a client asked for (startup packet, `options`, reported changes) and the
// plan that brings a pooled server in line with them, setting only what differs.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgrelay::core {

// Keys are GUC names lowercased (Postgres treats them case-insensitively).
using param_map = std::map<std::string, std::string, std::less<>>;  // looked up by string_view too

std::string normalize_param_name(std::string_view name);

// Startup parameters that are connection metadata, not settings.
bool is_connection_param(std::string_view name);

// Reported parameters that describe the server or the role rather than a setting a client can
// carry to another server (server_version, is_superuser …): never re-applied.
bool is_server_fact(std::string_view name);

// Parses a libpq `options` value: `-c name=value`, `-cname=value`, `--name=value`, with
// backslash-escaped spaces. Returns nullopt (and leaves `out` partial) on anything else.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_options(std::string_view options);

// Whether `name` is safe to splice into SQL as an identifier ([A-Za-z0-9_.], not empty).
bool is_plain_param_name(std::string_view name);

// Builds the SQL that moves a server from `applied` (settings pgrelay made on it beyond its
// `baseline`) to `wanted`, or an empty string when nothing differs. `applied` is updated to
// the state after the SQL succeeds.
std::string plan_param_sync(const param_map& wanted, const param_map& baseline, param_map& applied);

// 'value' with quotes doubled: a SQL string literal.
std::string quote_literal(std::string_view value);

// "ident" with double quotes doubled. Always quoted: a keyword list would have to follow every
// Postgres release, and a quoted lowercase name means the same as the bare one.
std::string quote_ident(std::string_view ident);

// A setting name as SQL: each dotted part quoted ("some"."var"), so reserved words and `$` pass.
// Postgres compares setting names case-insensitively, so quoting never changes which one is meant.
std::string quote_param_name(std::string_view name);

// `RESET "a"."b";` for any setting name.
std::string reset_sql(std::string_view name);

// The statement that sets `name` to `value` for the session, for any name and value.
std::string set_config_sql(std::string_view name, std::string_view value);

}  // namespace pgrelay::core
