// CPU schedules for unfold and fold, kept apart from their algorithms.
#pragma once

#include <vector>

#include "Halide.h"
#include "gpu_schedule.h"
#include "streaming.h"

namespace hup {

// fold's tunable choice, with its default.
struct FoldCpuKnobs {
    int strip_rows = 32;  // output rows per parallel task
};

// unfold: every column row (c, ki, kj) is a strided copy of the image. Per image row a block
// row reads (one per (by, ki, c)), the zero-padded row is built once in a small buffer, and
// the kernel columns kj copy from it: vectors along the block x dim (dense stores), loading
// with the stride, which is specialised for 1 and 2 (dense loads, or dense loads and a
// deinterleave, which Halide does from a buffer of its own; other strides gather). Kernel
// rows, channels and images run in parallel.
inline void schedule_unfold_cpu(const Halide::Target &target, const std::vector<Halide::Var> &dims,
                                const Halide::Expr &stride_x, Halide::Func padded, const Halide::RDom &image_row,
                                Halide::GeneratorInput<Halide::Buffer<float, 4>> &in,
                                Halide::GeneratorOutput<Halide::Buffer<float, 6>> &out, bool stream_out) {
    using namespace Halide;
    const Var bx = dims[0], by = dims[1], kj = dims[2], ki = dims[3], c = dims[4], n = dims[5];
    const int lanes = target.natural_vector_size<float>();
    in.dim(0).set_stride(Expr());
    out.dim(0).set_stride(Expr());
    Func output = out;
    // Columns that leave the caches: whole aligned vectors, whose stores the build makes
    // non-temporal.
    if (stream_out) align_for_streaming(output);
    Var task("task");
    auto recipe = [&](Stage s) {
        s.vectorize(bx, lanes, TailStrategy::GuardWithIf).reorder(bx, kj, by, ki, c, n).fuse(ki, c, task)
            .fuse(task, n, task).parallel(task);
    };
    const Var x = padded.args()[0];
    padded.store_at(output, task).compute_at(output, by).vectorize(x, lanes, TailStrategy::RoundUp);
    padded.update().vectorize(image_row.x, lanes, TailStrategy::GuardWithIf);
    // Dense buffers (the usual case) get their own loop nests, per common stride.
    Stage dense = output.specialize(in.dim(0).stride() == 1 && out.dim(0).stride() == 1);
    recipe(dense.specialize(stride_x == 1));
    recipe(dense.specialize(stride_x == 2));
    recipe(dense);
    recipe(output);
}

// fold (one phase): strips of 32 rows of every plane run in parallel (long runs of each column
// row, which the prefetchers follow); a strip's sums live in a
// small buffer, to which each tap adds a row of columns with vectors. The tap loops sit
// outside the row loop so that Halide's loop partitioning can keep the edge tests (zero
// outside the block grid) out of the steady state of every row, and each output still sums
// its taps in ATen's order.
inline void schedule_fold_cpu(const Halide::Target &target, const std::vector<Halide::Var> &dims,
                              const Halide::RDom &m, Halide::Func sum,
                              Halide::GeneratorInput<Halide::Buffer<float, 6>> &cols,
                              Halide::GeneratorOutput<Halide::Buffer<float, 4>> &out, const FoldCpuKnobs &knobs = {}) {
    using namespace Halide;
    const Var qx = dims[0], qy = dims[1], c = dims[2], n = dims[3];
    const int lanes = target.natural_vector_size<float>();
    cols.dim(0).set_stride(Expr());
    out.dim(0).set_stride(Expr());
    Func output = out;
    Var strip("strip"), rows("rows"), task("task");
    output.vectorize(qx, lanes, TailStrategy::GuardWithIf)
        .split(qy, strip, rows, knobs.strip_rows, TailStrategy::GuardWithIf)
        .fuse(c, n, task).fuse(strip, task, task).parallel(task);
    // Whole vectors, also in the tail: blocks past the grid read as zero.
    sum.compute_at(output, task).vectorize(qx, lanes, TailStrategy::RoundUp);
    sum.update().reorder(qx, m.x, m.y, qy).vectorize(qx, lanes, TailStrategy::RoundUp);
    // Dense columns: a phase of stride 1 (dense stores) or 2 (every other output).
    const Expr dense_cols = cols.dim(0).stride() == 1;
    output.specialize(dense_cols && out.dim(0).stride() == 1);
    output.specialize(dense_cols && out.dim(0).stride() == 2);
}


// GPU: a thread per element; unfold's threads run along the block row (the column tensor's
// dense dim), fold's along the image row, each summing its taps in a register.
inline void schedule_unfold_gpu(const GpuKnobs &knobs, const std::vector<Halide::Var> &dims,
                                Halide::GeneratorInput<Halide::Buffer<float, 4>> &in,
                                Halide::GeneratorOutput<Halide::Buffer<float, 6>> &out) {
    any_strides(in, out);
    gpu_tile_all(Halide::Func(out), dims, knobs);
}

inline void schedule_fold_gpu(const GpuKnobs &knobs, const std::vector<Halide::Var> &dims, Halide::Func sum,
                              Halide::GeneratorInput<Halide::Buffer<float, 6>> &cols,
                              Halide::GeneratorOutput<Halide::Buffer<float, 4>> &out) {
    any_strides(cols, out);
    Halide::Func output = out;
    sum.compute_at(output, gpu_tile_all(output, dims, knobs));
}

}  // namespace hup
