// hup's inverse operators (max_pool with indices, max_unpool, pixel_shuffle/unshuffle,
// unfold/fold) against libtorch and a memory copy.
//
// Every benchmark is named inverse/<case>/<library> (harness: bench_common.h), and
// bench/report.py turns the JSON into a table. Inputs are uniform in [0, 1); max_unpool's input
// and indices are libtorch's max_pool of a source tensor, fold's input libtorch's unfold of one.
// hup's outputs (max_pool: values and indices) are compared with libtorch's before timing (the
// `max_abs_diff` counter). `bytes` is what an ideal kernel moves: every input read once and
// every output written once, indices as int64.
#include <cmath>

#include "bench_common.h"
#include "bench_gpu.h"
#include "hup/hup.h"
#include "hup/torch.h"

namespace hup_bench {
namespace {

// Max |result - libtorch| accepted without a warning. Every op but fold copies values, so any
// difference is a bug; fold sums up to 9 overlapping values < 1, in any order (~1e-6). A wrong
// index differs by >= 1.
constexpr double kTolerance = 1e-4;

// ---- cases ---------------------------------------------------------------------------------

enum class Op { MaxPool, MaxUnpool, PixelShuffle, PixelUnshuffle, Unfold, Fold };

struct Case {
    std::string name;
    Op op;
    // The source: the op's input, except for max_unpool and fold, whose inputs are libtorch's
    // max_pool and unfold of it (and whose outputs have its sizes).
    std::vector<int64_t> sizes;
    Layout layout;
    int64_t kernel = 0, stride = 0, padding = 0;  // max_pool/max_unpool/unfold/fold, every spatial dim
    int64_t factor = 0;                           // pixel_shuffle/pixel_unshuffle
};

size_t spatial_dims(const Case &c) { return c.sizes.size() - 2; }

// Window positions along a dim (padding 0 for pooling, dilation 1).
int64_t windows(int64_t size, const Case &c) { return (size + 2 * c.padding - c.kernel) / c.stride + 1; }

// The op's input sizes: what the case is named after.
std::vector<int64_t> input_sizes(const Case &c) {
    std::vector<int64_t> s = c.sizes;
    if (c.op == Op::MaxUnpool) {
        for (size_t d = 2; d < s.size(); ++d) s[d] = windows(s[d], c);
    } else if (c.op == Op::Fold) {
        s = {s[0], s[1] * c.kernel * c.kernel, windows(s[2], c) * windows(s[3], c)};
    }
    return s;
}

// e.g. max_pool2d_nhwc_1x64x256x256_k2s2, pixel_shuffle_nchw_1x256x128x128_r2,
// fold_1x576x16384_to128x128_k3s1p1.
std::string case_name(const Case &c) {
    static const char *const ops[] = {"max_pool", "max_unpool", "pixel_shuffle", "pixel_unshuffle", "unfold", "fold"};
    const std::vector<int64_t> in = input_sizes(c);
    std::ostringstream s;
    s << ops[int(c.op)];
    if (c.op == Op::MaxPool || c.op == Op::MaxUnpool) s << spatial_dims(c) << 'd';
    if (c.op != Op::Fold) s << '_' << layout_name(in.size(), c.layout);
    s << '_' << join(in, 'x');
    if (c.op == Op::Fold) s << "_to" << c.sizes[2] << 'x' << c.sizes[3];
    if (c.factor) s << "_r" << c.factor;
    if (c.kernel) s << "_k" << c.kernel << 's' << c.stride;
    if (c.padding) s << 'p' << c.padding;
    return s.str();
}

const std::vector<Case> &cases() {
    static const std::vector<Case> table = [] {
        std::vector<Case> t;
        auto add = [&t](Op op, std::vector<int64_t> sizes, Layout layout, int64_t kernel, int64_t stride,
                        int64_t padding, int64_t factor) {
            t.push_back({"", op, std::move(sizes), layout, kernel, stride, padding, factor});
            t.back().name = case_name(t.back());
        };
        auto pool = [&add](Op op, std::vector<int64_t> sizes, Layout layout = Layout::Contiguous) {
            add(op, std::move(sizes), layout, 2, 2, 0, 0);
        };
        auto shuffle = [&add](Op op, std::vector<int64_t> sizes, Layout layout = Layout::Contiguous) {
            add(op, std::move(sizes), layout, 0, 0, 0, 2);
        };
        for (int64_t n : {1, 8}) {
            pool(Op::MaxPool, {n, 64, 256, 256});
            pool(Op::MaxUnpool, {n, 64, 256, 256});
        }
        pool(Op::MaxPool, {1, 64, 256, 256}, Layout::ChannelsLast);
        pool(Op::MaxUnpool, {1, 32, 64, 128, 128});  // SegNet-like 3-D decoder
        for (int64_t n : {1, 8}) {
            shuffle(Op::PixelShuffle, {n, 256, 128, 128});
            shuffle(Op::PixelUnshuffle, {n, 64, 256, 256});
        }
        shuffle(Op::PixelShuffle, {1, 256, 128, 128}, Layout::ChannelsLast);
        auto blocks = [&add](int64_t kernel, int64_t stride, int64_t padding) {
            for (Op op : {Op::Unfold, Op::Fold}) add(op, {1, 64, 128, 128}, Layout::Contiguous, kernel, stride, padding, 0);
        };
        blocks(3, 1, 1);
        blocks(4, 2, 1);
        return t;
    }();
    return table;
}

// ---- problems: inputs, libtorch's outputs, preallocated outputs ----------------------------

// The tensors that the check compares: the output itself, or (max_pool) every output flattened
// into one double tensor (indices are far below 2^53).
at::Tensor packed(const std::vector<at::Tensor> &tensors) {
    if (tensors.size() == 1) return tensors[0];
    std::vector<at::Tensor> flat;
    for (const at::Tensor &t : tensors) flat.push_back(t.flatten().to(at::kDouble));
    return at::cat(flat);
}

struct Problem : ProblemBase {
    explicit Problem(const Case &c) : c(c), kernel(spatial_dims(c), c.kernel), stride(spatial_dims(c), c.stride),
                                      padding(spatial_dims(c), c.padding) {
        pool.kernel_size = unpool.kernel_size = unfold.kernel_size = fold.kernel_size = {c.kernel};
        pool.stride = unpool.stride = unfold.stride = fold.stride = {c.stride};
        unfold.padding = fold.padding = {c.padding};
        output_spatial.assign(c.sizes.begin() + 2, c.sizes.end());
        fold.output_size = output_spatial;

        at::manual_seed(0);
        const at::Tensor source = at::rand(c.sizes).contiguous(memory_format(c.sizes.size(), c.layout));
        if (c.op == Op::MaxUnpool) {
            auto [values, indices] = hup::torch::reference_max_pool(source, pool);
            inputs = {values, indices};
        } else {
            inputs = {c.op == Op::Fold ? hup::torch::reference_unfold(source, unfold) : source};
        }
        const std::vector<at::Tensor> expected_outputs = reference();
        for (const at::Tensor &e : expected_outputs)  // unwritten: NaN, or index -1
            outputs.push_back(at::empty_like(e).fill_(e.scalar_type() == at::kLong ? -1.0 : double(NAN)));
        expected = packed(expected_outputs);
        output = packed(outputs);
    }

