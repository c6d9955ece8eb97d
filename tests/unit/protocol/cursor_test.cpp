// The bounds-checked reader: NUL-terminated strings, empty or not, and input that ends early.
#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include "pgrelay/protocol/cursor.hpp"

using pgrelay::protocol::cursor;
using namespace std::string_literals;

TEST_CASE("cursor reads empty and non-empty strings in turn") {
  const auto bytes = "\0S_1\0\0SELECT 1\0"s;
  cursor c(bytes);
  CHECK(c.cstring().empty());
  CHECK(c.cstring() == "S_1");
  CHECK(c.cstring().empty());
  CHECK(c.cstring() == "SELECT 1");
  CHECK(c.at_end());
  CHECK_FALSE(c.failed());
}

TEST_CASE("cursor fails on a string without its terminator and stays failed") {
  const auto bytes = "\0abc"s;
  cursor c(bytes);
  CHECK(c.cstring().empty());
  CHECK(c.cstring().empty());
  CHECK(c.failed());
  CHECK(c.remaining() == 0);
  CHECK(c.cstring().empty());
  CHECK(c.i32() == 0);
}

TEST_CASE("cursor fails on a string asked for at the end of its input") {
  const auto bytes = "ab\0"s;
  cursor c(bytes);
  CHECK(c.cstring() == "ab");
  CHECK(c.at_end());
  CHECK(c.cstring().empty());
  CHECK(c.failed());
}

TEST_CASE("cursor's strings view the input itself") {
  const auto bytes = "\0name\0"s;
  cursor c(bytes);
  auto empty = c.cstring();
  auto name = c.cstring();
  CHECK(empty.data() == bytes.data());
  CHECK(name.data() == bytes.data() + 1);
}
