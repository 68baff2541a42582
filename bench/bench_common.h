// The harness that hup_bench's suites share (bench_interpolate.cpp, bench_conv_transpose.cpp,
// bench_inverse.cpp): the thread count, the preparation and check of one benchmark at a time,
// registration, the libraries' shared handles (oneDNN engine, XNNPACK thread pool) and the copy
// roofline.
//
// A suite is a table of cases, a Problem type (built from a case: its tensors, libtorch's
// result, a preallocated output) and a table of libraries. Each (case, library) becomes the
// benchmark <suite>/<case>/<library>; bench/run_bench.sh runs one library at a time
// (--benchmark_filter='/<library>/') so that the libraries' thread pools never compete for the
// cores. Before timing, each library's result is compared with libtorch's (a warning on stderr
// and a counter in the JSON; nothing fails).
#pragma once

#include <benchmark/benchmark.h>
#include <omp.h>
#include <pthreadpool.h>
#include <xnnpack.h>

#include <oneapi/dnnl/dnnl.hpp>
#include <torch/torch.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace hup_bench {

constexpr int kThreads = 2;             // every library gets this many threads
constexpr double kWarmUpSeconds = 0.2;  // untimed runs before each benchmark

// The suites, called by main() before benchmark::Initialize.
void register_interpolate_benchmarks();
void register_conv_transpose_benchmarks();
void register_inverse_benchmarks();

// ---- cases ---------------------------------------------------------------------------------

enum class Layout { Contiguous, ChannelsLast };

inline at::MemoryFormat memory_format(size_t rank, Layout layout) {
    if (layout == Layout::Contiguous) return at::MemoryFormat::Contiguous;
    return rank == 5 ? at::MemoryFormat::ChannelsLast3d : at::MemoryFormat::ChannelsLast;
}

// ncw / nchw / ncdhw, or nwc / nhwc / ndhwc, for a tensor of `rank` dims.
inline const char *layout_name(size_t rank, Layout layout) {
    static const char *const planar[] = {"ncw", "nchw", "ncdhw"};
    static const char *const channels_last[] = {"nwc", "nhwc", "ndhwc"};
    return (layout == Layout::Contiguous ? planar : channels_last)[rank - 3];
}

template <typename T>
std::string join(const std::vector<T> &values, char separator) {
    std::ostringstream s;
    for (size_t i = 0; i < values.size(); ++i) s << (i ? std::string(1, separator) : "") << values[i];
    return s.str();
}

// ---- problems and libraries ----------------------------------------------------------------

// What every suite's Problem has; the rest (inputs, sizes) is the suite's.
struct ProblemBase {
    virtual ~ProblemBase() = default;
    at::Tensor expected;  // libtorch's result
    at::Tensor output;    // preallocated in the case's layout, NaN until a library writes it
};

struct Runner {
    std::function<void()> run;
    std::string label;            // shown in the JSON (e.g. oneDNN's implementation)
    std::function<void()> finish;  // optional: after the first run, before the check (untimed),
                                   // e.g. a reorder of the library's own layout into Problem::output
};

template <class Case, class Problem>
struct Library {
    const char *name;
    bool (*supports)(const Case &);
    Runner (*prepare)(Problem &);  // throws std::exception where the library fails
    bool writes_output;            // whether run() (and finish()) write Problem::output, checked against libtorch
};

template <class Case>
bool any_case(const Case &) {
    return true;
}

// How a suite compares a library's output with libtorch's.
struct Check {
    const char *what;     // printed, e.g. "max |diff| vs libtorch"
    const char *counter;  // the JSON counter holding the difference (-1: not compared)
    double tolerance;     // a larger difference is a warning
    double (*difference)(const at::Tensor &output, const at::Tensor &expected);
};

inline double max_abs_diff(const at::Tensor &a, const at::Tensor &b) {
    return (a - b).abs().max().item<double>();  // NaN where a library left the output unwritten
}

// ---- running -------------------------------------------------------------------------------

struct Prepared {
    std::string name;
    std::unique_ptr<ProblemBase> problem;
    Runner runner;
    double difference = -1;  // -1: not compared (libtorch itself, rooflines)
    std::string error;
};

