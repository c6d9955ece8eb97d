// The OpenSSL contexts of both legs, built from `tls:` at startup and at every reload, and shared
// read-only by every worker (an SSL_CTX may create SSL objects from many threads once set up).
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <optional>
#include <string>

#include "pgrelay/conf/config.hpp"

namespace pgrelay::proxy {

struct tls_contexts {
  conf::client_tls_mode client_mode = conf::client_tls_mode::disable;
  // pgrelay as the TLS server towards clients; set unless client_mode is disable.
  std::optional<boost::asio::ssl::context> towards_clients;
  // RFC 5929 tls-server-end-point of pgrelay's certificate: what SCRAM-SHA-256-PLUS binds to.
  std::string end_point_hash;

  conf::server_tls_mode server_mode = conf::server_tls_mode::prefer;
  // pgrelay as the TLS client towards Postgres; set unless server_mode is disable.
  std::optional<boost::asio::ssl::context> towards_servers;
};

using tls_ptr = std::shared_ptr<tls_contexts>;

// Reads the certificate, key and CA files. On failure returns nullptr and says why in `problems`
// (one line per problem, naming the YAML key), so a reload can refuse the new config.
tls_ptr load_tls(const conf::tls_config& cfg, std::string& problems);

// RFC 5929 tls-server-end-point of `cert`, or empty if its signature digest is unknown.
std::string certificate_end_point_hash(X509* cert);
// The same for the certificate a TLS peer presented (pgrelay as the client), or empty.
std::string peer_end_point_hash(SSL* ssl);

// "TLSv1.3/TLS_AES_256_GCM_SHA384" for SHOW CLIENTS/SERVERS and logs; empty for nullptr.
std::string tls_description(const SSL* ssl);

// Why a private key file is unsafe (readable by others), or empty when it is fine.
std::string key_file_permission_problem(const std::string& key_path, const std::string& yaml_key);

}  // namespace pgrelay::proxy
