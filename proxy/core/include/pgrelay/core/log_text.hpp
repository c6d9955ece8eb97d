// Client-supplied text (user names before authentication, application_name, startup values) made
// safe to put in a log line: it cannot start a new line, forge another entry or break the JSON
// log format's quoting.
#pragma once

#include <string>
#include <string_view>

namespace pgrelay::core {

// Printable ASCII is copied except '"' and '\', which become \" and \\; every other byte
// (control characters, DEL, non-ASCII) becomes \xNN. Text longer than `max_bytes` is cut there
// and marked with "...", so a client cannot fill the log with one value.
std::string log_escape(std::string_view text, std::size_t max_bytes = 256);

}  // namespace pgrelay::core
