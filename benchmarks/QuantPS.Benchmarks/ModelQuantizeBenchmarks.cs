using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using QuantPS.Gguf;
using QuantPS.Quantization.Job;

namespace QuantPS.Benchmarks;

/// <summary>
/// Quantizing a TinyLlama-1.1B-shaped F16 model (made by <see cref="SyntheticModel"/>) with QuantPS and with
/// llama-quantize (QUANTPS_LLAMA_QUANTIZE = its path) on the same file and thread count (all cores), each run
/// a whole quantization. GB/s is input bytes per second. Peak memory and byte identity: `-- quantize-peak`.
/// </summary>
[Config(typeof(ModelRunConfig))]
public class ModelQuantizeBenchmarks : IWorkload
{
    private GgufModel? _model;
    private QuantizePlan? _plan;
    private string _input = string.Empty;
    private string _ours = string.Empty;
    private string _theirs = string.Empty;

    [Params("Q4_K_M", "Q5_K_S", "Q8_0", "IQ4_XS")]
    public string Type { get; set; } = "Q4_K_M";

    public static int Threads => Environment.ProcessorCount;

    public double BytesPerOperation => SyntheticModel.TensorBytes(ModelShape.TinyLlama);

    public double FlopsPerOperation => 0;

    [GlobalSetup]
    public void Setup()
    {
        _input = SyntheticModel.TinyLlamaF16Path();
        var folder = Path.GetDirectoryName(_input)!;
        _ours = Path.Combine(folder, $"out-quantps-{Type}.gguf");
        _theirs = Path.Combine(folder, $"out-llama-{Type}.gguf");
        _model = GgufModel.Open(_input);
        _plan = QuantizePlan.Create(_model, QuantizeFileType.Parse(Type), new QuantizeOptions { Threads = Threads });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _model?.Dispose();
        File.Delete(_ours);
        File.Delete(_theirs);
    }

    [Benchmark(Description = "QuantPS")]
    public long QuantPS() => QuantizeJob.Run(_model!, _plan!, _ours, overwrite: true).SizeBytes;

    [Benchmark(Baseline = true, Description = "llama-quantize")]
    public int LlamaQuantize() => QuantizeComparison.RunLlamaQuantize(_input, _theirs, Type, Threads);
}

/// <summary>Whole-run measurements: one warm-up, three timed runs, each a full operation.</summary>
public sealed class ModelRunConfig : ManualConfig
{
    public ModelRunConfig()
    {
        AddJob(Job.Default.WithStrategy(RunStrategy.Monitoring).WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(3)
            .WithToolchain(InProcessEmitToolchain.Instance).WithId("WholeRun"));
        AddColumn(StatisticColumn.Median, StatisticColumn.Min);
        AddColumn(ThroughputColumn.GigabytesPerSecond);
    }
}

/// <summary>
/// `-- quantize-peak`: runs QuantPS (this program's `quantize-once`) and llama-quantize as child processes under
/// /usr/bin/time, for each type: wall time, peak resident memory, and whether the outputs are byte-identical.
/// </summary>
public static class QuantizeComparison
{
    public static string LlamaQuantizePath() =>
        Environment.GetEnvironmentVariable("QUANTPS_LLAMA_QUANTIZE") is { Length: > 0 } path && File.Exists(path)
            ? path
            : throw new InvalidOperationException("Set QUANTPS_LLAMA_QUANTIZE to a llama-quantize binary to compare with it.");

    public static int RunLlamaQuantize(string input, string output, string type, int threads)
    {
        var start = new ProcessStartInfo(LlamaQuantizePath()) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { input, output, type, threads.ToString(System.Globalization.CultureInfo.InvariantCulture) }) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        process.StandardOutput.ReadToEndAsync();
        process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return process.ExitCode == 0 ? 0 : throw new InvalidOperationException($"llama-quantize exited with {process.ExitCode}");
    }

    /// <summary>`quantize-once in out type threads`: one quantization, for measuring from outside.</summary>
    public static void QuantizeOnce(string[] args)
    {
        using var model = GgufModel.Open(args[1]);
        var plan = QuantizePlan.Create(model, QuantizeFileType.Parse(args[3]), new QuantizeOptions { Threads = int.Parse(args[4], System.Globalization.CultureInfo.InvariantCulture) });
        QuantizeJob.Run(model, plan, args[2], overwrite: true);
    }

    public static void Print(string[] args, TextWriter console)
    {
        var types = args.SkipWhile(a => a != "--types").Skip(1).FirstOrDefault()?.Split(',') ?? ["Q4_K_M", "Q5_K_S", "Q8_0", "IQ4_XS"];
        int threads = Environment.ProcessorCount;
        var input = SyntheticModel.TinyLlamaF16Path();
        var folder = Path.GetDirectoryName(input)!;
        var self = Environment.ProcessPath!;
        var selfArgs = self.EndsWith("dotnet", StringComparison.Ordinal) ? new[] { typeof(QuantizeComparison).Assembly.Location } : [];
        console.WriteLine($"Input: {input} ({new FileInfo(input).Length:N0} bytes, {SyntheticModel.TensorBytes(ModelShape.TinyLlama):N0} tensor bytes), {threads} threads");
        console.WriteLine("| type | QuantPS s | llama-quantize s | speed-up | QuantPS peak MiB | llama-quantize peak MiB | identical |");
        console.WriteLine("|---|---:|---:|---:|---:|---:|---|");
        foreach (var type in types)
        {
            var ours = Path.Combine(folder, $"peak-quantps-{type}.gguf");
            var theirs = Path.Combine(folder, $"peak-llama-{type}.gguf");
            // llama-quantize first, then ours, so page-cache state is the same for both (the input is cached after the first run).
            var (theirSeconds, theirPeak) = Timed([LlamaQuantizePath(), input, theirs, type, $"{threads}"]);
            var (ourSeconds, ourPeak) = Timed([self, .. selfArgs, "quantize-once", input, ours, type, $"{threads}"]);
            bool same = Sha(ours) == Sha(theirs);
            console.WriteLine($"| {type} | {ourSeconds:0.00} | {theirSeconds:0.00} | {theirSeconds / ourSeconds:0.00}x | {ourPeak / 1024.0:0} | {theirPeak / 1024.0:0} | {(same ? "yes" : "NO")} |");
            File.Delete(ours);
            File.Delete(theirs);
        }
    }

    private static (double Seconds, long PeakKiB) Timed(string[] command)
    {
        var (_, seconds, peak) = TimedProcess.Run(command);
        return (seconds, peak);
    }

    private static string Sha(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(stream));
    }
}