// The setup of the benchmark now running. Google Benchmark calls a benchmark's function several
// times (warm-up, iteration estimate, repetitions): they share one setup and one check, and the
// previous benchmark's buffers (of whichever suite) are freed before the next one allocates its own.
inline Prepared &prepared(const std::string &name, const std::function<std::unique_ptr<ProblemBase>()> &make_problem,
                          const std::function<Runner(ProblemBase &)> &prepare, bool writes_output, const Check &check) {
    static Prepared current;
    if (current.name == name) return current;
    current = Prepared{};
    current.name = name;
    try {
        current.problem = make_problem();
        current.runner = prepare(*current.problem);
        current.runner.run();
        if (current.runner.finish) current.runner.finish();
        if (writes_output) current.difference = check.difference(current.problem->output, current.problem->expected);
    } catch (const std::exception &e) {
        current.error = e.what();
    }
    if (!current.error.empty())
        std::fprintf(stderr, "ERROR   %s: %s\n", name.c_str(), current.error.c_str());
    else if (writes_output)
        std::fprintf(stderr, "%s %s: %s = %.3g\n", current.difference <= check.tolerance ? "check  " : "WARNING",
                     name.c_str(), check.what, current.difference);
    return current;
}

// The settings every hup_bench benchmark runs with.
inline benchmark::internal::Benchmark *configure(benchmark::internal::Benchmark *b) {
    return b->UseRealTime()->Unit(benchmark::kMillisecond)->MinWarmUpTime(kWarmUpSeconds);
}

// Registers <suite>/<case>/<library> for every case a library supports. `counters` adds the
// suite's counters (bytes, flops) after the timing loop.
template <class Case, class Problem>
void register_suite(const std::string &suite, const std::vector<Case> &cases,
                    const std::vector<Library<Case, Problem>> &libraries, const Check &check,
                    void (*counters)(benchmark::State &, const Problem &)) {
    for (const Case &c : cases)
        for (const Library<Case, Problem> &lib : libraries) {
            if (!lib.supports(c)) continue;
            const std::string name = suite + "/" + c.name + "/" + lib.name;
            auto run = [name, &c, &lib, check, counters](benchmark::State &state) {
                Prepared &p = prepared(
                    name, [&c] { return std::unique_ptr<ProblemBase>(std::make_unique<Problem>(c)); },
                    [&lib](ProblemBase &problem) { return lib.prepare(static_cast<Problem &>(problem)); },
                    lib.writes_output, check);
                if (!p.error.empty()) {
                    state.SkipWithError(p.error.c_str());
                    return;
                }
                for (auto _ : state) p.runner.run();
                counters(state, static_cast<const Problem &>(*p.problem));
                state.counters[check.counter] = p.difference;
                state.SetLabel(p.runner.label);
            };
            configure(benchmark::RegisterBenchmark(name.c_str(), run));
        }
}

// ---- shared library handles ----------------------------------------------------------------

inline const dnnl::engine &onednn_engine() {
    static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    return engine;
}

inline void xnn_check(xnn_status status, const char *what) {
    if (status != xnn_status_success)
        throw std::runtime_error(std::string(what) + " failed: xnn_status " + std::to_string(int(status)));
}

inline pthreadpool_t xnnpack_threadpool() {
    static const pthreadpool_t pool = [] {
        xnn_check(xnn_initialize(nullptr), "xnn_initialize");
        return pthreadpool_create(kThreads);
    }();
    return pool;
}

// ---- the copy roofline ---------------------------------------------------------------------

inline void parallel_copy(char *dst, const char *src, size_t bytes) {
#pragma omp parallel num_threads(kThreads)
    {
        const size_t t = omp_get_thread_num(), nt = omp_get_num_threads();
        const size_t begin = bytes * t / nt / 64 * 64, end = t + 1 == nt ? bytes : bytes * (t + 1) / nt / 64 * 64;
        std::memcpy(dst + begin, src + begin, end - begin);
    }
}

// A memcpy of bytes / 2, so that it reads and writes `bytes` in all.
inline Runner copy_runner(double bytes) {
    const int64_t floats = int64_t(bytes / 2 / sizeof(float));
    at::Tensor src = at::rand({floats}), dst = at::zeros({floats});
    return {[src, dst] {
                parallel_copy(static_cast<char *>(dst.data_ptr()), static_cast<const char *>(src.data_ptr()),
                              src.nbytes());
            },
            ""};
}

}  // namespace hup_bench
