// One case per operator (and rank or mode where the GPU variant differs), for the tests that
// run hup on a device: test_device.cpp (OpenCL tensors) and test_cuda.cpp. Each case builds
// its inputs, runs hup on views that the caller provides (host or device), and says what
// libtorch computes. The sweeps of every option live in the operators' own tests, which also
// run on OpenCL (HUP_TEST_DEVICE); these cases check the device paths themselves.
#pragma once

#include <cfloat>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "hup/torch.h"

namespace hup_test {

struct DeviceCase {
    std::string name;
    std::vector<at::Tensor> inputs;
    std::vector<at::Tensor> expected;  // libtorch's outputs; hup's outputs get their sizes and dtypes
    std::function<hup::Status(const std::vector<hup::TensorView> &in, const std::vector<hup::TensorView> &out)> run;
    bool exact;  // data movement: bit-exact; arithmetic: within a few ULP of the magnitude
};

inline std::vector<DeviceCase> device_cases() {
    using namespace hup;
    namespace ht = hup::torch;
    at::manual_seed(7);
    std::vector<DeviceCase> cases;

    auto interpolate_case = [&](const std::string &name, at::Tensor in, InterpolateOptions o, bool exact) {
        cases.push_back({name, {in}, {ht::reference_interpolate(in, o)},
                         [o](const auto &i, const auto &out) { return hup::interpolate(i[0], out[0], o); }, exact});
    };
    InterpolateOptions bilinear;
    bilinear.mode = InterpolateMode::Bilinear;
    bilinear.size = {13, 20};
    interpolate_case("interpolate bilinear", at::randn({2, 3, 9, 7}), bilinear, false);
    InterpolateOptions cl = bilinear;
    cl.scale_factor = {1.5};
    cl.size.clear();
    cl.align_corners = true;
    interpolate_case("interpolate bilinear channels_last", at::randn({1, 5, 6, 7}).contiguous(at::MemoryFormat::ChannelsLast),
                     cl, false);
    InterpolateOptions antialias;
    antialias.mode = InterpolateMode::Bicubic;
    antialias.antialias = true;
    antialias.size = {7, 9};
    interpolate_case("interpolate bicubic antialias", at::randn({1, 2, 20, 18}), antialias, false);
    InterpolateOptions nearest;
    nearest.mode = InterpolateMode::Nearest;
    nearest.scale_factor = {2.0};
    interpolate_case("interpolate nearest 3d", at::randn({1, 2, 3, 4, 5}), nearest, true);
    InterpolateOptions area;
    area.mode = InterpolateMode::Area;
    area.size = {5};
    interpolate_case("interpolate area 1d", at::randn({2, 3, 17}), area, false);

    auto conv_case = [&](const std::string &name, at::Tensor in, at::Tensor w, at::Tensor b, ConvTransposeOptions o) {
        cases.push_back({name, {in, w, b}, {ht::reference_conv_transpose(in, w, b, o)},
                         [o](const auto &i, const auto &out) { return hup::conv_transpose(i[0], i[1], &i[2], out[0], o); },
                         false});
    };
    ConvTransposeOptions s2;
    s2.stride = {2};
    s2.padding = {1};
    s2.output_padding = {1};
    conv_case("conv_transpose2d", at::randn({2, 4, 5, 6}), at::randn({4, 3, 3, 3}), at::randn({3}), s2);
    ConvTransposeOptions grouped;
    grouped.stride = {2};
    grouped.groups = 2;
    grouped.dilation = {2};
    conv_case("conv_transpose1d groups", at::randn({1, 4, 9}), at::randn({4, 2, 4}), at::randn({4}), grouped);
    conv_case("conv_transpose3d", at::randn({1, 2, 3, 4, 3}), at::randn({2, 2, 2, 3, 2}), at::randn({2}), s2);

    auto pool_case = [&](const std::string &name, at::Tensor in, MaxPoolOptions o) {
        auto [values, indices] = ht::reference_max_pool(in, o);
        cases.push_back({name, {in}, {values, indices},
                         [o](const auto &i, const auto &out) { return hup::max_pool(i[0], out[0], out[1], o); }, true});
        MaxUnpoolOptions u;
        u.kernel_size = o.kernel_size;
        u.stride = o.stride;
        u.padding = o.padding;
        u.output_size.assign(in.sizes().begin() + 2, in.sizes().end());  // back to the pooled input's size
        cases.push_back({"max_unpool after " + name, {values, indices}, {ht::reference_max_unpool(values, indices, u)},
                         [u](const auto &i, const auto &out) { return hup::max_unpool(i[0], i[1], out[0], u); }, true});
    };
    MaxPoolOptions k3;
    k3.kernel_size = {3};
    k3.stride = {2};
    k3.padding = {1};
    pool_case("max_pool2d", at::randn({2, 3, 9, 8}), k3);
    MaxPoolOptions k2;
    k2.kernel_size = {2};
    pool_case("max_pool3d", at::randn({1, 2, 4, 6, 6}), k2);
    pool_case("max_pool1d", at::randn({2, 3, 11}), k3);

    at::Tensor blocks = at::randn({2, 8, 3, 5});
    cases.push_back({"pixel_shuffle", {blocks}, {at::pixel_shuffle(blocks, 2)},
                     [](const auto &i, const auto &out) { return hup::pixel_shuffle(i[0], out[0], 2); }, true});
    at::Tensor image = at::randn({1, 2, 6, 9});
    cases.push_back({"pixel_unshuffle", {image}, {at::pixel_unshuffle(image, 3)},
                     [](const auto &i, const auto &out) { return hup::pixel_unshuffle(i[0], out[0], 3); }, true});

    UnfoldOptions unfold;
    unfold.kernel_size = {3};
    unfold.padding = {1};
    unfold.stride = {2};
    at::Tensor pixels = at::randn({2, 3, 7, 8});
    cases.push_back({"unfold", {pixels}, {ht::reference_unfold(pixels, unfold)},
                     [unfold](const auto &i, const auto &out) { return hup::unfold(i[0], out[0], unfold); }, true});
    FoldOptions fold;
    fold.output_size = {6, 7};
    fold.kernel_size = {3};
    fold.padding = {1};
    at::Tensor columns = at::randn({2, 3 * 9, 6 * 7});
    // fold sums in col2im's order on every device: bit-exact.
    cases.push_back({"fold", {columns}, {ht::reference_fold(columns, fold)},
                     [fold](const auto &i, const auto &out) { return hup::fold(i[0], out[0], fold); }, true});
    return cases;
}

// Outputs to write into: the sizes, dtypes and memory formats of libtorch's, filled with a
// value no operator produces here, so that unwritten elements show.
inline std::vector<at::Tensor> blank_outputs(const DeviceCase &c) {
    std::vector<at::Tensor> outputs;
    for (const at::Tensor &e : c.expected) outputs.push_back(at::full_like(e, 12345));
    return outputs;
}

// ::testing::AssertionSuccess when `actual` matches `expected` as the case asks: bit-exact, or
// within 8 FLT_EPSILON of the largest magnitude (GPU compilers may contract a*b+c into a fused
// multiply-add, which rounds once instead of twice: a few ULP of the terms, never more).
inline ::testing::AssertionResult matches(const DeviceCase &c, const at::Tensor &actual, const at::Tensor &expected) {
    if (actual.sizes() != expected.sizes()) return ::testing::AssertionFailure() << c.name << ": sizes differ";
    if (c.exact) {
        if (at::equal(actual, expected)) return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure() << c.name << ": not bit-exact";
    }
    const double scale = std::max(1.0, expected.abs().max().item<double>());
    const double error = (actual - expected).abs().max().item<double>() / scale;
    if (error <= 8 * FLT_EPSILON) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << c.name << ": error " << error / FLT_EPSILON << " FLT_EPSILON of the magnitude";
}

}  // namespace hup_test
