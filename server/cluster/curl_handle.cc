#include "cluster/curl_handle.h"

#include <mutex>

namespace tldb::cluster {

namespace {

bool GlobalInit() {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] { ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; });
  return ok;
}

}  // namespace

CurlHandle::CurlHandle() {
  if (!GlobalInit()) return;
  curl_ = curl_easy_init();
  headers_ = curl_slist_append(nullptr, "Content-Type: application/json");
}

CurlHandle::~CurlHandle() {
  if (curl_ != nullptr) curl_easy_cleanup(curl_);
  curl_slist_free_all(headers_);
}

void CurlHandle::SetCommon(const std::string& url, std::string_view body,
                           uint32_t connect_timeout_ms) {
  body_.assign(body);
  error_buf_[0] = '\0';
  curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, error_buf_);
  curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout_ms));
  curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http");
  curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
  curl_easy_setopt(curl_, CURLOPT_TCP_NODELAY, 1L);
  if (body_.empty()) {
    curl_easy_setopt(curl_, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(curl_, CURLOPT_POST, 1L);
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body_.data());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body_.size()));
  }
}

CurlHandle::Response CurlHandle::Request(const std::string& url, std::string_view body,
                                         uint32_t connect_timeout_ms, uint32_t request_timeout_ms,
                                         size_t max_bytes) {
  Response r;
  if (curl_ == nullptr) {
    r.code = CURLE_FAILED_INIT;
    r.error = "libcurl could not be initialised";
    return r;
  }
  SetCommon(url, body, connect_timeout_ms);
  curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, static_cast<long>(request_timeout_ms));
  curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &CurlHandle::WriteToString);
  curl_easy_setopt(curl_, CURLOPT_WRITEDATA, this);
  response_ = &r;
  max_bytes_ = max_bytes;
  r.code = curl_easy_perform(curl_);
  response_ = nullptr;
  if (r.code != CURLE_OK) {
    r.error = error_buf_[0] != '\0' ? error_buf_ : curl_easy_strerror(r.code);
    if (r.too_large) r.error = "response larger than " + std::to_string(max_bytes) + " bytes";
  }
  curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &r.http_status);
  curl_easy_getinfo(curl_, CURLINFO_REQUEST_SIZE, &r.request_bytes);
  return r;
}

void CurlHandle::SetUpStream(const std::string& url, std::string_view body,
                             uint32_t connect_timeout_ms,
                             std::function<bool(std::string_view)> on_data) {
  if (curl_ == nullptr) return;
  SetCommon(url, body, connect_timeout_ms);
  curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, 0L);
  on_data_ = std::move(on_data);
  curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &CurlHandle::WriteToStream);
  curl_easy_setopt(curl_, CURLOPT_WRITEDATA, this);
}

long CurlHandle::HttpStatus() const {
  long status = 0;
  if (curl_ != nullptr) curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

size_t CurlHandle::WriteToString(char* data, size_t size, size_t n, void* self) {
  auto* h = static_cast<CurlHandle*>(self);
  const size_t bytes = size * n;
  if (h->response_->body.size() + bytes > h->max_bytes_) {
    h->response_->too_large = true;
    return 0;  // aborts with CURLE_WRITE_ERROR
  }
  h->response_->body.append(data, bytes);
  return bytes;
}

size_t CurlHandle::WriteToStream(char* data, size_t size, size_t n, void* self) {
  auto* h = static_cast<CurlHandle*>(self);
  const size_t bytes = size * n;
  return h->on_data_(std::string_view(data, bytes)) ? bytes : 0;
}

}  // namespace tldb::cluster
