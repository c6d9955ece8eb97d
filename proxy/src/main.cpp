// pgrelay command line: run the proxy, check a config file, or make a SCRAM verifier.
#include <iostream>
#include <string>
#include <unistd.h>

#include "app.hpp"
#include "explain.hpp"
#include "pgrelay/conf/load.hpp"
#include "pgrelay/protocol/scram.hpp"

namespace {

constexpr const char* usage =
    "usage: pgrelay [--config] FILE          run the proxy\n"
    "       pgrelay --check-config FILE      validate FILE, print every error, exit non-zero if any\n"
    "       pgrelay make-verifier [PASSWORD] print a SCRAM-SHA-256 verifier for the users file\n"
    "                                        (reads the password from stdin when not given)\n"
    "       pgrelay explain --config FILE [--database DB] [--user U] [--application-name A] SQL\n"
    "                                        where SQL would be routed now, and why\n"
    "       pgrelay --version\n";

int check_config(const std::string& path) {
  auto r = pgrelay::conf::load_file(path);
  for (const auto& d : r.errors) std::cerr << d.to_string() << "\n";
  if (!r.ok()) return 1;
  std::cout << path << ": ok\n";
  return 0;
}

int make_verifier(int argc, char** argv) {
  std::string password;
  if (argc >= 3) {
    password = argv[2];
  } else {
    if (isatty(STDIN_FILENO)) std::cerr << "password: " << std::flush;
    std::getline(std::cin, password);
  }
  if (password.empty()) {
    std::cerr << "pgrelay: empty password refused\n";
    return 1;
  }
  namespace pr = pgrelay::protocol;
  std::cout << pr::make_scram_verifier(password, pr::random_bytes(pr::scram_default_salt_length)) << "\n";
  return 0;
}

int explain(int argc, char** argv) {
  std::string config, database, sql;
  pgrelay::proxy::explain_client client;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--config" || a == "-c") && i + 1 < argc) {
      config = argv[++i];
    } else if (a == "--database" && i + 1 < argc) {
      database = argv[++i];
    } else if (a == "--user" && i + 1 < argc) {
      client.user = argv[++i];
    } else if (a == "--application-name" && i + 1 < argc) {
      client.application_name = argv[++i];
    } else if (sql.empty()) {
      sql = a;
    } else {
      std::cerr << usage;
      return 2;
    }
  }
  if (config.empty() || sql.empty()) {
    std::cerr << usage;
    return 2;
  }
  return pgrelay::proxy::explain_command(config, database, client, sql);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << usage;
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h") {
    std::cout << usage;
    return 0;
  }
  if (cmd == "--version") {
    std::cout << "pgrelay " PGRELAY_VERSION "\n";  // the one version: CMake's project()
    return 0;
  }
  if (cmd == "--check-config") {
    if (argc != 3) {
      std::cerr << usage;
      return 2;
    }
    return check_config(argv[2]);
  }
  if (cmd == "make-verifier") return make_verifier(argc, argv);
  if (cmd == "explain") return explain(argc, argv);
  if (cmd == "--config" || cmd == "-c") {
    if (argc != 3) {
      std::cerr << usage;
      return 2;
    }
    return pgrelay::proxy::run_proxy(argv[2]);
  }
  if (argc == 2 && !cmd.starts_with("-")) return pgrelay::proxy::run_proxy(cmd);
  std::cerr << usage;
  return 2;
}
