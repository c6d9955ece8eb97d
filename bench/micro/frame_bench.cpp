// Frame decoding over a realistic server → client result stream: RowDescription, DataRows of one
// size (16 B, 256 B, 4 KiB, 64 KiB per frame), CommandComplete, ReadyForQuery; ~1 MiB per pass.
//
//   frame/decode/<size>         protocol::decode_frame frame after frame over the whole buffer
//   frame/scan_whole/<size>     frame_scanner::next over the whole buffer at once
//   frame/scan_16k_reads/<size> frame_scanner::next over windows of 16 KiB, the size the relay
//                               reads from a server at a time (proxy/src/relay.cpp): large
//                               DataRows pass through in pieces, a frame the caller wants whole
//                               that straddles a window makes the window grow by another read
//
// Throughput is reported as bytes/second of protocol stream and frames/second.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "pgrelay/protocol/frame.hpp"
#include "pgrelay/protocol/frame_scanner.hpp"
#include "pgrelay/protocol/writer.hpp"

namespace pgrelay::bench {
namespace {

namespace pr = pgrelay::protocol;

constexpr std::size_t stream_target = std::size_t{1} << 20;  // bytes per pass
constexpr std::size_t read_size = 16384;                       // relay.cpp: buf.prepare(16384)

// The same predicate as the relay's wanted_from_server (proxy/src/relay.cpp).
bool wanted_from_server(char t) {
  return t == 'Z' || t == 'E' || t == 'S' || t == 'G' || t == 'W' || t == '1' || t == '3';
}

std::size_t columns_for(std::size_t row_size) {
  if (row_size < 64) return 1;
  if (row_size < 1024) return 4;
  return 8;
}

// One DataRow frame of exactly `row_size` bytes (header included), text values.
void append_data_row(std::string& out, std::size_t row_size) {
  const std::size_t ncols = columns_for(row_size);
  const std::size_t overhead = pr::frame_header_size + 2 + 4 * ncols;
  const std::size_t payload = row_size - overhead;
  std::vector<std::string> values;
  for (std::size_t i = 0; i < ncols; ++i) {
    std::size_t len = payload / ncols + (i + 1 == ncols ? payload % ncols : 0);
    std::string v(len, 'x');
    for (std::size_t j = 0; j < len; ++j) v[j] = static_cast<char>('a' + (i + j) % 26);
    values.push_back(std::move(v));
  }
  std::vector<std::string_view> views(values.begin(), values.end());
  const auto before = out.size();
  pr::build::data_row_text(out, views);
  if (out.size() - before != row_size) throw std::logic_error("data row size mismatch");
}

struct result_stream {
  std::string bytes;
  std::size_t frames = 0;
};

result_stream make_stream(std::size_t row_size) {
  result_stream s;
  const std::size_t ncols = columns_for(row_size);
  std::vector<std::string> names;
  for (std::size_t i = 0; i < ncols; ++i) names.push_back("column_" + std::to_string(i));
  std::vector<std::string_view> name_views(names.begin(), names.end());
  const std::size_t rows = std::max<std::size_t>(16, stream_target / row_size);
  pr::build::row_description_text(s.bytes, name_views);
  for (std::size_t i = 0; i < rows; ++i) append_data_row(s.bytes, row_size);
  pr::build::command_complete(s.bytes, "SELECT " + std::to_string(rows));
  pr::build::ready_for_query(s.bytes, pr::transaction_status::idle);
  s.frames = rows + 3;
  return s;
}

void report(benchmark::State& state, const result_stream& s) {
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(s.bytes.size()));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(s.frames));
  state.counters["frames/pass"] = static_cast<double>(s.frames);
}

void bm_decode(benchmark::State& state) {
  const auto s = make_stream(static_cast<std::size_t>(state.range(0)));
  const std::string_view data(s.bytes);
  for (auto _ : state) {
    std::size_t pos = 0;
    std::size_t frames = 0;
    while (pos < data.size()) {
      auto r = pr::decode_frame(data.substr(pos));
      if (r.status != pr::decode_status::ok) {
        state.SkipWithError("decode_frame failed");
        break;
      }
      benchmark::DoNotOptimize(r.msg.tag);
      benchmark::DoNotOptimize(r.msg.body.data());
      pos += r.msg.size();
      ++frames;
    }
    benchmark::DoNotOptimize(frames);
  }
  report(state, s);
}

void bm_scan_whole(benchmark::State& state) {
  const auto s = make_stream(static_cast<std::size_t>(state.range(0)));
  const std::string_view data(s.bytes);
  for (auto _ : state) {
    pr::frame_scanner scanner;
    std::size_t pos = 0;
    while (pos < data.size()) {
      auto step = scanner.next(data.substr(pos), wanted_from_server);
      if (step.what != pr::scan_step::kind::whole && step.what != pr::scan_step::kind::piece) {
        state.SkipWithError("frame_scanner failed");
        break;
      }
      benchmark::DoNotOptimize(step.tag);
      benchmark::DoNotOptimize(step.body.data());
      pos += step.advance;
    }
  }
  report(state, s);
}

void bm_scan_reads(benchmark::State& state) {
  const auto s = make_stream(static_cast<std::size_t>(state.range(0)));
  const std::string_view data(s.bytes);
  for (auto _ : state) {
    pr::frame_scanner scanner;
    std::size_t pos = 0;
    std::size_t end = std::min(read_size, data.size());
    while (pos < data.size()) {
      auto step = scanner.next(data.substr(pos, end - pos), wanted_from_server);
      if (step.what == pr::scan_step::kind::need_more) {
        if (end == data.size()) {
          state.SkipWithError("truncated stream");
          break;
        }
        end = std::min(end + read_size, data.size());  // the next read lands behind the rest
        continue;
      }
      if (step.what != pr::scan_step::kind::whole && step.what != pr::scan_step::kind::piece) {
        state.SkipWithError("frame_scanner failed");
        break;
      }
      benchmark::DoNotOptimize(step.tag);
      benchmark::DoNotOptimize(step.body.data());
      pos += step.advance;
      if (pos == end) end = std::min(pos + read_size, data.size());  // window consumed: next read
    }
  }
  report(state, s);
}

}  // namespace

void register_frame_benchmarks() {
  for (auto* b : {benchmark::RegisterBenchmark("frame/decode", bm_decode),
                  benchmark::RegisterBenchmark("frame/scan_whole", bm_scan_whole),
                  benchmark::RegisterBenchmark("frame/scan_16k_reads", bm_scan_reads)}) {
    b->ArgName("row_bytes")->Arg(16)->Arg(256)->Arg(4096)->Arg(65536);
  }
}

}  // namespace pgrelay::bench
