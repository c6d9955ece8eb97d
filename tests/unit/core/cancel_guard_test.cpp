// The rule "may this server go to another client" while cancels for its backend travel.
#include <catch2/catch.hpp>

#include "pgrelay/core/cancel_guard.hpp"

using namespace pgrelay::core;

TEST_CASE("a server with no cancel on its way is reused") {
  cancel_guard g;
  CHECK(g.may_hand_on());
  CHECK(decide_release(true, g) == release_action::reuse);
  CHECK(decide_release(false, g) == release_action::close);
}

TEST_CASE("a cancel on its way holds the server until it is delivered or dropped") {
  for (auto end : {cancel_outcome::delivered, cancel_outcome::dropped}) {
    cancel_guard g;
    g.on_sent();
    CHECK_FALSE(g.may_hand_on());
    CHECK(decide_release(true, g) == release_action::hold);
    CHECK(decide_release(false, g) == release_action::close);
    g.on_finished(end);
    CHECK(g.may_hand_on());
    CHECK(decide_release(true, g) == release_action::reuse);
  }
}

TEST_CASE("two cancels: the server waits for both") {
  cancel_guard g;
  g.on_sent();
  g.on_sent();
  g.on_finished(cancel_outcome::delivered);
  CHECK(g.in_flight() == 1);
  CHECK(decide_release(true, g) == release_action::hold);
  g.on_finished(cancel_outcome::dropped);
  CHECK(decide_release(true, g) == release_action::reuse);
}

TEST_CASE("a lost cancel closes the server for good") {
  cancel_guard g;
  g.on_sent();
  g.on_finished(cancel_outcome::lost);
  CHECK(g.tainted());
  CHECK_FALSE(g.may_hand_on());
  CHECK(decide_release(true, g) == release_action::close);
  g.on_sent();
  g.on_finished(cancel_outcome::delivered);
  CHECK(decide_release(true, g) == release_action::close);
}

TEST_CASE("an extra finish does not underflow") {
  cancel_guard g;
  g.on_finished(cancel_outcome::delivered);
  CHECK(g.in_flight() == 0);
  CHECK(g.may_hand_on());
}

TEST_CASE("cancels are forwarded only while the client's request runs") {
  request_tracker t;
  CHECK_FALSE(should_forward_cancel(t));
  t.on_client_frame('Q');
  CHECK(should_forward_cancel(t));
  t.on_server_frame('Z', 'T');
  CHECK_FALSE(should_forward_cancel(t));  // idle in a transaction: nothing to cancel
  t.on_client_frame('P');
  t.on_client_frame('B');
  t.on_client_frame('E');
  t.on_client_frame('H');
  CHECK(should_forward_cancel(t));  // Execute + Flush: running without a Sync
  t.on_client_frame('S');
  CHECK(should_forward_cancel(t));
  t.on_server_frame('Z', 'I');
  CHECK_FALSE(should_forward_cancel(t));
}
