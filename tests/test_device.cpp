// Device tensors and device selection, on OpenCL (PoCL here): tensors that live in the
// caller's cl_mem buffers, the caller's context and queue (from several threads), mixed
// devices, a device that is not there, and host tensors sent to the preferred device.
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <thread>

#include "device_cases.h"

namespace {

using hup_test::DeviceCase;

// A context and queue on the first OpenCL device, as an application would make them.
struct OpenCL {
    cl_context context = nullptr;
    cl_command_queue queue = nullptr;

    OpenCL() {
        cl_platform_id platform;
        cl_device_id device;
        cl_int err = clGetPlatformIDs(1, &platform, nullptr);
        if (err == CL_SUCCESS) err = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &device, nullptr);
        if (err == CL_SUCCESS) context = clCreateContext(nullptr, 1, &device, nullptr, nullptr, &err);
        if (err == CL_SUCCESS) queue = clCreateCommandQueue(context, device, 0, &err);
    }
    ~OpenCL() {
        if (queue) clReleaseCommandQueue(queue);
        if (context) clReleaseContext(context);
    }
    bool ok() const { return queue != nullptr; }
};

// A tensor's elements in a cl_mem of `cl`'s context (the span its strides reach).
class ClTensor {
public:
    ClTensor(const OpenCL &cl, const at::Tensor &t) : cl_(cl), like_(t) {
        hup::TensorView v = hup::torch::view(t);
        int64_t span = 1;
        for (size_t d = 0; d < v.sizes.size(); d++) span += (v.sizes[d] - 1) * v.strides[d];
        bytes_ = span * t.element_size();
        cl_int err;
        mem_ = clCreateBuffer(cl.context, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, bytes_, t.data_ptr(), &err);
        EXPECT_EQ(err, CL_SUCCESS);
    }
    ~ClTensor() { clReleaseMemObject(mem_); }
    hup::TensorView view() const {
        hup::TensorView v = hup::torch::view(like_);
        v.data = mem_;
        v.device = hup::Device::OpenCL;
        return v;
    }
    at::Tensor read() const {
        at::Tensor host = at::empty_strided(like_.sizes(), like_.strides(), like_.options());
        EXPECT_EQ(clEnqueueReadBuffer(cl_.queue, mem_, CL_TRUE, 0, bytes_, host.data_ptr(), 0, nullptr, nullptr), CL_SUCCESS);
        return host;
    }

private:
    const OpenCL &cl_;
    at::Tensor like_;
    cl_mem mem_ = nullptr;
    size_t bytes_ = 0;
};

// Runs `c` on device tensors of `cl` and checks the outputs read back.
void run_on_device_tensors(const OpenCL &cl, const DeviceCase &c) {
    std::vector<std::unique_ptr<ClTensor>> inputs, outputs;
    std::vector<hup::TensorView> in_views, out_views;
    for (const at::Tensor &t : c.inputs) {
        inputs.push_back(std::make_unique<ClTensor>(cl, t));
        in_views.push_back(inputs.back()->view());
    }
    for (const at::Tensor &t : hup_test::blank_outputs(c)) {
        outputs.push_back(std::make_unique<ClTensor>(cl, t));
        out_views.push_back(outputs.back()->view());
    }
    const hup::Status s = c.run(in_views, out_views);
    ASSERT_TRUE(s.ok()) << c.name << ": " << s.message();
    ASSERT_EQ(clFinish(cl.queue), CL_SUCCESS);
    for (size_t i = 0; i < outputs.size(); i++) EXPECT_TRUE(hup_test::matches(c, outputs[i]->read(), c.expected[i]));
}

class OpenCLTensors : public testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(cl.ok()) << "no OpenCL device (PoCL: pocl-opencl-icd)";
        ASSERT_TRUE(hup::set_opencl_context(cl.context, cl.queue).ok());
    }
    void TearDown() override { hup::set_opencl_context(nullptr, nullptr); }
    OpenCL cl;
};

TEST_F(OpenCLTensors, EveryOperatorRunsOnTheCallersBuffers) {
    for (const DeviceCase &c : hup_test::device_cases()) run_on_device_tensors(cl, c);
}

TEST_F(OpenCLTensors, BadUnpoolIndicesWriteNothing) {
    at::Tensor values = at::randn({1, 2, 3, 3});
    at::Tensor indices = at::randint(0, 36, {1, 2, 3, 3}, at::kLong);
    hup::MaxUnpoolOptions o;
    o.kernel_size = {2};
    for (int64_t bad : {int64_t(-1), int64_t(36), (int64_t(1) << 32) + 1}) {
        indices[0][1][2][0] = bad;
        ClTensor in(cl, values), idx(cl, indices), out(cl, at::full({1, 2, 6, 6}, 7.0f));
        const hup::Status s = hup::max_unpool(in.view(), idx.view(), out.view(), o);
        EXPECT_EQ(s.code(), hup::StatusCode::InvalidArgument) << bad;
        EXPECT_TRUE(at::equal(out.read(), at::full({1, 2, 6, 6}, 7.0f))) << bad;
    }
}

