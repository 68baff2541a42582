// Devices: availability, the preferred device, the caller's contexts, and device buffers.
#include "device.h"

#include <atomic>
#include <map>
#include <mutex>
#include <optional>

#include "HalideRuntimeCuda.h"
#include "HalideRuntimeOpenCL.h"

namespace hup {

const char *device_name(Device device) {
    switch (device) {
        case Device::Host: return "host";
        case Device::Cuda: return "CUDA";
        case Device::OpenCL: return "OpenCL";
    }
    return "unknown";
}

namespace detail {
namespace {

// The caller's contexts, per thread (set_cuda_context / set_opencl_context).
thread_local void *cuda_context = nullptr, *cuda_stream = nullptr;
thread_local void *opencl_context = nullptr, *opencl_queue = nullptr;

std::atomic<Device> preferred{Device::Host};

const halide_device_interface_t *device_interface(Device device) {
#if HUP_WITH_CUDA
    if (device == Device::Cuda) return halide_cuda_device_interface();
#endif
#if HUP_WITH_OPENCL
    if (device == Device::OpenCL) return halide_opencl_device_interface();
#endif
    (void)device;
    return nullptr;
}

// Allocates one float on the device: the cheapest thing that needs a driver, a device and
// a context. The outcome is kept per device (and per caller context: a context the caller
// hands over is taken as working).
Status probe(Device device) {
    if (device == Device::Host) return Status::Ok();
    const halide_device_interface_t *interface = device_interface(device);
    if (!interface) {
        return Status(StatusCode::Unsupported,
                      std::string("hup was built without ") + device_name(device) + " (HUP_" +
                          (device == Device::Cuda ? "CUDA" : "OPENCL") + "=OFF)");
    }
    if ((device == Device::Cuda && cuda_context) || (device == Device::OpenCL && opencl_context)) return Status::Ok();
    static std::mutex mutex;
    static std::map<Device, Status> outcomes;
    std::lock_guard<std::mutex> lock(mutex);
    auto known = outcomes.find(device);
    if (known != outcomes.end()) return known->second;
    install_error_handler();
    PipelineErrors errors;
    float value = 0;
    halide_dimension_t dim{0, 1, 1, 0};
    halide_buffer_t buffer{};
    buffer.host = reinterpret_cast<uint8_t *>(&value);
    buffer.type = halide_type_t(halide_type_float, 32);
    buffer.dimensions = 1;
    buffer.dim = &dim;
    const int result = halide_device_malloc(&errors, &buffer, interface);
    if (result == 0) halide_device_free(&errors, &buffer);
    Status status = Status::Ok();
    if (result != 0) {
        std::string why = errors.text;
        while (!why.empty() && why.back() == '\n') why.pop_back();
        status = Status(StatusCode::Unsupported, std::string("no usable ") + device_name(device) + " device: " +
                                                     (why.empty() ? "error " + std::to_string(result) : why));
    }
    outcomes.emplace(device, status);
    return status;
}

}  // namespace

Status call_device(const std::vector<const TensorView *> &tensors, Device *device) {
    std::optional<Device> on;
    for (const TensorView *t : tensors) {
        if (!t || t->device == Device::Host) continue;
        if (on && *on != t->device) {
            return Status(StatusCode::InvalidArgument, std::string("tensors are on different devices (") +
                                                           device_name(*on) + " and " + device_name(t->device) + ")");
        }
        on = t->device;
    }
    if (on) {
        for (const TensorView *t : tensors) {
            if (t && t->device == Device::Host) {
                return Status(StatusCode::InvalidArgument, std::string("tensors are on different devices (host and ") +
                                                               device_name(*on) + ")");
            }
        }
    }
    *device = on ? *on : preferred.load();
    return probe(*device);
}

Status check_call(const std::vector<Operand> &operands, Device *device) {
    std::vector<const TensorView *> tensors;
    for (const Operand &o : operands) {
        if (!o.tensor || !o.sizes) continue;
        Status s = check_tensor(*o.tensor, o.name, o.min_rank, o.max_rank, o.dtype);
        if (s.ok()) s = check_sizes(*o.tensor, o.name, *o.sizes);
        if (!s.ok()) return s;
    }
    for (const Operand &o : operands) {
        if (!o.tensor) continue;
        const int element_size = o.dtype == DType::Int64 ? (int)sizeof(int64_t) : (int)sizeof(float);
        const Status s = check_halide_addressable(*o.tensor, o.name, element_size);
        if (!s.ok()) return s;
        tensors.push_back(o.tensor);
    }
    return call_device(tensors, device);
}

DeviceCall::~DeviceCall() {
    for (const Bound &b : bound_) {
        if (b.wrapped) {
#if HUP_WITH_CUDA
            if (device_ == Device::Cuda) halide_cuda_detach_device_ptr(&errors_, b.buffer);
#endif
#if HUP_WITH_OPENCL
            if (device_ == Device::OpenCL) halide_opencl_detach_cl_mem(&errors_, b.buffer);
#endif
        } else if (b.buffer->device) {
            halide_device_free(&errors_, b.buffer);
        }
    }
}

Status DeviceCall::bind(const TensorView &t, halide_buffer_t *buffer, bool is_output) {
    if (t.device == Device::Host) {
        // The pipeline copies host inputs in (only when marked dirty) and allocates outputs.
        if (!is_output) buffer->flags |= halide_buffer_flag_host_dirty;
        bound_.push_back({buffer, false, is_output});
        return Status::Ok();
    }
    const uint64_t handle = reinterpret_cast<uintptr_t>(t.data);
    buffer->host = nullptr;
    int result = -1;
#if HUP_WITH_CUDA
    if (t.device == Device::Cuda) result = halide_cuda_wrap_device_ptr(&errors_, buffer, handle);
#endif
#if HUP_WITH_OPENCL
    if (t.device == Device::OpenCL) result = halide_opencl_wrap_cl_mem(&errors_, buffer, handle);
#endif
    (void)handle;
    if (result != 0) {
        return Status(StatusCode::RuntimeError, std::string("could not wrap a ") + device_name(t.device) +
                                                    " tensor: " + errors_.text);
    }
    bound_.push_back({buffer, true, is_output});
    return Status::Ok();
}

void DeviceCall::bind_table(halide_buffer_t *buffer) {
    buffer->flags |= halide_buffer_flag_host_dirty;
    bound_.push_back({buffer, false, false});
}

void DeviceCall::bind_result(halide_buffer_t *buffer) { bound_.push_back({buffer, false, true}); }

int DeviceCall::copy_back() {
    for (const Bound &b : bound_) {
        if (!b.output || b.wrapped) continue;
        const int result = halide_copy_to_host(&errors_, b.buffer);
        if (result != 0) return result;
    }
    return 0;
}

}  // namespace detail

Status device_available(Device device) { return detail::probe(device); }

Status set_preferred_device(Device device) {
    Status status = detail::probe(device);
    if (status.ok()) detail::preferred = device;
    return status;
}

Device preferred_device() { return detail::preferred.load(); }

// ---- the caller's contexts -----------------------------------------------------------------
// CUDA: Halide 14 lets the application replace how its CUDA runtime acquires a context and a
// stream (halide_set_cuda_*; Halide issues #6286, #6600); hup's handlers answer with the
// calling thread's context when one is set, and defer to Halide's own otherwise.
#if HUP_WITH_CUDA
namespace {
halide_cuda_acquire_context_t halide_cuda_acquire = nullptr;
halide_cuda_release_context_t halide_cuda_release = nullptr;
halide_cuda_get_stream_t halide_cuda_stream = nullptr;

int acquire_cuda(void *user_context, void **context, bool create) {
    if (detail::cuda_context) {
        *context = detail::cuda_context;
        return 0;
    }
    return halide_cuda_acquire(user_context, context, create);
}
int release_cuda(void *user_context) { return detail::cuda_context ? 0 : halide_cuda_release(user_context); }
int stream_cuda(void *user_context, void *context, void **stream) {
    if (detail::cuda_context) {
        *stream = detail::cuda_stream;
        return 0;
    }
    return halide_cuda_stream(user_context, context, stream);
}

void install_cuda_handlers() {
    static std::once_flag once;
    std::call_once(once, [] {
        halide_cuda_acquire = halide_set_cuda_acquire_context(acquire_cuda);
        halide_cuda_release = halide_set_cuda_release_context(release_cuda);
        halide_cuda_stream = halide_set_cuda_get_stream(stream_cuda);
    });
}
}  // namespace
#endif

Status set_cuda_context(void *context, void *stream) {
#if HUP_WITH_CUDA
    install_cuda_handlers();
    detail::cuda_context = context;
    detail::cuda_stream = context ? stream : nullptr;
    return Status::Ok();
#else
    (void)context;
    (void)stream;
    return Status(StatusCode::Unsupported, "hup was built without CUDA (HUP_CUDA=OFF)");
#endif
}

Status set_opencl_context(void *context, void *queue) {
#if HUP_WITH_OPENCL
    if (context && !queue) return Status(StatusCode::InvalidArgument, "set_opencl_context: a context needs its queue");
    detail::opencl_context = context;
    detail::opencl_queue = context ? queue : nullptr;
    return Status::Ok();
#else
    (void)context;
    (void)queue;
    return Status(StatusCode::Unsupported, "hup was built without OpenCL (HUP_OPENCL=OFF)");
#endif
}

}  // namespace hup

