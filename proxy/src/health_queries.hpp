// The SQL the health checker sends to each server: role and WAL positions, and the catalogue of
// functions and relations that routing and the session-state tracker need. Text only: the
// checker runs it.
#pragma once

#include <string>
#include <vector>

namespace pgrelay::proxy {

extern const char* const sample_sql;
extern const char* const volatile_functions_sql;
extern const char* const functions_fingerprint_sql;
extern const char* const risky_relations_sql;
extern const char* const custom_settings_sql;
std::string hidden_code_fingerprint_sql(const std::vector<std::string>& oids);

}  // namespace pgrelay::proxy
