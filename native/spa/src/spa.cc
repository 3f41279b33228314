// The SPA verifier's crypto primitives, straight from the OpenSSL that node
// itself carries (no library of our own is linked): node:crypto reaches the
// same code through JavaScript objects built per call (a Decipheriv is a
// stream), which on a lone packet after idle cost about twice as much
// (docs/performance.md). The daemon loads this through
// src/adapters/spa-crypto-native.ts and falls back to node:crypto without it.
//
//   digest(alg, data, out)                  -> bytes written to out, or -1
//   hmac(alg, key, data, out)               -> bytes written to out, or -1
//   aes(decrypt, mode, key, iv, data, out)  -> bytes written to out, or -1
//                                              (AES-256, no padding added or
//                                              removed: as many as data)
//   supported()                             -> bit i: kDigests[i] is there;
//                                              bit 8 + j: kModes[j] is there
//   version                                 -> kVersion: the calling convention
//                                              above (the adapter refuses a
//                                              build of another one)
//
// The caller's out (a Uint8Array) takes the result: making a Buffer here
// (napi_create_buffer_copy: an external backing store per call) cost more
// than the digest itself, and a small typed array made in JavaScript lives
// on V8's heap. alg and mode index the tables below. Every call is one
// bounded operation: anything malformed (an index out of range, not a
// Uint8Array, a key that is not 32 bytes, an IV that is not 16 where the
// mode takes one, data over kMaxData, data that does not fit the mode, out
// shorter than the result can be) gives -1, never an exception.
// The fetched algorithms and the two contexts (reused from call to call) are
// per environment (napi instance data): a worker thread gets its own.
#include <napi.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cmath>
#include <cstdint>

namespace {

constexpr const char* kDigests[] = {"MD5",    "SHA1",     "SHA256",  "SHA384",
                                    "SHA512", "SHA3-256", "SHA3-512"};
constexpr const char* kModes[] = {"AES-256-CBC", "AES-256-ECB", "AES-256-CFB", "AES-256-OFB",
                                  "AES-256-CTR"};
constexpr int kDigestCount = sizeof(kDigests) / sizeof(kDigests[0]);
constexpr int kModeCount = sizeof(kModes) / sizeof(kModes[0]);
constexpr size_t kMaxData = 65536;
constexpr int kEcb = 1;
// 2: results written to the caller's out (1 returned a Buffer per call).
constexpr int kVersion = 2;

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

// A Uint8Array's bytes, if v is one.
bool View(const Napi::Value& v, uint8_t** data, size_t* len) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    return false;
  auto a = v.As<Napi::Uint8Array>();
  *data = a.Data();
  *len = a.ByteLength();
  return true;
}

// An input: a Uint8Array of at most kMaxData bytes.
bool Bytes(const Napi::Value& v, const uint8_t** data, size_t* len) {
  uint8_t* d = nullptr;
  bool ok = View(v, &d, len) && *len <= kMaxData;
  *data = d;
  return ok;
}

// Where a result of up to need bytes goes: out, if it is a Uint8Array that long.
uint8_t* Out(const Napi::Value& v, size_t need) {
  uint8_t* d = nullptr;
  size_t n = 0;
  return View(v, &d, &n) && n >= need ? d : nullptr;
}

Napi::Value Written(Napi::Env env, int64_t n) { return Napi::Number::New(env, static_cast<double>(n)); }

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
  uint8_t* out = Out(info[2], EVP_MAX_MD_SIZE);
  if (st == nullptr || alg < 0 || st->md[alg] == nullptr || st->mdctx == nullptr ||
      !Bytes(info[1], &d, &n) || out == nullptr)
    return Written(env, -1);
  unsigned int len = 0;
  if (EVP_DigestInit_ex(st->mdctx, st->md[alg], nullptr) != 1 ||
      EVP_DigestUpdate(st->mdctx, d, n) != 1 || EVP_DigestFinal_ex(st->mdctx, out, &len) != 1)
    return Written(env, -1);
  return Written(env, len);
}

Napi::Value Hmac(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  State* st = env.GetInstanceData<State>();
  int alg = Index(info[0], kDigestCount);
  const uint8_t *k, *d;
  size_t kn, n;
  uint8_t* out = Out(info[3], EVP_MAX_MD_SIZE);
  if (st == nullptr || alg < 0 || st->md[alg] == nullptr || !Bytes(info[1], &k, &kn) ||
      !Bytes(info[2], &d, &n) || out == nullptr)
    return Written(env, -1);
  static const unsigned char kEmpty = 0;
  unsigned int len = 0;
  if (HMAC(st->md[alg], kn == 0 ? &kEmpty : k, static_cast<int>(kn), d, n, out, &len) == nullptr)
    return Written(env, -1);
  return Written(env, len);
}

Napi::Value Aes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  State* st = env.GetInstanceData<State>();
  if (st == nullptr || !info[0].IsBoolean()) return Written(env, -1);
  bool decrypt = info[0].As<Napi::Boolean>().Value();
  int mode = Index(info[1], kModeCount);
  const uint8_t *key, *iv, *d;
  size_t kn, ivn, n;
  if (mode < 0 || st->cipher[mode] == nullptr || st->cctx == nullptr || !Bytes(info[2], &key, &kn) ||
      kn != 32 || !Bytes(info[4], &d, &n))
    return Written(env, -1);
  if (mode == kEcb) {
    iv = nullptr;
  } else if (!Bytes(info[3], &iv, &ivn) || ivn != 16) {
    return Written(env, -1);
  }
  // EVP_CipherUpdate may write up to a block more than it is given; Final, without padding, nothing.
  uint8_t* out = Out(info[5], n + 32);
  if (out == nullptr) return Written(env, -1);
  int a = 0;
  int b = 0;
  EVP_CIPHER_CTX* c = st->cctx;
  bool ok = EVP_CIPHER_CTX_reset(c) == 1 &&
            EVP_CipherInit_ex(c, st->cipher[mode], nullptr, key, iv, decrypt ? 0 : 1) == 1 &&
            EVP_CIPHER_CTX_set_padding(c, 0) == 1 &&
            EVP_CipherUpdate(c, out, &a, d, static_cast<int>(n)) == 1 &&
            EVP_CipherFinal_ex(c, out + a, &b) == 1;
  // The key schedule stays in the context until the next call: wipe it now.
  EVP_CIPHER_CTX_reset(c);
  return Written(env, ok ? a + b : -1);
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
  exports["version"] = Napi::Number::New(env, kVersion);
  return exports;
}

}  // namespace

NODE_API_MODULE(knockspa, Init)
