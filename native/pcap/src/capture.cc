// Small libpcap binding for knockd-ts. It does only what a knock daemon
// needs: open an interface without promiscuous mode, in immediate mode with a
// small snaplen, swap the kernel BPF filter at run time, watch the pcap fd
// from libuv, and hand packets to JavaScript in batches. It also exposes
// syslog(3), which Node cannot reach on its own.
//
// Batch format (little endian, 4-byte aligned records), reused between calls:
//   u32 ts_sec, u32 ts_usec, u32 caplen, u32 wirelen, caplen bytes, pad to 4.
// The batch Buffer is only valid during the callback; JS must copy what it
// keeps. That is the point: no allocation per packet.
//
// Re-entry rules (JavaScript may call setFilter or close from any callback):
// - JavaScript never runs inside pcap_dispatch: each dispatch is capped at
//   what one batch holds, and the batch is handed over after it returns. So
//   libpcap's ring and filter are never changed under its feet, and
//   pcap_breakloop is never needed.
// - close() from a callback only marks the capture closing; the handle, the
//   poll watcher, the JS references and the async context are released when
//   the callback stack unwinds (Release), and the uv_poll_t is freed in its
//   uv_close callback, which also drops the reference that kept us alive.
// - An exception thrown by onBatch is caught and reported to onError; if
//   onError throws too, the capture stops and the message goes to stderr.
//   Nothing is left pending in the N-API environment.
#include <fcntl.h>
#include <napi.h>
#include <pcap/pcap.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>
#include <uv.h>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <string>

namespace {

constexpr size_t kBatchBytes = 256 * 1024;
constexpr int kMaxSnaplen = 65535;  // so at least 3 records fit in a batch
// Dispatch rounds per readable event, so one busy interface cannot starve
// the event loop; the poll is level triggered, so the rest comes next turn.
constexpr int kRounds = 64;

// Drops an exception raised while describing another one.
void ClearPending(napi_env env) {
  bool pending = false;
  napi_value ignored;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_get_and_clear_last_exception(env, &ignored);
  }
}

// The message of a thrown value: an Error's message, else String(value).
// A throwing getter or toString, or a Symbol, must not leave an exception pending.
std::string Describe(napi_env env, napi_value v) {
  napi_valuetype type;
  napi_value text;
  if (napi_typeof(env, v, &type) == napi_ok && type == napi_object) {
    napi_value msg;
    napi_valuetype mtype;
    if (napi_get_named_property(env, v, "message", &msg) == napi_ok &&
        napi_typeof(env, msg, &mtype) == napi_ok && mtype == napi_string) {
      v = msg;
    }
    ClearPending(env);
  }
  if (napi_coerce_to_string(env, v, &text) == napi_ok) {
    return Napi::String(env, text).Utf8Value();
  }
  ClearPending(env);
  return "(a value that cannot be printed)";
}

