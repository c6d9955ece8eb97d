// The streaming scanner yields the same frames whatever the read boundaries are.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "pgrelay/protocol/errors.hpp"
#include "pgrelay/protocol/frame_scanner.hpp"
#include "pgrelay/protocol/writer.hpp"

using namespace pgrelay::protocol;

namespace {

struct seen {
  std::vector<char> whole_tags;
  std::vector<char> started;
  std::string passthrough;  // bytes of streamed frames, concatenated
  bool operator==(const seen&) const = default;
};

// Delivers `stream` in reads of `chunk` bytes, keeping unconsumed bytes like a connection does.
seen scan_in_chunks(const std::string& stream, std::size_t chunk) {
  seen out;
  frame_scanner sc(1 << 20);
  std::string buf;
  std::size_t fed = 0;
  while (fed < stream.size() || !buf.empty()) {
    auto n = std::min(chunk, stream.size() - fed);
    buf.append(stream, fed, n);
    fed += n;
    std::size_t pos = 0;
    for (;;) {
      auto s = sc.next(std::string_view(buf).substr(pos), [](char t) { return t == 'Z' || t == 'E'; });
      if (s.what == scan_step::kind::need_more) break;
      REQUIRE((s.what == scan_step::kind::whole || s.what == scan_step::kind::piece));
      if (s.starts_frame) out.started.push_back(s.tag);
      if (s.what == scan_step::kind::whole) out.whole_tags.push_back(s.tag);
      else out.passthrough.append(buf, pos, s.advance);
      pos += s.advance;
    }
    buf.erase(0, pos);
    if (n == 0 && !buf.empty()) FAIL("stuck with " << buf.size() << " bytes");
  }
  return out;
}

}  // namespace

TEST_CASE("frame_scanner is independent of read boundaries") {
  std::string stream;
  std::vector<std::string_view> row{std::string_view("a"), std::string_view("bb")};
  build::data_row_text(stream, row);
  std::string big(5000, 'z');
  std::vector<std::string_view> bigrow{big};
  build::data_row_text(stream, bigrow);
  build::command_complete(stream, "SELECT 2");
  build::ready_for_query(stream, transaction_status::idle);
  build::error_response(stream, severity::error, "22012", "division by zero");
  build::ready_for_query(stream, transaction_status::failed);

  auto ref = scan_in_chunks(stream, stream.size());
  CHECK(ref.whole_tags == std::vector<char>{'Z', 'E', 'Z'});
  CHECK(ref.started == std::vector<char>{'D', 'D', 'C', 'Z', 'E', 'Z'});
  for (std::size_t chunk = 1; chunk < 64; ++chunk) {
    INFO("chunk " << chunk);
    REQUIRE(scan_in_chunks(stream, chunk) == ref);
  }
  REQUIRE(scan_in_chunks(stream, 1000) == ref);
}

TEST_CASE("frame_scanner reports bad and oversized lengths") {
  frame_scanner sc(100);
  std::string bad = {'D', 0, 0, 0, 2};
  CHECK(sc.next(bad, [](char) { return false; }).what == scan_step::kind::bad_length);
  std::string big = {'D', 0, 0, 1, 0};
  CHECK(sc.next(big, [](char) { return false; }).what == scan_step::kind::too_large);
}
