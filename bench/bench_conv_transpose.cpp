// hup::conv_transpose against libtorch, oneDNN (plain layouts and its preferred ones), XNNPACK
// and the machine's FP32 FMA peak.
//
// Every benchmark is named deconv/<case>/<library> (harness: bench_common.h), plus
// deconv/peak/fma_peak. Each library's result is compared with libtorch's before timing (the
// `max_rel_diff` counter: max |diff| / max |libtorch|). Counters: `flops` (2 x the true
// multiply-adds of one call), `FLOP/s`, and `peak_fraction` of the FMA peak measured in the same
// process (`peak_FLOP/s`). Every case has a bias (PyTorch's default); weights are in PyTorch's
// layout (C_in, C_out / groups, k...), contiguous, whatever the input's layout.
#include <immintrin.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <unordered_map>

#include "bench_common.h"
#include "bench_gpu.h"

#include "hup/hup.h"
#include "hup/torch.h"

namespace hup_bench {
namespace {

// Max |result - libtorch| / max |libtorch| accepted without a warning. Inputs, weights and bias
// are uniform in [-1, 1): a wrong tap, flip or phase moves the result by O(1), while float sums
// of up to C_in x k^d products in another order differ by ~1e-6 of the largest output.
constexpr double kTolerance = 1e-4;

using hup::ConvTransposeOptions;

// ---- cases ---------------------------------------------------------------------------------

struct Case {
    std::string name;
    std::vector<int64_t> sizes;   // input sizes: N, C_in, spatial...
    int64_t out_channels;         // C_out
    std::vector<int64_t> kernel;  // one per spatial dim
    Layout layout;                // of input and output
    ConvTransposeOptions options;
};

size_t spatial_dims(const Case &c) { return c.sizes.size() - 2; }

// One value per spatial dim from an option (empty: PyTorch's default).
std::vector<int64_t> per_dim(const std::vector<int64_t> &values, size_t spatial, int64_t fallback) {
    if (values.empty()) return std::vector<int64_t>(spatial, fallback);
    if (values.size() == 1) return std::vector<int64_t>(spatial, values[0]);
    return values;
}

// e.g. nhwc_16x512x4x4_to256_k4s2p1, nchw_1x64x64x64_to64_k4s2p1_g64.
std::string case_name(const std::vector<int64_t> &sizes, Layout layout, int64_t out_channels,
                      const std::vector<int64_t> &kernel, const ConvTransposeOptions &o) {
    auto values = [](const std::vector<int64_t> &v) {  // "4" when every dim has the same value
        for (int64_t x : v)
            if (x != v[0]) return join(v, 'x');
        return std::to_string(v[0]);
    };
    const size_t spatial = sizes.size() - 2;
    std::ostringstream s;
    s << layout_name(sizes.size(), layout) << '_' << join(sizes, 'x') << "_to" << out_channels;
    s << "_k" << values(kernel) << 's' << values(per_dim(o.stride, spatial, 1));
    if (!o.padding.empty()) s << 'p' << values(per_dim(o.padding, spatial, 0));
    if (!o.output_padding.empty()) s << "op" << values(per_dim(o.output_padding, spatial, 0));
    if (!o.dilation.empty()) s << 'd' << values(per_dim(o.dilation, spatial, 1));
    if (o.groups != 1) s << "_g" << o.groups;
    return s.str();
}

const std::vector<Case> &cases() {
    static const std::vector<Case> table = [] {
        std::vector<Case> t;
        // Each 2-D and 3-D case in both layouts, next to each other; 1-D has no channels_last.
        auto add = [&t](std::vector<int64_t> sizes, int64_t out_channels, int64_t k, int64_t stride,
                        int64_t padding, int64_t groups = 1) {
            ConvTransposeOptions o;
            o.stride = {stride};
            if (padding) o.padding = {padding};
            o.groups = groups;
            const std::vector<int64_t> kernel(sizes.size() - 2, k);
            for (Layout layout : {Layout::Contiguous, Layout::ChannelsLast}) {
                if (layout == Layout::ChannelsLast && sizes.size() == 3) continue;
                t.push_back({case_name(sizes, layout, out_channels, kernel, o), sizes, out_channels, kernel, layout, o});
            }
        };
        add({1, 64, 128, 128}, 32, 4, 2, 1);
        // DCGAN's generator, batch 16.
        add({16, 512, 4, 4}, 256, 4, 2, 1);
        add({16, 256, 8, 8}, 128, 4, 2, 1);
        add({16, 128, 16, 16}, 64, 4, 2, 1);
        add({16, 64, 32, 32}, 3, 4, 2, 1);
        add({1, 128, 64, 64}, 64, 2, 2, 0);     // U-Net decoder
        add({1, 512, 1024}, 256, 16, 8, 4);     // vocoder upsampling (1-D)
        add({1, 32, 16, 32, 32}, 16, 2, 2, 0);  // 3-D
        add({1, 32, 16, 32, 32}, 16, 4, 2, 1);
        add({1, 64, 64, 64}, 64, 4, 2, 1, 64);  // depthwise
        return t;
    }();
    return table;
}

// ---- problems: input, weight, bias, libtorch's result, a preallocated output ---------------

at::Tensor uniform(const std::vector<int64_t> &sizes) { return at::rand(sizes) * 2 - 1; }

struct Problem : ProblemBase {
    explicit Problem(const Case &c) : c(c) {
        at::manual_seed(0);
        const at::MemoryFormat format = memory_format(c.sizes.size(), c.layout);
        std::vector<int64_t> weight_sizes = {c.sizes[1], c.out_channels / c.options.groups};
        weight_sizes.insert(weight_sizes.end(), c.kernel.begin(), c.kernel.end());
        input = uniform(c.sizes).contiguous(format);
        weight = uniform(weight_sizes);
        bias = uniform({c.out_channels});
        expected = hup::torch::reference_conv_transpose(input, weight, bias, c.options);
        output = at::empty(expected.sizes(), input.options().memory_format(format)).fill_(NAN);
    }
    // 2 x the multiply-adds: every input element meets C_out / groups x prod(k) weights.
    double flops() const {
        double taps = 1;
        for (int64_t k : c.kernel) taps *= double(k);
        return 2 * double(input.numel()) * double(c.out_channels / c.options.groups) * taps;
    }

