// pgrelay_micro: Google Benchmark entry point. Each *_bench.cpp registers its benchmarks from a
// register_*() function so that per-statement and per-size variants get readable names.
#include <benchmark/benchmark.h>

namespace pgrelay::bench {
void register_frame_benchmarks();
void register_router_benchmarks();
}  // namespace pgrelay::bench

int main(int argc, char** argv) {
  pgrelay::bench::register_frame_benchmarks();
  pgrelay::bench::register_router_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
