// Startup, SSLRequest, GSSENCRequest and CancelRequest decoding, valid and hostile.
#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "pgrelay/protocol/startup.hpp"
#include "pgrelay/protocol/writer.hpp"

using namespace pgrelay::protocol;

TEST_CASE("a startup message decodes its parameters in order") {
  std::string s;
  std::vector<std::pair<std::string_view, std::string_view>> params = {
      {"user", "app"}, {"database", "app"}, {"options", "-c search_path=x"}};
  build::startup_message(s, params);
  for (std::size_t n = 0; n < s.size(); ++n) {
    CHECK(decode_startup(std::string_view(s).substr(0, n)).kind == startup_kind::need_more);
  }
  auto p = decode_startup(s);
  REQUIRE(p.kind == startup_kind::startup);
  CHECK(p.size == s.size());
  CHECK(p.version == protocol_3_0);
  CHECK(p.param("user") == "app");
  CHECK(p.param("options") == "-c search_path=x");
  CHECK(p.param("missing").empty());
}

TEST_CASE("special request codes") {
  std::string ssl = {0, 0, 0, 8, 0x04, '\xd2', 0x16, 0x2f};
  CHECK(decode_startup(ssl).kind == startup_kind::ssl_request);
  std::string built;
  build::ssl_request(built);
  CHECK(built == ssl);
  std::string gss = {0, 0, 0, 8, 0x04, '\xd2', 0x16, 0x30};
  CHECK(decode_startup(gss).kind == startup_kind::gssenc_request);
  std::string cancel;
  build::cancel_request(cancel, 1234, std::string("\x01\x02\x03\x04", 4));
  auto c = decode_startup(cancel);
  REQUIRE(c.kind == startup_kind::cancel_request);
  CHECK(c.cancel_pid == 1234);
  CHECK(c.cancel_key == std::string_view("\x01\x02\x03\x04", 4));
}

TEST_CASE("hostile startup packets are classified, not trusted") {
  std::string tiny = {0, 0, 0, 4};
  CHECK(decode_startup(tiny).kind == startup_kind::bad_length);
  std::string huge = {0, 0x10, 0, 0};
  CHECK(decode_startup(huge).kind == startup_kind::bad_length);
  std::string negative = {'\x80', 0, 0, 0};
  CHECK(decode_startup(negative).kind == startup_kind::bad_length);
  std::string v2 = {0, 0, 0, 9, 0, 2, 0, 0, 0};
  CHECK(decode_startup(v2).kind == startup_kind::bad_version);
  std::string unterminated = {0, 0, 0, 12, 0, 3, 0, 0, 'u', 's', 'e', 'r'};
  CHECK(decode_startup(unterminated).kind == startup_kind::malformed);
  std::string odd = {0, 0, 0, 14, 0, 3, 0, 0, 'u', 0, 'v', 0, 'w', 0};
  CHECK(decode_startup(odd).kind == startup_kind::malformed);
  std::string trailing = {0, 0, 0, 14, 0, 3, 0, 0, 'u', 0, 'v', 0, 0, 'x'};
  CHECK(decode_startup(trailing).kind == startup_kind::malformed);
}
