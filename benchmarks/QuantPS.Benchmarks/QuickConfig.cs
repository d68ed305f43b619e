using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using QuantPS.Kernels;
using QuantPS.Kernels.MatMul;

namespace QuantPS.Benchmarks;

/// <summary>
/// A short job (the workloads are long and steady), throughput columns, and allocation counts. In process: the
/// measured binaries are the ones built (no per-run rebuild of a tree others may be editing), and the weights are
/// made once per case anyway.
/// </summary>
public sealed class QuickConfig : ManualConfig
{
    public QuickConfig()
    {
        AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(8)
            .WithToolchain(InProcessEmitToolchain.Instance).WithId("Quick"));
        AddColumn(StatisticColumn.Median, StatisticColumn.Min);
        AddColumn(ThroughputColumn.Microseconds, ThroughputColumn.GigabytesPerSecond, ThroughputColumn.GigaflopsPerSecond);
        AddDiagnoser(MemoryDiagnoser.Default);
    }
}

/// <summary>Bytes and floating-point operations one benchmark invocation does, computed from its parameters alone.</summary>
public interface IWorkload
{
    double BytesPerOperation { get; }

    double FlopsPerOperation { get; }
}

/// <summary>The weight types to measure: those with matmul kernels, optionally narrowed by QUANTPS_BENCH_TYPES.</summary>
public static class BenchmarkTypes
{
    public static IEnumerable<GgmlType> Supported()
    {
        var wanted = Environment.GetEnvironmentVariable("QUANTPS_BENCH_TYPES")?
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return GgmlTypeTraits.All
            .Where(info => MatMulDriver.IsSupported(info.Type) && info.Type is not (GgmlType.Q8_1 or GgmlType.Q8_K)) // activation-only
            .Where(info => wanted is null || wanted.Contains(info.Name, StringComparer.OrdinalIgnoreCase))
            .Select(info => info.Type);
    }

    /// <summary>"4096x14336" is 4096 weight rows (outputs) of 14336 values, llama.cpp's m=4096, k=14336.</summary>
    public static (long Rows, long Columns) ParseShape(string shape)
    {
        var parts = shape.Split('x');
        return (long.Parse(parts[0]), long.Parse(parts[1]));
    }

    /// <summary>Runs body(thread, first, end) over [0, count) split evenly, inline for one thread.</summary>
    public static void Split(int threads, long count, Action<int, long, long> body)
    {
        if (threads == 1)
        {
            body(0, 0, count);
            return;
        }

        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads },
            t => body(t, count * t / threads, count * (t + 1) / threads));
    }
}
