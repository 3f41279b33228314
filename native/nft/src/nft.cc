// Small libnftables binding for knockd-ts: one nft_ctx, and run(text), which
// is what `nft -f -` does with text, in this process. Each call is one
// netlink batch, so one atomic transaction, as a line of `nft -i` is.
//
//   new Nft()           opens the context (and its netlink socket); throws
//   run(text, check?)   null on success, else nft's error text; check=true
//                       is `nft -c` (the kernel validates, nothing changes)
//   batch(messages)     sends nf_tables messages (set element adds and
//                       deletes, from src/core/grants/netlink.ts) as one
//                       batch on a netlink socket of its own and waits for
//                       the kernel's answer to each: null, or the first error
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
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <poll.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <vector>

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
                           InstanceMethod("batch", &Nft::Batch),
                           InstanceMethod("close", &Nft::Close),
                       });
  }

  explicit Nft(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Nft>(info) {
    Napi::Env env = info.Env();
    // libnftables calls exit() when it cannot open its netlink socket
    // (netlink_init_error): try one first, so that failure is an exception.
    // That probe is kept as the socket batch() sends on.
    nl_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (nl_ < 0) {
      Napi::Error::New(env, "cannot open a netfilter netlink socket").ThrowAsJavaScriptException();
      return;
    }
    // Acks without a copy of the request: the answers to a batch stay small.
    int one = 1;
    setsockopt(nl_, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
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
      Free();
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
    if (nl_ >= 0) close(nl_);
    nl_ = -1;
  }

  static void Header(uint8_t* at, uint16_t type, uint32_t seq) {
    auto* h = reinterpret_cast<nlmsghdr*>(at);
    h->nlmsg_len = NLMSG_HDRLEN + sizeof(nfgenmsg);
    h->nlmsg_type = type;
    h->nlmsg_flags = NLM_F_REQUEST;
    h->nlmsg_seq = seq;
    h->nlmsg_pid = 0;
    auto* g = reinterpret_cast<nfgenmsg*>(at + NLMSG_HDRLEN);
    g->nfgen_family = AF_UNSPEC;
    g->version = NFNETLINK_V0;
    g->res_id = htons(NFNL_SUBSYS_NFTABLES);
  }

  // Only set element adds and deletes pass: this is not a general netlink
  // door. Every message must ask for an ack, so the answers can be counted.
  static bool Allowed(const nlmsghdr* h) {
    uint16_t add = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM;
    uint16_t del = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELSETELEM;
    return (h->nlmsg_type == add || h->nlmsg_type == del) && (h->nlmsg_flags & NLM_F_ACK) != 0;
  }

  Napi::Value Batch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsBuffer()) {
      return Napi::String::New(env, "batch(messages): messages must be a Buffer");
    }
    if (nl_ < 0) return Napi::String::New(env, "the nftables context is closed");
    auto in = info[0].As<Napi::Buffer<uint8_t>>();
    const size_t frame = NLMSG_HDRLEN + sizeof(nfgenmsg);
    if (seq_ > 0xf0000000u) seq_ = 1;  // keeps begin..last one unwrapped range
    std::vector<uint8_t> out(frame + in.Length() + frame);
    uint32_t begin = seq_;
    Header(out.data(), NFNL_MSG_BATCH_BEGIN, seq_++);
    std::memcpy(out.data() + frame, in.Data(), in.Length());
    size_t off = frame;
    uint32_t count = 0;
    while (off < frame + in.Length()) {
      auto* h = reinterpret_cast<nlmsghdr*>(out.data() + off);
      size_t left = frame + in.Length() - off;
      if (left < frame || h->nlmsg_len < frame || h->nlmsg_len > left ||
          h->nlmsg_len % 4 != 0 || !Allowed(h)) {
        return Napi::String::New(env, "batch: not a list of set element messages");
      }
      h->nlmsg_seq = seq_++;
      count++;
      off += h->nlmsg_len;
    }
    Header(out.data() + off, NFNL_MSG_BATCH_END, seq_++);
    uint32_t last = seq_ - 1;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    ssize_t sent = sendto(nl_, out.data(), out.size(), 0,
                          reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
    if (sent != static_cast<ssize_t>(out.size())) {
      return Napi::String::New(env, std::string("netlink send: ") + std::strerror(errno));
    }
    // nfnetlink answers each message that asked for an ack exactly once
    // (an ack or its error), and the batch header itself only when the
    // whole batch was refused. Answers to an earlier batch that timed out
    // carry older numbers and are skipped.
    int err = 0;
    uint32_t answered = 0;
    std::vector<uint8_t> buf(64 * 1024);
    while (answered < count) {
      pollfd p{nl_, POLLIN, 0};
      int ready = poll(&p, 1, 1000);
      if (ready == 0) return Napi::String::New(env, "netlink: no answer from the kernel in 1 s");
      if (ready < 0) {
        if (errno == EINTR) continue;
        return Napi::String::New(env, std::string("netlink poll: ") + std::strerror(errno));
      }
      ssize_t n = recv(nl_, buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return Napi::String::New(env, std::string("netlink receive: ") + std::strerror(errno));
      }
      int len = static_cast<int>(n);
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len);
           h = NLMSG_NEXT(h, len)) {
        if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_seq < begin || h->nlmsg_seq > last) continue;
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(int))) continue;
        int e = -*reinterpret_cast<int*>(NLMSG_DATA(h));
        if (e != 0 && err == 0) err = e;
        if (h->nlmsg_seq == begin) answered = count;  // the batch as a whole was refused
        else answered++;
      }
    }
    if (err == 0) return env.Null();
    return Napi::String::New(env, std::string("netlink: ") + std::strerror(err));
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
  int nl_ = -1;
  uint32_t seq_ = 1;
};

Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  exports.Set("Nft", Nft::Init(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(knocknft, InitAll)
