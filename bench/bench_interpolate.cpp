// hup::interpolate against libtorch, oneDNN, XNNPACK, OpenCV and a memory copy.
//
// Every benchmark is named interp/<case>/<library> (harness: bench_common.h), and
// bench/report.py turns the JSON into a table. A peer is registered for a case only where its
// semantics are PyTorch's. Each library's result is compared with libtorch's before timing
// (the `max_abs_diff` counter).
#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <optional>
#include <unordered_map>

#include "bench_common.h"
#include "bench_gpu.h"
#include "hup/hup.h"
#include "hup/torch.h"

namespace hup_bench {
namespace {

// Max |result - libtorch| accepted without a warning. Input is uniform in [0, 1): a different
// convention (align_corners, pixel centres, taps) shows as differences of 1e-2 or more, while
// computing the same scale in double rather than float (as the peers do for 1080 -> 224) moves
// the source coordinates by ~1e-5 pixels and the result by ~1e-4.
constexpr double kTolerance = 1e-3;

using hup::InterpolateMode;
using hup::InterpolateOptions;

// ---- cases ---------------------------------------------------------------------------------

struct Case {
    std::string name;
    std::vector<int64_t> sizes;  // input sizes: N, C, spatial...
    Layout layout;
    InterpolateOptions options;
};

// hup's mode name with '-' as '_', for benchmark names.
std::string mode_name(InterpolateMode mode) {
    std::string name = hup::interpolate_mode_name(mode);
    for (char &ch : name) {
        if (ch == '-') ch = '_';
    }
    return name;
}

// e.g. nhwc_1x64x128x128_x2_bilinear_ac, nchw_1x3x1080x1920_to224x224_bicubic_aa.
std::string case_name(const std::vector<int64_t> &sizes, Layout layout, const InterpolateOptions &o) {
    std::ostringstream s;
    s << layout_name(sizes.size(), layout) << '_' << join(sizes, 'x');
    s << (o.size.empty() ? "_x" + join(o.scale_factor, 'x') : "_to" + join(o.size, 'x'));
    s << '_' << mode_name(o.mode) << (o.align_corners.value_or(false) ? "_ac" : "") << (o.antialias ? "_aa" : "");
    return s.str();
}

InterpolateOptions with_mode(InterpolateMode mode, std::optional<bool> align_corners = std::nullopt,
                             bool antialias = false) {
    InterpolateOptions o;
    o.mode = mode;
    o.align_corners = align_corners;
    o.antialias = antialias;
    return o;
}

const std::vector<Case> &cases() {
    static const std::vector<Case> table = [] {
        using M = InterpolateMode;
        const auto nearest = with_mode(M::Nearest), nearest_exact = with_mode(M::NearestExact);
        const auto bilinear = with_mode(M::Bilinear, false), bilinear_ac = with_mode(M::Bilinear, true);
        const auto bicubic = with_mode(M::Bicubic, false), area = with_mode(M::Area);
        const auto bilinear_aa = with_mode(M::Bilinear, false, true), bicubic_aa = with_mode(M::Bicubic, false, true);

        std::vector<Case> t;
        auto add = [&t](std::vector<int64_t> sizes, Layout layout, InterpolateOptions o) {
            t.push_back({case_name(sizes, layout, o), std::move(sizes), layout, std::move(o)});
        };
        auto scaled = [&add](std::vector<int64_t> sizes, Layout layout, InterpolateOptions o, double s) {
            o.scale_factor = {s};
            add(std::move(sizes), layout, std::move(o));
        };
        auto resized = [&add](std::vector<int64_t> sizes, InterpolateOptions o, std::vector<int64_t> size) {
            o.size = std::move(size);
            add(std::move(sizes), Layout::Contiguous, std::move(o));
        };

        for (Layout layout : {Layout::Contiguous, Layout::ChannelsLast})
            for (const auto &o : {nearest, nearest_exact, bilinear, bilinear_ac, bicubic})
                scaled({1, 64, 128, 128}, layout, o, 2);
        for (const auto &o : {bilinear, nearest}) scaled({8, 32, 256, 256}, Layout::Contiguous, o, 2);
        for (std::vector<int64_t> size : {std::vector<int64_t>{540, 960}, {224, 224}})
            for (const auto &o : {bilinear, bilinear_aa, bicubic_aa, area}) resized({1, 3, 1080, 1920}, o, size);
        scaled({1, 16, 32, 64, 64}, Layout::Contiguous, with_mode(M::Trilinear, false), 2);
        scaled({1, 64, 4096}, Layout::Contiguous, with_mode(M::Linear, false), 2);
        for (double s : {1.5, 0.75}) scaled({1, 64, 128, 128}, Layout::Contiguous, bilinear, s);
        return t;
    }();
    return table;
}

// ---- problems: input, libtorch's result, a preallocated output ------------------------------

at::MemoryFormat memory_format(const Case &c) { return hup_bench::memory_format(c.sizes.size(), c.layout); }

at::Tensor torch_interpolate(const at::Tensor &input, const InterpolateOptions &o) {
    return hup::torch::reference_interpolate(input, o);
}

struct Problem : ProblemBase {
    explicit Problem(const Case &c) : c(c) {
        at::manual_seed(0);
        input = at::rand(c.sizes).contiguous(memory_format(c));
        expected = torch_interpolate(input, c.options);
        output = at::empty(expected.sizes(), input.options().memory_format(memory_format(c))).fill_(NAN);
    }
    // What an ideal kernel moves: the input read once, the output written once.
    double bytes() const { return double(input.nbytes() + expected.nbytes()); }

