#include "introspection.hpp"

namespace pgrelay::proxy {

awaitable<std::vector<worker_snapshot>> snapshot_all(shared_state& shared) {
  std::vector<worker_snapshot> all;
  for (auto* w : shared.workers) all.push_back(co_await run_on(*w, [w] { return w->snapshot(); }));
  co_return all;
}

}  // namespace pgrelay::proxy
