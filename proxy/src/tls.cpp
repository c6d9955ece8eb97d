#include "tls.hpp"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>

namespace pgrelay::proxy {

namespace ssl = boost::asio::ssl;

namespace {

// The first certificate of a PEM chain file: the one clients see as pgrelay's.
std::string end_point_hash(const std::string& cert_path) {
  std::unique_ptr<FILE, decltype(&std::fclose)> f(std::fopen(cert_path.c_str(), "r"), &std::fclose);
  if (!f) return {};
  std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_X509(f.get(), nullptr, nullptr, nullptr), &X509_free);
  return cert ? certificate_end_point_hash(cert.get()) : std::string{};
}

std::string describe(const boost::system::error_code& ec) {
  auto text = ec.message();
  ERR_clear_error();
  return text;
}

}  // namespace

// RFC 5929 section 4.1: the certificate's hash with its signature's digest, except that MD5 and
// SHA-1 become SHA-256.
std::string certificate_end_point_hash(X509* cert) {
  int digest_nid = NID_undef;
  if (!OBJ_find_sigid_algs(X509_get_signature_nid(cert), &digest_nid, nullptr)) return {};
  if (digest_nid == NID_md5 || digest_nid == NID_sha1) digest_nid = NID_sha256;
  const EVP_MD* md = EVP_get_digestbynid(digest_nid);
  if (!md) return {};
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!X509_digest(cert, md, out, &n)) return {};
  return std::string(reinterpret_cast<const char*>(out), n);
}

std::string peer_end_point_hash(SSL* ssl) {
  if (!ssl) return {};
  std::unique_ptr<X509, decltype(&X509_free)> cert(SSL_get1_peer_certificate(ssl), &X509_free);
  return cert ? certificate_end_point_hash(cert.get()) : std::string{};
}

std::string tls_description(const SSL* ssl) {
  if (!ssl) return {};
  return std::string(SSL_get_version(ssl)) + "/" + SSL_get_cipher_name(ssl);
}

std::string key_file_permission_problem(const std::string& key_path, const std::string& yaml_key) {
  struct stat st {};
  if (::stat(key_path.c_str(), &st) != 0) return {};  // the load reports a missing file
  const auto mode = static_cast<unsigned>(st.st_mode & 07777);
  // Postgres' rule for ssl_key_file: 0600 for its owner, or 0640 when root owns it (a packaged
  // key shared with a trusted group).
  const bool root_owned = st.st_uid == 0;
  const bool too_open = root_owned ? (st.st_mode & (S_IWGRP | S_IRWXO)) != 0 : (st.st_mode & (S_IRWXG | S_IRWXO)) != 0;
  if (!too_open) return {};
  return fmt::format("{}: private key file {} has group or world access (mode {:o}); refusing it (chmod 0600, "
                     "or 0640 owned by root)\n",
                     yaml_key, key_path, mode);
}

tls_ptr load_tls(const conf::tls_config& cfg, std::string& problems) {
  auto out = std::make_shared<tls_contexts>();
  out->client_mode = cfg.client_mode;
  out->server_mode = cfg.server_mode;
  const auto before = problems.size();
  boost::system::error_code ec;

  if (cfg.client_mode != conf::client_tls_mode::disable) {
    auto& ctx = out->towards_clients.emplace(ssl::context::tls_server);
    // TLS 1.2 is the oldest Postgres 15 and libpq accept by default (ssl_min_protocol_version).
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    SSL_CTX_set_options(ctx.native_handle(), SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    // No resumption, as in Postgres: the server-side session cache would otherwise keep up to
    // 20,480 sessions (about 20 MB) of clients that reconnect for every transaction.
    SSL_CTX_set_session_cache_mode(ctx.native_handle(), SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx.native_handle(), 0);
    problems += key_file_permission_problem(cfg.client_key, "tls.client.key");
    if (ctx.use_certificate_chain_file(cfg.client_cert, ec); ec) {
      problems += "tls.client.cert: cannot use " + cfg.client_cert + ": " + describe(ec) + "\n";
    } else if (ctx.use_private_key_file(cfg.client_key, ssl::context::pem, ec); ec) {
      problems += "tls.client.key: cannot use " + cfg.client_key + ": " + describe(ec) + "\n";
    } else if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
      ERR_clear_error();
      problems += "tls.client.key: " + cfg.client_key + " does not match the certificate in " + cfg.client_cert + "\n";
    } else {
      out->end_point_hash = end_point_hash(cfg.client_cert);
      if (out->end_point_hash.empty()) {
        problems += "tls.client.cert: cannot compute the channel-binding hash of " + cfg.client_cert + "\n";
      }
    }
  }

  if (cfg.server_mode != conf::server_tls_mode::disable) {
    auto& ctx = out->towards_servers.emplace(ssl::context::tls_client);
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (!cfg.server_ca.empty()) {
      if (ctx.load_verify_file(cfg.server_ca, ec); ec) {
        problems += "tls.server.ca: cannot load " + cfg.server_ca + ": " + describe(ec) + "\n";
      }
    }
  }
  if (problems.size() != before) return nullptr;
  return out;
}

}  // namespace pgrelay::proxy
