// max_pool with indices, and max_unpool.
//
// max_pool: each output scans its window in PyTorch's order (z, y, x, x fastest) and keeps the
// first maximum, or the last NaN: a tap takes over when it is greater than the best so far or
// is NaN, exactly the comparison of ATen's CPU kernel. Padding reads as -inf, which never
// takes over, so the best starts as (-inf, the window's first tap inside the input): a window
// of -inf reports that tap, as ATen does. Indices count within the (n, c) plane of the input.
// 1-D pooling runs as 2-D over one row. Kernel size, stride, padding and dilation are run-time
// values. Boundaries are the runtime's business: it calls an `interior` variant (no boundary
// condition) for the outputs whose windows lie inside, the other for the border around them.
//
// max_unpool: a scatter. Each (n, c) plane of the output is zero-filled, then input element i
// (in row-major order, so the last of repeated indices wins) is stored at indices[i]. The
// output is viewed flat per plane (the runtime checks that its spatial dims nest), and the
// runtime has checked every index against the plane before the pipeline runs: the clamp below
// only tells Halide's bounds inference what it cannot know. Planar outputs are produced a few
// planes (or one slab of a large plane) at a time while they stay in the cache, in place or
// into a scratch the runtime streams out (runtime/pool.cpp).
#include <limits>

#include "Halide.h"
#include "spatial_vars.h"

#include "pool_schedule.h"

namespace hup {

using namespace Halide;

class MaxPool : public Generator<MaxPool> {
public:
    GeneratorParam<int> spatial_rank{"spatial_rank", 2, 2, 3};
    GeneratorParam<Layout> layout{"layout", Layout::Planar, layout_names()};
    // Every window lies inside the input (the runtime splits the output into such an interior
    // and the border around it): no boundary condition, so loads are plain vector loads.
    GeneratorParam<bool> interior{"interior", false};
    // The common window, 2x2 of stride 2 and dilation 1 (planar 2-D, interior): compiled in,
    // so that the schedule can stage each step's input rows in registers (the run-time
    // kernel, stride and dilation inputs are then ignored; the runtime passes these).
    GeneratorParam<bool> window2{"window2", false};
    // For outputs larger than the caches: aligned, with non-temporal stores (schedules/streaming.h).
    GeneratorParam<bool> stream_out{"stream_out", false};
    GeneratorParam<int> gpu_tile_x{"gpu_tile_x", GpuKnobs{}.tile_x};
    GeneratorParam<int> gpu_tile_y{"gpu_tile_y", GpuKnobs{}.tile_y};

    // Halide dims: (spatial..., c, n).
    Input<Buffer<float>> in{"in"};
    Input<int32_t> kernel_x{"kernel_x"}, stride_x{"stride_x"}, padding_x{"padding_x"}, dilation_x{"dilation_x"};
    Input<int32_t> kernel_y{"kernel_y"}, stride_y{"stride_y"}, padding_y{"padding_y"}, dilation_y{"dilation_y"};
    Input<int32_t> kernel_z{"kernel_z"}, stride_z{"stride_z"}, padding_z{"padding_z"}, dilation_z{"dilation_z"};
    // The maxima (float32) and their positions (int64).
    Output<Buffer<>> out{"out", {Float(32), Int(64)}};

