// log_escape: client text in log lines cannot forge lines or break JSON quoting.
#include <catch2/catch.hpp>

#include "pgrelay/core/log_text.hpp"

using pgrelay::core::log_escape;

TEST_CASE("log_escape keeps plain text and escapes the rest") {
  CHECK(log_escape("app") == "app");
  CHECK(log_escape("my app-1.2 (x)") == "my app-1.2 (x)");
  CHECK(log_escape("a\"b\\c") == "a\\\"b\\\\c");
  CHECK(log_escape("x\n2026-01-01 info forged") == "x\\x0a2026-01-01 info forged");
  CHECK(log_escape(std::string_view("\r\t\x7f\xc3\xa9", 5)) == "\\x0d\\x09\\x7f\\xc3\\xa9");
  CHECK(log_escape("") == "");
}

TEST_CASE("log_escape bounds the length") {
  CHECK(log_escape(std::string(300, 'a')) == std::string(256, 'a') + "...");
  CHECK(log_escape("abcdef", 3) == "abc...");
  CHECK(log_escape("abc", 3) == "abc");
}