    const Case &c;
    at::Tensor input, weight, bias;
};

// ---- libraries -----------------------------------------------------------------------------

using Library = hup_bench::Library<Case, Problem>;

// hup with its weights packed once (hup::ConvTransposePlan, untimed), as XNNPACK packs them
// when its operator is created and oneDNN(any) reorders them beforehand. The one-shot
// hup::conv_transpose packs them on every call.
Runner prepare_hup(Problem &p) {
    auto plan = std::make_shared<hup::ConvTransposePlan>();
    const hup::TensorView bias = hup::torch::view(p.bias);
    hup::Status s = plan->prepare(hup::torch::view(p.weight), p.bias.defined() ? &bias : nullptr, p.c.options);
    const hup::TensorView input = hup::torch::view(p.input), output = hup::torch::view(p.output);
    if (s.ok()) s = plan->run(input, output);
    if (!s.ok()) throw std::runtime_error("hup: " + s.message());
    return {[plan, input, output] { plan->run(input, output); }, "plan"};
}

Runner prepare_libtorch(Problem &p) {
    return {[&p] {
                at::Tensor y = hup::torch::reference_conv_transpose(p.input, p.weight, p.bias, p.c.options);
                benchmark::DoNotOptimize(y.data_ptr());
            },
            ""};
}

// oneDNN's deconvolution_direct. Its weights are (C_out, C_in, k...), or (groups, C_out / groups,
// C_in / groups, k...), not flipped: PyTorch's weight tensor described with swapped strides.
// The weights are always format_tag::any, reordered here once, untimed (as XNNPACK packs its
// own): with PyTorch's layout, oneDNN 2.6 has only its reference implementation for
// channels-last sources. `preferred`: format_tag::any for source and destination too, the input
// reordered into oneDNN's choice here and the result back into Problem::output by finish(),
// both untimed. Otherwise source and destination are plain memory in the case's layout.
Runner onednn_runner(Problem &p, bool preferred) {
    using dims = dnnl::memory::dims;
    using dnnl::memory;
    const dnnl::engine &engine = onednn_engine();
    const ConvTransposeOptions &o = p.c.options;
    const size_t spatial = spatial_dims(p.c);
    const int64_t groups = o.groups;

    auto plain = [](const at::Tensor &t) {  // nchw, nhwc, ncw, ...: whatever the strides say
        return memory::desc(t.sizes().vec(), memory::data_type::f32, t.strides().vec());
    };
    const at::Tensor &w = p.weight;
    dims w_sizes, w_strides;
    if (groups == 1) {
        w_sizes = {w.size(1), w.size(0)};
        w_strides = {w.stride(1), w.stride(0)};
    } else {
        w_sizes = {groups, w.size(1), w.size(0) / groups};
        w_strides = {w.stride(0) * (w.size(0) / groups), w.stride(1), w.stride(0)};
    }
    for (size_t d = 0; d < spatial; ++d) {
        w_sizes.push_back(w.size(2 + d));
        w_strides.push_back(w.stride(2 + d));
    }
    const memory::desc src_plain = plain(p.input), dst_plain = plain(p.output),
                       weights_plain(w_sizes, memory::data_type::f32, w_strides),
                       bias_desc({p.c.out_channels}, memory::data_type::f32, memory::format_tag::x);
    auto any = [](const memory::desc &d) { return memory::desc(d.dims(), d.data_type(), memory::format_tag::any); };

    dims strides = per_dim(o.stride, spatial, 1), dilates = per_dim(o.dilation, spatial, 1),
         padding_l = per_dim(o.padding, spatial, 0), padding_r = padding_l;
    const dims output_padding = per_dim(o.output_padding, spatial, 0);
    for (size_t d = 0; d < spatial; ++d) {
        dilates[d] -= 1;  // oneDNN counts the gaps
        padding_r[d] -= output_padding[d];
    }
    const dnnl::deconvolution_forward::desc desc(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
        preferred ? any(src_plain) : src_plain, any(weights_plain), bias_desc,
        preferred ? any(dst_plain) : dst_plain, strides, dilates, padding_l, padding_r);
    const dnnl::deconvolution_forward::primitive_desc pd(desc, engine);
    const dnnl::deconvolution_forward primitive(pd);
    dnnl::stream stream(engine);

    // The user's memory, reordered once where the primitive wants another layout.
    auto in_layout = [&](memory user, const memory::desc &wanted) {
        if (user.get_desc() == wanted) return user;
        memory m(wanted, engine);
        dnnl::reorder(user, m).execute(stream, user, m);
        stream.wait();
        return m;
    };
    memory dst_user(dst_plain, engine, p.output.data_ptr());
    memory dst = pd.dst_desc() == dst_plain ? dst_user : memory(pd.dst_desc(), engine);
    const std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, in_layout(memory(src_plain, engine, p.input.data_ptr()), pd.src_desc())},
        {DNNL_ARG_WEIGHTS, in_layout(memory(weights_plain, engine, w.data_ptr()), pd.weights_desc())},
        {DNNL_ARG_BIAS, memory(bias_desc, engine, p.bias.data_ptr())},
        {DNNL_ARG_DST, dst}};
    Runner runner{[primitive, stream, args]() mutable {
                      primitive.execute(stream, args);
                      stream.wait();
                  },
                  pd.impl_info_str()};
    if (dst != dst_user) {
        runner.finish = [dst, dst_user, stream]() mutable {
            dnnl::reorder(dst, dst_user).execute(stream, dst, dst_user);
            stream.wait();
        };
    }
    return runner;
}

