// hup on GPUs in hup_bench: the libraries hup_opencl and hup_cuda of every suite.
//
// The problem's tensors are copied to device memory once, untimed; the timed call runs hup on
// device tensors (no copy through the host) and waits for the device; the outputs come back
// once, untimed, for the check against libtorch. OpenCL runs through the OpenCL API (PoCL on
// this machine: a CPU, so those times only show that the GPU variants run). CUDA is reached
// through the driver API, loaded at run time (hup needs no CUDA toolkit); without a device the
// benchmark is skipped with the reason. Each device gets its own context and queue (stream),
// handed to hup with set_opencl_context / set_cuda_context.
#pragma once

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <dlfcn.h>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_common.h"
#include "hup/torch.h"

namespace hup_bench {

// Device memory of one API: buffers, copies both ways, and waiting for queued work.
class DeviceApi {
public:
    virtual ~DeviceApi() = default;
    virtual void *allocate(size_t bytes) = 0;  // a cl_mem, or a CUdeviceptr as void *
    virtual void release(void *buffer) = 0;
    virtual void upload(void *buffer, const void *host, size_t bytes) = 0;
    virtual void download(void *host, void *buffer, size_t bytes) = 0;
    virtual void synchronize() = 0;
};

class OpenCLApi : public DeviceApi {
public:
    OpenCLApi() {
        cl_platform_id platform;
        cl_device_id device;
        cl_int err = clGetPlatformIDs(1, &platform, nullptr);
        if (err == CL_SUCCESS) err = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &device, nullptr);
        if (err == CL_SUCCESS) context_ = clCreateContext(nullptr, 1, &device, nullptr, nullptr, &err);
        if (err == CL_SUCCESS) queue_ = clCreateCommandQueue(context_, device, 0, &err);
        if (err != CL_SUCCESS) throw std::runtime_error("no OpenCL device (error " + std::to_string(err) + ")");
        const hup::Status s = hup::set_opencl_context(context_, queue_);
        if (!s.ok()) throw std::runtime_error(s.message());
    }
    void *allocate(size_t bytes) override {
        cl_int err;
        cl_mem mem = clCreateBuffer(context_, CL_MEM_READ_WRITE, bytes, nullptr, &err);
        if (err != CL_SUCCESS) throw std::runtime_error("clCreateBuffer failed");
        return mem;
    }
    void release(void *buffer) override { clReleaseMemObject(static_cast<cl_mem>(buffer)); }
    void upload(void *buffer, const void *host, size_t bytes) override {
        clEnqueueWriteBuffer(queue_, static_cast<cl_mem>(buffer), CL_TRUE, 0, bytes, host, 0, nullptr, nullptr);
    }
    void download(void *host, void *buffer, size_t bytes) override {
        clEnqueueReadBuffer(queue_, static_cast<cl_mem>(buffer), CL_TRUE, 0, bytes, host, 0, nullptr, nullptr);
    }
    void synchronize() override { clFinish(queue_); }

private:
    cl_context context_ = nullptr;
    cl_command_queue queue_ = nullptr;
};

// The few CUDA driver entry points the benchmark needs, from libcuda.so.1 (C ABI).
class CudaApi : public DeviceApi {
public:
    CudaApi() {
        library_ = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
        if (!library_) throw std::runtime_error("no CUDA driver (libcuda.so.1)");
        load(init_, "cuInit");
        load(device_get_, "cuDeviceGet");
        load(primary_retain_, "cuDevicePrimaryCtxRetain");
        load(set_current_, "cuCtxSetCurrent");
        load(alloc_, "cuMemAlloc_v2");
        load(free_, "cuMemFree_v2");
        load(to_device_, "cuMemcpyHtoD_v2");
        load(to_host_, "cuMemcpyDtoH_v2");
        load(synchronize_, "cuCtxSynchronize");
        int device = 0;
        if (init_(0) != 0 || device_get_(&device, 0) != 0 || primary_retain_(&context_, device) != 0 ||
            set_current_(context_) != 0) {
            throw std::runtime_error("no CUDA device");
        }
        const hup::Status s = hup::set_cuda_context(context_, nullptr);  // the default stream
        if (!s.ok()) throw std::runtime_error(s.message());
    }
    void *allocate(size_t bytes) override {
        uint64_t pointer = 0;
        if (alloc_(&pointer, bytes) != 0) throw std::runtime_error("cuMemAlloc failed");
        return reinterpret_cast<void *>(pointer);
    }
    void release(void *buffer) override { free_(reinterpret_cast<uint64_t>(buffer)); }
    void upload(void *buffer, const void *host, size_t bytes) override {
        to_device_(reinterpret_cast<uint64_t>(buffer), host, bytes);
    }
    void download(void *host, void *buffer, size_t bytes) override {
        to_host_(host, reinterpret_cast<uint64_t>(buffer), bytes);
    }
    void synchronize() override { synchronize_(); }

private:
    template <typename F>
    void load(F &f, const char *name) {
        f = reinterpret_cast<F>(dlsym(library_, name));
        if (!f) throw std::runtime_error(std::string("CUDA driver lacks ") + name);
    }
    void *library_ = nullptr, *context_ = nullptr;
    int (*init_)(unsigned) = nullptr;
    int (*device_get_)(int *, int) = nullptr;
    int (*primary_retain_)(void **, int) = nullptr;
    int (*set_current_)(void *) = nullptr;
    int (*alloc_)(uint64_t *, size_t) = nullptr;
    int (*free_)(uint64_t) = nullptr;
    int (*to_device_)(uint64_t, const void *, size_t) = nullptr;
    int (*to_host_)(void *, uint64_t, size_t) = nullptr;
    int (*synchronize_)() = nullptr;
};

