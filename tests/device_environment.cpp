// hup_tests' main. HUP_TEST_DEVICE=opencl (or cuda) runs the whole suite on that device: every
// call on host tensors then goes through the GPU variants (copied in and out by hup), against
// the same libtorch oracle. ctest registers the suite once per device (tests/CMakeLists.txt).
// OpenCL runs wherever PoCL is installed (CI included), so its absence is a failure; without a
// CUDA device the run prints a skip, which ctest reports as a skip.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "hup/hup.h"

int main(int argc, char **argv) {
    testing::InitGoogleTest(&argc, argv);
    const char *name = std::getenv("HUP_TEST_DEVICE");
    const std::string requested = name ? name : "";
    if (!requested.empty() && requested != "host") {
        if (requested != "opencl" && requested != "cuda") {
            std::fprintf(stderr, "HUP_TEST_DEVICE must be host, opencl or cuda, got %s\n", requested.c_str());
            return 1;
        }
        const hup::Device device = requested == "cuda" ? hup::Device::Cuda : hup::Device::OpenCL;
        const hup::Status status = hup::set_preferred_device(device);
        if (!status.ok()) {
            if (device == hup::Device::Cuda) {
                std::printf("[  SKIPPED ] every test: %s\n", status.message().c_str());
                return 0;
            }
            std::fprintf(stderr, "HUP_TEST_DEVICE=%s: %s\n", requested.c_str(), status.message().c_str());
            return 1;
        }
        std::printf("hup_tests: every call on host tensors runs on %s\n", hup::device_name(device));
    }
    return RUN_ALL_TESTS();
}
