// Small libpcap binding for knockd-ts. It does only what a knock daemon
// needs: open an interface without promiscuous mode, in immediate mode with a
// small snaplen, swap the kernel BPF filter at run time, watch the pcap fd
// from libuv, and hand packets to JavaScript in batches. It also exposes
// pcap_stats and syslog(3), which Node cannot reach on its own.
//
// Batch format (little endian, 4-byte aligned records), reused between calls:
//   u32 ts_sec, u32 ts_usec, u32 caplen, u32 wirelen, caplen bytes, pad to 4.
// The batch Buffer is only valid during the callback; JS must copy what it
// keeps. That is the point: no allocation per packet.
#include <napi.h>
#include <pcap/pcap.h>
#include <syslog.h>
#include <uv.h>

#include <cstring>
#include <string>

namespace {

constexpr size_t kBatchBytes = 256 * 1024;

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
    char err[PCAP_ERRBUF_SIZE] = {0};
    pcap_ = pcap_create(ifname.c_str(), err);
    if (pcap_ == nullptr) {
      Napi::Error::New(env, std::string("could not open ") + ifname + ": " + err)
          .ThrowAsJavaScriptException();
      return;
    }
    pcap_set_snaplen(pcap_, snaplen);
    pcap_set_promisc(pcap_, 0);
    pcap_set_immediate_mode(pcap_, 1);
    pcap_set_buffer_size(pcap_, buffer);
    int rc = pcap_activate(pcap_);
    if (rc < 0) {
      std::string msg = std::string("could not open ") + ifname + ": " + pcap_statustostr(rc);
      const char* detail = pcap_geterr(pcap_);
      if (detail != nullptr && detail[0] != '\0') msg += std::string(" (") + detail + ")";
      pcap_close(pcap_);
      pcap_ = nullptr;
      Napi::Error::New(env, msg).ThrowAsJavaScriptException();
      return;
    }
    if (pcap_setnonblock(pcap_, 1, err) < 0) {
      pcap_close(pcap_);
      pcap_ = nullptr;
      Napi::Error::New(env, std::string("setnonblock: ") + err).ThrowAsJavaScriptException();
      return;
    }
    linktype_ = pcap_datalink(pcap_);
  }

  ~Capture() override { Shutdown(); }

 private:
  Napi::Value Linktype(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), linktype_);
  }

  Napi::Value SetFilter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (pcap_ == nullptr) {
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

  // start(onBatch(buffer, count), onError(message))
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (pcap_ == nullptr || polling_) {
      Napi::Error::New(env, "capture is closed or already started").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (info.Length() < 2 || !info[0].IsFunction() || !info[1].IsFunction()) {
      Napi::TypeError::New(env, "start(onBatch, onError)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int fd = pcap_get_selectable_fd(pcap_);
    if (fd < 0) {
      Napi::Error::New(env, "no selectable fd").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    on_batch_ = Napi::Persistent(info[0].As<Napi::Function>());
    on_error_ = Napi::Persistent(info[1].As<Napi::Function>());
    batch_ = Napi::Persistent(Napi::Buffer<uint8_t>::New(env, kBatchBytes));
    batch_data_ = batch_.Value().Data();
    ctx_ = new Napi::AsyncContext(env, "knockpcap");
    env_ = env;
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t;
    uv_poll_init(loop, poll_, fd);
    poll_->data = this;
    uv_poll_start(poll_, UV_READABLE | UV_DISCONNECT, &Capture::OnReadable);
    polling_ = true;
    Ref();  // keep alive while polling
    return env.Undefined();
  }

  static void OnReadable(uv_poll_t* handle, int status, int /*events*/) {
    auto* self = static_cast<Capture*>(handle->data);
    if (self == nullptr || self->pcap_ == nullptr) return;
    Napi::HandleScope scope(self->env_);
    // Drain what the kernel has, in bounded rounds so one busy interface
    // cannot starve the event loop.
    for (int round = 0; round < 64; round++) {
      int n = pcap_dispatch(self->pcap_, -1, &Capture::OnPacket, reinterpret_cast<u_char*>(self));
      if (n < 0 || status < 0) {
        self->Flush();
        std::string msg = n < 0 ? pcap_geterr(self->pcap_) : uv_strerror(status);
        self->StopPolling();
        if (!self->on_error_.IsEmpty()) {
          self->on_error_.MakeCallback(self->env_.Global(),
                                       {Napi::String::New(self->env_, msg)}, *self->ctx_);
        }
        return;
      }
      if (n == 0) break;
    }
    self->Flush();
  }

  static void OnPacket(u_char* user, const struct pcap_pkthdr* h, const u_char* bytes) {
    auto* self = reinterpret_cast<Capture*>(user);
    size_t need = 16 + ((h->caplen + 3u) & ~3u);
    if (need > kBatchBytes) return;  // cannot happen with our snaplen
    if (self->batch_used_ + need > kBatchBytes) self->Flush();
    if (self->batch_data_ == nullptr) return;
    uint8_t* p = self->batch_data_ + self->batch_used_;
    uint32_t hdr[4] = {static_cast<uint32_t>(h->ts.tv_sec), static_cast<uint32_t>(h->ts.tv_usec),
                       h->caplen, h->len};
    std::memcpy(p, hdr, sizeof hdr);
    std::memcpy(p + 16, bytes, h->caplen);
    self->batch_used_ += need;
    self->batch_count_++;
  }

  void Flush() {
    if (batch_count_ == 0 || on_batch_.IsEmpty()) return;
    uint32_t count = batch_count_;
    uint32_t used = static_cast<uint32_t>(batch_used_);
    batch_count_ = 0;
    batch_used_ = 0;
    on_batch_.MakeCallback(env_.Global(),
                           {batch_.Value(), Napi::Number::New(env_, count),
                            Napi::Number::New(env_, used)},
                           *ctx_);
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct pcap_stat st;
    std::memset(&st, 0, sizeof st);
    if (pcap_ == nullptr || pcap_stats(pcap_, &st) < 0) return env.Null();
    Napi::Object o = Napi::Object::New(env);
    o.Set("received", Napi::Number::New(env, st.ps_recv));
    o.Set("dropped", Napi::Number::New(env, st.ps_drop));
    o.Set("ifdropped", Napi::Number::New(env, st.ps_ifdrop));
    return o;
  }

  void StopPolling() {
    if (!polling_) return;
    polling_ = false;
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
    Unref();
  }

  void Shutdown() {
    StopPolling();
    if (pcap_ != nullptr) {
      pcap_close(pcap_);
      pcap_ = nullptr;
    }
    delete ctx_;
    ctx_ = nullptr;
    batch_data_ = nullptr;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    on_batch_.Reset();
    on_error_.Reset();
    batch_.Reset();
    return info.Env().Undefined();
  }

  pcap_t* pcap_ = nullptr;
  int linktype_ = -1;
  bool polling_ = false;
  uv_poll_t* poll_ = nullptr;
  Napi::Env env_ = Napi::Env(nullptr);
  Napi::AsyncContext* ctx_ = nullptr;
  Napi::FunctionReference on_batch_;
  Napi::FunctionReference on_error_;
  Napi::Reference<Napi::Buffer<uint8_t>> batch_;
  uint8_t* batch_data_ = nullptr;
  size_t batch_used_ = 0;
  uint32_t batch_count_ = 0;
};

std::string g_ident;

// openlog(ident): LOG_USER, no LOG_PID, as knockd does.
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
  exports.Set("libVersion", Napi::String::New(env, pcap_lib_version()));
  return exports;
}

}  // namespace

NODE_API_MODULE(knockpcap, InitAll)