class Capture : public Napi::ObjectWrap<Capture> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Capture",
                       {
                           InstanceMethod("setFilter", &Capture::SetFilter),
                           InstanceMethod("start", &Capture::Start),
                           InstanceMethod("stats", &Capture::Stats),
                           InstanceMethod("close", &Capture::Close),
                           InstanceAccessor("linktype", &Capture::Linktype, nullptr),
                       });
  }

  // new Capture(ifname, snaplen, bufferBytes)
  explicit Capture(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Capture>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber()) {
      Napi::TypeError::New(env, "Capture(ifname, snaplen, bufferBytes)").ThrowAsJavaScriptException();
      return;
    }
    std::string ifname = info[0].As<Napi::String>();
    int snaplen = info[1].As<Napi::Number>().Int32Value();
    int buffer = info[2].As<Napi::Number>().Int32Value();
    if (snaplen < 1 || snaplen > kMaxSnaplen || buffer < 0) {
      Napi::RangeError::New(env, "Capture: snaplen must be 1..65535 and bufferBytes >= 0")
          .ThrowAsJavaScriptException();
      return;
    }
    char err[PCAP_ERRBUF_SIZE] = {0};
    pcap_ = pcap_create(ifname.c_str(), err);
    if (pcap_ == nullptr) {
      Napi::Error::New(env, std::string("could not open ") + ifname + ": " + err)
          .ThrowAsJavaScriptException();
      return;
    }
    // These fail only on an activated handle; checked all the same.
    if (pcap_set_snaplen(pcap_, snaplen) != 0 || pcap_set_promisc(pcap_, 0) != 0 ||
        pcap_set_immediate_mode(pcap_, 1) != 0 || pcap_set_buffer_size(pcap_, buffer) != 0) {
      Fail(env, "could not configure " + ifname);
      return;
    }
    int rc = pcap_activate(pcap_);
    if (rc < 0) {
      std::string msg = std::string("could not open ") + ifname + ": " + pcap_statustostr(rc);
      const char* detail = pcap_geterr(pcap_);
      if (detail != nullptr && detail[0] != '\0') msg += std::string(" (") + detail + ")";
      Fail(env, msg);
      return;
    }
    // Non-blocking also makes libpcap close its breakloop eventfd, which it
    // opens without EFD_CLOEXEC: afterwards the packet socket is our only fd.
    if (pcap_setnonblock(pcap_, 1, err) < 0) {
      Fail(env, std::string("setnonblock: ") + err);
      return;
    }
    // libpcap opens its AF_PACKET socket without SOCK_CLOEXEC; every command
    // the daemon spawns (sh -c, nft, iptables-restore) would inherit a socket
    // that can sniff the interface. Node spawns from this thread, so no fork
    // can fall between pcap_activate and this line.
    int fd = pcap_get_selectable_fd(pcap_);
    int flags = fd < 0 ? -1 : fcntl(fd, F_GETFD);
    if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
      Fail(env, "could not set close-on-exec on the capture socket of " + ifname);
      return;
    }
    int snapshot = pcap_snapshot(pcap_);
    size_t record = 16 + ((static_cast<size_t>(snapshot > 0 ? snapshot : kMaxSnaplen) + 3) & ~3u);
    max_packets_ = record >= kBatchBytes ? 1 : static_cast<int>(kBatchBytes / record);
    linktype_ = pcap_datalink(pcap_);
  }

  ~Capture() override { Release(); }

 private:
  // Constructor failure: close the half-open handle and throw.
  void Fail(Napi::Env env, const std::string& msg) {
    pcap_close(pcap_);
    pcap_ = nullptr;
    Napi::Error::New(env, msg).ThrowAsJavaScriptException();
  }

  bool Open() const { return pcap_ != nullptr && !closing_; }

  Napi::Value Linktype(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), linktype_);
  }

  // Safe from a callback: callbacks run only between pcap_dispatch calls.
  Napi::Value SetFilter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open()) {
      Napi::Error::New(env, "capture is closed").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (info.Length() < 1 || !info[0].IsString()) {
      Napi::TypeError::New(env, "setFilter(expression)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::string expr = info[0].As<Napi::String>();
    struct bpf_program prog;
    if (pcap_compile(pcap_, &prog, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) < 0) {
      Napi::Error::New(env, std::string("filter: ") + pcap_geterr(pcap_))
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int rc = pcap_setfilter(pcap_, &prog);
    pcap_freecode(&prog);
    if (rc < 0) {
      Napi::Error::New(env, std::string("setfilter: ") + pcap_geterr(pcap_))
          .ThrowAsJavaScriptException();
    }
    return env.Undefined();
  }

  // start(onBatch(buffer, count, used), onError(message))
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open() || poll_ != nullptr) {
      Napi::Error::New(env, "capture is closed or already started").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (info.Length() < 2 || !info[0].IsFunction() || !info[1].IsFunction()) {
      Napi::TypeError::New(env, "start(onBatch, onError)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    auto batch = Napi::Buffer<uint8_t>::New(env, kBatchBytes);
    if (env.IsExceptionPending()) return env.Undefined();
    napi_value name;
    napi_async_context ctx = nullptr;
    uv_loop_t* loop = nullptr;
    if (napi_create_string_utf8(env, "knockpcap", NAPI_AUTO_LENGTH, &name) != napi_ok ||
        napi_async_init(env, nullptr, name, &ctx) != napi_ok ||
        napi_get_uv_event_loop(env, &loop) != napi_ok) {
      if (ctx != nullptr) napi_async_destroy(env, ctx);
      if (!env.IsExceptionPending()) {
        Napi::Error::New(env, "start: N-API setup failed").ThrowAsJavaScriptException();
      }
      return env.Undefined();
    }
    auto* poll = new uv_poll_t;
    int rc = uv_poll_init(loop, poll, pcap_get_selectable_fd(pcap_));
    if (rc != 0) {
      delete poll;  // never registered with the loop
    } else {
      poll->data = this;
      rc = uv_poll_start(poll, UV_READABLE, &Capture::OnReadable);
      if (rc != 0) {
        poll->data = nullptr;  // tells OnPollClosed there is no reference to drop
        uv_close(reinterpret_cast<uv_handle_t*>(poll), &Capture::OnPollClosed);
      }
    }
    if (rc != 0) {
      napi_async_destroy(env, ctx);
      Napi::Error::New(env, std::string("start: ") + uv_strerror(rc)).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    poll_ = poll;
    ctx_ = ctx;
    on_batch_ = Napi::Persistent(info[0].As<Napi::Function>());
    on_error_ = Napi::Persistent(info[1].As<Napi::Function>());
    batch_ = Napi::Persistent(batch);
    Ref();  // held until the poll handle is closed (OnPollClosed)
    return env.Undefined();
  }

  static void OnReadable(uv_poll_t* handle, int status, int /*events*/) {
    auto* self = static_cast<Capture*>(handle->data);
    if (!self->Open()) return;
    Napi::HandleScope scope(self->Env());
    self->busy_ = true;
    self->Drain(status);
    self->busy_ = false;
    if (self->closing_) self->Release();
  }

  void Drain(int status) {
    if (status < 0) {
      Stop(uv_strerror(status));
      return;
    }
    for (int round = 0; round < kRounds && !closing_; round++) {
      Napi::Buffer<uint8_t> buf = batch_.Value();
      if (buf.Length() < kBatchBytes) {
        // JavaScript transferred (detached) the batch: never write into it.
        buf = Napi::Buffer<uint8_t>::New(Env(), kBatchBytes);
        if (Env().IsExceptionPending()) {
          Stop("out of memory for the batch: " + Describe(Env(), TakeException()));
          return;
        }
        batch_ = Napi::Persistent(buf);
      }
      batch_data_ = buf.Data();
      batch_used_ = 0;
      batch_count_ = 0;
      int n = pcap_dispatch(pcap_, max_packets_, &Capture::OnPacket,
                            reinterpret_cast<u_char*>(this));
      std::string pcap_error = n < 0 ? pcap_geterr(pcap_) : "";
      // libpcap is done with its ring: from here JavaScript may re-enter.
      if (batch_count_ > 0) {
        std::string thrown;
        if (!Call(on_batch_, {buf, Napi::Number::New(Env(), batch_count_),
                              Napi::Number::New(Env(), static_cast<double>(batch_used_))},
                  &thrown)) {
          Report("callback threw: " + thrown);
        }
      }
      if (closing_) return;
      if (n < 0) {
        Stop(pcap_error);
        return;
      }
      if (n < max_packets_) return;  // the ring is empty for now
    }
  }

  // Never calls JavaScript: it runs inside pcap_dispatch.
  static void OnPacket(u_char* user, const struct pcap_pkthdr* h, const u_char* bytes) {
    auto* self = reinterpret_cast<Capture*>(user);
    size_t need = 16 + ((h->caplen + 3u) & ~3u);
    // max_packets_ keeps us within the batch; a caplen above the snapshot would not.
    if (self->batch_used_ + need > kBatchBytes) return;
    uint8_t* p = self->batch_data_ + self->batch_used_;
    uint32_t hdr[4] = {static_cast<uint32_t>(h->ts.tv_sec), static_cast<uint32_t>(h->ts.tv_usec),
                       h->caplen, h->len};
    std::memcpy(p, hdr, sizeof hdr);
    std::memcpy(p + 16, bytes, h->caplen);
    self->batch_used_ += need;
    self->batch_count_++;
  }

  napi_value TakeException() {
    napi_value e = nullptr;
    if (napi_get_and_clear_last_exception(Env(), &e) != napi_ok || e == nullptr) {
      napi_get_undefined(Env(), &e);
    }
    return e;
  }

  // Calls fn; false with the thrown message when it threw. The exception is
  // cleared: left pending, it would make every later N-API call fail.
  bool Call(const Napi::FunctionReference& fn, std::initializer_list<napi_value> args,
            std::string* thrown) {
    napi_env env = Env();
    napi_value global;
    napi_value result;
    napi_status st = napi_get_global(env, &global);
    if (st == napi_ok) {
      st = napi_make_callback(env, ctx_, global, fn.Value(), args.size(), args.begin(), &result);
    }
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (st == napi_ok && !pending) return true;
    *thrown = pending ? Describe(env, TakeException())
                      : "could not call back (N-API status " + std::to_string(st) + ")";
    return false;
  }

  // Tells onError; if that throws as well, nobody can be told, so stop.
  void Report(const std::string& msg) {
    std::string thrown;
    if (closing_) {
      // close() came first: no callback may follow it, but do not swallow.
      std::fprintf(stderr, "knockpcap: after close: %s\n", msg.c_str());
      return;
    }
    if (!Call(on_error_, {Napi::String::New(Env(), msg)}, &thrown)) {
      std::fprintf(stderr, "knockpcap: onError threw (%s) while reporting: %s; capture stopped\n",
                   thrown.c_str(), msg.c_str());
      closing_ = true;
    }
  }

  // A capture error (interface gone, poll failure): the capture ends.
  void Stop(const std::string& msg) {
    Report(msg);
    closing_ = true;
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct pcap_stat st;
    std::memset(&st, 0, sizeof st);
    if (!Open() || pcap_stats(pcap_, &st) < 0) return env.Null();
    Napi::Object o = Napi::Object::New(env);
    o.Set("received", Napi::Number::New(env, st.ps_recv));
    o.Set("dropped", Napi::Number::New(env, st.ps_drop));
    o.Set("ifdropped", Napi::Number::New(env, st.ps_ifdrop));
    return o;
  }

  // From a callback, only marks the capture closing: OnReadable releases it
  // once the callback has returned, so nothing is freed while still in use.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    closing_ = true;
    if (!busy_) Release();
    return info.Env().Undefined();
  }

  // Only when no callback is on the stack. libuv allows closing the fd right
  // after uv_close; the uv_poll_t itself lives until OnPollClosed.
  void Release() {
    closing_ = true;
    if (poll_ != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), &Capture::OnPollClosed);
      poll_ = nullptr;
    }
    if (pcap_ != nullptr) {
      pcap_close(pcap_);
      pcap_ = nullptr;
    }
    if (ctx_ != nullptr) {
      napi_async_destroy(Env(), ctx_);
      ctx_ = nullptr;
    }
    on_batch_.Reset();
    on_error_.Reset();
    batch_.Reset();
    batch_data_ = nullptr;
  }

  static void OnPollClosed(uv_handle_t* handle) {
    auto* self = static_cast<Capture*>(handle->data);
    delete reinterpret_cast<uv_poll_t*>(handle);
    if (self == nullptr) return;  // uv_poll_start failed: Start never took the reference
    Napi::HandleScope scope(self->Env());
    self->Unref();
  }

  pcap_t* pcap_ = nullptr;
  int linktype_ = -1;
  int max_packets_ = 1;  // per pcap_dispatch: what one batch always holds
  bool busy_ = false;     // OnReadable is on the stack
  bool closing_ = false;  // close() was called or the capture failed
  uv_poll_t* poll_ = nullptr;
  napi_async_context ctx_ = nullptr;
  Napi::FunctionReference on_batch_;
  Napi::FunctionReference on_error_;
  Napi::Reference<Napi::Buffer<uint8_t>> batch_;
  uint8_t* batch_data_ = nullptr;
  size_t batch_used_ = 0;
  uint32_t batch_count_ = 0;
};

std::string g_ident;

// openlog(ident): LOG_USER, no LOG_PID, as knockd does. glibc opens the
// /dev/log socket with SOCK_CLOEXEC (checked with strace on glibc 2.36), so
// spawned commands do not inherit it.
Napi::Value OpenLog(const Napi::CallbackInfo& info) {
  g_ident = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value()
                                                    : std::string("knockd");
  openlog(g_ident.c_str(), 0, LOG_USER);
  return info.Env().Undefined();
}

// syslog(message) at LOG_NOTICE, as knockd does.
Napi::Value Syslog(const Napi::CallbackInfo& info) {
  if (info.Length() > 0 && info[0].IsString()) {
    std::string msg = info[0].As<Napi::String>();
    syslog(LOG_NOTICE, "%s", msg.c_str());
  }
  return info.Env().Undefined();
}

// sdNotify(socketPath, state): one datagram to systemd's notification socket
// (NOTIFY_SOCKET; a leading '@' names an abstract socket). Node has no Unix
// datagram sockets, hence this. Returns false when the send failed.
Napi::Value SdNotify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    Napi::TypeError::New(env, "sdNotify(socketPath, state)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>();
  std::string state = info[1].As<Napi::String>();
  struct sockaddr_un addr;
  std::memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path || (path[0] != '/' && path[0] != '@'))
    return Napi::Boolean::New(env, false);
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';
  socklen_t len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + path.size());
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Napi::Boolean::New(env, false);
  // Never block the event loop on a slow PID 1: a lost notification is better.
  ssize_t n = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                     reinterpret_cast<struct sockaddr*>(&addr), len);
  close(fd);
  return Napi::Boolean::New(env, n == static_cast<ssize_t>(state.size()));
}