TEST_F(OpenCLTensors, MixedDevicesAreRefused) {
    at::Tensor input = at::randn({1, 2, 4, 4});
    ClTensor device_input(cl, input);
    at::Tensor host_output = at::full({1, 2, 8, 8}, 7.0f);
    hup::InterpolateOptions o;
    o.scale_factor = {2.0};
    const hup::Status s = hup::interpolate(device_input.view(), hup::torch::view(host_output), o);
    EXPECT_EQ(s.code(), hup::StatusCode::InvalidArgument);
    EXPECT_NE(s.message().find("different devices"), std::string::npos) << s.message();
    EXPECT_TRUE(at::equal(host_output, at::full({1, 2, 8, 8}, 7.0f)));
}

TEST(OpenCLContexts, AContextNeedsItsQueue) {
    int not_a_context = 0;
    const hup::Status s = hup::set_opencl_context(&not_a_context, nullptr);
    EXPECT_EQ(s.code(), hup::StatusCode::InvalidArgument) << s.message();
    EXPECT_TRUE(hup::set_opencl_context(nullptr, nullptr).ok());  // back to Halide's own
}

// Each thread hands hup its own context and queue; calls from both run at once. (The contexts
// are made first, on this thread: the ICD loader's first clGetPlatformIDs is not thread-safe.)
TEST(OpenCLThreads, EachThreadOnItsOwnQueue) {
    std::vector<DeviceCase> cases = hup_test::device_cases();
    OpenCL contexts[2];
    auto worker = [&](int first) {
        const OpenCL &cl = contexts[first];
        ASSERT_TRUE(cl.ok());
        ASSERT_TRUE(hup::set_opencl_context(cl.context, cl.queue).ok());
        for (int round = 0; round < 3; round++) {
            for (size_t i = first; i < cases.size(); i += 2) run_on_device_tensors(cl, cases[i]);
        }
        hup::set_opencl_context(nullptr, nullptr);
    };
    std::thread a(worker, 0), b(worker, 1);
    a.join();
    b.join();
}

// Host tensors run on the preferred device, through hup's copies, and come back equal.
TEST(PreferredDevice, HostTensorsOnOpenCL) {
    const hup::Device before = hup::preferred_device();
    ASSERT_TRUE(hup::set_preferred_device(hup::Device::OpenCL).ok());
    for (const DeviceCase &c : hup_test::device_cases()) {
        std::vector<at::Tensor> outputs = hup_test::blank_outputs(c);
        std::vector<hup::TensorView> in, out;
        for (const at::Tensor &t : c.inputs) in.push_back(hup::torch::view(t));
        for (const at::Tensor &t : outputs) out.push_back(hup::torch::view(t));
        const hup::Status s = c.run(in, out);
        ASSERT_TRUE(s.ok()) << c.name << ": " << s.message();
        for (size_t i = 0; i < outputs.size(); i++) EXPECT_TRUE(hup_test::matches(c, outputs[i], c.expected[i]));
    }
    ASSERT_TRUE(hup::set_preferred_device(before).ok());
}

// Without a CUDA device (or driver) every way in says so; nothing runs on the CPU instead.
TEST(PreferredDevice, MissingDeviceIsAStatus) {
    if (hup::device_available(hup::Device::Cuda).ok()) GTEST_SKIP() << "a CUDA device is present";
    const hup::Device before = hup::preferred_device();
    const hup::Status s = hup::set_preferred_device(hup::Device::Cuda);
    EXPECT_EQ(s.code(), hup::StatusCode::Unsupported);
    EXPECT_NE(s.message().find("CUDA"), std::string::npos) << s.message();
    EXPECT_EQ(hup::preferred_device(), before);

    float in[16] = {}, out[64];
    std::fill(out, out + 64, 7.0f);
    hup::TensorView input{in, hup::DType::Float32, {1, 1, 4, 4}, {}, hup::Device::Cuda};
    hup::TensorView output{out, hup::DType::Float32, {1, 1, 8, 8}, {}, hup::Device::Cuda};
    hup::InterpolateOptions o;
    o.scale_factor = {2.0};
    const hup::Status call = hup::interpolate(input, output, o);
    EXPECT_EQ(call.code(), hup::StatusCode::Unsupported) << call.message();
    EXPECT_EQ(out[0], 7.0f);
}

}  // namespace