Runner prepare_onednn(Problem &p) { return onednn_runner(p, false); }
Runner prepare_onednn_any(Problem &p) { return onednn_runner(p, true); }

bool xnnpack_supports(const Case &c) { return spatial_dims(c) == 2 && c.layout == Layout::ChannelsLast; }

// xnn_create_deconvolution2d_nhwc_f32 takes the kernel as [groups, C_out / groups, kh, kw,
// C_in / groups] and packs it at creation; PyTorch's padding crops the output ("output
// padding" top/right/bottom/left in XNNPACK) and its output_padding is the "adjustment".
Runner prepare_xnnpack(Problem &p) {
    pthreadpool_t pool = xnnpack_threadpool();
    const ConvTransposeOptions &o = p.c.options;
    const int64_t groups = o.groups, group_in = p.input.size(1) / groups, group_out = p.c.out_channels / groups;
    const int64_t kh = p.c.kernel[0], kw = p.c.kernel[1];
    const std::vector<int64_t> stride = per_dim(o.stride, 2, 1), padding = per_dim(o.padding, 2, 0),
                               dilation = per_dim(o.dilation, 2, 1), adjustment = per_dim(o.output_padding, 2, 0);
    const at::Tensor kernel = p.weight.view({groups, group_in, group_out, kh, kw}).permute({0, 2, 3, 4, 1}).contiguous();
    const float inf = std::numeric_limits<float>::infinity();
    xnn_operator_t op = nullptr;
    xnn_check(xnn_create_deconvolution2d_nhwc_f32(
                  uint32_t(padding[0]), uint32_t(padding[1]), uint32_t(padding[0]), uint32_t(padding[1]),
                  uint32_t(kh), uint32_t(kw), uint32_t(stride[0]), uint32_t(stride[1]), uint32_t(dilation[0]),
                  uint32_t(dilation[1]), uint32_t(groups), size_t(group_in), size_t(group_out),
                  size_t(groups * group_in), size_t(groups * group_out), kernel.data_ptr<float>(),
                  p.bias.data_ptr<float>(), -inf, inf, 0, &op),
              "xnn_create_deconvolution2d_nhwc_f32");
    std::shared_ptr<xnn_operator> owner(op, xnn_delete_operator);
    xnn_check(xnn_setup_deconvolution2d_nhwc_f32(op, p.input.size(0), p.input.size(2), p.input.size(3),
                                                 uint32_t(adjustment[0]), uint32_t(adjustment[1]),
                                                 p.input.data_ptr<float>(), p.output.data_ptr<float>(), pool),
              "xnn_setup_deconvolution2d_nhwc_f32");
    return {[owner, pool] { xnn_run_operator(owner.get(), pool); }, ""};
}

