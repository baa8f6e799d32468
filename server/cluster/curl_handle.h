// CurlHandle: one libcurl easy handle (one kept-alive HTTP connection per endpoint it talked
// to) for etcd's JSON gateway, plus libcurl's process-wide initialisation, done once.
//
// Contract:
// - Request() sends one POST (body set) or GET (body empty) and returns the HTTP status and
//   body, or the transport failure (curl's code and message) — never throws. The connect and
//   total timeouts bound it; a body over `max_bytes` aborts the transfer (too_large).
// - Stream mode (SetUpStream) prepares the handle for a curl multi loop: the body is handed to
//   `on_data` as it arrives, which returns false to abort the transfer.
// - No signals are used (CURLOPT_NOSIGNAL), so handles work on any thread.
// Thread-safety: none; one thread at a time uses a handle (EtcdClient holds a mutex around it,
// EtcdWatch uses one on its own thread).
#pragma once

#include <curl/curl.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace tldb::cluster {

class CurlHandle {
 public:
  struct Response {
    CURLcode code = CURLE_OK;
    long http_status = 0;
    std::string body;
    std::string error;  // curl's message when code != CURLE_OK
    bool too_large = false;
    // Bytes of request headers sent: 0 means the request never left (safe to send elsewhere).
    long request_bytes = 0;
  };

  CurlHandle();
  ~CurlHandle();
  CurlHandle(const CurlHandle&) = delete;
  CurlHandle& operator=(const CurlHandle&) = delete;

  // False when libcurl could not be initialised or gave no handle.
  bool ok() const { return curl_ != nullptr; }
  CURL* get() const { return curl_; }

  Response Request(const std::string& url, std::string_view body, uint32_t connect_timeout_ms,
                   uint32_t request_timeout_ms, size_t max_bytes);

  // For a long-lived POST driven by a curl multi handle: no total timeout.
  void SetUpStream(const std::string& url, std::string_view body, uint32_t connect_timeout_ms,
                   std::function<bool(std::string_view)> on_data);
  long HttpStatus() const;

 private:
  static size_t WriteToString(char* data, size_t size, size_t n, void* self);
  static size_t WriteToStream(char* data, size_t size, size_t n, void* self);
  void SetCommon(const std::string& url, std::string_view body, uint32_t connect_timeout_ms);

  CURL* curl_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::string body_;  // the request body (curl reads it during the transfer)
  Response* response_ = nullptr;
  size_t max_bytes_ = 0;
  std::function<bool(std::string_view)> on_data_;
  char error_buf_[CURL_ERROR_SIZE] = {};
};

}  // namespace tldb::cluster
