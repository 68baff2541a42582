// unfold (im2col) / fold (col2im): PyTorch's checks and sizes, the 6-D view of the column
// tensor, and fold's split into phases (runtime/phase_grid.h; generators/fold_generator.cpp).
#include "hup_fold.h"
#include "hup_unfold.h"
#include "hup_unfold_stream.h"
#include "device.h"
#include "phase_grid.h"
#include "tensor_check.h"

namespace hup {
namespace {

Status invalid(const std::string &message) { return Status(StatusCode::InvalidArgument, message); }

// Per dim (0 = H, 1 = W): the options, and the block grid over an image of `image` size.
struct BlockGeometry {
    std::array<int64_t, detail::kMaxSpatial> kernel{}, dilation{}, padding{}, stride{}, image{}, blocks{};
    int64_t kernel_area() const { return kernel[0] * kernel[1]; }
    int64_t block_count() const { return blocks[0] * blocks[1]; }
};

Status parse_blocks(const char *op, const std::vector<int64_t> &kernel_size, const std::vector<int64_t> &dilation,
                    const std::vector<int64_t> &padding, const std::vector<int64_t> &stride, BlockGeometry *g) {
    if (kernel_size.empty()) return invalid(std::string(op) + ": kernel_size is required");
    Status s = detail::per_dim(kernel_size, "kernel_size", 2, 0, &g->kernel);
    if (s.ok()) s = detail::per_dim(dilation, "dilation", 2, 1, &g->dilation);
    if (s.ok()) s = detail::per_dim(padding, "padding", 2, 0, &g->padding);
    if (s.ok()) s = detail::per_dim(stride, "stride", 2, 1, &g->stride);
    if (!s.ok()) return Status(s.code(), std::string(op) + ": " + s.message());
    for (int d = 0; d < 2; d++) {
        if (g->kernel[d] <= 0) return invalid(std::string(op) + ": kernel_size must be positive");
        if (g->dilation[d] <= 0) return invalid(std::string(op) + ": dilation must be positive");
        if (g->padding[d] < 0) return invalid(std::string(op) + ": padding must be non-negative");
        if (g->stride[d] <= 0) return invalid(std::string(op) + ": stride must be positive");
    }
    return Status::Ok();
}

// The block grid: (image + 2p - d(k-1) - 1) / s + 1 per dim, each at least 1.
Status size_blocks(const char *op, BlockGeometry *g) {
    for (int d = 0; d < 2; d++) {
        int64_t reach, span;
        if (g->padding[d] > (int64_t(1) << 61) || !detail::checked_mul_add(g->dilation[d], g->kernel[d] - 1, 1, &reach) ||
            __builtin_add_overflow(g->image[d], 2 * g->padding[d], &span)) {
            return invalid(std::string(op) + ": block count overflows int64");
        }
        g->blocks[d] = span < reach ? 0 : (span - reach) / g->stride[d] + 1;
    }
    if (g->blocks[0] < 1 || g->blocks[1] < 1) {
        return invalid(std::string(op) + ": an image of " + std::to_string(g->image[0]) + "x" + std::to_string(g->image[1]) +
                       " gives a block grid of " + std::to_string(g->blocks[0]) + "x" + std::to_string(g->blocks[1]) +
                       ", but each must be at least one");
    }
    int64_t area;
    if (__builtin_mul_overflow(g->blocks[0], g->blocks[1], &area)) return invalid(std::string(op) + ": block count overflows int64");
    return Status::Ok();
}

// The column tensor (N, C*kh*kw, L), unbatched (C*kh*kw, L) too, as the 6-D Halide view
// (bx, by, kj, ki, c, n).
void column_view(const TensorView &t, const BlockGeometry &g, detail::HalideView *v) {
    const bool batched = t.sizes.size() == 3;
    const std::vector<int64_t> strides = detail::strides_of(t);
    const int row = batched ? 1 : 0, col = row + 1;
    v->init(t.data, 6);
    v->set(0, g.blocks[1], strides[col]);
    v->set(1, g.blocks[0], g.blocks[1] * strides[col]);
    v->set(2, g.kernel[1], strides[row]);
    v->set(3, g.kernel[0], g.kernel[1] * strides[row]);
    v->set(4, t.sizes[row] / g.kernel_area(), g.kernel_area() * strides[row]);
    v->set(5, batched ? t.sizes[0] : 1, batched ? strides[0] : 0);
}

// The image (N, C, H, W), unbatched (C, H, W) too, as (x, y, c, n).
TensorView batched_image(const TensorView &t) {
    if (t.sizes.size() == 4) return t;
    TensorView b = t;
    b.strides = detail::strides_of(t);
    b.sizes.insert(b.sizes.begin(), 1);
    b.strides.insert(b.strides.begin(), 0);
    return b;
}

}  // namespace

Status unfold_output_sizes(const std::vector<int64_t> &input_sizes, const UnfoldOptions &options,
                           std::vector<int64_t> *output_sizes) {
    if (!output_sizes) return invalid("output_sizes is null");
    const int rank = (int)input_sizes.size();
    if (rank != 3 && rank != 4) {
        return invalid("unfold: input must have 3 (C, H, W) or 4 (N, C, H, W) dims, got " + std::to_string(rank) + "-D " +
                       detail::shape_string(input_sizes));
    }
    for (int i = 0; i < rank; i++) {
        if (input_sizes[i] < 0 || (input_sizes[i] == 0 && !(rank == 4 && i == 0))) {
            return invalid("unfold: input sizes after the batch dim must be positive, got " + detail::shape_string(input_sizes));
        }
    }
    BlockGeometry g;
    Status s = parse_blocks("unfold", options.kernel_size, options.dilation, options.padding, options.stride, &g);
    if (!s.ok()) return s;
    g.image = {input_sizes[rank - 2], input_sizes[rank - 1]};
    s = size_blocks("unfold", &g);
    if (!s.ok()) return s;
    int64_t rows;
    if (__builtin_mul_overflow(input_sizes[rank - 3], g.kernel_area(), &rows)) return invalid("unfold: output size overflows int64");
    std::vector<int64_t> sizes = {rows, g.block_count()};
    if (rank == 4) sizes.insert(sizes.begin(), input_sizes[0]);
    s = detail::check_count(sizes, "output");
    if (s.ok()) *output_sizes = sizes;
    return s;
}

Status unfold(const TensorView &input, const TensorView &output, const UnfoldOptions &options) {
    Status s = detail::check_tensor(input, "input", 3, 4);
    std::vector<int64_t> sizes;
    if (s.ok()) s = unfold_output_sizes(input.sizes, options, &sizes);
    Device device = Device::Host;
    if (s.ok()) s = detail::check_call({{&input, "input"}, {&output, "output", &sizes, 2, 3}}, &device);
    if (!s.ok() || detail::element_count(sizes) == 0) return s;

    BlockGeometry g;
    parse_blocks("unfold", options.kernel_size, options.dilation, options.padding, options.stride, &g);
    const int rank = (int)input.sizes.size();
    g.image = {input.sizes[rank - 2], input.sizes[rank - 1]};
    size_blocks("unfold", &g);
    detail::HalideView in, out;
    detail::make_halide_view(batched_image(input), &in);
    column_view(output, g, &out);
    auto call = [&](decltype(&hup_unfold) kernel) {
        return [&g, &in, &out, kernel](void *user_context) {
            return kernel(user_context, &in.buffer, (int32_t)g.stride[1], (int32_t)g.padding[1], (int32_t)g.dilation[1],
                          (int32_t)g.stride[0], (int32_t)g.padding[0], (int32_t)g.dilation[0], &out.buffer);
        };
    };
    if (device == Device::Host) {
        // Columns that do not fit in the caches: non-temporal stores, where aligned for them.
        const bool streamed = detail::stream_into(&out, detail::element_count(sizes));
        return detail::run_pipeline("unfold", call(streamed ? hup_unfold_stream : hup_unfold));
    }
    decltype(&hup_unfold) kernel;
    s = detail::gpu_kernel("hup_unfold_gpu", device, &kernel);
    detail::DeviceCall gpu(device);
    if (s.ok()) s = gpu.bind(input, &in.buffer, false);
    if (s.ok()) s = gpu.bind(output, &out.buffer, true);
    return s.ok() ? gpu.run("unfold", call(kernel)) : s;
}

Status fold_output_sizes(const std::vector<int64_t> &input_sizes, const FoldOptions &options,
                         std::vector<int64_t> *output_sizes) {
    if (!output_sizes) return invalid("output_sizes is null");
    const int rank = (int)input_sizes.size();
    if (rank != 2 && rank != 3) {
        return invalid("fold: input must have 2 (C*kh*kw, L) or 3 (N, C*kh*kw, L) dims, got " + std::to_string(rank) +
                       "-D " + detail::shape_string(input_sizes));
    }
    for (int i = 0; i < rank; i++) {
        if (input_sizes[i] < 0 || (input_sizes[i] == 0 && !(rank == 3 && i == 0))) {
            return invalid("fold: input sizes after the batch dim must be positive, got " + detail::shape_string(input_sizes));
        }
    }
    BlockGeometry g;
    Status s = parse_blocks("fold", options.kernel_size, options.dilation, options.padding, options.stride, &g);
    if (!s.ok()) return s;
    if (options.output_size.empty()) return invalid("fold: output_size is required");
    s = detail::per_dim(options.output_size, "output_size", 2, 0, &g.image);
    if (!s.ok()) return Status(s.code(), "fold: " + s.message());
    if (g.image[0] <= 0 || g.image[1] <= 0) return invalid("fold: output_size must be positive");
    const int64_t rows = input_sizes[rank - 2], columns = input_sizes[rank - 1];
    if (rows % g.kernel_area() != 0) {
        return invalid("fold: input's dim " + std::to_string(rank - 2) + " (" + std::to_string(rows) +
                       ") must be divisible by the product of kernel_size (" + std::to_string(g.kernel_area()) + ")");
    }
    s = size_blocks("fold", &g);
    if (!s.ok()) return s;
    if (columns != g.block_count()) {
        return invalid("fold: input's last dim (" + std::to_string(columns) + ") must match the number of sliding blocks, " +
                       std::to_string(g.blocks[0]) + "x" + std::to_string(g.blocks[1]) + " = " +
                       std::to_string(g.block_count()) + " for output_size " + std::to_string(g.image[0]) + "x" +
                       std::to_string(g.image[1]));
    }
    std::vector<int64_t> sizes = {rows / g.kernel_area(), g.image[0], g.image[1]};
    if (rank == 3) sizes.insert(sizes.begin(), input_sizes[0]);
    s = detail::check_count(sizes, "output");
    if (s.ok()) *output_sizes = sizes;
    return s;
}

Status fold(const TensorView &input, const TensorView &output, const FoldOptions &options) {
    Status s = detail::check_tensor(input, "input", 2, 3);
    std::vector<int64_t> sizes;
    if (s.ok()) s = fold_output_sizes(input.sizes, options, &sizes);
    Device device = Device::Host;
    if (s.ok()) s = detail::check_call({{&input, "input"}, {&output, "output", &sizes, 3, 4}}, &device);
    if (!s.ok() || detail::element_count(sizes) == 0) return s;

    BlockGeometry g;
    parse_blocks("fold", options.kernel_size, options.dilation, options.padding, options.stride, &g);
    detail::per_dim(options.output_size, "output_size", 2, 0, &g.image);
    size_blocks("fold", &g);
    detail::HalideView cols;
    column_view(input, g, &cols);
    const TensorView image = batched_image(output);
    const std::vector<int64_t> strides = detail::strides_of(image);
    if (device != Device::Host) {  // one gather over the whole image (generators/fold_generator.cpp)
        using Kernel = int (*)(void *, halide_buffer_t *, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t,
                               halide_buffer_t *);
        Kernel kernel;
        s = detail::gpu_kernel("hup_fold_gpu", device, &kernel);
        detail::HalideView out;
        detail::make_halide_view(image, &out);
        detail::DeviceCall gpu(device);
        if (s.ok()) s = gpu.bind(input, &cols.buffer, false);
        if (s.ok()) s = gpu.bind(output, &out.buffer, true);
        if (!s.ok()) return s;
        return gpu.run("fold", [&](void *user_context) {
            return kernel(user_context, &cols.buffer, (int32_t)g.stride[1], (int32_t)g.padding[1], (int32_t)g.dilation[1],
                          (int32_t)g.stride[0], (int32_t)g.padding[0], (int32_t)g.dilation[0], &out.buffer);
        });
    }

    // One pipeline call per phase, on the phase's grid of the output. The phases that hold
    // outputs are those of the first min(stride, size) outputs per dim.
    for (int64_t first_y = 0; first_y < std::min(g.stride[0], g.image[0]); first_y++) {
        for (int64_t first_x = 0; first_x < std::min(g.stride[1], g.image[1]); first_x++) {
            detail::AxisTaps taps[2];
            detail::AxisGrid grid[2];
            const int64_t residue[2] = {(first_y + g.padding[0]) % g.stride[0], (first_x + g.padding[1]) % g.stride[1]};
            for (int d = 0; d < 2; d++) {
                taps[d] = detail::axis_taps(g.stride[d], g.dilation[d], g.kernel[d], residue[d]);
                grid[d] = detail::axis_grid(g.stride[d], g.padding[d], g.image[d], taps[d]);
            }
            if (grid[0].count == 0 || grid[1].count == 0) continue;
            TensorView phase = image;
            phase.strides = strides;
            phase.data = static_cast<float *>(image.data) + grid[0].first * strides[2] + grid[1].first * strides[3];
            phase.sizes[2] = grid[0].count;
            phase.sizes[3] = grid[1].count;
            phase.strides[2] *= g.stride[0];
            phase.strides[3] *= g.stride[1];
            if (taps[0].taps == 0 || taps[1].taps == 0) {
                detail::fill_channels(phase, nullptr);  // no block reaches these outputs
                continue;
            }
            detail::HalideView out;
            detail::make_halide_view(phase, &out);
            s = detail::run_pipeline("fold", [&](void *user_context) {
                return hup_fold(user_context, &cols.buffer, (int32_t)taps[1].taps, (int32_t)taps[1].first_tap,
                                (int32_t)taps[1].tap_stride, (int32_t)grid[1].in_offset, (int32_t)taps[1].tap_step,
                                (int32_t)taps[0].taps, (int32_t)taps[0].first_tap, (int32_t)taps[0].tap_stride,
                                (int32_t)grid[0].in_offset, (int32_t)taps[0].tap_step, &out.buffer);
            });
            if (!s.ok()) return s;
        }
    }
    return Status::Ok();
}

}  // namespace hup
