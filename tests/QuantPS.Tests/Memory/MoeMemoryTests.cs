using System.Globalization;
using QuantPS.Gguf;
using QuantPS.Kernels;
using QuantPS.Memory;
using QuantPS.Quantization.Job;
using QuantPS.Tests.Gguf;
using Xunit;

namespace QuantPS.Tests.Memory;

/// <summary>
/// Mixture-of-experts models against llama.cpp's own figures: the compute buffer within 10%
/// (ComputeBufferSize.ExpertStepPerToken says how it is derived), model bytes and parameter count
/// exactly, and the expert hyperparameters as llama_model reads them.
/// </summary>
/// <remarks>
/// How the figures were measured: llama.cpp 3f545bec (CPU backend, build-bench), a harness that
/// loads the model (llama_model_default_params, use_extra_bufts = false, mmap) and creates a context
/// (llama_context_default_params with n_ctx, n_batch = 512, n_ubatch, n_seq_max 1, threads 2,
/// type_k = type_v, flash_attn_type auto or disabled) and exits; the figure is the 4-decimal
/// "~llama_context: CPU compute buffer size is X MiB" line (the same buffer sched_reserve prints
/// with 2 decimals), weights from "CPU_Mapped model buffer size" and "model params". The models were
/// the files <see cref="SyntheticMoe.Write"/> makes for <see cref="Shapes"/> (zero tensor data: no
/// buffer depends on it); here they are planned as header-only models, and
/// <see cref="WrittenFilesGiveTheSameEstimate"/> checks that a written file is the same model.
/// Quantized sizes: llama-quantize of the same commit on the written file (nthreads 2).
/// </remarks>
public sealed class MoeMemoryTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    // (architecture, layers, n_embd, heads, KV heads, head dim, experts, used, expert width)
    internal static readonly SyntheticMoe[] Shapes =
    [
        new("llama", 2, 256, 4, 2, 64, 4, 2, 512), // 0: SyntheticExperts' llama-moe shape
        new("qwen3moe", 2, 256, 4, 2, 64, 8, 3, 256), // 1: SyntheticExperts' qwen3moe shape
        new("llama", 2, 512, 8, 2, 64, 8, 2, 1792), // 2: Mixtral's proportions
        new("llama", 2, 1024, 16, 4, 64, 8, 2, 3584),
        new("llama", 2, 256, 4, 2, 64, 8, 1, 512), // 4: one expert per token (llama.cpp adds a ggml_cont)
        new("qwen3moe", 2, 512, 8, 2, 128, 32, 4, 256), // 5: query twice n_embd wide
        new("qwen3moe", 2, 1024, 16, 4, 128, 128, 8, 384), // 6: Qwen3-30B-A3B's proportions (down outputs wider than gate + up)
        new("qwen3moe", 2, 768, 12, 4, 64, 32, 8, 256), // 7: down outputs wider than gate + up
        new("qwen3moe", 2, 512, 8, 4, 64, 16, 4, 128), // 8: the product no wider than n_embd
        new("qwen3moe", 2, 512, 4, 2, 64, 8, 2, 512), // 9: query narrower than n_embd
        new("qwen3moe", 2, 256, 4, 2, 64, 16, 4, 256, WidthKey: false), // 10: width = feed_forward_length 1024 / 4 used
        new("qwen3moe", 2, 256, 4, 2, 64, 16, 16, 128), // 11: every expert used
        new("llama", 2, 512, 8, 8, 64, 8, 2, 1024, Weights: GgmlType.Q8_0),
        new("qwen3moe", 2, 768, 12, 4, 64, 64, 6, 512, Vocabulary: 4096),
    ];

    // F16 cache, flash attention auto (enabled): per shape, n_ctx 256, 512, 1024, 2048, 4096 at
    // n_ubatch 512, the same at n_ubatch 128, the same at 32 (MiB).
    private static readonly double[][] F16Rows =
    [
        [4.1318, 8.5137, 9.0137, 10.0137, 12.0137, 2.0659, 2.1284, 2.2534, 2.5034, 3.0034, 0.5165, 0.5321, 0.5634, 0.6259, 0.7509],
        [3.3818, 7.0137, 7.5137, 8.5137, 10.5137, 1.6909, 1.7534, 1.8784, 2.1284, 2.6284, 0.4227, 0.4384, 0.4696, 0.5321, 0.6571],
        [12.6318, 25.5137, 26.0137, 27.0137, 29.0137, 6.3159, 6.3784, 6.5034, 6.7534, 7.2534, 1.5790, 1.5946, 1.6259, 1.6884, 1.8134],
        [25.1318, 50.5137, 51.0137, 52.0137, 54.0137, 12.5659, 12.6284, 12.7534, 13.0034, 13.5034, 3.1415, 3.1571, 3.1884, 3.2509, 3.3759],
        [2.6318, 5.5137, 6.0137, 7.0137, 9.0137, 1.3159, 1.3784, 1.5034, 1.7534, 2.2534, 0.3290, 0.3446, 0.3759, 0.4384, 0.5634],
        [5.6318, 11.5137, 12.0137, 13.0137, 15.0137, 2.8159, 2.8784, 3.0034, 3.2534, 3.7534, 0.7040, 0.7196, 0.7509, 0.8134, 0.9384],
        [22.1318, 44.5137, 45.0137, 46.0137, 48.0137, 11.0659, 11.1284, 11.2534, 11.5034, 12.0034, 2.7665, 2.7821, 2.8134, 2.8759, 3.0009],
        [15.1318, 30.5137, 31.0137, 32.0137, 34.0137, 7.5659, 7.6284, 7.7534, 8.0034, 8.5034, 1.8915, 1.9071, 1.9384, 2.0009, 2.1259],
        [4.1318, 8.5137, 9.0137, 10.0137, 12.0137, 2.0659, 2.1284, 2.2534, 2.5034, 3.0034, 0.5165, 0.5321, 0.5634, 0.6259, 0.7509],
        [5.3818, 11.0137, 10.5137, 11.5137, 13.5137, 2.6909, 2.7534, 2.6284, 2.8784, 3.3784, 0.6727, 0.6884, 0.6571, 0.7196, 0.8446],
        [4.1318, 8.5137, 9.0137, 10.0137, 12.0137, 2.0659, 2.1284, 2.2534, 2.5034, 3.0034, 0.5165, 0.5321, 0.5634, 0.6259, 0.7509],
        [7.1318, 14.5137, 15.0137, 16.0137, 18.0137, 3.5659, 3.6284, 3.7534, 4.0034, 4.5034, 0.8915, 0.9071, 0.9384, 1.0009, 1.1259],
        [8.1318, 16.5137, 17.0137, 18.0137, 20.0137, 4.0659, 4.1284, 4.2534, 4.5034, 5.0034, 1.0165, 1.0321, 1.0634, 1.1259, 1.2509],
        [12.1318, 24.5137, 25.0137, 26.0137, 28.0137, 6.0659, 6.1284, 6.2534, 6.5034, 7.0034, 1.5165, 1.5321, 1.5634, 1.6259, 1.7509],
    ];

    // Other caches and flash attention off: shape index, then for n_ctx 512, 2048, 4096 each:
    // F16 without flash attention (n_ubatch 512), F32 with (512), Q8_0 with (512), F32 without (128).
    private static readonly double[][] OtherRows =
    [
        [0, 9.0254, 8.7637, 8.0605, 2.2563, 23.0098, 9.5293, 9.5605, 5.7524, 43.0098, 11.5293, 11.5605, 10.7524],
        [1, 8.0098, 7.2637, 6.5762, 2.0024, 23.0098, 8.0449, 8.0762, 5.7524, 43.0098, 10.0449, 10.0762, 10.7524],
        [3, 50.0410, 51.0137, 50.5449, 12.5103, 79.0098, 50.0449, 50.0762, 19.7524, 147.0098, 52.0449, 52.0762, 36.7524],
        [6, 43.5098, 45.5137, 44.5918, 10.8774, 84.0098, 42.5137, 46.0918, 21.0024, 152.0098, 44.5137, 48.0918, 38.0024],
        [7, 30.6348, 31.0137, 30.5449, 7.6587, 60.5098, 30.6387, 30.6699, 15.1274, 112.5098, 32.6387, 32.6699, 28.1274],
        [8, 15.0098, 9.0137, 8.5449, 3.7524, 42.0098, 9.0762, 9.1074, 10.5024, 78.0098, 12.0137, 11.1074, 19.5024],
    ];

    // llama.cpp's "CPU_Mapped model buffer size" (MiB) and "model params" (M) for each shape.
    private static readonly (string Buffer, string Params)[] Weights =
    [
        ("7.26", "3.80"), ("7.27", "3.81"), ("87.54", "45.89"), ("348.08", "182.47"), ("13.27", "6.95"),
        ("54.14", "28.35"), ("599.02", "313.79"), ("79.70", "41.73"), ("16.07", "8.41"), ("26.54", "13.90"),
        ("13.29", "6.96"), ("7.29", "3.81"), ("28.20", "27.80"), ("306.39", "160.53"),
    ];

    private static readonly int[] Contexts = [256, 512, 1024, 2048, 4096];

    private static readonly int[] UBatches = [512, 128, 32];

    private static readonly (GgmlType Kv, bool Fa, int UBatch)[] OtherSettings =
        [(GgmlType.F16, false, 512), (GgmlType.F32, true, 512), (GgmlType.Q8_0, true, 512), (GgmlType.F32, false, 128)];

    private static readonly int[] OtherContexts = [512, 2048, 4096];

    /// <summary>A shape as a header-only model (the tensor table and metadata the written file has).</summary>
    internal static MemoryModel Model(SyntheticMoe shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var gguf = GgufModel.FromPlan($"({shape.Name})", GgufLayout.Plan(shape.Metadata(), shape.Tensors()));
        return MemoryModel.FromGguf(gguf);
    }

    private static readonly Dictionary<int, MemoryModel> Models = [];

    private static MemoryModel ModelOf(int shape)
    {
        lock (Models)
        {
            if (!Models.TryGetValue(shape, out var m))
            {
                Models[shape] = m = Model(Shapes[shape]);
            }

            return m;
        }
    }

    public static TheoryData<int, int, int, string, bool, double> Rows()
    {
        var data = new TheoryData<int, int, int, string, bool, double>();
        for (int s = 0; s < F16Rows.Length; s++)
        {
            for (int i = 0; i < F16Rows[s].Length; i++)
            {
                data.Add(s, Contexts[i % Contexts.Length], UBatches[i / Contexts.Length], "F16", true, F16Rows[s][i]);
            }
        }

        foreach (var row in OtherRows)
        {
            for (int i = 1; i < row.Length; i++)
            {
                var (kv, fa, ub) = OtherSettings[(i - 1) % OtherSettings.Length];
                data.Add((int)row[0], OtherContexts[(i - 1) / OtherSettings.Length], ub, kv.ToString(), fa, row[i]);
            }
        }

        return data;
    }

    private static LlmMemoryEstimate Estimate(MemoryModel model, int ctx, int ubatch, GgmlType kv, bool fa) =>
        MemoryEstimator.Estimate(model, new MemorySettings
        {
            ContextLength = ctx,
            BatchSize = 512,
            UBatchSize = ubatch,
            KvCacheType = kv,
            FlashAttention = fa ? FlashAttentionMode.Auto : FlashAttentionMode.Disabled,
        }, new MemoryBudget(1L << 40, 0));

    [Theory]
    [MemberData(nameof(Rows))]
    public void ComputeBufferMatchesLlamaCpp(int shape, int ctx, int ubatch, string kv, bool fa, double llamaCppMiB)
    {
        var est = Estimate(ModelOf(shape), ctx, ubatch, Enum.Parse<GgmlType>(kv), fa);
        double actual = est.ComputeBuffers / 1048576.0;
        double error = (actual - llamaCppMiB) / llamaCppMiB;
        Assert.True(Math.Abs(error) <= 0.10,
            $"{Shapes[shape].Name} n_ctx {ctx} n_ubatch {ubatch} {kv}: compute buffer {actual:0.000} MiB vs llama.cpp's {llamaCppMiB} MiB ({error:P1})");
        if (kv == "F16" && fa)
        {
            // The default settings: the derivation's own case (ExpertStepPerToken).
            Assert.True(Math.Abs(error) <= 0.06, $"{Shapes[shape].Name} n_ctx {ctx} n_ubatch {ubatch}: {error:P1} with an F16 cache");
        }
    }

    public static TheoryData<int> ShapeIndexes() => new(Enumerable.Range(0, Shapes.Length));

    [Fact]
    public void EveryShapeHasItsFigures()
    {
        Assert.Equal(Shapes.Length, Weights.Length);
        Assert.Equal(Shapes.Length, F16Rows.Length);
        Assert.All(F16Rows, r => Assert.Equal(Contexts.Length * UBatches.Length, r.Length));
        Assert.All(OtherRows, r => Assert.Equal(1 + (OtherContexts.Length * OtherSettings.Length), r.Length));
    }

    [Theory]
    [MemberData(nameof(ShapeIndexes))]
    public void WeightsAndParametersMatchLlamaCpp(int shape)
    {
        // Model bytes and parameters come from the tensor table, 3-D expert tensors included.
        var est = Estimate(ModelOf(shape), 512, 512, GgmlType.F16, fa: true);
        Assert.Equal(Weights[shape].Buffer, GoldenMemoryTests.MiB(est.Weights));
        Assert.Equal(Weights[shape].Params, (est.ParameterCount / 1e6).ToString("0.00", CultureInfo.InvariantCulture));
        Assert.Equal(Shapes[shape].ParameterCount, est.ParameterCount);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(10)]
    [InlineData(12)]
    public void WrittenFilesGiveTheSameEstimate(int shape)
    {
        var path = Shapes[shape].Write(_dir.Path);
        using var gguf = GgufModel.Open(path);
        var fromFile = MemoryModel.FromGguf(gguf);
        var planned = ModelOf(shape);
        Assert.Equal(planned.FileSize, new FileInfo(path).Length);
        Assert.Equal(planned.Type, fromFile.Type);
        foreach (var (ctx, ub) in new[] { (512, 512), (4096, 128) })
        {
            var a = Estimate(planned, ctx, ub, GgmlType.F16, fa: true);
            var b = Estimate(fromFile, ctx, ub, GgmlType.F16, fa: true);
            Assert.Equal(a.ComputeBuffers, b.ComputeBuffers);
            Assert.Equal(a.Weights, b.Weights);
            Assert.Equal(a.KvCache, b.KvCache);
            Assert.Equal(a.ParameterCount, b.ParameterCount);
        }
    }

    [Theory]
    [InlineData("Q4_K_M", 28017824)]
    [InlineData("Q8_0", 48798880)]
    [InlineData("Q2_K", 17110176)]
    public void QuantizedExpertsMatchLlamaQuantize(string type, long llamaQuantizeBytes)
    {
        // llama-quantize (3f545bec) on shape 2's written file: the output file's size in bytes.
        var shape = Shapes[2];
        var gguf = GgufModel.FromPlan($"({shape.Name})", GgufLayout.Plan(shape.Metadata(), shape.Tensors()));
        var planned = QuantizedModel.Plan(gguf, QuantizeFileType.Parse(type));
        Assert.Equal(llamaQuantizeBytes, planned.FileSize);
    }

    [Theory]
    [InlineData(0, 4, 2, 512)] // llama: experts are feed_forward_length wide
    [InlineData(1, 8, 3, 256)] // qwen3moe.expert_feed_forward_length
    [InlineData(10, 16, 4, 256)] // qwen3moe without it: feed_forward_length 1024 / 4 used
    [InlineData(11, 16, 16, 128)]
    public void ReadsTheExpertHyperparameters(int shape, int experts, int used, long width)
    {
        var s = ModelOf(shape).Shape;
        Assert.True(s.IsMixtureOfExperts);
        Assert.Equal(experts, s.ExpertCount);
        Assert.Equal(used, s.ExpertUsedCount);
        Assert.Equal(width, s.ExpertFeedForwardLength);
    }

    [Fact]
    public void LlamaIgnoresAnExpertWidthKey()
    {
        // llama.cpp's llama makes its experts n_ff wide whatever expert_feed_forward_length says.
        var shape = Shapes[0];
        var metadata = shape.Metadata().Append(GgufMetadataEntry.Of("llama.expert_feed_forward_length", 64u)).ToArray();
        var model = GgufModel.FromPlan("(llama-moe)", GgufLayout.Plan(metadata, shape.Tensors()));
        Assert.Equal(512, ModelShape.FromModel(model).ExpertFeedForwardLength);
    }

    [Fact]
    public void DenseModelsHaveNoExperts()
    {
        var dense = new HypotheticalShape("llama", 4, 256, 4, 2, 64, 768, 1024, 2048).ToVirtualModel("dense");
        var s = ModelShape.FromModel(dense);
        Assert.False(s.IsMixtureOfExperts);
        Assert.Equal(0, s.ExpertCount);

        // An expert count without a used count: llama.cpp refuses to load it; the estimate counts a dense model.
        var half = Shapes[0].Metadata().Where(e => e.Key != "llama.expert_used_count").ToArray();
        Assert.False(ModelShape.FromModel(GgufModel.FromPlan("(half)", GgufLayout.Plan(half, Shapes[0].Tensors()))).IsMixtureOfExperts);
    }

    [Fact]
    public void TheExpertStepFollowsItsDerivation()
    {
        // Shape 0: 3·256 − 256/8 + max(256, 256) + 3·2·512 = 4064 floats per token (llama.cpp: 4103).
        Assert.Equal(4064, ComputeBufferSize.ExpertStepPerToken(ModelOf(0).Shape));
        // Shape 6: down outputs (8·1024) wider than gate + up (2·8·384) land after the product:
        // 3·1024 − 128 + 2048 + 3·3072 + 8192 = 22400 (llama.cpp: 22535).
        Assert.Equal(22400, ComputeBufferSize.ExpertStepPerToken(ModelOf(6).Shape));
        // Shape 8: the product (4·128 = 512) fits the norm's hole: 3·512 − 64 + 512 + max(1024, 2048) = 4032 (llama.cpp: 4103).
        Assert.Equal(4032, ComputeBufferSize.ExpertStepPerToken(ModelOf(8).Shape));
    }
}
