// Appends protocol messages to a reused byte buffer: begin(tag) reserves the length,
// end() back-patches it. Named builders for every message pgrelay originates.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgrelay::protocol {

class message_writer {
 public:
  explicit message_writer(std::string& out) : out_(out) {}

  message_writer& begin(char tag);
  // For untagged packets (startup, SSLRequest, CancelRequest): only the length is reserved.
  message_writer& begin_untagged();
  message_writer& u8(std::uint8_t v);
  message_writer& i16(std::int16_t v);
  message_writer& i32(std::int32_t v);
  message_writer& cstring(std::string_view s);  // s must not contain NUL
  message_writer& bytes(std::string_view s);
  void end();

 private:
  std::string& out_;
  std::size_t start_ = 0;
};

enum class transaction_status : char { idle = 'I', in_transaction = 'T', failed = 'E' };

struct error_fields;  // errors.hpp

// Builders: each appends one complete message to `out`.
namespace build {
// backend → frontend
void authentication_ok(std::string& out);
void authentication_sasl(std::string& out, std::span<const std::string_view> mechanisms);
void authentication_sasl_continue(std::string& out, std::string_view data);
void authentication_sasl_final(std::string& out, std::string_view data);
void authentication_md5(std::string& out, std::string_view salt4);
void parameter_status(std::string& out, std::string_view name, std::string_view value);
void backend_key_data(std::string& out, std::int32_t pid, std::string_view secret);
void ready_for_query(std::string& out, transaction_status status);
void command_complete(std::string& out, std::string_view tag);
void empty_query_response(std::string& out);
void parse_complete(std::string& out);
void close_complete(std::string& out);
void row_description_text(std::string& out, std::span<const std::string_view> columns);
void data_row_text(std::string& out, std::span<const std::string_view> values);
void ssl_response(std::string& out, bool accept);  // the single byte 'S' or 'N'

// frontend → backend
void startup_message(std::string& out,
                     std::span<const std::pair<std::string_view, std::string_view>> params,
                     std::int32_t version = 196608);
void cancel_request(std::string& out, std::int32_t pid, std::string_view secret);
void ssl_request(std::string& out);  // asks a server for TLS before the startup packet
void password_message(std::string& out, std::string_view password);
void sasl_initial_response(std::string& out, std::string_view mechanism, std::string_view data);
void sasl_response(std::string& out, std::string_view data);
void query(std::string& out, std::string_view sql);
void sync(std::string& out);
void flush(std::string& out);
void terminate(std::string& out);
void parse(std::string& out, std::string_view name, std::string_view sql,
           std::span<const std::int32_t> param_types = {});
void bind_text(std::string& out, std::string_view portal, std::string_view statement,
               std::span<const std::string_view> params);
void describe(std::string& out, char kind, std::string_view name);
void execute(std::string& out, std::string_view portal, std::int32_t max_rows = 0);
void close(std::string& out, char kind, std::string_view name);
}  // namespace build

}  // namespace pgrelay::protocol
