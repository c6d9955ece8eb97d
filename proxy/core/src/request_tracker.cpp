// Frame bookkeeping for one client↔server link. Each Query, Sync or FunctionCall earns exactly
// one ReadyForQuery from the server; that is the only sure end of a response.
#include "pgrelay/core/request_tracker.hpp"

namespace pgrelay::core {

void request_tracker::on_client_frame(char tag) {
  switch (tag) {
    case 'Q':
    case 'F':
      ++outstanding_;
      break;
    case 'S':
      ++outstanding_;
      unsynced_ = false;
      break;
    case 'P':
    case 'B':
    case 'D':
    case 'E':
    case 'C':
    case 'H':
      unsynced_ = true;
      break;
    default:
      break;  // CopyData/Done/Fail belong to an outstanding Query or Sync already counted
  }
}

void request_tracker::on_server_frame(char tag, char status) {
  switch (tag) {
    case 'Z':
      if (outstanding_ > 0) --outstanding_;
      status_ = status;
      copy_ = false;
      break;
    case 'G':  // CopyInResponse: the client now streams data until CopyDone/CopyFail
    case 'W':  // CopyBothResponse (replication)
      copy_ = true;
      break;
    default:
      break;
  }
}

}  // namespace pgrelay::core
