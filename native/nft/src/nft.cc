// Small libnftables binding for knockd-ts: one nft_ctx, and run(text), which
// is what `nft -f -` does with text, in this process. Each call is one
// netlink batch, so one atomic transaction, as a line of `nft -i` is.
//
//   new Nft()           opens the context (and its netlink socket); throws
//   run(text, check?)   null on success, else nft's error text; check=true
//                       is `nft -c` (the kernel validates, nothing changes)
//   close()             frees the context; run() afterwards returns an error
//
// The call blocks the calling thread for the netlink round trips; it is made
// from the main thread only, and is short (see src/adapters/nft-firewall.ts).
#include <dirent.h>
#include <fcntl.h>
#include <napi.h>
#include <nftables/libnftables.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netlink.h>

#include <cstdlib>
#include <set>
#include <string>

namespace {

// The descriptors this process has open, from /proc/self/fd; false when it
// cannot be read (then nothing could be marked: the caller fails closed).
bool OpenFds(std::set<int>& fds) {
  fds.clear();
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return false;
  int self = dirfd(d);
  while (struct dirent* e = readdir(d)) {
    char* end = nullptr;
    long n = strtol(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0' && n != self) fds.insert(static_cast<int>(n));
  }
  closedir(d);
  return true;
}

// A netfilter netlink socket (libnftables' own kind): marked even if its
// number was already open before (closed and reused by another thread).
bool IsNetfilterSocket(int fd) {
  int domain = 0;
  int proto = 0;
  socklen_t len = sizeof(int);
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) return false;
  len = sizeof(int);
  if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) != 0) return false;
  return domain == AF_NETLINK && proto == NETLINK_NETFILTER;
}

class Nft : public Napi::ObjectWrap<Nft> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Nft",
                       {
                           InstanceMethod("run", &Nft::Run),
                           InstanceMethod("close", &Nft::Close),
                       });
  }

  explicit Nft(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Nft>(info) {
    Napi::Env env = info.Env();
    // libnftables calls exit() when it cannot open its netlink socket
    // (netlink_init_error): try one first, so that failure is an exception.
    int probe = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (probe < 0) {
      Napi::Error::New(env, "cannot open a netfilter netlink socket").ThrowAsJavaScriptException();
      return;
    }
    close(probe);
    // libnftables 1.0.6 opens its socket with mnl_socket_open, without
    // SOCK_CLOEXEC: every command the daemon spawns would inherit it. Mark
    // whatever nft_ctx_new opened. Node spawns from this thread only, so no
    // fork can fall between the two scans.
    std::set<int> before;
    std::set<int> after;
    if (!OpenFds(before)) {
      Napi::Error::New(env, "cannot read /proc/self/fd").ThrowAsJavaScriptException();
      return;
    }
    ctx_ = nft_ctx_new(NFT_CTX_DEFAULT);
    if (ctx_ == nullptr) {
      Napi::Error::New(env, "nft_ctx_new failed").ThrowAsJavaScriptException();
      return;
    }
    if (!OpenFds(after)) {
      Free();
      Napi::Error::New(env, "cannot read /proc/self/fd").ThrowAsJavaScriptException();
      return;
    }
    for (int fd : after) {
      if (before.count(fd) != 0 && !IsNetfilterSocket(fd)) continue;
      int flags = fcntl(fd, F_GETFD);
      if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
        Free();
        Napi::Error::New(env, "cannot set close-on-exec on the nftables netlink socket")
            .ThrowAsJavaScriptException();
        return;
      }
    }
    if (nft_ctx_buffer_output(ctx_) != 0 || nft_ctx_buffer_error(ctx_) != 0) {
      Free();
      Napi::Error::New(env, "cannot buffer nftables output").ThrowAsJavaScriptException();
    }
  }

  ~Nft() override { Free(); }

 private:
  void Free() {
    if (ctx_ != nullptr) nft_ctx_free(ctx_);
    ctx_ = nullptr;
  }

  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      return Napi::String::New(env, "run(text, check?): text must be a string");
    }
    if (ctx_ == nullptr) return Napi::String::New(env, "the nftables context is closed");
    std::string text = info[0].As<Napi::String>();
    bool check = info.Length() > 1 && info[1].ToBoolean().Value();
    nft_ctx_set_dry_run(ctx_, check);
    int rc = nft_run_cmd_from_buffer(ctx_, text.c_str());
    nft_ctx_set_dry_run(ctx_, false);
    // Reading a buffer rewinds it: both are read every time, so neither grows.
    nft_ctx_get_output_buffer(ctx_);
    std::string err = nft_ctx_get_error_buffer(ctx_);
    if (rc == 0) return env.Null();
    if (err.empty()) err = "nft failed (status " + std::to_string(rc) + ")";
    return Napi::String::New(env, err);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Free();
    return info.Env().Undefined();
  }

  struct nft_ctx* ctx_ = nullptr;
};

Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  exports.Set("Nft", Nft::Init(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(knocknft, InitAll)