// hup on device tensors (bench/bench_gpu.h): the one-shot call, whose GPU variant reads the
// weights in PyTorch's layout (nothing to pack).
template <hup::Device device>
Runner prepare_hup_gpu(Problem &p) {
    return gpu_runner(device, {p.input, p.weight, p.bias}, {p.output}, [&p](const auto &in, const auto &out) {
        return hup::conv_transpose(in[0], in[1], &in[2], out[0], p.c.options);
    });
}

const std::vector<Library> &libraries() {
    static const std::vector<Library> list = {
        {"hup", any_case<Case>, prepare_hup, true},
        {"hup_opencl", any_case<Case>, prepare_hup_gpu<hup::Device::OpenCL>, true},
        {"hup_cuda", any_case<Case>, prepare_hup_gpu<hup::Device::Cuda>, true},
        {"libtorch", any_case<Case>, prepare_libtorch, false},
        {"onednn", any_case<Case>, prepare_onednn, true},
        {"onednn_any", any_case<Case>, prepare_onednn_any, true},
        {"xnnpack", xnnpack_supports, prepare_xnnpack, true},
    };
    return list;
}

// ---- the FP32 FMA peak ---------------------------------------------------------------------

constexpr int kFmaChains = 12;                // independent accumulators: > latency x FMA ports
constexpr int64_t kFmaIterations = 1 << 20;  // per thread and call: ~6 ms at 2 FMAs per cycle

// kFmaChains dependent chains of `iterations` multiply-adds each, on vectors V (GCC vector
// types: 8 floats, ymm, or 16, zmm). Inlined into the two target-specific entry points below,
// which compile it for their own instruction set; GCC contracts each a * x + b into one
// vfmadd231ps there. acc * a + b with a < 1 converges to b / (1 - a): no overflow, no denormals.
template <class V>
__attribute__((always_inline)) inline float fma_chains_of(int64_t iterations, float seed) {
    constexpr int lanes = sizeof(V) / sizeof(float);
    V acc[kFmaChains], a, b;
    for (int l = 0; l < lanes; ++l) {
        a[l] = 0.999f;
        b[l] = 1e-3f;
    }
    for (int j = 0; j < kFmaChains; ++j) {
        for (int l = 0; l < lanes; ++l) acc[j][l] = seed + float(j);
    }
    for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
        for (int j = 0; j < kFmaChains; ++j) acc[j] = acc[j] * a + b;
    }
    float sum = 0;
    for (int j = 0; j < kFmaChains; ++j) {
        for (int l = 0; l < lanes; ++l) sum += acc[j][l];
    }
    return sum;
}

