// hup_bench: hup's operators against libtorch, oneDNN, XNNPACK, OpenCV and rooflines.
//
// Suites: interp/<case>/<library> (bench_interpolate.cpp), deconv/<case>/<library>
// (bench_conv_transpose.cpp), inverse/<case>/<library> (bench_inverse.cpp); harness in
// bench_common.h. Run it with bench/run_bench.sh, which times one library at a time;
// bench/report.py turns the JSON into tables.
#include <torch/version.h>

#include <fstream>
#include <string>

#include "bench_common.h"
#include "hup/hup.h"

namespace {

// "<model name>, family F model M" from /proc/cpuinfo: the VM's CPU changes from one machine to
// the next (Zen 4 is family 25, Zen 5 family 26, with twice the AVX-512 FMA rate), and runs on
// different CPUs must not be compared as if they were one.
std::string cpu_model() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line, name = "?", family = "?", model = "?";
    auto value = [&] { return line.substr(line.find(':') + 2); };
    while (std::getline(cpuinfo, line) && line.find(':') != std::string::npos && !line.empty()) {
        if (line.rfind("model name", 0) == 0) name = value();
        else if (line.rfind("cpu family", 0) == 0) family = value();
        else if (line.rfind("model\t", 0) == 0) model = value();
    }
    return name + ", family " + family + " model " + model;
}

}  // namespace

int main(int argc, char **argv) {
    using hup_bench::kThreads;
    at::set_num_threads(kThreads);
    hup::set_num_threads(kThreads);
    // oneDNN, the copy and the FMA peak use OpenMP, whose pool at::set_num_threads has sized;
    // XNNPACK's pthreadpool and OpenCV are given kThreads where the suites set them up.

    const dnnl_version_t *dnnl = dnnl::version();
    benchmark::AddCustomContext("threads_per_library", std::to_string(kThreads));
    benchmark::AddCustomContext("cpu", cpu_model());
    benchmark::AddCustomContext("libtorch", std::to_string(TORCH_VERSION_MAJOR) + "." +
                                                std::to_string(TORCH_VERSION_MINOR) + "." +
                                                std::to_string(TORCH_VERSION_PATCH));
    benchmark::AddCustomContext("onednn", std::to_string(dnnl->major) + "." + std::to_string(dnnl->minor) + "." +
                                              std::to_string(dnnl->patch));

    hup_bench::register_interpolate_benchmarks();
    hup_bench::register_conv_transpose_benchmarks();
    hup_bench::register_inverse_benchmarks();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