    void generate() {
        const int rank = spatial_rank;
        std::vector<Var> dims = spatial_vars(rank);
        dims.emplace_back("c");
        dims.emplace_back("n");
        _halide_user_assert(!window2 || (rank == 2 && layout == Layout::Planar && interior))
            << "window2 needs the planar 2-D interior variant";
        const Expr two = 2, one = 1;
        const Expr kernel[] = {window2 ? two : kernel_x, window2 ? two : kernel_y, kernel_z};
        const Expr stride[] = {window2 ? two : stride_x, window2 ? two : stride_y, stride_z};
        const Expr padding[] = {padding_x, padding_y, padding_z};
        const Expr dilation[] = {window2 ? one : dilation_x, window2 ? one : dilation_y, dilation_z};

        // Bounded channels as well: channels_last vectors of channels may overhang the last.
        Region inside(rank + 2, Range(Expr(), Expr()));
        inside[rank] = Range(0, in.dim(rank).extent());
        Region window;
        for (int d = 0; d < rank; d++) {
            inside[d] = Range(0, in.dim(d).extent());
            window.push_back(Range(0, kernel[d]));
        }
        Func padded("padded");
        if (interior) {
            padded(dims) = in(dims);  // the runtime calls this variant where windows stay inside
        } else {
            padded = BoundaryConditions::constant_exterior(in, Expr(-std::numeric_limits<float>::infinity()), inside);
        }
        RDom tap(window, "tap");

        // Per dim: where the window starts, the first tap inside the input, and the tap's source.
        // The first tap inside is a table per dim (the division would cost more than the
        // window's scan if each output did it).
        std::vector<Expr> src(dims.begin(), dims.end()), first_inside(rank);
        std::vector<Func> first_inside_table;
        for (int d = 0; d < rank; d++) {
            const Var o("o");
            const Expr start = o * stride[d] - padding[d];
            Func table("first_inside_" + dims[d].name());
            table(o) = start + select(start < 0, (dilation[d] - 1 - start) / dilation[d], 0) * dilation[d];
            first_inside_table.push_back(table);
            first_inside[d] = table(dims[d]);
            src[d] = dims[d] * stride[d] - padding[d] + tap[d] * dilation[d];
        }
        // The flat position within the input plane (< 2^31: the runtime checks the plane).
        auto flat = [&](const std::vector<Expr> &at) {
            Expr position = at[rank - 1];
            for (int d = rank - 2; d >= 0; d--) position = position * in.dim(d).extent() + at[d];
            return position;
        };

        // best = (position, value). The position comes first: with strict_float (the kernels are
        // built with it, so that NaN survives the comparison), Halide 14 stores a Tuple update's
        // elements in order and reloads the earlier ones, so every element after the first
        // would compare against the new value.
        Func best("best");
        best(dims) = Tuple(flat(first_inside), Expr(-std::numeric_limits<float>::infinity()));
        const Expr value = padded(src);
        const Expr takes_over = value > best(dims)[1] || is_nan(value);
        best(dims) = Tuple(select(takes_over, flat(src), best(dims)[0]), select(takes_over, value, best(dims)[1]));
        out(dims) = Tuple(best(dims)[1], cast<int64_t>(best(dims)[0]));

        if (get_target().has_gpu_feature()) {
            schedule_max_pool_gpu(GpuKnobs{gpu_tile_x, gpu_tile_y}, dims, best, in, out);
        } else {
            schedule_max_pool_cpu(get_target(), layout, dims, tap, {kernel[0], kernel[1], kernel[2]}, stride[0],
                                  first_inside_table, padded, best, in, out, interior, window2, stream_out);
        }
    }
};

class MaxUnpool : public Generator<MaxUnpool> {
public:
    GeneratorParam<int> spatial_rank{"spatial_rank", 2, 1, 3};
    GeneratorParam<Layout> layout{"layout", Layout::Planar, layout_names()};
    GeneratorParam<int> gpu_tile_x{"gpu_tile_x", GpuKnobs{}.tile_x};
    GeneratorParam<int> gpu_tile_y{"gpu_tile_y", GpuKnobs{}.tile_y};

    // in and indices: (spatial..., c, n); out: (position in the plane, c, n).
    Input<Buffer<float>> in{"in"};
    Input<Buffer<int64_t>> indices{"indices"};
    Input<int32_t> plane_size{"plane_size"};  // the output's spatial element count
    Output<Buffer<float, 3>> out{"out"};