    // libtorch's outputs, computed as the tests do.
    std::vector<at::Tensor> reference() const {
        const at::Tensor &in = inputs[0];
        switch (c.op) {
        case Op::MaxPool: {
            auto [values, indices] = hup::torch::reference_max_pool(in, pool);
            return {values, indices};
        }
        case Op::MaxUnpool: return {hup::torch::reference_max_unpool(in, inputs[1], unpool)};
        case Op::PixelShuffle: return {at::pixel_shuffle(in, c.factor)};
        case Op::PixelUnshuffle: return {at::pixel_unshuffle(in, c.factor)};
        case Op::Unfold: return {hup::torch::reference_unfold(in, unfold)};
        case Op::Fold: return {hup::torch::reference_fold(in, fold)};
        }
        throw std::logic_error("unknown op");
    }

    // What an ideal kernel moves: the inputs read once, the outputs written once.
    double bytes() const {
        double b = 0;
        for (const at::Tensor &t : inputs) b += double(t.nbytes());
        for (const at::Tensor &t : outputs) b += double(t.nbytes());
        return b;
    }

    const Case &c;
    std::vector<int64_t> kernel, stride, padding, output_spatial;  // per spatial dim, for libtorch
    hup::MaxPoolOptions pool;
    hup::MaxUnpoolOptions unpool;
    hup::UnfoldOptions unfold;
    hup::FoldOptions fold;
    std::vector<at::Tensor> inputs;   // max_unpool: values and indices
    std::vector<at::Tensor> outputs;  // preallocated in libtorch's layout; max_pool: values and indices
};

// ---- libraries -----------------------------------------------------------------------------

using Library = hup_bench::Library<Case, Problem>;

hup::Status run_hup(Problem &p) {
    const std::vector<at::Tensor> &in = p.inputs, &out = p.outputs;
    switch (p.c.op) {
    case Op::MaxPool: return hup::torch::max_pool(in[0], out[0], out[1], p.pool);
    case Op::MaxUnpool: return hup::torch::max_unpool(in[0], in[1], out[0], p.unpool);
    case Op::PixelShuffle: return hup::torch::pixel_shuffle(in[0], out[0], p.c.factor);
    case Op::PixelUnshuffle: return hup::torch::pixel_unshuffle(in[0], out[0], p.c.factor);
    case Op::Unfold: return hup::torch::unfold(in[0], out[0], p.unfold);
    case Op::Fold: return hup::torch::fold(in[0], out[0], p.fold);
    }
    return hup::Status(hup::StatusCode::InvalidArgument, "unknown op");
}

// hup writes into the preallocated outputs; the first call's Status decides (an error skips the
// benchmark), the timed calls are the same call.
Runner prepare_hup(Problem &p) {
    const hup::Status s = run_hup(p);
    if (!s.ok()) throw std::runtime_error("hup: " + s.message());
    Runner runner{[&p] { run_hup(p); }, ""};
    runner.finish = [&p] { p.output = packed(p.outputs); };  // max_pool: repack values and indices
    return runner;
}

// hup on device tensors (bench/bench_gpu.h).
template <hup::Device device>
Runner prepare_hup_gpu(Problem &p) {
    auto call = [&p](const std::vector<hup::TensorView> &in, const std::vector<hup::TensorView> &out) {
        switch (p.c.op) {
        case Op::MaxPool: return hup::max_pool(in[0], out[0], out[1], p.pool);
        case Op::MaxUnpool: return hup::max_unpool(in[0], in[1], out[0], p.unpool);
        case Op::PixelShuffle: return hup::pixel_shuffle(in[0], out[0], p.c.factor);
        case Op::PixelUnshuffle: return hup::pixel_unshuffle(in[0], out[0], p.c.factor);
        case Op::Unfold: return hup::unfold(in[0], out[0], p.unfold);
        case Op::Fold: return hup::fold(in[0], out[0], p.fold);
        }
        return hup::Status(hup::StatusCode::InvalidArgument, "unknown op");
    };
    return gpu_runner(device, p.inputs, p.outputs, call, [&p] { p.output = packed(p.outputs); });
}

// libtorch's out= variants into the same preallocated outputs, except pixel_(un)shuffle, whose
// out= variant computes a new tensor and copies it: there the allocating call is faster.
Runner prepare_libtorch(Problem &p) {
    const bool is3d = spatial_dims(p.c) == 3;
    const std::vector<int64_t> one(spatial_dims(p.c), 1);  // dilation
    switch (p.c.op) {
    case Op::MaxPool:
        return {[&p, is3d, one] {
                    const at::Tensor &in = p.inputs[0];
                    at::Tensor &values = p.outputs[0], &indices = p.outputs[1];
                    if (is3d)
                        at::max_pool3d_with_indices_out(values, indices, in, p.kernel, p.stride, p.padding, one);
                    else
                        at::max_pool2d_with_indices_out(values, indices, in, p.kernel, p.stride, p.padding, one);
                },
                is3d ? "max_pool3d_with_indices_out" : "max_pool2d_with_indices_out"};
    case Op::MaxUnpool:
        return {[&p, is3d] {
                    const at::Tensor &in = p.inputs[0], &indices = p.inputs[1];
                    if (is3d)
                        at::max_unpool3d_out(p.outputs[0], in, indices, p.output_spatial, p.stride, p.padding);
                    else
                        at::max_unpool2d_out(p.outputs[0], in, indices, p.output_spatial);
                },
                is3d ? "max_unpool3d_out" : "max_unpool2d_out"};
    case Op::PixelShuffle:
    case Op::PixelUnshuffle:
        return {[&p] {
                    const at::Tensor y = p.c.op == Op::PixelShuffle ? at::pixel_shuffle(p.inputs[0], p.c.factor)
                                                                    : at::pixel_unshuffle(p.inputs[0], p.c.factor);
                    benchmark::DoNotOptimize(y.data_ptr());
                },
                "allocates"};
    case Op::Unfold:
        return {[&p, one] { at::im2col_out(p.outputs[0], p.inputs[0], p.kernel, one, p.padding, p.stride); },
                "im2col_out"};
    case Op::Fold:
        return {[&p, one] {
                    at::col2im_out(p.outputs[0], p.inputs[0], p.output_spatial, p.kernel, one, p.padding, p.stride);
                },
                "col2im_out"};
    }
    throw std::logic_error("unknown op");
}

// The roofline: a copy reading and writing as many bytes in all as the case does.
Runner prepare_copy(Problem &p) { return copy_runner(p.bytes()); }

const std::vector<Library> &libraries() {
    static const std::vector<Library> list = {
        {"hup", any_case<Case>, prepare_hup, true},
        {"hup_opencl", any_case<Case>, prepare_hup_gpu<hup::Device::OpenCL>, true},
        {"hup_cuda", any_case<Case>, prepare_hup_gpu<hup::Device::Cuda>, true},
        {"libtorch", any_case<Case>, prepare_libtorch, false},
        {"copy", any_case<Case>, prepare_copy, false},
    };
    return list;
}

void counters(benchmark::State &state, const Problem &p) {
    state.SetBytesProcessed(int64_t(double(state.iterations()) * p.bytes()));
    state.counters["bytes"] = p.bytes();
}

}  // namespace

void register_inverse_benchmarks() {
    benchmark::AddCustomContext("inverse_tolerance", std::to_string(kTolerance));  // read by report.py
    static const Check check{"max |diff| vs libtorch", "max_abs_diff", kTolerance, max_abs_diff};
    register_suite("inverse", cases(), libraries(), check, counters);
}

}  // namespace hup_bench