// compileFilter(linktype, snaplen, expr): throws with libpcap's message when
// the expression does not compile. Uses a dead handle: no device, no root.
Napi::Value CompileFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsString()) {
    Napi::TypeError::New(env, "compileFilter(linktype, snaplen, expr)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  pcap_t* p = pcap_open_dead(info[0].As<Napi::Number>().Int32Value(),
                             info[1].As<Napi::Number>().Int32Value());
  if (p == nullptr) {
    Napi::Error::New(env, "pcap_open_dead failed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string expr = info[2].As<Napi::String>();
  struct bpf_program prog;
  if (pcap_compile(p, &prog, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) < 0) {
    std::string msg = pcap_geterr(p);
    pcap_close(p);
    Napi::Error::New(env, std::string("filter: ") + msg).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint32_t n = prog.bf_len;
  pcap_freecode(&prog);
  pcap_close(p);
  return Napi::Number::New(env, n);
}

Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  exports.Set("compileFilter", Napi::Function::New(env, CompileFilter));
  exports.Set("Capture", Capture::Init(env));
  exports.Set("openlog", Napi::Function::New(env, OpenLog));
  exports.Set("syslog", Napi::Function::New(env, Syslog));
  exports.Set("sdNotify", Napi::Function::New(env, SdNotify));
  return exports;
}

}  // namespace

NODE_API_MODULE(knockpcap, InitAll)