typedef float Floats8 __attribute__((vector_size(32)));
typedef float Floats16 __attribute__((vector_size(64)));

__attribute__((target("avx2,fma"), noinline)) float fma_chains(int64_t iterations, float seed) {
    return fma_chains_of<Floats8>(iterations, seed);
}

__attribute__((target("avx512f"), noinline)) float fma_chains_512(int64_t iterations, float seed) {
    return fma_chains_of<Floats16>(iterations, seed);
}

bool has_fma() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
// The widest vectors the CPU has: where AVX-512 runs at the AVX2 rate (AMD's Zen 4 splits zmm
// operations in two), both loops give the same peak; where it has full-width units, the zmm
// loop is the peak that hup's AVX-512 objects can reach.
int fma_lanes() { return __builtin_cpu_supports("avx512f") ? 16 : 8; }

// One call on kThreads OpenMP threads; returns its flops.
double fma_peak_call() {
    const int lanes = fma_lanes();
    float sink = 0;
#pragma omp parallel num_threads(kThreads) reduction(+ : sink)
    sink += lanes == 16 ? fma_chains_512(kFmaIterations, float(omp_get_thread_num()))
                        : fma_chains(kFmaIterations, float(omp_get_thread_num()));
    benchmark::DoNotOptimize(sink);
    return 2.0 * lanes * kFmaChains * double(kFmaIterations) * kThreads;
}

// The peak in FLOP/s measured once per process (best of 20 calls, ~0.1 s), for the
// peak_fraction counter; the deconv/peak/fma_peak benchmark measures it properly.
double measured_fma_peak() {
    static const double peak = [] {
        if (!has_fma()) return std::numeric_limits<double>::quiet_NaN();
        fma_peak_call();
        double best = 0;
        for (int i = 0; i < 20; ++i) {
            const auto start = std::chrono::steady_clock::now();
            const double flops = fma_peak_call();
            const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
            best = std::max(best, flops / seconds.count());
        }
        return best;
    }();
    return peak;
}

void run_fma_peak(benchmark::State &state) {
    if (!has_fma()) {
        state.SkipWithError("no AVX2 + FMA");
        return;
    }
    double flops = 0;
    for (auto _ : state) flops = fma_peak_call();
    state.counters["flops"] = flops;
    state.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
    state.SetLabel(std::to_string(kThreads) + " threads x " + std::to_string(kFmaChains) +
                   (fma_lanes() == 16 ? " zmm" : " ymm") + " FMA chains");
}

// ---- running -------------------------------------------------------------------------------

double max_rel_diff(const at::Tensor &output, const at::Tensor &expected) {
    return max_abs_diff(output, expected) / expected.abs().max().item<double>();
}

void counters(benchmark::State &state, const Problem &p) {
    using benchmark::Counter;
    const double peak = measured_fma_peak();
    state.counters["flops"] = p.flops();
    state.counters["FLOP/s"] = Counter(p.flops(), Counter::kIsIterationInvariantRate);
    state.counters["peak_FLOP/s"] = peak;
    state.counters["peak_fraction"] = Counter(p.flops() / peak, Counter::kIsIterationInvariantRate);
}

}  // namespace

void register_conv_transpose_benchmarks() {
    benchmark::AddCustomContext("deconv_tolerance", std::to_string(kTolerance));  // read by report.py
    static const Check check{"max |diff| / max |libtorch|", "max_rel_diff", kTolerance, max_rel_diff};
    register_suite("deconv", cases(), libraries(), check, counters);
    configure(benchmark::RegisterBenchmark("deconv/peak/fma_peak", run_fma_peak));
}

}  // namespace hup_bench