    const Case &c;
    at::Tensor input;
};

// ---- libraries -----------------------------------------------------------------------------

using Library = hup_bench::Library<Case, Problem>;

bool linear_family(InterpolateMode mode) {
    return mode == InterpolateMode::Linear || mode == InterpolateMode::Bilinear || mode == InterpolateMode::Trilinear;
}

Runner prepare_hup(Problem &p) {
    hup::Status s = hup::torch::interpolate(p.input, p.output, p.c.options);
    if (!s.ok()) throw std::runtime_error("hup: " + s.message());
    return {[&p] { hup::torch::interpolate(p.input, p.output, p.c.options); }, ""};
}

// hup on device tensors (bench/bench_gpu.h).
template <hup::Device device>
Runner prepare_hup_gpu(Problem &p) {
    return gpu_runner(device, {p.input}, {p.output},
                      [&p](const auto &in, const auto &out) { return hup::interpolate(in[0], out[0], p.c.options); });
}

Runner prepare_libtorch(Problem &p) {
    return {[&p] {
                at::Tensor y = torch_interpolate(p.input, p.c.options);
                benchmark::DoNotOptimize(y.data_ptr());
            },
            ""};
}

// resampling_nearest rounds half-pixel centres like nearest-exact; resampling_linear is
// linear/bilinear/trilinear with align_corners=False.
bool onednn_supports(const Case &c) {
    const InterpolateOptions &o = c.options;
    return !o.antialias &&
           (o.mode == InterpolateMode::NearestExact || (linear_family(o.mode) && !o.align_corners.value_or(false)));
}

Runner prepare_onednn(Problem &p) {
    const dnnl::engine &engine = onednn_engine();
    auto desc = [](const at::Tensor &t) {  // nchw, nhwc, ncdhw, ncw: whatever the strides say
        return dnnl::memory::desc(t.sizes().vec(), dnnl::memory::data_type::f32, t.strides().vec());
    };
    const auto algorithm = p.c.options.mode == InterpolateMode::NearestExact ? dnnl::algorithm::resampling_nearest
                                                                             : dnnl::algorithm::resampling_linear;
    const dnnl::resampling_forward::primitive_desc pd(
        {dnnl::prop_kind::forward_inference, algorithm, desc(p.input), desc(p.output)}, engine);
    const dnnl::resampling_forward primitive(pd);
    dnnl::stream stream(engine);
    const std::unordered_map<int, dnnl::memory> args{
        {DNNL_ARG_SRC, dnnl::memory(pd.src_desc(), engine, p.input.data_ptr())},
        {DNNL_ARG_DST, dnnl::memory(pd.dst_desc(), engine, p.output.data_ptr())}};
    return {[primitive, stream, args]() mutable {
                primitive.execute(stream, args);
                stream.wait();
            },
            pd.impl_info_str()};
}

bool xnnpack_supports(const Case &c) {
    return c.options.mode == InterpolateMode::Bilinear && !c.options.antialias && c.sizes.size() == 4;
}

// Flags 0 are half-pixel centres (align_corners=False); NCHW and NHWC take the same arguments,
// the pixel strides being C either way.
Runner prepare_xnnpack(Problem &p) {
    const bool nhwc = p.c.layout == Layout::ChannelsLast;
    const auto create = nhwc ? xnn_create_resize_bilinear2d_nhwc_f32 : xnn_create_resize_bilinear2d_nchw_f32;
    const auto setup = nhwc ? xnn_setup_resize_bilinear2d_nhwc_f32 : xnn_setup_resize_bilinear2d_nchw_f32;
    pthreadpool_t pool = xnnpack_threadpool();
    const size_t channels = p.input.size(1);
    const uint32_t flags = p.c.options.align_corners.value_or(false) ? XNN_FLAG_ALIGN_CORNERS : 0;
    xnn_operator_t op = nullptr;
    xnn_check(create(channels, channels, channels, flags, &op), "xnn_create_resize_bilinear2d");
    std::shared_ptr<xnn_operator> owner(op, xnn_delete_operator);
    xnn_check(setup(op, p.input.size(0), p.input.size(2), p.input.size(3), p.output.size(2), p.output.size(3),
                    p.input.data_ptr<float>(), p.output.data_ptr<float>(), pool),
              "xnn_setup_resize_bilinear2d");
    return {[owner, pool] { xnn_run_operator(owner.get(), pool); }, nhwc ? "nhwc" : "nchw"};
}

bool integer_downscale(const Case &c) {
    std::vector<int64_t> out;
    if (!hup::interpolate_output_sizes(c.sizes, c.options, &out).ok()) return false;
    for (size_t d = 2; d < c.sizes.size(); ++d)
        if (out[d] == 0 || c.sizes[d] % out[d] != 0) return false;
    return true;
}

// The cv::resize interpolation that computes PyTorch's result for the case, or -1. INTER_AREA
// equals adaptive average pooling only for integer factors; antialias has no equivalent.
int opencv_interpolation(const Case &c) {
    const InterpolateOptions &o = c.options;
    if (o.antialias || o.align_corners.value_or(false) || c.sizes.size() == 5) return -1;
    if (c.layout == Layout::ChannelsLast && c.sizes[1] > CV_CN_MAX) return -1;
    switch (o.mode) {
    case InterpolateMode::Nearest: return cv::INTER_NEAREST;
    case InterpolateMode::NearestExact: return cv::INTER_NEAREST_EXACT;
    case InterpolateMode::Linear:
    case InterpolateMode::Bilinear: return cv::INTER_LINEAR;
    case InterpolateMode::Bicubic: return cv::INTER_CUBIC;
    case InterpolateMode::Area: return integer_downscale(c) ? cv::INTER_AREA : -1;
    default: return -1;
    }
}

bool opencv_supports(const Case &c) { return opencv_interpolation(c) >= 0; }

// cv::Mat headers (no copies) over the images of a tensor: one per (n, c) plane for NCHW, one
// per n with C interleaved channels for NHWC, and NCW as a single (N*C) x W image (a height
// scale of 1 maps every row onto itself).
std::vector<cv::Mat> opencv_images(const at::Tensor &t, Layout layout) {
    float *data = t.data_ptr<float>();
    const auto n = t.size(0), c = t.size(1);
    if (t.dim() == 3) return {cv::Mat(int(n * c), int(t.size(2)), CV_32F, data, t.stride(1) * sizeof(float))};
    const int h = int(t.size(2)), w = int(t.size(3));
    const size_t row_step = t.stride(2) * sizeof(float);
    std::vector<cv::Mat> images;
    for (int64_t i = 0; i < n; ++i) {
        if (layout == Layout::ChannelsLast) {
            images.emplace_back(h, w, CV_32FC(int(c)), data + i * t.stride(0), row_step);
            continue;
        }
        for (int64_t j = 0; j < c; ++j) images.emplace_back(h, w, CV_32F, data + i * t.stride(0) + j * t.stride(1), row_step);
    }
    return images;
}

Runner prepare_opencv(Problem &p) {
    const int interpolation = opencv_interpolation(p.c);
    std::vector<cv::Mat> src = opencv_images(p.input, p.c.layout), dst = opencv_images(p.output, p.c.layout);
    return {[src, dst, interpolation]() mutable {
                for (size_t i = 0; i < src.size(); ++i) cv::resize(src[i], dst[i], dst[i].size(), 0, 0, interpolation);
            },
            "cv::resize x" + std::to_string(src.size())};
}

// The roofline: a copy reading and writing as many bytes in all as the case does.
Runner prepare_copy(Problem &p) { return copy_runner(p.bytes()); }

const std::vector<Library> &libraries() {
    static const std::vector<Library> list = {
        {"hup", any_case<Case>, prepare_hup, true},
        {"hup_opencl", any_case<Case>, prepare_hup_gpu<hup::Device::OpenCL>, true},
        {"hup_cuda", any_case<Case>, prepare_hup_gpu<hup::Device::Cuda>, true},
        {"libtorch", any_case<Case>, prepare_libtorch, false},
        {"onednn", onednn_supports, prepare_onednn, true},
        {"xnnpack", xnnpack_supports, prepare_xnnpack, true},
        {"opencv", opencv_supports, prepare_opencv, true},
        {"copy", any_case<Case>, prepare_copy, false},
    };
    return list;
}

void counters(benchmark::State &state, const Problem &p) {
    state.SetBytesProcessed(int64_t(double(state.iterations()) * p.bytes()));
    state.counters["bytes"] = p.bytes();
}

// e.g. " (TBB ...)", from the build information, since it decides how cv::setNumThreads works.
std::string opencv_parallel_framework() {
    const std::string info = cv::getBuildInformation(), key = "Parallel framework:";
    const size_t at = info.find(key);
    if (at == std::string::npos) return "";
    const size_t begin = info.find_first_not_of(' ', at + key.size()), end = info.find('\n', at);
    return " (" + info.substr(begin, end - begin) + ")";
}

}  // namespace

void register_interpolate_benchmarks() {
    cv::setNumThreads(kThreads);
    benchmark::AddCustomContext("tolerance", std::to_string(kTolerance));  // read by report.py
    benchmark::AddCustomContext("opencv", cv::getVersionString() + opencv_parallel_framework());
    static const Check check{"max |diff| vs libtorch", "max_abs_diff", kTolerance, max_abs_diff};
    register_suite("interp", cases(), libraries(), check, counters);
}

}  // namespace hup_bench
