// Every operator on CUDA, against libtorch and against hup's own CPU result. Runs where a CUDA
// device and driver are present; elsewhere each test is skipped (and ctest reports a skip).
// The whole differential suite also runs on CUDA as the cuda.* tests (HUP_TEST_DEVICE=cuda).
#include "device_cases.h"

namespace {

using hup_test::DeviceCase;

class Cuda : public testing::Test {
protected:
    void SetUp() override {
        const hup::Status s = hup::device_available(hup::Device::Cuda);
        if (!s.ok()) GTEST_SKIP() << s.message();
    }
    void TearDown() override { hup::set_preferred_device(hup::Device::Host); }
};

// Runs `c` on host tensors with `device` preferred; returns the outputs.
std::vector<at::Tensor> run_on(hup::Device device, const DeviceCase &c) {
    EXPECT_TRUE(hup::set_preferred_device(device).ok());
    std::vector<at::Tensor> outputs = hup_test::blank_outputs(c);
    std::vector<hup::TensorView> in, out;
    for (const at::Tensor &t : c.inputs) in.push_back(hup::torch::view(t));
    for (const at::Tensor &t : outputs) out.push_back(hup::torch::view(t));
    const hup::Status s = c.run(in, out);
    EXPECT_TRUE(s.ok()) << c.name << " on " << hup::device_name(device) << ": " << s.message();
    return outputs;
}

TEST_F(Cuda, EveryOperatorMatchesLibtorchAndTheCpu) {
    for (const DeviceCase &c : hup_test::device_cases()) {
        const std::vector<at::Tensor> cpu = run_on(hup::Device::Host, c);
        const std::vector<at::Tensor> gpu = run_on(hup::Device::Cuda, c);
        for (size_t i = 0; i < gpu.size(); i++) {
            EXPECT_TRUE(hup_test::matches(c, gpu[i], c.expected[i]));
            EXPECT_TRUE(hup_test::matches(c, gpu[i], cpu[i]));
        }
    }
}

TEST_F(Cuda, BadUnpoolIndicesWriteNothing) {
    ASSERT_TRUE(hup::set_preferred_device(hup::Device::Cuda).ok());
    at::Tensor values = at::randn({1, 2, 3, 3});
    at::Tensor indices = at::randint(0, 36, {1, 2, 3, 3}, at::kLong);
    indices[0][0][1][1] = (int64_t(1) << 32) + 3;  // would alias index 3 in 32 bits
    at::Tensor out = at::full({1, 2, 6, 6}, 7.0f);
    hup::MaxUnpoolOptions o;
    o.kernel_size = {2};
    EXPECT_EQ(hup::torch::max_unpool(values, indices, out, o).code(), hup::StatusCode::InvalidArgument);
    EXPECT_TRUE(at::equal(out, at::full({1, 2, 6, 6}, 7.0f)));
}

}  // namespace
