// HUP_TEST_DEVICE=opencl (or cuda) runs the whole suite on that device: every call on host
// tensors then goes through the GPU variants (copied in and out by hup), against the same
// libtorch oracle. Without such a device the run is skipped as a whole, and reported as a skip.
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "hup/hup.h"

namespace {

class DeviceEnvironment : public testing::Environment {
public:
    void SetUp() override {
        const char *name = std::getenv("HUP_TEST_DEVICE");
        if (!name || !*name || std::string(name) == "host") return;
        const std::string requested = name;
        hup::Device device;
        if (requested == "opencl") {
            device = hup::Device::OpenCL;
        } else if (requested == "cuda") {
            device = hup::Device::Cuda;
        } else {
            FAIL() << "HUP_TEST_DEVICE must be host, opencl or cuda, got " << requested;
            return;
        }
        const hup::Status status = hup::set_preferred_device(device);
        // OpenCL runs wherever PoCL is installed (CI included), so its absence is a failure;
        // a missing CUDA device is the normal case on machines without one.
        if (!status.ok() && device == hup::Device::Cuda) GTEST_SKIP() << status.message();
        ASSERT_TRUE(status.ok()) << status.message();
    }
};

const testing::Environment *const device_environment = testing::AddGlobalTestEnvironment(new DeviceEnvironment);

}  // namespace

// Tests that need to know where they run (tolerances for GPU float contraction).
bool hup_testing_on_gpu() { return hup::preferred_device() != hup::Device::Host; }
