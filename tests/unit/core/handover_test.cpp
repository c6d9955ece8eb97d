// A server changes hands only at a message boundary on both sides. These cases drive the
// client_frame_cursor and the request_tracker the way the relay does, with the client's bytes
// cut at every offset, and check what reached the server and when the server could be lent on.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "pgrelay/core/client_frames.hpp"
#include "pgrelay/core/handover.hpp"
#include "pgrelay/protocol/frame.hpp"
#include "pgrelay/protocol/writer.hpp"

using pgrelay::core::client_frame_cursor;
using pgrelay::core::link_facts;
using pgrelay::core::may_hand_over;
using pgrelay::core::request_tracker;
namespace build = pgrelay::protocol::build;

namespace {

std::string frame(char tag, std::string_view body) {
  std::string out(1, tag);
  auto n = static_cast<std::uint32_t>(body.size() + 4);
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((n >> shift) & 0xff));
  out += body;
  return out;
}

std::string query(std::string_view sql) {
  std::string out;
  build::query(out, sql);
  return out;
}

// One client leg as the relay drives it: bytes arrive in chunks, whole-wanted frames wait
// until complete, and every consumed byte is either sent to the server or dropped.
struct leg {
  client_frame_cursor cursor;
  request_tracker tracker;
  std::string pending;  // arrived, not yet consumed
  std::string sent;     // what the server received
  std::string dropped;

  void arrive(std::string_view bytes) {
    pending += bytes;
    std::size_t pos = 0;
    for (;;) {
      auto s = cursor.next(std::string_view(pending).substr(pos), tracker,
                           [](char t) { return t == 'Q' || t == 'P' || t == 'B'; });
      if (s.scan.what == pgrelay::protocol::scan_step::kind::need_more) break;
      REQUIRE((s.scan.what == pgrelay::protocol::scan_step::kind::whole ||
               s.scan.what == pgrelay::protocol::scan_step::kind::piece));
      auto bytes_of_step = pending.substr(pos, s.scan.advance);
      if (s.drop) {
        dropped += bytes_of_step;
      } else {
        if (s.scan.starts_frame) tracker.on_client_frame(s.scan.tag);
        sent += bytes_of_step;
      }
      pos += s.scan.advance;
    }
    pending.erase(0, pos);
  }
  bool may_release() const {
    link_facts f;
    f.client_mid_frame = cursor.mid_forwarded_frame();
    return may_hand_over(tracker, f);
  }
};

// True when `bytes` is a sequence of whole frames and nothing else.
bool whole_frames(std::string_view bytes) {
  while (!bytes.empty()) {
    auto r = pgrelay::protocol::decode_frame(bytes);
    if (r.status != pgrelay::protocol::decode_status::ok) return false;
    bytes.remove_prefix(r.msg.size());
  }
  return true;
}

}  // namespace

TEST_CASE("a query cut at any byte reaches the server whole, and only once it is whole") {
  const auto q = query("SELECT 'marker'");
  for (std::size_t cut = 0; cut <= q.size(); ++cut) {
    leg l;
    l.arrive(q.substr(0, cut));
    if (cut < q.size()) {
      CHECK(l.sent.empty());
      CHECK(l.may_release());  // nothing went out: the server owes nothing and holds nothing
    }
    l.arrive(q.substr(cut));
    CHECK(l.sent == q);
    CHECK_FALSE(l.may_release());  // its answer is owed
    l.tracker.on_server_frame('Z', 'I');
    CHECK(l.may_release());
  }
}

TEST_CASE("a COPY that fails while a CopyData frame is half sent keeps its server until the frame ends") {
  const auto start = query("COPY t FROM STDIN");
  const std::vector<std::string> frames = {frame('d', "-1\n"), frame('d', std::string(8192, '1')), frame('d', "2\n"),
                                           frame('c', "")};
  std::string stream;
  for (const auto& f : frames) stream += f;
  // The server's ErrorResponse + ReadyForQuery arrive after the client's bytes up to `cut`.
  for (std::size_t cut = frames[0].size(); cut <= stream.size(); ++cut) {
    INFO("cut at " << cut);
    // Once its header is here, a frame goes out piece by piece: a cut after a header and
    // before the frame's end leaves the server holding part of it. A cut inside a header has
    // sent nothing of that frame, which is then dropped whole after the error.
    std::size_t frame_start = 0;
    std::string expected = start;
    bool cut_inside_body = false;
    for (const auto& f : frames) {
      if (cut >= frame_start + 5) expected += f;
      if (cut >= frame_start + 5 && cut < frame_start + f.size()) cut_inside_body = true;
      frame_start += f.size();
    }
    leg l;
    l.arrive(start);
    l.tracker.on_server_frame('G');
    l.arrive(stream.substr(0, cut));
    l.tracker.on_server_frame('E');
    l.tracker.on_server_frame('Z', 'I');
    CHECK(l.may_release() == !cut_inside_body);
    l.arrive(stream.substr(cut));
    // The frame that was cut is finished on its server; everything after the error is
    // dropped as Postgres drops it; the server saw whole frames only.
    CHECK(whole_frames(l.sent));
    CHECK(l.may_release());
    CHECK(l.sent == expected);
    CHECK(l.sent.size() + l.dropped.size() == start.size() + stream.size());
  }
}

