// Knows, from the frames crossing a client↔server link, whether the server owes the client
// anything: outstanding Sync/Query responses, unsynced extended-protocol work, the transaction
// status of the last ReadyForQuery. The proxy releases a server only when this says it is quiet.
#pragma once

#include <cstdint>

namespace pgrelay::core {

class request_tracker {
 public:
  // Call before forwarding a frame from the client (tag only; bodies are not needed).
  void on_client_frame(char tag);
  // Call for every frame from the server; `status` is the ReadyForQuery byte when tag == 'Z'.
  void on_server_frame(char tag, char status = 0);

  char transaction_status() const { return status_; }
  bool in_transaction() const { return status_ != 'I'; }
  std::uint32_t outstanding() const { return outstanding_; }
  // Extended-protocol messages were sent after the last Sync (a Flush round, a half-sent batch).
  bool unsynced() const { return unsynced_; }
  // Nothing is owed in either direction and no transaction is open: safe to hand the server on.
  bool quiet() const { return outstanding_ == 0 && !unsynced_ && status_ == 'I' && !copy_; }
  // Nothing is owed, whatever the transaction status (used for idle-in-transaction checks).
  bool awaiting_client() const { return outstanding_ == 0 && !unsynced_ && !copy_; }
  bool in_copy() const { return copy_; }

  void reset() { *this = request_tracker{}; }

 private:
  std::uint32_t outstanding_ = 0;
  bool unsynced_ = false;
  bool copy_ = false;
  char status_ = 'I';
};

}  // namespace pgrelay::core
