// The SPA verifier's crypto primitives, straight from the OpenSSL that node
// itself carries (no library of our own is linked): node:crypto reaches the
// same code through JavaScript objects built per call (a Decipheriv is a
// stream), which on a lone packet after idle cost about twice as much
// (docs/performance.md). The daemon loads this through
// src/adapters/spa-crypto-native.ts and falls back to node:crypto without it.
//
//   digest(alg, data)                  -> Buffer, or null
//   hmac(alg, key, data)               -> Buffer, or null
//   aes(decrypt, mode, key, iv, data)  -> Buffer, or null (AES-256, no padding
//                                         added or removed)
//   supported()                        -> bit i: kDigests[i] is there; bit
//                                         8 + j: kModes[j] is there
//
// alg and mode index the tables below. Every call is one bounded operation:
// anything malformed (an index out of range, not a Uint8Array, a key that is
// not 32 bytes, an IV that is not 16 where the mode takes one, data over
// kMaxData, data that does not fit the mode) gives null, never an exception.
// The fetched algorithms and the two contexts (reused from call to call) are
// per environment (napi instance data): a worker thread gets its own.
#include <napi.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace {

constexpr const char* kDigests[] = {"MD5",    "SHA1",     "SHA256",  "SHA384",
                                    "SHA512", "SHA3-256", "SHA3-512"};
constexpr const char* kModes[] = {"AES-256-CBC", "AES-256-ECB", "AES-256-CFB", "AES-256-OFB",
                                  "AES-256-CTR"};
constexpr int kDigestCount = sizeof(kDigests) / sizeof(kDigests[0]);
constexpr int kModeCount = sizeof(kModes) / sizeof(kModes[0]);
constexpr size_t kMaxData = 65536;
constexpr int kEcb = 1;

// Fetched once: an implicit fetch per call is most of a cold call's cost.
struct State {
  EVP_MD* md[kDigestCount] = {};
  EVP_CIPHER* cipher[kModeCount] = {};
  EVP_MD_CTX* mdctx = EVP_MD_CTX_new();
  EVP_CIPHER_CTX* cctx = EVP_CIPHER_CTX_new();

  State() {
    for (int i = 0; i < kDigestCount; i++) md[i] = EVP_MD_fetch(nullptr, kDigests[i], nullptr);
    for (int j = 0; j < kModeCount; j++) cipher[j] = EVP_CIPHER_fetch(nullptr, kModes[j], nullptr);
  }
  ~State() {
    for (EVP_MD* m : md) EVP_MD_free(m);
    for (EVP_CIPHER* c : cipher) EVP_CIPHER_free(c);
    EVP_MD_CTX_free(mdctx);
    EVP_CIPHER_CTX_free(cctx);
  }
  State(const State&) = delete;
  State& operator=(const State&) = delete;
};

// A Buffer holding a copy of the bytes; null if it cannot be made.
Napi::Value Copy(Napi::Env env, const uint8_t* data, size_t len) {
  Napi::Buffer<uint8_t> b = Napi::Buffer<uint8_t>::Copy(env, data, len);
  if (b.IsEmpty()) return env.Null();
  return b;
}

bool Bytes(const Napi::Value& v, const uint8_t** data, size_t* len) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    return false;
  auto a = v.As<Napi::Uint8Array>();
  *data = a.Data();
  *len = a.ByteLength();
  return *len <= kMaxData;
}

// A whole number in [0, count), else -1 (NaN, fractions and the infinities too).
int Index(const Napi::Value& v, int count) {
  if (!v.IsNumber()) return -1;
  double d = v.As<Napi::Number>().DoubleValue();
  return d >= 0 && d < count && std::floor(d) == d ? static_cast<int>(d) : -1;
}

Napi::Value Digest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  State* st = env.GetInstanceData<State>();
  int alg = Index(info[0], kDigestCount);
  const uint8_t* d;
  size_t n;
  if (st == nullptr || alg < 0 || st->md[alg] == nullptr || st->mdctx == nullptr ||
      !Bytes(info[1], &d, &n))
    return env.Null();
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestInit_ex(st->mdctx, st->md[alg], nullptr) != 1 ||
      EVP_DigestUpdate(st->mdctx, d, n) != 1 || EVP_DigestFinal_ex(st->mdctx, out, &len) != 1)
    return env.Null();
  return Copy(env, out, len);
}

Napi::Value Hmac(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  State* st = env.GetInstanceData<State>();
  int alg = Index(info[0], kDigestCount);
  const uint8_t *k, *d;
  size_t kn, n;
  if (st == nullptr || alg < 0 || st->md[alg] == nullptr || !Bytes(info[1], &k, &kn) ||
      !Bytes(info[2], &d, &n))
    return env.Null();
  static const unsigned char kEmpty = 0;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(st->md[alg], kn == 0 ? &kEmpty : k, static_cast<int>(kn), d, n, out, &len) == nullptr)
    return env.Null();
  return Copy(env, out, len);
}

Napi::Value Aes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  State* st = env.GetInstanceData<State>();
  if (st == nullptr || !info[0].IsBoolean()) return env.Null();
  bool decrypt = info[0].As<Napi::Boolean>().Value();
  int mode = Index(info[1], kModeCount);
  const uint8_t *key, *iv, *d;
  size_t kn, ivn, n;
  if (mode < 0 || st->cipher[mode] == nullptr || st->cctx == nullptr || !Bytes(info[2], &key, &kn) ||
      kn != 32 || !Bytes(info[4], &d, &n))
    return env.Null();
  if (mode == kEcb) {
    iv = nullptr;
  } else if (!Bytes(info[3], &iv, &ivn) || ivn != 16) {
    return env.Null();
  }
  std::vector<uint8_t> out(n + 32);
  int a = 0;
  int b = 0;
  EVP_CIPHER_CTX* c = st->cctx;
  bool ok = EVP_CIPHER_CTX_reset(c) == 1 &&
            EVP_CipherInit_ex(c, st->cipher[mode], nullptr, key, iv, decrypt ? 0 : 1) == 1 &&
            EVP_CIPHER_CTX_set_padding(c, 0) == 1 &&
            EVP_CipherUpdate(c, out.data(), &a, d, static_cast<int>(n)) == 1 &&
            EVP_CipherFinal_ex(c, out.data() + a, &b) == 1;
  // The key schedule stays in the context until the next call: wipe it now.
  EVP_CIPHER_CTX_reset(c);
  if (!ok) return env.Null();
  return Copy(env, out.data(), static_cast<size_t>(a + b));
}

Napi::Value Supported(const Napi::CallbackInfo& info) {
  uint32_t bits = 0;
  State* st = info.Env().GetInstanceData<State>();
  if (st != nullptr) {
    for (int i = 0; i < kDigestCount; i++)
      if (st->md[i] != nullptr && st->mdctx != nullptr) bits |= 1u << i;
    for (int j = 0; j < kModeCount; j++)
      if (st->cipher[j] != nullptr && st->cctx != nullptr) bits |= 1u << (8 + j);
  }
  return Napi::Number::New(info.Env(), bits);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData<State>(new State());
  exports["digest"] = Napi::Function::New(env, Digest);
  exports["hmac"] = Napi::Function::New(env, Hmac);
  exports["aes"] = Napi::Function::New(env, Aes);
  exports["supported"] = Napi::Function::New(env, Supported);
  return exports;
}

}  // namespace

NODE_API_MODULE(knockspa, Init)