#if HUP_WITH_OPENCL
// OpenCL: Halide 14 has no setter, but its runtime defines halide_acquire_cl_context and
// halide_release_cl_context weakly so that applications can replace them; these do. With the
// caller's context set on this thread they return it. Otherwise they serve one context that
// Halide's own code creates (create_opencl_context, which honours HL_OCL_PLATFORM_NAME and
// HL_OCL_DEVICE_TYPE), and, as Halide's versions do, hold a lock from acquire to release:
// kernels are shared objects whose arguments must not be set by two threads at once.
struct _cl_context;
struct _cl_command_queue;
namespace Halide {
namespace Runtime {
namespace Internal {
namespace OpenCL {
int create_opencl_context(void *user_context, _cl_context **ctx, _cl_command_queue **q);
}  // namespace OpenCL
}  // namespace Internal
}  // namespace Runtime
}  // namespace Halide

namespace {
std::recursive_mutex default_opencl_lock;
_cl_context *default_opencl_context = nullptr;
_cl_command_queue *default_opencl_queue = nullptr;
}  // namespace

extern "C" int halide_acquire_cl_context(void *user_context, _cl_context **ctx, _cl_command_queue **q, bool create) {
    if (hup::detail::opencl_context) {
        *ctx = static_cast<_cl_context *>(hup::detail::opencl_context);
        *q = static_cast<_cl_command_queue *>(hup::detail::opencl_queue);
        return 0;
    }
    default_opencl_lock.lock();
    if (!default_opencl_context && create) {
        const int result = Halide::Runtime::Internal::OpenCL::create_opencl_context(user_context, &default_opencl_context,
                                                                                    &default_opencl_queue);
        if (result != 0) {  // the lock stays held: Halide calls release after a failed acquire too
            default_opencl_context = nullptr;
            default_opencl_queue = nullptr;
            return result;
        }
    }
    *ctx = default_opencl_context;
    *q = default_opencl_queue;
    return 0;
}

extern "C" int halide_release_cl_context(void *) {
    if (!hup::detail::opencl_context) default_opencl_lock.unlock();
    return 0;
}
#endif
