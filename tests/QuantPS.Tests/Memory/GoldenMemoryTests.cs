using System.Globalization;
using QuantPS.Gguf;
using QuantPS.Kernels;
using QuantPS.Memory;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Memory;

/// <summary>
/// Every row of ../shared/golden/memory/memory.tsv (llama.cpp's own printout): model buffer, KV
/// buffer, K and V exactly at the printed precision, compute buffer within 10%, and the refusals.
/// </summary>
public sealed class GoldenMemoryTests
{
    public static TheoryData<string, int, string> Rows()
    {
        var data = new TheoryData<string, int, string>();
        foreach (var model in new[] { "stories260K", "synth-256" })
        foreach (var ctx in new[] { 256, 2048, 8192 })
        foreach (var kv in new[] { "f32", "f16", "q8_0", "q4_0" })
        {
            data.Add(model, ctx, kv);
        }

        return data;
    }

    internal static string ModelPath(string model) => model == "synth-256"
        ? SharedData.File("golden/models/synth-256.gguf")
        : SharedData.File("models/tinyllamas-stories260K/stories260K.gguf");

    internal static Dictionary<string, string> Row(string model, int ctx, string kv)
    {
        var lines = File.ReadAllLines(SharedData.File("golden/memory/memory.tsv"));
        var header = lines[0].Split('\t');
        var row = lines.Skip(1).Select(l => l.Split('\t'))
            .Single(f => f[0] == model && f[1] == ctx.ToString(CultureInfo.InvariantCulture) && f[2] == kv);
        return header.Zip(row).ToDictionary(p => p.First, p => p.Second);
    }

    /// <summary>MiB as llama.cpp prints them (%.2f: the exact binary value, ties to even).</summary>
    internal static string MiB(long bytes) =>
        Math.Round((decimal)bytes / 1048576m, 2, MidpointRounding.ToEven).ToString("0.00", CultureInfo.InvariantCulture);

    private static GgmlType KvType(string kv) => kv switch
    {
        "f32" => GgmlType.F32,
        "f16" => GgmlType.F16,
        "q8_0" => GgmlType.Q8_0,
        _ => GgmlType.Q4_0,
    };

    // The harness's settings: n_batch = n_ubatch = 512, one sequence, flash attention auto.
    private static MemorySettings Settings(int ctx, string kv) =>
        new() { ContextLength = ctx, BatchSize = 512, UBatchSize = 512, KvCacheType = KvType(kv) };

    [Theory]
    [MemberData(nameof(Rows))]
    public void MatchesLlamaCpp(string model, int ctx, string kv)
    {
        var golden = Row(model, ctx, kv);
        using var gguf = GgufModel.Open(ModelPath(model));
        var m = MemoryModel.FromGguf(gguf);
        if (golden["model_buffers_MiB"].StartsWith("FAILED", StringComparison.Ordinal))
        {
            var e = Assert.Throws<MemoryEstimateException>(() => MemoryEstimator.Estimate(m, Settings(ctx, kv), new MemoryBudget(1L << 40, 0)));
            Assert.Equal(MemoryErrorIds.KvTypeIncompatible, e.ErrorId);
            Assert.Contains($"K cache type {kv} with block size 32 does not divide n_embd_head_k=8", e.Message, StringComparison.Ordinal);
            return;
        }

        var est = MemoryEstimator.Estimate(m, Settings(ctx, kv), new MemoryBudget(1L << 40, 0));
        Assert.Equal(golden["model_buffers_MiB"], $"CPU_Mapped={MiB(est.Weights)};");
        Assert.Equal(golden["kv_buffer_MiB"], MiB(est.KvCache));
        Assert.Equal(golden["K_MiB"], MiB(est.KeyCache));
        Assert.Equal(golden["V_MiB"], MiB(est.ValueCache));
        Assert.Equal(golden["output_buffer_MiB"], MiB(est.OutputBuffer));
        Assert.Equal(ctx, est.ContextLength);
        Assert.True(est.FlashAttention);

        double expected = double.Parse(golden["compute_buffer_MiB"].TrimEnd(';'), CultureInfo.InvariantCulture);
        double actual = est.ComputeBuffers / 1048576.0;
        Assert.True(Math.Abs(actual - expected) <= 0.10 * expected,
            $"compute buffer {actual:0.000} MiB vs llama.cpp's {expected} MiB ({(actual - expected) / expected:P1})");
    }

    [Theory]
    [InlineData("synth-256", 2048, GgmlType.F16, 6L * 2 * 2048 * 128 * 2)]
    [InlineData("synth-256", 2048, GgmlType.Q8_0, 6L * 2 * 2048 * (128 / 32 * 34))]
    [InlineData("synth-256", 8192, GgmlType.Q4_0, 6L * 2 * 8192 * (128 / 32 * 18))]
    [InlineData("stories260K", 8192, GgmlType.F32, 5L * 2 * 8192 * 32 * 4)]
    public void KvBytesAreExact(string model, int ctx, GgmlType type, long bytes)
    {
        // n_layer · (K + V) · cells · n_embd_k_gqa · bytes per value: synth-256 has 2 KV heads of 64, stories260K 4 of 8.
        using var gguf = GgufModel.Open(ModelPath(model));
        var est = MemoryEstimator.Estimate(MemoryModel.FromGguf(gguf), new MemorySettings { ContextLength = ctx, KvCacheType = type }, new MemoryBudget(1L << 40, 0));
        Assert.Equal(bytes, est.KvCache);
        Assert.Equal(bytes / 2, est.KeyCache);
    }

    [Fact]
    public void LogLinesAgreeWithTheTable()
    {
        // The raw log lines name the same cells and layers the estimate uses.
        var log = File.ReadAllLines(SharedData.File("golden/memory/memory-log-lines.txt"));
        using var gguf = GgufModel.Open(ModelPath("synth-256"));
        var est = MemoryEstimator.Estimate(MemoryModel.FromGguf(gguf), new MemorySettings { ContextLength = 2048, KvCacheType = GgmlType.Q8_0 }, new MemoryBudget(1L << 40, 0), perLayer: true);
        Assert.Contains(log, l => l.StartsWith("[synth-256 ctx=2048 kv=q8_0] llama_kv_cache: size =", StringComparison.Ordinal)
            && l.Contains($"{MiB(est.KvCache)} MiB (  2048 cells,   6 layers,  1/1 seqs)", StringComparison.Ordinal));
        Assert.All(est.Layers!.Where(l => l.Index is >= 0 and < 6), l => Assert.Equal(2048, l.CacheCells));
    }
}
