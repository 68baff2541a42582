// hup_icount: a fixed set of small cases, one per argument, for instruction counts under
// valgrind's callgrind (bench/icount.sh). Only hup_icount_measured() is counted; it runs the
// case once, after an uncounted warm-up call (plans and tables cached, code paged in). The
// thread pool is one thread, so all the work happens inside the counted call. No libtorch:
// counts must not move with anything but hup.
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hup/hup.h"

namespace {

struct Tensor {
    std::vector<float> data;
    hup::TensorView view;
    Tensor(std::vector<int64_t> sizes, bool channels_last = false) {
        int64_t count = 1;
        for (int64_t s : sizes) count *= s;
        data.resize(count);
        for (int64_t i = 0; i < count; i++) data[i] = float((i * 7919) % 1000) / 997.0f - 0.5f;
        view.data = data.data();
        view.sizes = sizes;
        if (channels_last) {  // (N, C, H, W) in NHWC memory
            const int64_t c = sizes[1], h = sizes[2], w = sizes[3];
            view.strides = {h * w * c, 1, w * c, c};
        }
    }
};

struct IndexTensor {
    std::vector<int64_t> data;
    hup::TensorView view;
    explicit IndexTensor(std::vector<int64_t> sizes) {
        int64_t count = 1;
        for (int64_t s : sizes) count *= s;
        data.resize(count);
        view.data = data.data();
        view.dtype = hup::DType::Int64;
        view.sizes = sizes;
    }
};

struct Case {
    const char *name;
    std::function<std::function<hup::Status()>()> prepare;  // allocates; returns the call to count
};

hup::InterpolateOptions scaled(hup::InterpolateMode mode, double scale) {
    hup::InterpolateOptions o;
    o.mode = mode;
    o.scale_factor = {scale};
    return o;
}

std::function<hup::Status()> interpolate_case(std::vector<int64_t> in_sizes, hup::InterpolateOptions o, bool cl) {
    std::vector<int64_t> out_sizes;
    hup::interpolate_output_sizes(in_sizes, o, &out_sizes);
    auto in = std::make_shared<Tensor>(in_sizes, cl);
    auto out = std::make_shared<Tensor>(out_sizes, cl);
    return [in, out, o] { return hup::interpolate(in->view, out->view, o); };
}

std::function<hup::Status()> deconv_case(std::vector<int64_t> in_sizes, int64_t out_channels, int64_t k, int64_t s, int64_t p,
                                         bool cl) {
    hup::ConvTransposeOptions o;
    o.stride = {s};
    o.padding = {p};
    auto weight = std::make_shared<Tensor>(std::vector<int64_t>{in_sizes[1], out_channels, k, k});
    auto bias = std::make_shared<Tensor>(std::vector<int64_t>{out_channels});
    std::vector<int64_t> out_sizes;
    hup::conv_transpose_output_sizes(in_sizes, weight->view.sizes, o, &out_sizes);
    auto in = std::make_shared<Tensor>(in_sizes, cl);
    auto out = std::make_shared<Tensor>(out_sizes, cl);
    auto plan = std::make_shared<hup::ConvTransposePlan>();
    plan->prepare(weight->view, &bias->view, o);
    return [in, out, plan, weight, bias] { return plan->run(in->view, out->view); };
}

const std::vector<Case> &cases() {
    using M = hup::InterpolateMode;
    static const std::vector<Case> list = {
        {"interp_nearest_nchw_1x16x64x64_x2", [] { return interpolate_case({1, 16, 64, 64}, scaled(M::Nearest, 2), false); }},
        {"interp_bilinear_nchw_1x16x64x64_x2", [] { return interpolate_case({1, 16, 64, 64}, scaled(M::Bilinear, 2), false); }},
        {"interp_bilinear_nhwc_1x16x64x64_x2", [] { return interpolate_case({1, 16, 64, 64}, scaled(M::Bilinear, 2), true); }},
        {"interp_bilinear_nchw_1x16x64x64_x0.75", [] { return interpolate_case({1, 16, 64, 64}, scaled(M::Bilinear, 0.75), false); }},
        {"interp_bilinear_nchw_1x16x64x64_x1.5", [] { return interpolate_case({1, 16, 64, 64}, scaled(M::Bilinear, 1.5), false); }},
        {"interp_bicubic_nchw_1x8x48x48_x1.5", [] { return interpolate_case({1, 8, 48, 48}, scaled(M::Bicubic, 1.5), false); }},
        {"interp_bicubic_nchw_1x8x48x48_x2", [] { return interpolate_case({1, 8, 48, 48}, scaled(M::Bicubic, 2), false); }},
        {"interp_area_nchw_1x3x135x240_to28", [] {
             hup::InterpolateOptions o;
             o.mode = M::Area;
             o.size = {28, 28};
             return interpolate_case({1, 3, 135, 240}, o, false);
         }},
        {"interp_trilinear_ncdhw_1x4x8x16x16_x2", [] { return interpolate_case({1, 4, 8, 16, 16}, scaled(M::Trilinear, 2), false); }},
        {"deconv_nhwc_1x32x16x16_to16_k4s2p1", [] { return deconv_case({1, 32, 16, 16}, 16, 4, 2, 1, true); }},
        {"deconv_nchw_1x16x16x16_to3_k3s1p1", [] { return deconv_case({1, 16, 16, 16}, 3, 3, 1, 1, false); }},
        {"max_pool_nchw_1x16x64x64_k2s2", [] {
             hup::MaxPoolOptions o;
             o.kernel_size = {2};
             auto in = std::make_shared<Tensor>(std::vector<int64_t>{1, 16, 64, 64});
             auto out = std::make_shared<Tensor>(std::vector<int64_t>{1, 16, 32, 32});
             auto idx = std::make_shared<IndexTensor>(std::vector<int64_t>{1, 16, 32, 32});
             return std::function<hup::Status()>([in, out, idx, o] { return hup::max_pool(in->view, out->view, idx->view, o); });
         }},
        {"pixel_shuffle_nchw_1x64x32x32_r2", [] {
             auto in = std::make_shared<Tensor>(std::vector<int64_t>{1, 64, 32, 32});
             auto out = std::make_shared<Tensor>(std::vector<int64_t>{1, 16, 64, 64});
             return std::function<hup::Status()>([in, out] { return hup::pixel_shuffle(in->view, out->view, 2); });
         }},
        {"pixel_shuffle_nhwc_1x64x32x32_r2", [] {
             auto in = std::make_shared<Tensor>(std::vector<int64_t>{1, 64, 32, 32}, true);
             auto out = std::make_shared<Tensor>(std::vector<int64_t>{1, 16, 64, 64}, true);
             return std::function<hup::Status()>([in, out] { return hup::pixel_shuffle(in->view, out->view, 2); });
         }},
    };
    return list;
}

}  // namespace

// The counted region (callgrind --toggle-collect=hup_icount_measured).
extern "C" __attribute__((noinline)) int hup_icount_measured(const std::function<hup::Status()> *call) {
    return (*call)().ok() ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc != 2 || std::strcmp(argv[1], "--list") == 0) {
        for (const Case &c : cases()) std::printf("%s\n", c.name);
        return argc == 2 ? 0 : 2;
    }
    hup::set_num_threads(1);
    for (const Case &c : cases()) {
        if (std::string(c.name) != argv[1]) continue;
        const std::function<hup::Status()> call = c.prepare();
        const hup::Status warm = call();
        if (!warm.ok()) {
            std::fprintf(stderr, "%s: %s\n", c.name, warm.message().c_str());
            return 1;
        }
        return hup_icount_measured(&call);
    }
    std::fprintf(stderr, "unknown case %s (--list lists them)\n", argv[1]);
    return 2;
}