TEST_CASE("the header of a big CopyData from an idle client binds no server") {
  const std::string header = frame('d', "").substr(0, 1) + std::string("\x00\x20\x00\x04", 4);  // 2 MiB
  for (std::size_t cut = 1; cut <= header.size(); ++cut) {
    leg l;
    l.arrive(header.substr(0, cut));
    CHECK(l.sent.empty());
    CHECK(l.may_release());
  }
  leg l;
  l.arrive(header);
  CHECK(l.cursor.mid_dropped_frame());
  l.arrive(std::string(2 << 20, 'z'));
  CHECK_FALSE(l.cursor.mid_dropped_frame());
  l.arrive(query("SELECT 1"));
  CHECK(l.sent == query("SELECT 1"));
  CHECK(l.dropped.size() == header.size() + (2u << 20));
}

TEST_CASE("copy frames are forwarded while a request that may start COPY is owed an answer") {
  // Pipelined: the client need not wait for CopyInResponse before streaming.
  leg l;
  l.arrive(query("COPY t FROM STDIN") + frame('d', "1\n") + frame('c', ""));
  CHECK(l.dropped.empty());
  CHECK_FALSE(l.may_release());
  // Extended protocol: Execute then Flush, no Sync yet.
  leg x;
  x.arrive(frame('P', std::string("\0COPY t FROM STDIN\0\0\0", 21)) + frame('E', std::string("\0\0\0\0\0", 5)) +
           frame('H', ""));
  x.arrive(frame('d', "1\n"));
  CHECK(x.dropped.empty());
}

TEST_CASE("a frame the client cut and never finished keeps the server from anyone else") {
  const auto big = frame('d', std::string(100000, 'x'));
  leg l;
  l.arrive(query("COPY t FROM STDIN"));
  l.tracker.on_server_frame('G');
  for (std::size_t cut = 5; cut < big.size(); cut += 997) {  // from a whole header on
    leg m = l;
    m.arrive(big.substr(0, cut));
    m.tracker.on_server_frame('E');
    m.tracker.on_server_frame('Z', 'I');
    CHECK_FALSE(m.may_release());
    CHECK(m.cursor.mid_forwarded_frame());
  }
}

TEST_CASE("nothing else ties a quiet server: each fact alone keeps it") {
  request_tracker quiet;
  CHECK(may_hand_over(quiet, {}));
  link_facts f;
  f.server_mid_frame = true;
  CHECK_FALSE(may_hand_over(quiet, f));
  f = {};
  f.server_bytes_left = true;
  CHECK_FALSE(may_hand_over(quiet, f));
  f = {};
  f.writes_in_flight = true;
  CHECK_FALSE(may_hand_over(quiet, f));
  f = {};
  f.session_state = true;
  CHECK_FALSE(may_hand_over(quiet, f));
  request_tracker in_tx;
  in_tx.on_client_frame('Q');
  in_tx.on_server_frame('Z', 'T');
  CHECK_FALSE(may_hand_over(in_tx, {}));
}

TEST_CASE("a quiet server held only by a cut frame may be closed and the rest of the frame dropped") {
  const auto big = frame('d', std::string(100000, 'x'));
  leg l;
  l.arrive(query("COPY t FROM STDIN"));
  l.tracker.on_server_frame('G');
  l.arrive(big.substr(0, 4000));
  link_facts f;
  f.client_mid_frame = l.cursor.mid_forwarded_frame();
  CHECK_FALSE(pgrelay::core::held_only_by_cut_frame(l.tracker, f));  // the COPY still runs
  l.tracker.on_server_frame('E');
  l.tracker.on_server_frame('Z', 'I');
  CHECK(pgrelay::core::held_only_by_cut_frame(l.tracker, f));
  f.server_bytes_left = true;  // anything else that holds it still holds it
  CHECK_FALSE(pgrelay::core::held_only_by_cut_frame(l.tracker, f));
  // Closed: the rest of the frame never reaches any server, and the next query goes out whole.
  l.cursor.drop_rest_of_frame();
  CHECK(l.cursor.mid_dropped_frame());
  const auto sent_before = l.sent.size();
  l.arrive(big.substr(4000) + query("SELECT 1"));
  CHECK(l.sent.substr(sent_before) == query("SELECT 1"));
}
