// CPU schedules for max_pool and max_unpool, kept apart from their algorithms.
#pragma once

#include <vector>

#include "Halide.h"
#include "gpu_schedule.h"
#include "layout.h"
#include "streaming.h"

namespace hup {

// The pooling schedules' tunable choices, with their defaults.
struct PoolCpuKnobs {
    int strip_rows = 64;          // max_pool 2-D: output rows per parallel strip (3-D: one slice)
    int unpool_pixel_block = 64;  // channels_last max_unpool: pixels per parallel task
    int window_vectors = 2;       // max_unpool gather: output vectors per step (a whole input vector)
    int prefetch_rows = 2;        // max_pool 2x2 windows: how many output rows ahead to prefetch input
};

// max_pool: vectors along x (planar: window loads of stride `stride_x`, which Halide
// deinterleaves from dense loads; the border variants read a copy of the input rows each
// output row reads, see below) or along channels (channels_last: dense loads). The running
// best of a vector lives in registers while the window is scanned; windows of 2 and 3 taps per
// dim (the usual ones) unroll. Strips of rows (slices in 3-D) of every plane run in parallel.
// Edges cost nothing extra inside: padding is a boundary condition, and Halide's loop
// partitioning keeps its tests out of the steady state.
inline void schedule_max_pool_cpu(const Halide::Target &target, Layout layout, const std::vector<Halide::Var> &dims,
                                  const Halide::RDom &tap, const std::vector<Halide::Expr> &kernel,
                                  const Halide::Expr &stride_x, const std::vector<Halide::Func> &first_inside_tables, Halide::Func padded, Halide::Func best,
                                  Halide::GeneratorInput<Halide::Buffer<float>> &in,
                                  Halide::GeneratorOutput<Halide::Buffer<>> &out, bool interior, bool window2,
                                  bool stream_out, const PoolCpuKnobs &knobs = {}) {
    using namespace Halide;
    const int rank = (int)dims.size() - 2;
    const Var x = dims[0], c = dims[rank], n = dims[rank + 1];
    const Var outer = dims[rank - 1];  // y in 2-D, z in 3-D
    const int lanes = target.natural_vector_size<float>();
    const bool channels_last = layout == Layout::ChannelsLast;
    in.dim(0).set_stride(Expr());
    Func output = out;
    for (OutputImageParam buffer : output.output_buffers()) buffer.dim(0).set_stride(Expr());
    // Outputs that leave the caches: whole aligned vectors, whose stores the build makes
    // non-temporal (and whose prefetches it completes to every line).
    if (stream_out) align_for_streaming(output);
    const Var vec = channels_last ? c : x;
    // The common case gets its own loop nest: the vectorised dim dense in every buffer (dense
    // loads and stores instead of gathers and scatters).
    const int vec_dim = channels_last ? rank : 0;
    Expr dense = in.dim(vec_dim).stride() == 1;
    for (OutputImageParam buffer : output.output_buffers()) dense = dense && buffer.dim(vec_dim).stride() == 1;
    Var vo("vo"), vi("vi"), strip("strip"), rows("rows");
    output.split(vec, vo, vi, lanes, TailStrategy::GuardWithIf).vectorize(vi);
    if (channels_last) {
        // A pixel's channel vectors, then along the row, the rows, the images.
        std::vector<VarOrRVar> order = {vi, vo};
        for (int d = 0; d < rank; d++) order.push_back(dims[d]);
        order.push_back(n);
        output.reorder(order);
    }
    output.split(outer, strip, rows, rank == 2 ? knobs.strip_rows : 1, TailStrategy::GuardWithIf);
    // Parallel loops nest rather than fuse: through a fused loop Halide bounds the channel
    // (or batch) of `best` by its whole range instead of a point, and allocates on the heap.
    output.parallel(strip);
    if (!channels_last && !(interior && rank == 2)) {
        // The input rows a row of outputs reads, copied once into a buffer of the pipeline's
        // own: strided loads from an external buffer may not read past what is needed, so
        // Halide assembles each tap's every-other-element vector lane by lane; from its own
        // buffer it loads dense vectors and shares them between the taps. The 2-D interior
        // variant reads the input directly instead: on the Zen 5 the copy's stores cost more
        // than the narrower loads (1x64x256x256 k2s2, interleaved A/B: 0.42-0.46 ms with the
        // copy, 0.37-0.40 without; 8 images: 7.3-7.6 against 7.2-7.3).
        padded.store_at(output, rank == 2 ? strip : rows).compute_at(output, rank == 2 ? rows : dims[1])
            .vectorize(padded.args()[0], lanes, TailStrategy::GuardWithIf);
    }
    if (window2) {
        // Each step's two input rows of two vectors, staged in the pipeline's own (constant-size,
        // so stack or register) buffer: Halide deinterleaves both taps of a row from the same two
        // dense loads there, where from the input itself it builds the even taps' vectors from
        // 128-bit pieces, so as not to read past the last element they need.
        padded.compute_at(output, vo).vectorize(padded.args()[0], lanes);
        // The input rows prefetch_rows output rows ahead: the loads otherwise wait on memory
        // (8x64x256x256: 6.5-7.5 ms without, 5.0-5.3 with 2 rows ahead, 4.9-7.2 with 4). At
        // the row loop, a burst per row: at the vector loop (from the rows) it was slower, in
        // place 7.0-7.7 ms against 5.6-6.7, and streamed 6.3-6.8 against 3.8-4.3.
        output.prefetch(in, rows, rows, knobs.prefetch_rows);
    }
    if (!channels_last) output.parallel(c);
    // Within it, planar windows step by a known stride: dense loads (and a deinterleave)
    // rather than gathers.
    Stage dense_stage = output.specialize(dense);
    if (!channels_last) {
        dense_stage.specialize(stride_x == 2);
        dense_stage.specialize(stride_x == 1);
    }

    // Whole vectors of the running best, also in the tail (padding covers the lanes past the
    // edge), so the window scan never needs masks.
    const Var best_vec = best.args()[vec.same_as(x) ? 0 : rank];
    best.compute_at(output, vo).bound_extent(best_vec, lanes).vectorize(best_vec);
    for (const Var &v : best.args()) {
        if (!v.same_as(best_vec)) best.bound_extent(v, 1);  // a point: registers, not the heap
    }
    Stage scan = best.update();
    scan.vectorize(vec);
    auto unrolled = [&](int taps) {
        Expr fixed = Internal::const_true();
        for (int d = 0; d < rank; d++) fixed = fixed && kernel[d] == taps;
        Stage s = scan.specialize(fixed);
        for (int d = 0; d < rank; d++) s.unroll(tap[d]);
    };
    unrolled(2);
    unrolled(3);
    for (Func table : first_inside_tables) table.compute_root().vectorize(table.args()[0], lanes, TailStrategy::GuardWithIf);
}

// max_unpool: planar, the runtime hands over a few planes at a time: each is zeroed with
// vectors, then scattered into (serially: repeated indices resolve in order), planes in
// parallel. channels_last planes interleave, so a whole image is the unit instead: zeroed and
// copied with vectors in parallel, scattered with the channels of a pixel innermost.
inline void schedule_max_unpool_cpu(const Halide::Target &target, Layout layout, const std::vector<Halide::Var> &dims,
                                    const Halide::RDom &element, Halide::Func plane,
                                    Halide::GeneratorInput<Halide::Buffer<float>> &in,
                                    Halide::GeneratorInput<Halide::Buffer<int64_t>> &indices,
                                    Halide::GeneratorOutput<Halide::Buffer<float, 3>> &out, const PoolCpuKnobs &knobs = {}) {
    using namespace Halide;
    const Var p = dims[0], c = dims[1], n = dims[2];
    const int lanes = target.natural_vector_size<float>();
    in.dim(0).set_stride(Expr());
    indices.dim(0).set_stride(Expr());
    out.dim(0).set_stride(Expr());

    Func output = out;
    Var task("task"), po("po"), pi("pi");
    if (layout == Layout::Planar) {
        const Expr dense = in.dim(0).stride() == 1 && indices.dim(0).stride() == 1 && out.dim(0).stride() == 1;
        output.fuse(c, n, task).parallel(task).vectorize(p, lanes, TailStrategy::GuardWithIf);
        output.update().parallel(c);
        output.specialize(dense);
        output.update().specialize(dense);
    } else {
        const int rank = in.dimensions() - 2;
        const Expr dense = in.dim(rank).stride() == 1 && indices.dim(rank).stride() == 1 && out.dim(1).stride() == 1;
        output.reorder(c, p, n).vectorize(c, lanes, TailStrategy::GuardWithIf)
            .split(p, po, pi, knobs.unpool_pixel_block, TailStrategy::GuardWithIf).parallel(po);
        plane.compute_at(output, n).reorder_storage(c, p);
        plane.reorder(c, p).vectorize(c, lanes, TailStrategy::GuardWithIf).parallel(p, knobs.unpool_pixel_block);
        std::vector<VarOrRVar> order = {c};  // a pixel's channels innermost
        for (int d = 0; d < element.dimensions(); d++) order.push_back(element[d]);
        plane.update().reorder(order);
        output.specialize(dense);
    }
}


// max_unpool as a gather (windows of 2 that tile the output): vectors along x, whose window
// loads (x / 2) Halide makes from dense loads and interleaves; `window_vectors` output vectors
// per step, so that a step loads whole input vectors (with one, half-width loads, masked:
// 2 gave 3-D 4.3-5.1 -> 4.0-4.4 ms and 8x64x128x128 6.9-7.6 -> 6.2-7.1 interleaved on a Zen 5;
// 4 no better); strips of rows (3-D: slices) of every plane in parallel.
inline void schedule_max_unpool_windows_cpu(const Halide::Target &target, const std::vector<Halide::Var> &dims,
                                            Halide::GeneratorOutput<Halide::Buffer<float>> &out, bool stream_out,
                                            const PoolCpuKnobs &knobs = {}) {
    using namespace Halide;
    const int rank = (int)dims.size() - 2;
    const Var x = dims[0], outer = dims[rank - 1], c = dims[rank], n = dims[rank + 1];
    Var strip("strip"), row("row"), task("task");
    Func output = out;
    // Rows from x = 0 (the runtime's views start there): a vector's two halves, the even and
    // the odd outputs, then read the same input vector, which Halide loads once. With the row
    // at a run-time min it loaded it twice, and LLVM folded each select into a masked load
    // that waited on its corner compare (1x64x128x128, in the caches: 0.37-0.39 -> 0.33-0.36
    // ms, 2 threads, Zen 5; no measurable change where the stores to memory bound it).
    out.dim(0).set_min(0);
    // Outputs that leave the caches: every store a whole aligned vector, made non-temporal
    // by the build (with the index scan, 1x32x64x128x128: 4.2-4.4 -> 2.5-3.0 ms;
    // 8x64x256x256: 5.9-6.1 -> 3.9-5.0).
    if (stream_out) align_for_streaming(output);
    std::vector<VarOrRVar> order(dims.begin(), dims.begin() + rank - 1);  // the spatial dims inside a strip
    order.push_back(row);
    for (const Var &v : {strip, c, n}) order.push_back(v);
    output.vectorize(x, knobs.window_vectors * target.natural_vector_size<float>(), TailStrategy::GuardWithIf)
        .split(outer, strip, row, rank == 2 ? knobs.strip_rows : 1, TailStrategy::GuardWithIf)
        .reorder(order)
        .fuse(strip, c, task)
        .fuse(task, n, task)
        .parallel(task);
}

// GPU max_pool: a thread per output, its running best in registers.
inline void schedule_max_pool_gpu(const GpuKnobs &knobs, const std::vector<Halide::Var> &dims, Halide::Func best,
                                  Halide::GeneratorInput<Halide::Buffer<float>> &in,
                                  Halide::GeneratorOutput<Halide::Buffer<>> &out) {
    using namespace Halide;
    any_strides(in);
    Func output = out;
    for (OutputImageParam buffer : output.output_buffers()) buffer.dim(0).set_stride(Expr());
    best.compute_at(output, gpu_tile_all(output, dims, knobs));
}

// GPU max_unpool: the zero fill is a thread per element; the scatter a thread per plane, which
// walks its input in order, so repeated indices resolve as on the CPU (the last one wins).
inline void schedule_max_unpool_gpu(const GpuKnobs &knobs, const std::vector<Halide::Var> &dims,
                                    Halide::GeneratorInput<Halide::Buffer<float>> &in,
                                    Halide::GeneratorInput<Halide::Buffer<int64_t>> &indices,
                                    Halide::GeneratorOutput<Halide::Buffer<float, 3>> &out) {
    using namespace Halide;
    any_strides(in, indices, out);
    Func output = out;
    gpu_tile_all(output, dims, knobs);
    Var planes("planes"), plane("plane");
    output.update().fuse(dims[1], dims[2], planes).gpu_tile(planes, plane, knobs.tile_x, TailStrategy::GuardWithIf);
}

// GPU index range: a thread per plane (planes are many; their indices are read once).
inline void schedule_index_range_gpu(int tile, const std::vector<Halide::Var> &dims,
                                     Halide::GeneratorInput<Halide::Buffer<int64_t>> &indices,
                                     Halide::GeneratorOutput<Halide::Buffer<>> &range) {
    using namespace Halide;
    any_strides(indices);
    Func output = range;
    Var planes("planes"), plane("plane"), block("block");
    output.fuse(dims[0], dims[1], planes).gpu_tile(planes, block, plane, tile, TailStrategy::GuardWithIf);
    output.update().fuse(dims[0], dims[1], planes).gpu_tile(planes, block, plane, tile, TailStrategy::GuardWithIf);
}

}  // namespace hup
