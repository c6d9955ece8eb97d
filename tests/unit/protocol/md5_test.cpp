// Unit tests for Postgres MD5 password hashing (pg_authid hash and PasswordMessage answer).
#include "pgrelay/protocol/md5.hpp"

#include <catch2/catch.hpp>

using namespace pgrelay::protocol;

// Expected values were computed independently with Python's hashlib, e.g.
//   h = hashlib.md5(b"app" + b"app").hexdigest().encode()         # password + user
//   "md5" + hashlib.md5(h + bytes([1, 2, 3, 4])).hexdigest()
TEST_CASE("md5_password_hash matches pg_authid format", "[md5]") {
  // "md5" + hashlib.md5(b"appapp").hexdigest()
  CHECK(md5_password_hash("app", "app") == "md5fe63fea7be31b0200b496d08bc6b517d");
}

TEST_CASE("md5_password_message matches independently computed values", "[md5]") {
  CHECK(md5_password_message("app", "app", md5_salt{0x01, 0x02, 0x03, 0x04}) ==
        "md5c1007ebbc6ecc151a46d7e2af0f47b66");
  // user "postgres", password "secret", salt de ad be ef (high bytes must not sign-extend)
  CHECK(md5_password_message("postgres", "secret", md5_salt{0xde, 0xad, 0xbe, 0xef}) ==
        "md5c546d0bbed2af888b328536b45c76348");
}

TEST_CASE("md5_password_message depends on user, password and salt", "[md5]") {
  const std::string base = md5_password_message("app", "app", md5_salt{1, 2, 3, 4});
  CHECK(md5_password_message("app2", "app", md5_salt{1, 2, 3, 4}) != base);
  CHECK(md5_password_message("app", "app2", md5_salt{1, 2, 3, 4}) != base);
  CHECK(md5_password_message("app", "app", md5_salt{1, 2, 3, 5}) != base);
  CHECK(base.size() == 35);
}

TEST_CASE("md5_password_message_from_hash equals the plaintext path", "[md5]") {
  const md5_salt salt{0x01, 0x02, 0x03, 0x04};
  const auto r = md5_password_message_from_hash(md5_password_hash("app", "app"), salt);
  REQUIRE(r.has_value());
  CHECK(*r == "md5c1007ebbc6ecc151a46d7e2af0f47b66");

  // Upper-case hex in a hand-edited users file still gives Postgres's answer.
  const auto upper = md5_password_message_from_hash("md5FE63FEA7BE31B0200B496D08BC6B517D", salt);
  REQUIRE(upper.has_value());
  CHECK(*upper == *r);
}

TEST_CASE("md5_password_message_from_hash rejects malformed stored hashes", "[md5]") {
  const md5_salt salt{0, 0, 0, 0};
  CHECK_FALSE(md5_password_message_from_hash("", salt).has_value());
  CHECK_FALSE(md5_password_message_from_hash("md5", salt).has_value());
  CHECK_FALSE(md5_password_message_from_hash("fe63fea7be31b0200b496d08bc6b517d", salt).has_value());
  CHECK_FALSE(
      md5_password_message_from_hash("md5fe63fea7be31b0200b496d08bc6b517", salt).has_value());
  CHECK_FALSE(
      md5_password_message_from_hash("md5fe63fea7be31b0200b496d08bc6b517dd", salt).has_value());
  CHECK_FALSE(
      md5_password_message_from_hash("md5ge63fea7be31b0200b496d08bc6b517d", salt).has_value());
  const std::string_view with_nul("md5fe63fea7be31b0200b496d08bc6b51\0d", 35);
  CHECK_FALSE(md5_password_message_from_hash(with_nul, salt).has_value());
  CHECK_FALSE(md5_password_message_from_hash("SCRAM-SHA-256$4096:abc", salt).has_value());
}
