// GPU calls: which device a call runs on, the GPU kernel table, and the buffers of one call.
#pragma once

#include <vector>

#include "tensor_check.h"

namespace hup {
namespace detail {

// The device a call on `tensors` runs on: theirs when they are on a GPU (all on the same one),
// the preferred device when they are all on the host. Errors for mixed devices, or a device
// that is not available.
Status call_device(const std::vector<const TensorView *> &tensors, Device *device);

// One tensor of an operator call, for check_call.
struct Operand {
    const TensorView *tensor;  // null: an absent optional tensor, skipped
    const char *name;          // in messages: "input", "output", ...
    // The sizes the operator worked out for it (an output, or an input that must match
    // another): it is then checked with its ranks and dtype too. Null: an input whose sizes
    // the operator read, having checked it already.
    const std::vector<int64_t> *sizes = nullptr;
    int min_rank = 0, max_rank = 0;
    DType dtype = DType::Float32;
};

// The checks every operator makes once it has checked its input and worked out the other
// tensors' sizes from its options, in this order: each operand with sizes (rank, dtype,
// sizes), every operand against Halide's 32-bit offsets, and one device for all of them.
Status check_call(const std::vector<Operand> &operands, Device *device);

// The GPU variant `name` (as hup_add_gpu_kernel named it) for `device`, or null where it is
// not built. The caller casts it to the generator's signature.
void *find_gpu_kernel(const char *name, Device device);

// find_gpu_kernel, cast to `Kernel`, or an Unsupported status naming what is missing.
template <typename Kernel>
Status gpu_kernel(const char *name, Device device, Kernel *kernel) {
    *kernel = reinterpret_cast<Kernel>(find_gpu_kernel(name, device));
    if (*kernel) return Status::Ok();
    return Status(StatusCode::Unsupported, std::string("hup was built without the ") + device_name(device) +
                                               " variant " + name);
}

// The buffers of one GPU pipeline call. A tensor on the device is wrapped in place (its handle
// becomes the buffer's device allocation). A host tensor, and the runtime's own host tables,
// get a device copy that the pipeline makes; run() copies outputs back to the host. The
// destructor detaches or frees whatever was bound, on success or failure.
class DeviceCall {
public:
    explicit DeviceCall(Device device) : device_(device) {}
    ~DeviceCall();
    DeviceCall(const DeviceCall &) = delete;
    DeviceCall &operator=(const DeviceCall &) = delete;

    // `buffer` describes `t` (a HalideView of it, whose host pointer is t.data); it must stay
    // where it is until the call is destroyed.
    Status bind(const TensorView &t, halide_buffer_t *buffer, bool is_output);
    // A host-memory input the runtime built (tables, bias zeros), and a host-memory output the
    // runtime reads afterwards (copied back by run()).
    void bind_table(halide_buffer_t *buffer);
    void bind_result(halide_buffer_t *buffer);

    template <typename Call>
    Status run(const char *op, Call &&call) {
        install_error_handler();
        int result = call(static_cast<void *>(&errors_));
        if (result == 0) result = copy_back();
        return pipeline_status(op, result, errors_);
    }

private:
    int copy_back();
    struct Bound {
        halide_buffer_t *buffer;
        bool wrapped;  // a device tensor: detach, never free
        bool output;
    };
    Device device_;
    std::vector<Bound> bound_;
    PipelineErrors errors_;
};

}  // namespace detail
}  // namespace hup
