// TestPki: certificates made at run time with the openssl command in a temporary directory,
// for the TLS tests (client-server TLS, peer TLS between replicas). Each call that fails
// fails the running test (ASSERT) with the command and its output.
//
// Contract: not thread-safe; the files live as long as the object.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <utility>

#include "common/temp_dir.h"
#include "util/shell.h"

namespace tldb::testing {

// Certificate extensions: a server's (127.0.0.1 and localhost), a client's, and a replica's,
// which serves its peers and dials them with the same certificate.
inline constexpr char kServerCertExt[] =
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n";
inline constexpr char kClientCertExt[] = "extendedKeyUsage=clientAuth\n";
inline constexpr char kPeerCertExt[] =
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n";

class TestPki {
 public:
  std::string pem(const std::string& name) const { return dir_.path() + "/" + name + ".pem"; }
  std::string key(const std::string& name) const { return dir_.path() + "/" + name + ".key"; }
  const std::string& dir() const { return dir_.path(); }

  // A self-signed CA `name` (P-256, 2 days).
  void MakeCa(const std::string& name) {
    Ok("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=" +
       name + " -keyout " + key(name) + " -out " + pem(name));
  }
  // A certificate `name` for common name `cn`, signed by CA `ca`, valid `days` (negative:
  // already expired), with the extensions `ext` (one of the k*CertExt above).
  void MakeCert(const std::string& name, const std::string& ca, const std::string& cn,
                const std::string& days, const std::string& ext) {
    const std::string ext_file = dir_.path() + "/" + name + ".ext";
    std::ofstream(ext_file) << ext;
    const std::string csr = dir_.path() + "/" + name + ".csr";
    Ok("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=" + cn +
       " -keyout " + key(name) + " -out " + csr);
    Ok("openssl x509 -req -in " + csr + " -CA " + pem(ca) + " -CAkey " + key(ca) +
       " -CAcreateserial -days " + days + " -extfile " + ext_file + " -out " + pem(name));
  }

 private:
  void Ok(const std::string& cmd) {
    auto [rc, out] = Shell(cmd);
    ASSERT_EQ(rc, 0) << cmd << "\n" << out;
  }

  common::TempDir dir_{"tldb-pki"};
};

}  // namespace tldb::testing
