using System.Diagnostics;
using System.Globalization;
using QuantPS.Gguf;
using QuantPS.Kernels;
using QuantPS.Memory;
using QuantPS.Tests.Gguf;
using Xunit;

namespace QuantPS.Tests.Memory;

/// <summary>
/// Measure-LlmMemory's total against the peak memory this project's engine really uses for the
/// same model and context, measured in a child process (QuantPS.MemoryProbe) so the test host's
/// own memory stays out of the figure: peak resident memory minus the resident memory before the
/// model was opened.
/// </summary>
public sealed class PeakMemoryTests : IDisposable
{
    // The bound: the estimate within 10% of the engine's real peak.
    private const double TotalTolerance = 0.10;

    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string, int, string> Cases() => new()
    {
        // A 16-layer GQA llama (1024 wide, vocabulary 8000): F16 weights at a small and a large context, Q8_0 weights and cache.
        { "F16", 512, "F16" },
        { "F16", 8192, "F16" },
        { "Q8_0", 8192, "Q8_0" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Total_is_within_ten_percent_of_the_engines_peak(string weightType, int contextLength, string kvType)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() || OperatingSystem.IsWindows(), "Peak resident memory of a child process is read on Linux and Windows only.");
        var shape = new HypotheticalShape("llama", 16, 1024, 16, 4, 64, 2816, 8000, 16384);
        var path = WriteModel(shape, Enum.Parse<GgmlType>(weightType));

        using var gguf = GgufModel.Open(path);
        var settings = new MemorySettings { ContextLength = contextLength, KvCacheType = Enum.Parse<GgmlType>(kvType) };
        var estimate = MemoryEstimator.Estimate(MemoryModel.FromGguf(gguf), settings, new MemoryBudget(1L << 40, 0));

        var (baseline, peak, kv) = Probe(path, contextLength, kvType, promptTokens: 64, generatedTokens: 8);
        long used = peak - baseline;
        Assert.Equal(estimate.KvCache, kv);
        double error = (double)(estimate.Total - used) / used;
        Assert.True(Math.Abs(error) <= TotalTolerance,
            $"estimate {estimate.Total:N0} (weights {estimate.Weights:N0}, KV {estimate.KvCache:N0}, compute {estimate.ComputeBuffers:N0}) " +
            $"vs engine peak {used:N0} (peak {peak:N0} - baseline {baseline:N0}): {error:P1}");
    }

    private string WriteModel(HypotheticalShape shape, GgmlType weightType)
    {
        var tokens = Enumerable.Range(0, (int)shape.VocabularySize).Select(i => $"tok{i}").ToArray();
        var metadata = shape.Metadata("peak").Concat(
        [
            GgufMetadataEntry.Of("llama.attention.layer_norm_rms_epsilon", 1e-5f),
            GgufMetadataEntry.Of("tokenizer.ggml.model", "llama"),
            GgufMetadataEntry.Of("tokenizer.ggml.tokens", new GgufArray(GgufValueType.String, tokens)),
            GgufMetadataEntry.Of("tokenizer.ggml.scores", new GgufArray(GgufValueType.Float32, new float[tokens.Length])),
            GgufMetadataEntry.Of("tokenizer.ggml.token_type", new GgufArray(GgufValueType.Int32, Enumerable.Repeat(1, tokens.Length).ToArray())),
        ]).ToArray();
        // Matrices in the weight type, norms F32, as a converter writes them; the values do not matter for memory.
        var specs = shape.Tensors().Select(t => t.Shape.Count > 1 ? t with { Type = weightType } : t).ToArray();
        var path = _dir.File($"peak-{weightType}.gguf");
        GgufWriter.Write(path, metadata, specs, i =>
        {
            var info = GgmlTypeTraits.Get(specs[i].Type);
            return new byte[info.RowSizeBytes(specs[i].Shape[0]) * specs[i].Shape.Skip(1).Aggregate(1L, (a, b) => a * b)];
        });
        return path;
    }

    private static (long Baseline, long Peak, long Kv) Probe(string model, int contextLength, string kvType, int promptTokens, int generatedTokens)
    {
        var probe = Path.Combine(AppContext.BaseDirectory, "QuantPS.MemoryProbe.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "exec", probe, model, $"{contextLength}", kvType, "1", $"{promptTokens}", $"{generatedTokens}" }) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        var output = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(5)), "the probe finished");
        Assert.True(process.ExitCode == 0, $"probe exit {process.ExitCode}: {error.Result}");
        var values = output.Trim().Split(' ').Select(p => p.Split('=')).ToDictionary(p => p[0], p => long.Parse(p[1], CultureInfo.InvariantCulture));
        return (values["baseline"], values["peak"], values["kv"]);
    }
}
