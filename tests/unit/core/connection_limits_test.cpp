// max_db_connections / max_user_connections accounting, and the auth.query verifier cache.
#include "pgrelay/core/connection_limits.hpp"
#include "pgrelay/core/verifier_cache.hpp"

#include <catch2/catch.hpp>

using namespace pgrelay::core;

TEST_CASE("a connection counts against its database and its user, or neither", "[limits]") {
  limit_counter app_db, other_db, alice, bob;
  CHECK(take_connection(app_db, 2, alice, 0) == limit_verdict::granted);
  CHECK(take_connection(app_db, 2, bob, 0) == limit_verdict::granted);
  CHECK(take_connection(app_db, 2, alice, 0) == limit_verdict::database_full);
  CHECK(app_db.used == 2);
  CHECK(alice.used == 1);
  // The user limit spans databases; a refusal there leaves the database count as it was.
  CHECK(take_connection(other_db, 0, alice, 2) == limit_verdict::granted);
  CHECK(take_connection(other_db, 0, alice, 2) == limit_verdict::user_full);
  CHECK(other_db.used == 1);
  CHECK(alice.used == 2);
  give_back_connection(app_db, alice);
  CHECK(take_connection(app_db, 2, bob, 0) == limit_verdict::granted);
  CHECK(bob.used == 2);
}

TEST_CASE("0 means unlimited, still counted", "[limits]") {
  limit_counter db, user;
  for (int i = 0; i < 1000; ++i) REQUIRE(take_connection(db, 0, user, 0) == limit_verdict::granted);
  CHECK(db.used == 1000);
  CHECK(take_connection(db, 1000, user, 0) == limit_verdict::database_full);
}

TEST_CASE("the 53300 message names the limit and its knob", "[limits]") {
  CHECK(limit_message(limit_verdict::database_full, "app", "alice", 5) ==
        "too many server connections for database \"app\" (max_db_connections 5)");
  CHECK(limit_message(limit_verdict::user_full, "app", "alice", 3) ==
        "too many server connections for user \"alice\" (max_user_connections 3)");
}

TEST_CASE("verifier cache: entries live for the ttl, per source and user", "[auth][cache]") {
  using namespace std::chrono_literals;
  verifier_cache cache(2);
  const verifier_cache::time_point t0{};
  cache.store("app", "alice", "v1", t0);
  CHECK(cache.find("app", "alice", t0 + 4s, 5s) == "v1");
  CHECK_FALSE(cache.find("other", "alice", t0, 5s));
  CHECK_FALSE(cache.find("app", "alice", t0 + 5s, 5s));
  CHECK(cache.size() == 0);  // expired entries go when seen
  cache.store("app", "alice", "v1", t0);
  cache.forget("app", "alice");
  CHECK_FALSE(cache.find("app", "alice", t0, 5s));
  // Bounded: the oldest goes.
  cache.store("app", "a", "1", t0);
  cache.store("app", "b", "2", t0 + 1s);
  cache.store("app", "c", "3", t0 + 2s);
  CHECK(cache.size() == 2);
  CHECK_FALSE(cache.find("app", "a", t0 + 2s, 5s));
  CHECK(cache.find("app", "c", t0 + 2s, 5s) == "3");
  // ttl 0: nothing is reused.
  CHECK_FALSE(cache.find("app", "c", t0 + 2s, 0s));
}