    void generate() {
        const int rank = spatial_rank;
        const Var p("p"), c("c"), n("n");
        Region spatial;
        for (int d = 0; d < rank; d++) spatial.push_back(Range(in.dim(d).min(), in.dim(d).extent()));  // slabs crop
        RDom element(spatial, "element");
        std::vector<Expr> at;
        for (int d = 0; d < rank; d++) at.push_back(element[d]);
        at.push_back(c);
        at.push_back(n);

        const Expr position = clamp(cast<int32_t>(indices(at)), 0, plane_size - 1);
        Func plane("plane");
        if (get_target().has_gpu_feature()) {
            out(p, c, n) = 0.0f;
            out(position, c, n) = in(at);
            schedule_max_unpool_gpu(GpuKnobs{gpu_tile_x, gpu_tile_y}, {p, c, n}, in, indices, out);
            return;
        }
        if (layout == Layout::Planar) {
            // The runtime calls this on a few planes at a time, or on a slab of one plane (a
            // flat range of it, whose indices it has checked to land there), with a
            // cache-sized output: the clamp is to the output buffer's range.
            out(p, c, n) = 0.0f;
            const Expr first = out.dim(0).min(), last = out.dim(0).min() + out.dim(0).extent() - 1;
            out(clamp(cast<int32_t>(indices(at)), first, last), c, n) = in(at);
        } else {
            // channels_last planes interleave: a whole image is zeroed and scattered into in
            // a buffer, then copied out densely.
            plane(p, c, n) = 0.0f;
            plane(position, c, n) = in(at);
            out(p, c, n) = plane(p, c, n);
        }

        schedule_max_unpool_cpu(get_target(), layout, {p, c, n}, element, plane, in, indices, out);
    }
};

// max_unpool of 2-D or 3-D planes whose pooling windows tile the output (kernel = stride = 2,
// no padding, the default output size), once the runtime has checked that every index lies in
// its own window: each output element then has one candidate, the input element whose window
// holds it, so the unpool is a gather, with no zero fill and no scatter (and no repeated index
// to order).
class MaxUnpoolWindows : public Generator<MaxUnpoolWindows> {
public:
    GeneratorParam<int> spatial_rank{"spatial_rank", 2, 2, 3};
    // For outputs larger than the caches: aligned, with non-temporal stores (schedules/streaming.h).
    GeneratorParam<bool> stream_out{"stream_out", false};

    // in and corners: (spatial..., c, n); out: (spatial..., c, n) of the output planes, twice
    // the input's spatial sizes, whose mins the runtime keeps at 0 (a crop of channels may
    // start anywhere). corners holds each input element's corner of its window, from the
    // runtime's index scan: bit d set for the far side along spatial dim d (x first), so 0 to
    // 3 in 2-D for output (2x, 2y), (2x + 1, 2y), (2x, 2y + 1), (2x + 1, 2y + 1).
    Input<Buffer<float>> in{"in"};
    Input<Buffer<uint8_t>> corners{"corners"};
    Output<Buffer<float>> out{"out"};

    void generate() {
        std::vector<Var> dims = spatial_vars(spatial_rank);
        dims.emplace_back("c");
        dims.emplace_back("n");
        // The output is twice the input (the default size): every output lies in the window
        // of the input at half its coordinates, and no clamp keeps Halide from loading those
        // densely.
        std::vector<Expr> window(dims.begin(), dims.end());
        Expr corner = 0;
        for (int d = 0; d < spatial_rank; d++) {
            window[d] = dims[d] / 2;
            corner += (dims[d] % 2) << d;
        }
        out(dims) = select(corners(window) == cast<uint8_t>(corner), in(window), 0.0f);
        schedule_max_unpool_windows_cpu(get_target(), dims, out, stream_out);
    }
};

// The smallest and largest index of each (n, c) plane: max_unpool's check on the device, where
// the runtime cannot read the indices itself. It runs before the scatter, which then never
// meets an index outside its plane.
class MaxUnpoolIndexRange : public Generator<MaxUnpoolIndexRange> {
public:
    GeneratorParam<int> gpu_tile_x{"gpu_tile_x", GpuKnobs{}.tile_x};

    Input<Buffer<int64_t>> indices{"indices"};      // (spatial..., c, n)
    Output<Buffer<>> range{"range", {Int(64), Int(64)}, 2};  // (c, n): (lowest, highest)

    void generate() {
        const int rank = indices.dimensions() - 2;
        const Var c("c"), n("n");
        Region spatial;
        for (int d = 0; d < rank; d++) spatial.push_back(Range(0, indices.dim(d).extent()));
        RDom element(spatial, "element");
        std::vector<Expr> at;
        for (int d = 0; d < rank; d++) at.push_back(element[d]);
        at.push_back(c);
        at.push_back(n);
        range(c, n) = Tuple(Int(64).max(), Int(64).min());
        range(c, n) = Tuple(min(range(c, n)[0], indices(at)), max(range(c, n)[1], indices(at)));
        schedule_index_range_gpu(gpu_tile_x, {c, n}, indices, range);
    }
};

}  // namespace hup

HALIDE_REGISTER_GENERATOR(hup::MaxPool, max_pool)
HALIDE_REGISTER_GENERATOR(hup::MaxUnpool, max_unpool)
HALIDE_REGISTER_GENERATOR(hup::MaxUnpoolWindows, max_unpool_windows)
HALIDE_REGISTER_GENERATOR(hup::MaxUnpoolIndexRange, max_unpool_index_range)
