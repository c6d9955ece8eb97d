// The small value parsers the loader is built from: durations, byte sizes, endpoints, and the
// did-you-mean matcher.
#include <array>
#include <catch2/catch.hpp>
#include <string_view>

#include "pgrelay/conf/config.hpp"
#include "pgrelay/conf/diagnostic.hpp"
#include "pgrelay/conf/load.hpp"

using namespace pgrelay::conf;
using namespace std::chrono_literals;
using namespace std::string_view_literals;

TEST_CASE("parse_duration accepts ms, s, m, h, d and a bare 0", "[conf][parse]") {
  CHECK(parse_duration("500ms") == duration{500});
  CHECK(parse_duration("5s") == 5s);
  CHECK(parse_duration("2m") == 2min);
  CHECK(parse_duration("2min") == 2min);
  CHECK(parse_duration("1h") == 1h);
  CHECK(parse_duration("1d") == 24h);
  CHECK(parse_duration("0") == 0ms);
  CHECK(parse_duration("0s") == 0ms);
}

TEST_CASE("parse_duration rejects ambiguity and garbage", "[conf][parse]") {
  CHECK_FALSE(parse_duration("30"));  // seconds? milliseconds? refuse to guess
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("s"));
  CHECK_FALSE(parse_duration("-5s"));
  CHECK_FALSE(parse_duration("5 s"));
  CHECK_FALSE(parse_duration("1.5s"));
  CHECK_FALSE(parse_duration("5S"));
  CHECK_FALSE(parse_duration("1w"));
  CHECK_FALSE(parse_duration("99999999999999999999s"));
  CHECK_FALSE(parse_duration("9223372036854776d"));  // overflows milliseconds
}

TEST_CASE("parse_bytes is 1024-based like postgresql.conf", "[conf][parse]") {
  CHECK(parse_bytes("0") == 0u);
  CHECK(parse_bytes("100") == 100u);
  CHECK(parse_bytes("100B") == 100u);
  CHECK(parse_bytes("8kB") == 8192u);
  CHECK(parse_bytes("8KB") == 8192u);
  CHECK(parse_bytes("16MB") == 16u * 1024 * 1024);
  CHECK(parse_bytes("1GB") == 1024ull * 1024 * 1024);
  CHECK(parse_bytes("2TB") == 2ull << 40);
  CHECK_FALSE(parse_bytes("16mb"));
  CHECK_FALSE(parse_bytes("MB"));
  CHECK_FALSE(parse_bytes("-1"));
  CHECK_FALSE(parse_bytes("16777216TB"));  // overflows 64 bits
}

TEST_CASE("parse_endpoint", "[conf][parse]") {
  SECTION("host:port") {
    const auto e = parse_endpoint("db.internal:5432");
    REQUIRE(e.value);
    CHECK(e.value->host == "db.internal");
    CHECK(e.value->port == 5432);
    CHECK_FALSE(e.value->is_unix());
    CHECK(e.value->to_string() == "db.internal:5432");
  }
  SECTION("bracketed IPv6") {
    const auto e = parse_endpoint("[::1]:6432");
    REQUIRE(e.value);
    CHECK(e.value->host == "::1");
    CHECK(e.value->to_string() == "[::1]:6432");
  }
  SECTION("unix socket") {
    const auto e = parse_endpoint("unix:/tmp/.s.PGSQL.6432");
    REQUIRE(e.value);
    CHECK(e.value->is_unix());
    CHECK(e.value->unix_path == "/tmp/.s.PGSQL.6432");
    CHECK(e.value->to_string() == "unix:/tmp/.s.PGSQL.6432");
  }
  SECTION("errors say why") {
    CHECK(parse_endpoint("localhost").error == "expected host:port or unix:/path, got 'localhost'");
    CHECK(parse_endpoint("h:0").error == "port 0 is out of range 1..65535");
    CHECK(parse_endpoint("h:65536").error == "port 65536 is out of range 1..65535");
    CHECK(parse_endpoint("h:99999999999999999999999").error ==
          "port 99999999999999999999999 is out of range 1..65535");
    CHECK(parse_endpoint("h:pg").error == "port 'pg' is not a number");
    CHECK(parse_endpoint("h:").error == "port '' is not a number");
    CHECK(parse_endpoint(":5432").error == "the host is empty in ':5432'");
    CHECK(parse_endpoint("::1:5432").error ==
          "'::1:5432': an IPv6 address needs brackets, e.g. [::1]:5432");
    CHECK(parse_endpoint("[::1:5432").error == "'[::1:5432' has no closing ']'");
    CHECK(parse_endpoint("unix:").error == "the unix socket path is empty");
    CHECK_FALSE(parse_endpoint("").value);
  }
  CHECK(parse_endpoint("h:1").value->port == 1);
  CHECK(parse_endpoint("h:65535").value->port == 65535);
}

TEST_CASE("closest_match suggests plausible typos only", "[conf][parse]") {
  constexpr std::array keys{"size"sv, "min_idle"sv, "mode"sv, "server_lifetime"sv};
  CHECK(closest_match("szie", keys) == "size");  // transposition
  CHECK(closest_match("sise", keys) == "size");  // substitution
  CHECK(closest_match("min_idel", keys) == "min_idle");
  CHECK(closest_match("minidle", keys) == "min_idle");  // deletion
  CHECK(closest_match("server_liftime", keys) == "server_lifetime");
  CHECK(closest_match("server", keys) == "server_lifetime");  // a prefix
  CHECK(closest_match("sizes_max", keys) == "size");          // an extension
  CHECK(closest_match("colour", keys).empty());
  CHECK(closest_match("x", keys).empty());
  CHECK(closest_match("", keys).empty());
}

TEST_CASE("diagnostic::to_string prints like a compiler", "[conf]") {
  diagnostic d{"pgrelay.yaml",        12, 5, "databases.app.pool.szie", "unknown key",
               "did you mean 'size'?"};
  CHECK(d.to_string() ==
        "pgrelay.yaml:12:5: databases.app.pool.szie: unknown key (hint: did you mean 'size'?)");
  d.hint.clear();
  CHECK(d.to_string() == "pgrelay.yaml:12:5: databases.app.pool.szie: unknown key");
  d.key.clear();
  CHECK(d.to_string() == "pgrelay.yaml:12:5: unknown key");
  d.line = 0;
  d.column = 0;
  CHECK(d.to_string() == "pgrelay.yaml: unknown key");
}
