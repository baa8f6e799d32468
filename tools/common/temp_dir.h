// TempDir: a fresh directory under the system's temporary directory ($TMPDIR, else /tmp),
// removed with everything in it when the object dies. Used by the tests, the fault tools and
// the benchmarks. Creation failure aborts the process (nothing sensible can follow).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace tldb::common {

class TempDir {
 public:
  // The directory is named PREFIX-XXXXXX.
  explicit TempDir(std::string_view prefix = "tldb-test") {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace tldb::common