// One API per device for the whole run (contexts are made once); throws where there is none.
// Never destroyed: the last benchmark's device tensors (held by a static in prepared()) are
// released at exit, after any static made here would be.
inline DeviceApi &device_api(hup::Device device) {
    static DeviceApi *opencl = nullptr, *cuda = nullptr;
    static std::string opencl_error, cuda_error;
    auto open = [](auto make, DeviceApi *&api, std::string &error) -> DeviceApi & {
        if (!api && error.empty()) {
            try {
                api = make();
            } catch (const std::exception &e) {
                error = e.what();
            }
        }
        if (!api) throw std::runtime_error(error);
        return *api;
    };
    if (device == hup::Device::OpenCL) return open([] { return new OpenCLApi(); }, opencl, opencl_error);
    return open([] { return new CudaApi(); }, cuda, cuda_error);
}

// A tensor's span of elements in device memory, freed with it.
struct DeviceTensor {
    DeviceApi &api;
    void *buffer = nullptr;
    size_t bytes = 0;
    hup::TensorView view;

    DeviceTensor(DeviceApi &api, hup::Device device, const at::Tensor &t) : api(api) {
        view = hup::torch::view(t);
        int64_t span = 1;
        for (size_t d = 0; d < view.sizes.size(); d++) span += (view.sizes[d] - 1) * view.strides[d];
        bytes = span * t.element_size();
        buffer = api.allocate(bytes);
        api.upload(buffer, t.data_ptr(), bytes);
        view.data = buffer;
        view.device = device;
    }
    ~DeviceTensor() { api.release(buffer); }
};

using DeviceCall = std::function<hup::Status(const std::vector<hup::TensorView> &, const std::vector<hup::TensorView> &)>;

// The Runner of a GPU library: `call` on device copies of `inputs` and `outputs`; finish()
// brings the outputs back into `outputs` (then `after`, e.g. repacking them into
// Problem::output). Throws when the device or the call fails.
inline Runner gpu_runner(hup::Device device, const std::vector<at::Tensor> &inputs, std::vector<at::Tensor> outputs,
                         DeviceCall call, std::function<void()> after = nullptr) {
    DeviceApi &api = device_api(device);
    struct State {
        std::vector<std::unique_ptr<DeviceTensor>> in, out;
        std::vector<hup::TensorView> in_views, out_views;
    };
    auto state = std::make_shared<State>();
    for (const at::Tensor &t : inputs) {
        state->in.push_back(std::make_unique<DeviceTensor>(api, device, t));
        state->in_views.push_back(state->in.back()->view);
    }
    for (const at::Tensor &t : outputs) {
        state->out.push_back(std::make_unique<DeviceTensor>(api, device, t));
        state->out_views.push_back(state->out.back()->view);
    }
    const hup::Status s = call(state->in_views, state->out_views);
    if (!s.ok()) throw std::runtime_error(std::string("hup on ") + hup::device_name(device) + ": " + s.message());
    api.synchronize();
    Runner runner{[state, call, &api] {
                      call(state->in_views, state->out_views);
                      api.synchronize();
                  },
                  hup::device_name(device)};
    runner.finish = [state, outputs, after, &api] {
        for (size_t i = 0; i < outputs.size(); i++) api.download(outputs[i].data_ptr(), state->out[i]->buffer, state->out[i]->bytes);
        if (after) after();
    };
    return runner;
}

}  // namespace hup_bench
