// Frame decoding, including a stream split at every byte offset.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "pgrelay/protocol/frame.hpp"
#include "pgrelay/protocol/writer.hpp"

using namespace pgrelay::protocol;

namespace {

// Feeds `stream` to an incremental decoder in two chunks split at `cut` and returns the tags
// of every frame decoded, exactly as a connection's read loop would.
std::vector<std::pair<char, std::string>> decode_split(const std::string& stream, std::size_t cut) {
  std::vector<std::pair<char, std::string>> frames;
  std::string buf;
  auto drain = [&] {
    for (;;) {
      auto r = decode_frame(buf);
      if (r.status != decode_status::ok) {
        REQUIRE(r.status == decode_status::need_more);
        return;
      }
      frames.emplace_back(r.msg.tag, std::string(r.msg.body));
      buf.erase(0, r.msg.size());
    }
  };
  buf.append(stream.substr(0, cut));
  drain();
  buf.append(stream.substr(cut));
  drain();
  REQUIRE(buf.empty());
  return frames;
}

}  // namespace

TEST_CASE("decode_frame splits at every byte offset") {
  std::string stream;
  build::query(stream, "select 1");
  build::parse(stream, "s1", "select $1", std::vector<std::int32_t>{23});
  build::sync(stream);
  std::string big(3000, 'x');
  build::query(stream, big);
  build::terminate(stream);

  auto whole = decode_split(stream, stream.size());
  REQUIRE(whole.size() == 5);
  CHECK(whole[0].first == 'Q');
  CHECK(whole[0].second == std::string("select 1", 9));
  CHECK(whole[3].second.size() == big.size() + 1);
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    INFO("cut at " << cut);
    REQUIRE(decode_split(stream, cut) == whole);
  }
}

TEST_CASE("decode_frame rejects bad lengths") {
  std::string s = {'Q', 0, 0, 0, 3};
  CHECK(decode_frame(s).status == decode_status::bad_length);
  std::string neg = {'Q', '\xff', '\xff', '\xff', '\xff'};
  CHECK(decode_frame(neg).status == decode_status::bad_length);
  std::string huge = {'Q', 0x7f, 0, 0, 0};
  CHECK(decode_frame(huge, 1 << 20).status == decode_status::too_large);
  std::string four = {'S', 0, 0, 0, 4};
  auto r = decode_frame(four);
  REQUIRE(r.status == decode_status::ok);
  CHECK(r.msg.body.empty());
}

TEST_CASE("decode_frame needs a header and the whole body") {
  std::string s;
  build::query(s, "select 1");
  for (std::size_t n = 0; n < s.size(); ++n) {
    auto r = decode_frame(std::string_view(s).substr(0, n));
    CHECK(r.status == decode_status::need_more);
    CHECK(r.wanted == (n >= 5 ? s.size() : 0));
  }
}

TEST_CASE("has_whole_frame finds a complete frame by tag, walking headers only") {
  std::string answer;
  build::command_complete(answer, "SELECT 1");
  build::ready_for_query(answer, transaction_status::idle);
  CHECK(has_whole_frame(answer, 'C'));
  CHECK(has_whole_frame(answer, 'Z'));
  CHECK_FALSE(has_whole_frame(answer, 'E'));
  // Every cut before the last byte leaves the ReadyForQuery incomplete.
  for (std::size_t cut = 0; cut < answer.size(); ++cut) {
    CHECK_FALSE(has_whole_frame(std::string_view(answer).substr(0, cut), 'Z'));
  }
  CHECK_FALSE(has_whole_frame("", 'Z'));
  // A malformed length ends the walk: what follows is not trusted.
  std::string bad("C\0\0\0\2", 5);
  build::ready_for_query(bad, transaction_status::idle);
  CHECK_FALSE(has_whole_frame(bad, 'Z'));
}
