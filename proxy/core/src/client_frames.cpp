#include "pgrelay/core/client_frames.hpp"

namespace pgrelay::core {

bool postgres_ignores(char tag, const request_tracker& tracker) {
  return (tag == 'd' || tag == 'c' || tag == 'f') && tracker.awaiting_client();
}

}  // namespace pgrelay::core
