#include "payload_generator.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <string_view>

namespace tldb::peerbench {
namespace {

constexpr std::array<std::string_view, 32> kWords = {
    "ok",     "see",   "you",    "tomorrow", "lunch", "meeting", "at",      "the",
    "office", "haha",  "thanks", "sure",     "what",  "about",   "tonight", "send",
    "me",     "photo", "later",  "on",       "my",    "way",     "call",    "soon",
    "love",   "it",    "can't",  "wait",     "lol",   "where",   "are",     "ttyl"};
constexpr std::array<std::string_view, 5> kTypes = {"text", "text", "text", "image", "reply"};

}  // namespace

size_t PayloadGenerator::DrawSize(Rng& rng) const {
  if (rng.Unit() < cfg_.large_fraction) return 2048 + rng.Uniform(6 * 1024);
  // Skewed toward short messages: the minimum of two uniforms (density falls linearly).
  const uint64_t span = cfg_.payload_max - cfg_.payload_min + 1;
  return cfg_.payload_min + std::min(rng.Uniform(span), rng.Uniform(span));
}

std::string PayloadGenerator::Next(Rng& rng) const {
  const size_t bytes = std::max<size_t>(DrawSize(rng), 40);
  const std::string_view type = kTypes[rng.Uniform(kTypes.size())];
  char head[160];
  const int n = std::snprintf(
      head, sizeof head, R"({"t":"%.*s","from":"u%07u","ts":%llu,"body":")",
      static_cast<int>(type.size()), type.data(), static_cast<unsigned>(rng.Uniform(10'000'000)),
      static_cast<unsigned long long>(1764400000000ull + rng.Uniform(100'000'000)));
  std::string s(head, static_cast<size_t>(n));
  if (type == "image") s += "https://cdn.example.com/i/" + std::to_string(rng.Next()) + ".jpg ";
  const size_t body_end = bytes - 2;  // room for the closing "}
  while (s.size() < body_end) {
    std::string_view w = kWords[rng.Uniform(kWords.size())];
    s.append(w);
    s.push_back(' ');
  }
  s.resize(body_end, '.');
  s.append("\"}");
  return s;
}

std::vector<std::string> PayloadGenerator::Pool(size_t count, uint64_t seed) const {
  Rng rng(seed, 0xBA7A);
  std::vector<std::string> out;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) out.push_back(Next(rng));
  return out;
}

}  // namespace tldb::peerbench
