// The tracker decides when a server may be handed on; these sequences are what drivers send.
#include <catch2/catch.hpp>

#include <string>

#include "pgrelay/core/request_tracker.hpp"

using pgrelay::core::request_tracker;

namespace {
void client(request_tracker& t, std::string_view tags) {
  for (char c : tags) t.on_client_frame(c);
}
}  // namespace

TEST_CASE("simple query: quiet again after its ReadyForQuery") {
  request_tracker t;
  CHECK(t.quiet());
  client(t, "Q");
  CHECK_FALSE(t.quiet());
  t.on_server_frame('T');
  t.on_server_frame('D');
  t.on_server_frame('C');
  CHECK_FALSE(t.quiet());
  t.on_server_frame('Z', 'I');
  CHECK(t.quiet());
}

TEST_CASE("a transaction keeps the server until it ends") {
  request_tracker t;
  client(t, "Q");
  t.on_server_frame('Z', 'T');
  CHECK_FALSE(t.quiet());
  CHECK(t.awaiting_client());
  CHECK(t.in_transaction());
  client(t, "Q");
  t.on_server_frame('Z', 'E');
  CHECK_FALSE(t.quiet());
  client(t, "Q");
  t.on_server_frame('Z', 'I');
  CHECK(t.quiet());
}

TEST_CASE("pipelined extended protocol: quiet only after the last Sync's answer") {
  request_tracker t;
  client(t, "PBDES");
  client(t, "BES");
  CHECK(t.outstanding() == 2);
  t.on_server_frame('1');
  t.on_server_frame('Z', 'I');
  CHECK_FALSE(t.quiet());
  t.on_server_frame('Z', 'I');
  CHECK(t.quiet());
}

TEST_CASE("Flush without Sync leaves the server unsynced") {
  request_tracker t;
  client(t, "PDH");
  CHECK(t.unsynced());
  CHECK_FALSE(t.quiet());
  t.on_server_frame('1');
  t.on_server_frame('t');
  CHECK_FALSE(t.quiet());
  client(t, "BES");
  CHECK_FALSE(t.unsynced());
  t.on_server_frame('Z', 'I');
  CHECK(t.quiet());
}

TEST_CASE("a Sync answered while more extended messages were sent is not quiet") {
  request_tracker t;
  client(t, "PBES");
  client(t, "PB");  // next batch in flight, not yet synced
  t.on_server_frame('Z', 'I');
  CHECK(t.outstanding() == 0);
  CHECK_FALSE(t.quiet());
}

TEST_CASE("COPY FROM STDIN holds the server until the copy's ReadyForQuery") {
  request_tracker t;
  client(t, "Q");
  t.on_server_frame('G');
  CHECK(t.in_copy());
  client(t, "dddc");
  CHECK_FALSE(t.quiet());
  t.on_server_frame('C');
  t.on_server_frame('Z', 'I');
  CHECK(t.quiet());
}

TEST_CASE("a stray ReadyForQuery never underflows") {
  request_tracker t;
  t.on_server_frame('Z', 'I');
  CHECK(t.outstanding() == 0);
  CHECK(t.quiet());
}
