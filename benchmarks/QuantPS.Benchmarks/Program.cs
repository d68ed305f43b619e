using BenchmarkDotNet.Running;
using QuantPS.Benchmarks;

// Benchmarks:  dotnet run -c Release --project benchmarks/QuantPS.Benchmarks -- --filter '*MatVec*'
//              (QUANTPS_BENCH_TYPES=Q4_0,Q8_0 narrows the weight types)
// llama.cpp:   ... -- llama-cases > cases.txt; test-backend-ops perf -b CPU --test-file cases.txt > llama2.txt
// Tables:      ... -- report --llama1 llama1.txt --llama2 llama2.txt
// Quantizing: QUANTPS_LLAMA_QUANTIZE=/path/llama-quantize ... -- --filter '*ModelQuantize*'
//              ... -- quantize-peak [--types Q4_K_M,Q8_0]   (wall time, peak memory, byte identity)
// Inference:   QUANTPS_LLAMA_BENCH=/path/llama-bench ... -- llm-bench [--types F16,Q8_0,Q4_K_M] [--reps 2]
// See docs/BENCHMARKS.md.
switch (args.FirstOrDefault())
{
    case "llama-cases":
        Report.PrintLlamaCases(Console.Out);
        break;
    case "quantize-once":
        QuantizeComparison.QuantizeOnce(args);
        break;
    case "llm-bench":
        LlmBenchComparison.Print(args, Console.Out);
        break;
    case "llm-bench-once":
        LlmBenchComparison.Once(args);
        break;
    case "quantize-peak":
        QuantizeComparison.Print(args, Console.Out);
        break;
    case "report":
        Report.Print(args, Console.Out);
        break;
    default:
        BenchmarkSwitcher.FromAssembly(typeof(QuickConfig).Assembly).Run(args);
        break;
}
